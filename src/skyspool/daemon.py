"""The watch daemon: take every file that lands in a spool's inbox and build its products.

One long-lived process with the product libraries imported once:

- a watchdog observer (inotify) reports files closed after writing or renamed into
  ``inbox/``; a periodic rescan catches anything the events missed (files still held open
  for writing are left alone);
- the coordinator (main thread) ingests them (``skyspool.ingest``: identify, validate,
  de-duplicate, store atomically or quarantine) and schedules each entry's products in
  two phases: first the notice products (``NOTICE_PRODUCTS`` and what they need), then
  the rest;
- the notice phase runs Snakemake in this process, in one thread of its own (warm
  imports; Snakemake cannot replace our SIGTERM handler outside the main thread);
- the rest runs in ``workers`` spawned processes (true parallelism: the products are
  Python- and GIL-bound), so a new alert's notice never waits behind a long batch.

No two Snakemake runs ever share an entry: an entry is *busy* while any run holds it.
Crash safety comes from the parts: ingest leaves a file in the inbox until it is stored,
products are written atomically, Snakemake reruns incomplete outputs, and on start the
daemon re-examines every entry stored since the last moment it was idle (the checkpoint).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import datetime
import fcntl
import json
import logging
import math
import multiprocessing
import os
import queue
import signal
import sys
import tempfile
import time
import typing
from pathlib import Path

from skyspool import atomic, contract, control, dashboard, ingest, publish, status, targets, timers, times, workflow
from skyspool.frb import targets as frb_targets
from skyspool.frb.follow import Follower
from skyspool.paths import SUBDIRS, Entry, Spool

log = logging.getLogger("skyspool.watch")

# What an outside reader waits for first: built before any other product of a new entry.
NOTICE_PRODUCTS = contract.notice_names()  # notice.json, notice.xml, circular.txt; FRB: triggers.json
# Snakemake's own output (job tables, tracebacks of failed jobs) goes here, not to our log.
SNAKEMAKE_LOG = "watch-snakemake.log"
# Niceness of the worker processes (the daemon itself, building notices, stays at 0).
WORKER_NICENESS = 10
# Most files taken, and most entries in one notice run, per round of the main loop: the
# first notices of a burst need not wait until all of it is stored.
ROUND = 16
# Entries stored up to this long (s) before the last checkpoint are re-examined anyway:
# covers clock steps and entries stored while the checkpoint was being written.
CHECKPOINT_MARGIN_S = 60.0
# While products are being built the dashboard is refreshed at most this often (s): a
# refresh takes a worker, and during a burst it would take one after every entry.
DASHBOARD_BUSY_INTERVAL_S = 60.0
# Kinds whose products build on other entries' (an FRB chunk continues the previous chunk's
# triggers; a pipeline candidate's orchestrator steps update its superevent): never taken by a
# worker before their notice run, never built in pieces by parallel runs.
CHAINED_KINDS = frozenset({"frb", "gwcand"})
# The superevent id of the sample alert each process builds once at start (_warm_up).
WARM_UP_EVENT = "S200101a"


# ----- logging: one line per event and step -----

class JsonFormatter(logging.Formatter):
    """JSON lines: time (ISO 8601 UTC), level, step, message and the step's fields (a
    library's own warning has its logger's name as its step)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        line = {"time": stamp.isoformat(timespec="milliseconds"), "level": record.levelname,
                "step": record.name, "message": record.getMessage(),
                **getattr(record, "fields", {})}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: str = "human", stream=None) -> None:
    """Send skyspool's log to ``stream`` (stderr) as plain lines or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # The libraries' own INFO lines would repeat the daemon's steps: warnings only.
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    log.setLevel(logging.INFO)
    logging.getLogger("snakemake").propagate = False  # it has its own log (SNAKEMAKE_LOG)


def _note(step: str, level: int = logging.INFO, **fields) -> None:
    """Log one step: ``step key=value ...`` for people, the same fields in JSON."""
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    log.log(level, f"{step} {text}".strip(), extra={"fields": {"step": step, **fields}})


def _entry_name(entry: Entry) -> str:
    return f"{entry.kind}/{entry.event_id}/{entry.name}"


# ----- holding the spool -----

@contextlib.contextmanager
def hold_spool(spool: Spool, holder: str = "skyspool watch"):
    """Hold the spool's build lock while ``holder`` (a command) runs; refuse when another
    skyspool process holds it, so that two never build the same products at once."""
    with open(spool.build_lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid, _, other = handle.read().strip().partition(" ")
            raise SystemExit(f"skyspool: {other or 'skyspool watch'} (pid {pid or '?'}) is building "
                             f"products in {spool.root}; stop it first, or drop files in its inbox")
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
        _note("locks-kept", logging.WARNING, reason="other processes work in the spool",
              pids=",".join(map(str, others)))
        return
    # "--quiet=all" as one token: a bare --quiet would swallow the targets after it.
    workflow.run_snakemake(spool, [], extra=["--unlock", "--quiet=all"])
    _note("locks-cleared", dir=str(locks))


def clear_stale_temporaries(spool: Spool) -> None:
    """Remove temporary files of product writes killed with a previous daemon (kill -9),
    unless another process works in the spool."""
    if _processes_in(spool.root):
        return
    removed = atomic.remove_temporaries(spool.products)
    if removed:
        _note("temporaries-removed", count=len(removed))


def _written_in(folder: Path) -> set[Path]:
    """Files in ``folder`` that some process (that we may inspect) holds open for writing."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    path = Path(os.readlink(f"/proc/{pid}/fd/{fd}"))
                    if path.parent == folder:
                        flags = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                                    .split("flags:")[1].split()[0], 8)
                        if flags & (os.O_WRONLY | os.O_RDWR):
                            found.add(path)
    return found


# ----- Snakemake runs -----

def _snakemake_extra(retries: int) -> list[str]:
    # --nolock: the daemon's runs share the spool, and Snakemake 9's file persistence
    # deletes the whole .snakemake/locks/ at the end of every run (_delete_locks), so
    # concurrent runs fail to write or lose their locks. The daemon itself guarantees that
    # no two of its runs touch the same entry, and holds the spool (hold_spool).
    return ["--retries", str(retries), "--nolock"]


def _warm_up() -> None:
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
            _note("warm-up-failed", logging.WARNING, reason="the sample alert's products failed "
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
    _warm_up()


def _build(root: str, paths: list[str], cores: int, retries: int,
           profile: str | None = None) -> bool:
    """Build ``paths`` of the spool at ``root`` with Snakemake in this (warm) process, with
    the jobs of the non-local rules on the cluster of ``profile`` when given."""
    if not paths:
        return True  # an entry without products (Snakemake without targets would build "all")
    return workflow.run_snakemake(Spool(root), [Path(p) for p in paths], cores=cores,
                                  extra=_snakemake_extra(retries) + workflow.profile_args(profile))


# ----- the daemon -----

class Daemon:
    """Watch ``spool``'s inbox and build the products of every entry it brings.

    ``workers``: processes building the non-notice products (default: the CPU count);
    ``batch``: most entries per Snakemake run; ``settle_s``: how long (s) a file found by
    a rescan must keep its size before it is taken; ``rescan_s``: seconds between rescans.
    """

    def __init__(self, spool: Spool, config: dict, *, workers: int | None = None,
                 batch: int = 4, settle_s: float = 0.5, rescan_s: float = 5.0,
                 progress: bool | None = None):
        self.spool = spool
        self.config = config
        self.retries = int(config.get("retries", 1))
        self.workers = workers or os.cpu_count() or 1
        self.batch = batch
        self.settle_s = settle_s
        self.rescan_s = rescan_s
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.wakeups: queue.Queue = queue.Queue()   # inbox paths from watchdog, None = look
        self.arrived: dict[Path, str] = {}           # inbox files to take -> seen by "event" or "rescan"
        self.notice_queue: dict[Entry, float] = {}   # entry -> Unix time it was taken
        self.rest_queue: dict[Entry, float] = {}
        self.received: dict[Entry, float] = {}
        self.busy: dict[Entry, int] = {}             # entry -> runs holding it
        self.split: set[Entry] = set()               # entries whose rest runs in pieces
        self.whole: set[Entry] = set()               # entries built whole by a worker
        self.final: set[Entry] = set()               # ... and then once more, whole
        self.runs: dict[concurrent.futures.Future, Run] = {}
        self.stopping = False
        self.last_rescan = 0.0
        self.sizes: dict[Path, tuple[int, float, float]] = {}
        self.catch_up_bar = None
        self.checkpoint = spool.root / ".skyspool-watch.checkpoint"
        self.dirty = False
        # FRB observations: growing AMBER files cut into spool entries (skyspool.frb.follow).
        self.follower = Follower(spool, config, lambda: self.wakeups.put(None))
        # (kind, event_id) of the events with an entry reported since the last dashboard refresh
        self.dashboard_due: set[tuple[str, str]] = set()
        self.dashboard_last = 0.0   # time.monotonic() of the last refresh's start
        self.warm_ups: list[concurrent.futures.Future] = []  # see _warming
        self.started = time.time()

    # --- inbox ---

    def _on_event(self, event) -> None:
        """watchdog callback (observer thread): a file closed after writing, renamed in or
        within the inbox, or created whole (see :func:`arrived_complete`)."""
        path = arrived_complete(event, self.spool.inbox)
        if path is not None:
            self.wakeups.put(path)

    def _rescan(self) -> None:
        """Queue inbox files whose size held still for ``settle_s`` and that nobody writes.

        This catches files that arrived while the daemon was down, and any that the
        events missed; a file is seen twice, ``settle_s`` apart, before it is taken.
        """
        now = time.monotonic()
        self.last_rescan = now
        seen, settled = {}, []
        for path in ingest.inbox_files(self.spool):
            with contextlib.suppress(FileNotFoundError):
                info = path.stat(follow_symlinks=False)  # a link is refused, not followed
                first = self.sizes.get(path)
                key = (info.st_size, info.st_mtime)
                since = first[2] if first and first[:2] == key else now
                seen[path] = (*key, since)
                if now - since >= self.settle_s and path not in self.arrived:
                    settled.append(path)
        if settled:
            written = _written_in(self.spool.inbox)
            self.arrived.update((path, "rescan") for path in settled if path not in written)
        self.sizes = seen

    def _take(self) -> None:
        """Ingest up to ``ROUND`` arrived files; queue their entries' notices."""
        from skyspool import coincidence

        for path in list(self.arrived)[:ROUND]:
            seen_by = self.arrived.pop(path)
            started = time.time()
            try:
                outcome = ingest.ingest_file(self.spool, path,
                                             max_bytes=self.config["max_input_bytes"])
            except FileNotFoundError:
                continue  # taken meanwhile (an earlier event for the same file)
            except OSError as exc:  # a full disk: the file stays, a rescan offers it again
                _note("ingest-failed", logging.ERROR, file=path.name, error=str(exc))
                continue
            self.sizes.pop(path, None)
            if outcome.entry is None:
                _note("quarantined", logging.WARNING, file=outcome.source, reason=outcome.reason)
                continue
            _note(outcome.status, file=outcome.source, entry=_entry_name(outcome.entry), seen_by=seen_by)
            if outcome.status == "duplicate" and not targets.missing_targets(
                    self.spool, [outcome.entry], self.config):
                continue  # built already (a duplicate is built again only after a crash)
            self._schedule(outcome.entry, started)
            for chunk in frb_targets.affected_entries(self.spool, outcome.entry):
                _note("filterbank-views", entry=_entry_name(chunk), cause=_entry_name(outcome.entry))
                self._schedule(chunk, started)
            if self.follower.entry_stored(outcome.entry):
                continue  # an FRB observation's own entry: no notice to coincide with
            for partner in coincidence.affected_entries(self.spool, outcome.entry, self.config):
                _note("coincidence-update", entry=_entry_name(partner),
                      cause=_entry_name(outcome.entry))
                self._schedule(partner, started)

    def _schedule(self, entry: Entry, received: float) -> None:
        """Queue ``entry``'s products (again, when it is already queued or built)."""
        self.rest_queue.pop(entry, None)
        self.notice_queue.setdefault(entry, received)
        self.received.setdefault(entry, received)
        self.dirty = True

    # --- catch-up after a restart ---

    def _catch_up(self) -> None:
        """Queue every entry stored since the last checkpoint that lacks products."""
        since = 0.0
        with contextlib.suppress(OSError, ValueError):
            since = float(self.checkpoint.read_text()) - CHECKPOINT_MARGIN_S
        started = time.time()
        self.follower.resume()
        recent = [e for e in self.spool.entries() if e.path.stat().st_mtime >= since]
        # Older FRB chunks get views of filterbank files stored since.
        recent = list(dict.fromkeys(recent + [c for e in recent for c in frb_targets.affected_entries(self.spool, e)]))
        pending = [e for e in recent if targets.missing_targets(self.spool, [e], self.config)]
        for entry in pending:
            # Temporary files of runs killed mid-write (invisible dot-files): rebuilt anyway.
            for leftover in self.spool.products_dir(entry).glob(".*.tmp*"):
                leftover.unlink(missing_ok=True)
            self._schedule(entry, entry.path.stat().st_mtime)
        _note("catch-up", examined=len(recent), pending=len(pending),
              seconds=round(time.time() - started, 3))
        self.dirty = True  # the first idle moment writes a checkpoint
        self.wakeups.put(None)  # start on the queued work at once
        if self.progress and len(pending) >= 10:
            from tqdm import tqdm

            self.catch_up_bar = tqdm(total=len(pending), desc="catch-up", unit="entry",
                                     file=sys.__stderr__)  # sys.stderr is Snakemake's log now

    def _write_checkpoint(self) -> None:
        """Everything stored so far is built or reported: a restart may skip it."""
        atomic.write_text(self.checkpoint, f"{time.time():.3f}\n")
        self.dirty = False

    # --- runs ---

    def _start_notices(self) -> None:
        """Build the notices of the queued entries that no run holds, in one run."""
        chosen = {e: [t for t in targets.entry_targets(self.spool, e, self.config)
                      if t.name in NOTICE_PRODUCTS]
                  for e in list(self.notice_queue) if e not in self.busy}
        chosen = dict(list(chosen.items())[:ROUND])
        if not chosen:
            return
        for entry in chosen:
            self.rest_queue[entry] = self.notice_queue.pop(entry)
        paths = [str(t) for ts in chosen.values() for t in ts]
        if not paths:
            return  # no notices (pipeline candidates): a run without targets would build `all`
        self._submit(self.notice_pool.submit(_build, str(self.spool.root), paths, 2, self.retries),
                     "notice", chosen)

    def _start_rest(self) -> None:
        """Give each idle worker a batch of entries, or pieces of one entry when too few;
        when even those are too few, entries still waiting for their notices (``_steal``).

        An entry built in pieces has its first attempt there, without retries; what is
        still missing is then built in one run with the remaining retries (see ``_split``),
        so every product gets ``retries + 1`` attempts either way.
        """
        idle = self.workers - sum(1 for run in self.runs.values() if run.kind != "notice")
        ready = [e for e in self.rest_queue if e not in self.busy]
        runs = [({e: targets.entry_targets(self.spool, e, self.config)}, self.retries - 1)
                for e in ready if e in self.final][:max(idle, 0)]
        ready = [e for e in ready if e not in self.final]
        free = idle - len(runs)
        if free > len(ready):
            ready += self._steal(free * self.batch - len(ready))
        if free > 0 and len(ready) >= free:
            size = min(self.batch, math.ceil(len(ready) / free))
            runs += [({e: targets.entry_targets(self.spool, e, self.config)
                       for e in ready[i:i + size]}, self.retries)
                     for i in range(0, free * size, size)]
        elif free > 0:
            for entry in ready:
                if entry in self.whole or entry.kind in CHAINED_KINDS:  # in one run
                    runs.append(({entry: targets.entry_targets(self.spool, entry, self.config)},
                                 self.retries))
                    continue
                groups = self._split(entry, max(1, free // len(ready)))
                if len(groups) > 1 and self.retries > 0:
                    self.split.add(entry)
                retries = 0 if entry in self.split else self.retries
                runs += [({entry: group}, retries) for group in groups]
        for piece, retries in runs:
            if not piece:
                continue
            for entry in piece:
                self.rest_queue.pop(entry, None)
            self._submit(self.rest_pool.submit(
                _build, str(self.spool.root), [str(t) for ts in piece.values() for t in ts],
                1, retries, self.config.get("cluster_profile")), "rest", piece)

    def _steal(self, count: int) -> list[Entry]:
        """Up to ``count`` entries still waiting for the notice run, for idle workers.

        In a burst the one notice run at a time falls behind while workers idle; a worker
        then builds an entry whole, notices first (the rules' priorities). The notice run
        takes the oldest entries, so workers take the newest.
        """
        if not any(run.kind == "notice" for run in self.runs.values()):
            return []  # the notice run starts on them at once
        stolen = [e for e in reversed(self.notice_queue)
                  if e not in self.busy and e.kind not in CHAINED_KINDS][:count]
        for entry in stolen:
            self.rest_queue[entry] = self.notice_queue.pop(entry)
            self.whole.add(entry)
        return stolen

    def _split(self, entry: Entry, parts: int) -> list[list[Path]]:
        """The entry's missing non-notice products in ``parts`` groups for parallel runs.

        Products named alike (``combined.multiorder.fits``, ``combined.png``) may depend on
        each other and stay together: two runs must not both build the same intermediate
        file. (A wrong guess only costs time: the entry's last attempt is one run.)
        """
        families: dict[str, list[Path]] = {}
        for target in targets.missing_targets(self.spool, [entry], self.config):
            if target.name not in NOTICE_PRODUCTS:
                families.setdefault(target.name.split(".")[0], []).append(target)
        groups: list[list[Path]] = [[] for _ in range(parts)]
        for i, family in enumerate(families.values()):
            groups[i % parts] += family
        return [g for g in groups if g] or [targets.entry_targets(self.spool, entry, self.config)]

    def _submit(self, future, kind: str, piece: dict[Entry, list[Path]]) -> None:
        for entry in piece:
            self.busy[entry] = self.busy.get(entry, 0) + 1
        self.runs[future] = Run(kind, piece, time.monotonic())
        future.add_done_callback(lambda _: self.wakeups.put(None))
        _note(f"{kind}-started", entries=len(piece),
              targets=sum(len(t) for t in piece.values()),
              first=_entry_name(next(iter(piece))) if piece else "-")

    def _finish(self, future) -> None:
        """Account for a finished run: latencies, leftovers, failure records."""
        kind, piece, started = self.runs.pop(future)
        try:
            ok = future.result()
        except Exception as exc:  # a worker died: its entries are built again
            _note(f"{kind}-crashed", logging.ERROR, error=repr(exc))
            ok = False
        _note(f"{kind}-finished", entries=len(piece), ok=ok,
              seconds=round(time.monotonic() - started, 3))
        for entry, paths in piece.items():
            self.busy[entry] -= 1
            if self.busy[entry]:
                continue
            del self.busy[entry]
            if kind == "notice" or entry in self.whole:
                self.whole.discard(entry)
                notice = self.spool.product(entry, "notice.json")
                if notice.exists():
                    _note("notice", entry=_entry_name(entry), built_by=kind,
                          seconds=round(notice.stat().st_mtime - self.received[entry], 3))
                    self.publisher.offer(entry, "notice")
                if kind == "notice":
                    if entry in self.rest_queue and not targets.missing_targets(
                            self.spool, [entry], self.config):
                        del self.rest_queue[entry]  # nothing left for a worker (an FRB chunk)
                        self._report(entry, [])
                    continue
            missing = targets.missing_targets(self.spool, [entry], self.config)
            if self.stopping:
                continue  # handed back: the restart's catch-up builds what is missing
            if entry in self.split:
                self.split.discard(entry)
                if missing:  # the remaining attempts, in one run (see _start_rest)
                    self.final.add(entry)
                    self.rest_queue[entry] = self.received[entry]
                    continue
            self._report(entry, missing)
        if not ok and kind == "rest":
            _note("run-failed", logging.WARNING, entries=len(piece))
        self._update_progress()

    def _report(self, entry: Entry, missing: list[Path]) -> None:
        """Log the entry's outcome; record products that failed for good, clear others."""
        self.final.discard(entry)
        self.dashboard_due.add((entry.kind, entry.event_id))
        received = self.received[entry]
        if entry not in self.notice_queue and entry not in self.rest_queue:
            del self.received[entry]
        for name in status.record_failures(self.spool, entry, missing, self.config,
                                           self.retries + 1, SNAKEMAKE_LOG):
            _note("failed", logging.ERROR, entry=_entry_name(entry), product=name)
            self.last_error = f"{_entry_name(entry)}: {name} not built"
        done = [p.stat().st_mtime for p in targets.entry_targets(self.spool, entry, self.config)
                if p.exists()]
        _note("done" if not missing else "done-with-failures", entry=_entry_name(entry),
              products=len(done), failed=len(missing),
              seconds=round(max(done, default=received) - received, 3))
        self.publisher.offer(entry, "done")
        if self.catch_up_bar is not None:
            self.catch_up_bar.update(1)

    def _update_progress(self) -> None:
        if self.catch_up_bar is not None and not self.notice_queue and not self.rest_queue \
                and not self.runs:
            self.catch_up_bar.close()
            self.catch_up_bar = None

    def _start_dashboard(self) -> None:
        """Refresh the pages in a worker, one refresh at a time (they never hold up a
        notice): when the work is done, or every ``DASHBOARD_BUSY_INTERVAL_S`` meanwhile."""
        if not self.dashboard_due or any(run.kind == "dashboard" for run in self.runs.values()):
            return
        busy = self.notice_queue or self.rest_queue or any(
            run.kind != "notice" for run in self.runs.values())
        if busy and time.monotonic() - self.dashboard_last < DASHBOARD_BUSY_INTERVAL_S:
            return
        events, self.dashboard_due = sorted(self.dashboard_due), set()
        self.dashboard_last = time.monotonic()
        self._submit(self.rest_pool.submit(dashboard.refresh, str(self.spool.root), events),
                     "dashboard", {})

    # --- main loop ---

    def _wait(self) -> None:
        """Sleep until a file arrives, a run ends, a signal comes or a rescan is due."""
        # Everything startable was started: only new files and ended runs (both come as
        # wake-ups), files left untaken by the last round, or a due rescan can change that.
        timeout = 0 if self.arrived else max(0.0, min(self.last_rescan + self.rescan_s - time.monotonic(),
                                                      self.follower.timeout(), self.heart.seconds_to_next(),
                                                      timers.seconds_to_next(self.spool)))
        items = []
        with contextlib.suppress(queue.Empty):
            items.append(self.wakeups.get(timeout=timeout) if timeout else self.wakeups.get_nowait())
            while True:
                items.append(self.wakeups.get_nowait())
        for item in items:
            if item is not None:
                self.arrived.setdefault(item, "event")

    def _stop(self, signum, _frame) -> None:
        _note("stopping", signal=signal.Signals(signum).name)
        self.stopping = True
        self.wakeups.put(None)

    def run(self) -> int:
        """Catch up, then react to the inbox until SIGTERM/SIGINT; 0 on a clean stop."""
        from watchdog.observers import Observer

        os.chdir(self.spool.root)  # Snakemake's .snakemake/log goes to the spool, not here
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        started = time.time()
        # The observer starts first: nothing that lands during start-up is missed.
        observer = Observer()
        observer.schedule(_ForwardingEventHandler(self._on_event), str(self.spool.inbox), recursive=False)
        self._start_control(observer)
        observer.start()
        self.follower.attach(observer)
        self.rest_pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init, initargs=(str(self.spool.root),))
        self.notice_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="notice")
        self.publisher = publish.Publisher(self.spool, self.config)  # its own threads
        try:
            with open(self.spool.logs / SNAKEMAKE_LOG, "a") as snakemake_output, \
                    contextlib.redirect_stdout(snakemake_output), \
                    contextlib.redirect_stderr(snakemake_output):
                clear_stale_locks(self.spool)  # before any worker runs Snakemake
                clear_stale_temporaries(self.spool)
                # Every process warms up while files are already taken and stored: only
                # building waits for it (see _warming). The notice runs' warm-up runs in
                # their thread: in the main thread, Snakemake's scheduler would replace our
                # SIGTERM handler with its own.
                self.warm_ups = [self.rest_pool.submit(os.getpid) for _ in range(self.workers)]
                self.warm_ups.append(self.notice_pool.submit(_warm_up))
                for future in self.warm_ups:
                    future.add_done_callback(lambda _: self.wakeups.put(None))
                self.started = started
                _note("taking", dir=str(self.spool.root),
                      seconds=round(time.time() - started, 3))
                self._rescan()
                time.sleep(self.settle_s)
                self._rescan()
                self._catch_up()
                self._loop()
        finally:
            observer.stop()
            observer.join()
            self.notice_pool.shutdown(wait=True)
            self.rest_pool.shutdown(wait=True)
            self.publisher.close()
            self._beat(force=True, state="stopped")
        _note("stopped")
        return 0

    def _warming(self) -> bool:
        """True while a process still builds its sample alert (``_warm_up``): files are taken
        and stored meanwhile, from the first second; building waits."""
        if any(not future.done() for future in self.warm_ups):
            return True
        if self.warm_ups:
            for future in self.warm_ups:
                future.result()  # a worker that could not start stops the daemon, as before
            self.warm_ups = []
            # "watching": warm and building (benchmarks and people wait for this line)
            _note("watching", dir=str(self.spool.root), workers=self.workers,
                  seconds=round(time.time() - self.started, 3))
        return False

    def _loop(self) -> None:
        while True:
            self._wait()
            self.controller.poll()
            self._beat()
            for future in [f for f in self.runs if f.done()]:
                self._finish(future)
            if self.stopping:
                if not self.runs:
                    return
                continue  # finish what is running, start nothing new
            if time.monotonic() - self.last_rescan >= self.rescan_s:
                self._rescan()
            for entry in self.follower.poll():  # before _take: lines written before a stop file
                self._schedule(entry, time.time())
            for entry in timers.take_due(self.spool):  # steps due now (second preliminary alerts)
                self._schedule(entry, time.time())
            self._take()
            if self._warming():
                continue
            if not any(run.kind == "notice" for run in self.runs.values()):
                self._start_notices()
            self._start_rest()
            self._start_dashboard()
            if self.dirty and not (self.arrived or self.notice_queue or self.rest_queue
                                   or self.runs):
                self._write_checkpoint()

    # --- run-time control and heartbeat (skyspool.control) ---

    def _start_control(self, observer) -> None:
        """Answer ``skyspool control`` requests (a request wakes the loop) and beat."""
        control.requests_dir(self.spool.root).mkdir(parents=True, exist_ok=True)
        self.heart = control.Heart(self.spool.root, "watch")
        self.last_error = None
        self.controller = control.Controller(self.spool.root, self.spool.inbox, self._facts, self._reload,
                                             lambda: self._stop(signal.SIGTERM, None))
        observer.schedule(_ForwardingEventHandler(lambda _event: self.wakeups.put(None)),
                          str(control.requests_dir(self.spool.root)), recursive=False)
        self._beat(force=True)

    def _facts(self) -> dict:
        return {"pid": os.getpid(), "up_since": times.iso_from_unix(self.heart.started),
                "following": sorted(self.follower.followed),
                "queues": {"inbox": len(self.arrived), "notice": len(self.notice_queue),
                           "rest": len(self.rest_queue), "runs": len(self.runs)},
                "last_error": self.last_error}

    def _beat(self, force: bool = False, **facts) -> None:
        self.heart.beat(force, **{key: value for key, value in self._facts().items()
                                  if key not in ("pid", "up_since")} | facts)

    def _reload(self) -> None:
        from skyspool import config as skyspool_config

        # A dry run (--dry-run) stays one.
        dry_run = self.config.get("publish", {}).get("dry_run")
        self.config = skyspool_config.load(self.spool, {"publish": {"dry_run": True}} if dry_run else None)
        self.retries = int(self.config.get("retries", 1))
        _note("reloaded", dir=str(self.spool.root))


class Run(typing.NamedTuple):
    """A Snakemake run of the daemon: ``kind`` (notice, rest, dashboard), the entries it
    holds with their targets, and when it started (``time.monotonic()``)."""

    kind: str
    piece: dict[Entry, list[Path]]
    started: float


def arrived_complete(event, inbox: Path) -> Path | None:
    """The inbox file a watchdog event shows complete, or None.

    - closed after writing (written in place, or copied in: ``cp``, ``shutil.copy``);
    - renamed within the inbox, from a hidden temporary name (``.x.part``, rsync's
      ``.x.XXXXXX``) or any other;
    - *created*: watchdog reports a rename from outside the watched folder (``mv`` from
      another folder or file system's copy-then-rename, ``IN_MOVED_TO`` without a source)
      and a hard link as a created file, with no close event to follow. A created file
      is taken at once unless some process holds it open for writing (then it is being
      written, and its close event comes later) or it is still empty.
    Hidden names (a dot first) are files still being written: never taken.
    """
    from watchdog.events import FileClosedEvent, FileCreatedEvent, FileMovedEvent

    if isinstance(event, FileMovedEvent):
        path = Path(os.fsdecode(event.dest_path))
    elif isinstance(event, (FileClosedEvent, FileCreatedEvent)):
        path = Path(os.fsdecode(event.src_path))
    else:
        return None
    if path.parent != inbox or path.name.startswith("."):
        return None
    if isinstance(event, FileCreatedEvent):
        try:
            if path.stat(follow_symlinks=False).st_size == 0:
                return None  # a writer's open(O_CREAT): its close event follows
        except FileNotFoundError:
            return None
        if path in _written_in(inbox):
            return None
    return path


class _ForwardingEventHandler:
    """watchdog event handler forwarding every event to a function."""

    def __init__(self, callback):
        self.callback = callback

    def dispatch(self, event) -> None:
        self.callback(event)


def watch(spool: Spool, config: dict, **options) -> int:
    """``skyspool watch DIR``: hold the spool and run the daemon until SIGTERM."""
    with hold_spool(spool):
        return Daemon(spool, config, **options).run()
