"""Running one product job with its log: what a Snakemake ``run:`` block calls.

With a time limit (``job_timeout_s``), the job runs in a child process, so a job that
hangs or crashes the interpreter (a segfault, the out-of-memory killer) takes only its
child down: the job fails, Snakemake retries it, and the run, the other jobs and the
daemon go on. A child past its limit gets SIGTERM (its atomic writes remove their
temporary files), then SIGKILL after :data:`TERM_GRACE_S`.

The children are forked from a fork server (``multiprocessing``'s "forkserver"), not from
the calling process: the daemon's processes run threads and thread pools (OpenMP in healpy
and ligo.skymap, rayon in mocpy), and a child forked after OpenMP ran hangs in its first
parallel region (libgomp is not fork-safe), while the fork server runs no product code.
It imports :data:`PRELOAD` once, so every job starts warm. A job's function and arguments
must be picklable (module-level functions).
"""

from __future__ import annotations

import ctypes
import datetime
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

# After SIGTERM, seconds a timed-out job has to clean up before SIGKILL.
TERM_GRACE_S = 5.0
PR_SET_PDEATHSIG = 1  # prctl(2), Linux
# What the fork server imports once: the product modules and the libraries they import
# when first called.
PRELOAD = ["skyspool.gw.products", "skyspool.notices.products", "skyspool.coincidence",
           "skyspool.dashboard", "skyspool.gwcand.products", "skyspool.orchestrator",
           "skyspool.frb.products", "skyspool.galaxies", "astropy.io.fits", "astropy.table", "healpy", "mocpy",
           "ligo.skymap.io", "ligo.skymap.postprocess", "ligo.skymap.plot", "igwn_gwalert_schema",
           "scipy.cluster", "contourpy"]

_forkserver = multiprocessing.get_context("forkserver")
_forkserver.set_forkserver_preload(PRELOAD)
_time_limit_s: float | None = None


class JobFailed(RuntimeError):
    """A job that raised, crashed or ran past its time limit in its child process."""


def set_time_limit(seconds: float | None) -> None:
    """Most seconds one job may take from now on (None: no limit, the job runs in this process)."""
    global _time_limit_s
    _time_limit_s = seconds


def _stop_child(_signum, _frame):
    raise JobFailed("stopped: over its time limit")


def _child(job: bytes, results, interruptible: bool, log_path: str) -> None:
    """In the job's process: run the pickled ``(func, args, kwargs)``, send back its
    result or failure through the connection ``results``; what it prints goes to ``log_path``."""
    # Die with the fork server; and let it end as soon as the process that runs the job does
    # (it exits when nobody holds its "alive" pipe, and it gives every child a copy).
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.close(multiprocessing.forkserver._forkserver._forkserver_alive_fd)
    if not multiprocessing.parent_process().is_alive():
        os._exit(1)
    signal.signal(signal.SIGTERM, _stop_child)
    if not interruptible:  # a Ctrl-C that the caller handles itself (the daemon)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # (Else it would go where the caller's output went when the fork server started.)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        func, args, kwargs = pickle.loads(job)
        report = (True, func(*args, **kwargs), "")
    except BaseException as exc:  # everything goes back to the parent, which re-raises
        report = (False, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        results.send(report)
    except Exception as exc:
        results.send((False, f"unpicklable result: {exc}", ""))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # not waiting for threads the job left behind


def _end(process: multiprocessing.Process) -> None:
    """Stop ``process`` (SIGTERM, then SIGKILL) and reap it."""
    process.terminate()
    process.join(TERM_GRACE_S)
    if process.exitcode is None:
        process.kill()
        process.join()


def _run_limited(func: Callable, args, kwargs, limit_s: float, log_path: Path):
    """``func(*args, **kwargs)`` in a child of the fork server, stopped after ``limit_s`` s."""
    try:
        job = pickle.dumps((func, args, kwargs))
    except Exception as exc:
        raise JobFailed(f"cannot send the job to its process (job_timeout_s): {exc}") from exc
    results, sender = _forkserver.Pipe(duplex=False)
    interruptible = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    process = _forkserver.Process(target=_child, args=(job, sender, interruptible, str(log_path)),
                                  name=getattr(func, "__name__", "job"))
    try:
        process.start()  # waits for the fork server, the first time until it has imported
        sender.close()
        if not multiprocessing.connection.wait([results], limit_s):
            _end(process)
            raise JobFailed(f"no result after {limit_s:g} s (job_timeout_s): stopped")
        try:
            ok, value, child_traceback = results.recv()
        except EOFError:  # closed without a result: the process died
            process.join()
            code = process.exitcode
            how = (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}")
            raise JobFailed(f"the job's process died ({how})") from None
        process.join()
    finally:
        results.close()
        if process.exitcode is None and process.pid is not None:
            _end(process)  # an exception here (KeyboardInterrupt, say) leaves no child behind
    if ok:
        return value
    failure = JobFailed(value)
    failure.add_note(f"in the job's process:\n{child_traceback}")
    raise failure


def run_logged(log_path: str | Path, step: str, func: Callable, *args, **kwargs):
    """Call ``func(*args, **kwargs)``, appending start, end, duration or traceback to the log.

    The log gets plain lines a person can read; exceptions are re-raised so Snakemake
    marks the job failed (and retries it when configured).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "a") as log:
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        log.write(f"{stamp} {step}: started\n")
        log.flush()
        try:
            result = (func(*args, **kwargs) if _time_limit_s is None
                      else _run_limited(func, args, kwargs, _time_limit_s, log_path))
        except BaseException as exc:
            log.write(f"{step}: FAILED after {time.perf_counter() - started:.3f} s: "
                      f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            raise
        log.write(f"{step}: done in {time.perf_counter() - started:.3f} s\n")
    return result
