"""The watch daemon's Snakemake runs: its process pools, their warm-up, and the spool's
build lock and leftovers of a crash.

- Notice runs go to Snakemake in the daemon's process, in one thread of its own (warm
  imports; Snakemake cannot replace our SIGTERM handler outside the main thread);
- the rest runs in ``workers`` spawned processes (true parallelism: the products are
  Python- and GIL-bound), so a new alert's notice never waits behind a long batch;
- every process first builds a sample alert (:func:`warm_up`): files are taken and stored
  meanwhile, only building waits.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import fcntl
import logging
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from skyspool import atomic, dashboard, ingest, targets, workflow
from skyspool.paths import SUBDIRS, Spool
from skyspool.records import SNAKEMAKE_LOG, entry_name, note
from skyspool.scheduler import Run

# Niceness of the worker processes (the daemon itself, building notices, stays at 0).
WORKER_NICENESS = 10
# The superevent id of the sample alert each process builds once at start (warm_up).
WARM_UP_EVENT = "S200101a"


# ----- holding the spool, leftovers of a crash -----

@contextlib.contextmanager
def hold_spool(spool: Spool, holder: str = "skyspool watch"):
    """Hold the spool's build lock while ``holder`` (a command) runs; refuse when another
    skyspool process holds it, so that two never build the same products at once."""
    with open(spool.build_lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as held:
            handle.seek(0)
            pid, _, other = handle.read().strip().partition(" ")
            raise SystemExit(f"skyspool: {other or 'skyspool watch'} (pid {pid or '?'}) is building "
                             f"products in {spool.root}; stop it first, or drop files in its inbox") from held
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {holder}\n")
        handle.flush()
        yield


def _processes_in(root: Path) -> list[int]:
    """Other snakemake/skyspool processes working in ``root`` (a Snakemake run's current
    directory is its workdir, the spool)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue  # gone, or not ours to see
        if cwd == root or root in cwd.parents:
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"snakemake" in command or b"skyspool" in command:
                    found.append(int(pid))
    return found


def clear_stale_locks(spool: Spool) -> None:
    """Remove Snakemake locks left by a crash, unless another process works in the spool."""
    locks = spool.root / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return
    others = _processes_in(spool.root)
    if others:
        note("locks-kept", logging.WARNING, reason="other processes work in the spool",
             pids=",".join(map(str, others)))
        return
    # "--quiet=all" as one token: a bare --quiet would swallow the targets after it.
    workflow.run_snakemake(spool, [], extra=["--unlock", "--quiet=all"])
    note("locks-cleared", dir=str(locks))


def clear_stale_temporaries(spool: Spool) -> None:
    """Remove temporary files of product writes killed with a previous daemon (kill -9),
    unless another process works in the spool."""
    if _processes_in(spool.root):
        return
    removed = atomic.remove_temporaries(spool.products)
    if removed:
        note("temporaries-removed", count=len(removed))


# ----- one process's work -----

def _snakemake_extra(retries: int) -> list[str]:
    # --nolock: the daemon's runs share the spool, and Snakemake 9's file persistence
    # deletes the whole .snakemake/locks/ at the end of every run (_delete_locks), so
    # concurrent runs fail to write or lose their locks. The daemon itself guarantees that
    # no two of its runs touch the same entry, and holds the spool (hold_spool).
    return ["--retries", str(retries), "--nolock"]


def warm_up() -> None:
    """Build a small sample alert's products once, in a scratch spool: every library and
    Snakemake's lazily imported parts load now, not on the first real alert, and the process
    starts at its working size (memory then stays flat). The scratch spool has the default
    configuration, not the watched spool's: a configured catalog or server that hangs must
    not hold up the start."""
    # Snakemake takes the directory it is first imported in as its run directory: not the scratch.
    import snakemake.api  # noqa: F401

    from skyspool import config, samples

    with tempfile.TemporaryDirectory(prefix="skyspool-warm-up-") as scratch, \
            contextlib.chdir(scratch):
        sample = Spool(scratch)
        for name in SUBDIRS:
            (sample.root / name).mkdir()
        alert = samples.igwn_alert(WARM_UP_EVENT, "PRELIMINARY", gps_time=1262304018.0,
                                   skymap=samples.gaussian_skymap(120.0, -30.0, 5.0),
                                   instruments=["H1", "L1"], far_hz=1e-10)
        atomic.write_json(sample.inbox / f"{WARM_UP_EVENT}-preliminary.json", alert)
        entries = [outcome.entry for outcome in ingest.take_inbox(sample) if outcome.entry]
        paths = targets.missing_targets(sample, entries, config.load(sample))
        if not workflow.run_snakemake(sample, paths, cores=1, extra=["--nolock"]):
            note("warm-up-failed", logging.WARNING, reason="the sample alert's products failed "
                 f"(see {SNAKEMAKE_LOG}); the first alert will load what they would have")


def _worker_init(root: str) -> None:
    """Start a product worker: die with the daemon, leave signals to it, warm up."""
    # A worker orphaned by kill -9 of the daemon must not build on beside a restarted daemon.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(1)
    # Notices first: the daemon's notice runs take the CPU from the workers when both want it.
    os.nice(WORKER_NICENESS)
    # SIGTERM/SIGINT are for the daemon, which lets running work finish.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spool = Spool(root)
    os.chdir(spool.root)
    # Snakemake's console output goes to its log file; errors of the worker itself too.
    output = os.open(spool.logs / SNAKEMAKE_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    warm_up()


def _build(root: str, paths: list[str], cores: int, retries: int,
           profile: str | None = None) -> bool:
    """Build ``paths`` of the spool at ``root`` with Snakemake in this (warm) process, with
    the jobs of the non-local rules on the cluster of ``profile`` when given."""
    if not paths:
        return True  # an entry without products (Snakemake without targets would build "all")
    return workflow.run_snakemake(Spool(root), [Path(p) for p in paths], cores=cores,
                                  extra=_snakemake_extra(retries) + workflow.profile_args(profile))


# ----- the pools -----

class Runner:
    """Start the scheduler's runs (:class:`skyspool.scheduler.Run`) in the notice thread or
    the ``workers`` processes; ``wake`` is called (from another thread) when one ends."""

    def __init__(self, spool: Spool, workers: int, wake: Callable[[], None]):
        self.spool, self.workers, self.wake = spool, workers, wake
        self.futures: dict[concurrent.futures.Future, tuple[Run, float]] = {}  # -> run, monotonic start
        self.warm_ups: list[concurrent.futures.Future] = []

    def open(self) -> None:
        self.rest_pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init, initargs=(str(self.spool.root),))
        self.notice_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="notice")

    def close(self) -> None:
        self.notice_pool.shutdown(wait=True)
        self.rest_pool.shutdown(wait=True)

    def warm_up(self, started: float) -> None:
        """Every process warms up while files are already taken and stored: only building
        waits for it (see :meth:`warming`). The notice runs' warm-up runs in their thread: in
        the main thread, Snakemake's scheduler would replace our SIGTERM handler with its own."""
        self.started = started
        self.warm_ups = [self.rest_pool.submit(os.getpid) for _ in range(self.workers)]
        self.warm_ups.append(self.notice_pool.submit(warm_up))
        for future in self.warm_ups:
            future.add_done_callback(lambda _: self.wake())

    def warming(self, now: float) -> bool:
        """True while a process still builds its sample alert (:func:`warm_up`)."""
        if any(not future.done() for future in self.warm_ups):
            return True
        if self.warm_ups:
            for future in self.warm_ups:
                future.result()  # a worker that could not start stops the daemon, as before
            self.warm_ups = []
            # "watching": warm and building (benchmarks and people wait for this line)
            note("watching", dir=str(self.spool.root), workers=self.workers,
                 seconds=round(now - self.started, 3))
        return False

    def submit(self, run: Run, profile: str | None) -> None:
        """Start ``run``; the rest's Snakemake jobs on the cluster of ``profile`` when given."""
        root = str(self.spool.root)
        paths = [str(t) for ts in run.piece.values() for t in ts]
        if run.kind == "notice":
            future = self.notice_pool.submit(_build, root, paths, 2, run.retries)
        elif run.kind == "dashboard":
            future = self.rest_pool.submit(dashboard.refresh, root, list(run.events))
        else:
            future = self.rest_pool.submit(_build, root, paths, 1, run.retries, profile)
        self.futures[future] = (run, time.monotonic())
        future.add_done_callback(lambda _: self.wake())
        note(f"{run.kind}-started", entries=len(run.piece),
             targets=sum(len(t) for t in run.piece.values()),
             first=entry_name(next(iter(run.piece))) if run.piece else "-")

    def finished(self) -> list[tuple[Run, bool]]:
        """The runs that ended since the last call, each with whether it succeeded."""
        ended = []
        for future in [f for f in self.futures if f.done()]:
            run, started = self.futures.pop(future)
            try:
                ok = future.result()
            except Exception as exc:  # a worker died: its entries are built again
                note(f"{run.kind}-crashed", logging.ERROR, error=repr(exc))
                ok = False
            note(f"{run.kind}-finished", entries=len(run.piece), ok=ok,
                 seconds=round(time.monotonic() - started, 3))
            ended.append((run, ok))
        return ended
