"""Running one product job with its log: what a Snakemake ``run:`` block calls.

With a time limit (``job_timeout_s``), the job runs in a child forked from this process,
so it keeps the warm imports, and a job that hangs or crashes the interpreter (a segfault,
the out-of-memory killer) takes only its child down: the job fails, Snakemake retries it,
and the run, the other jobs and the daemon go on. A child past its limit gets SIGTERM (its
atomic writes remove their temporary files), then SIGKILL after :data:`TERM_GRACE_S`.
"""

from __future__ import annotations

import ctypes
import datetime
import os
import pickle
import select
import signal
import time
import traceback
from pathlib import Path
from typing import Callable

# After SIGTERM, seconds a timed-out job has to clean up before SIGKILL.
TERM_GRACE_S = 5.0
PR_SET_PDEATHSIG = 1  # prctl(2), Linux

_time_limit_s: float | None = None


class JobFailed(RuntimeError):
    """A job that raised, crashed or ran past its time limit in its child process."""


def set_time_limit(seconds: float | None) -> None:
    """Most seconds one job may take from now on (None: no limit, the job runs in this process)."""
    global _time_limit_s
    _time_limit_s = seconds


def _stop_child(_signum, _frame):
    raise JobFailed("stopped: over its time limit")


def _child(func: Callable, args, kwargs, output: int, parent: int) -> None:
    """In the forked child: run ``func``, send back its result or failure, exit."""
    # Die with the thread that waits for us (a worker killed with the daemon, say).
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGTERM, _stop_child)
    try:
        report = (True, func(*args, **kwargs), "")
    except BaseException as exc:  # everything goes back to the parent, which re-raises
        report = (False, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        payload = pickle.dumps(report)
    except Exception as exc:
        payload = pickle.dumps((False, f"unpicklable result: {exc}", ""))
    with os.fdopen(output, "wb") as pipe:
        pipe.write(payload)
    os._exit(0)  # not the parent's atexit handlers and buffers


def _end(pid: int) -> int:
    """Stop the child ``pid`` (SIGTERM, then SIGKILL) and reap it; its wait status."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _run_limited(func: Callable, args, kwargs, limit_s: float):
    """``func(*args, **kwargs)`` in a forked child, stopped after ``limit_s`` seconds."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(func, args, kwargs, write_end, parent)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + limit_s
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _end(pid)
                raise JobFailed(f"no result after {limit_s:g} s (job_timeout_s): stopped")
            if select.select([pipe], [], [], remaining)[0]:
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    status = os.waitpid(pid, 0)[1]
    if not chunks:
        how = (f"killed by {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
               else f"exit status {os.waitstatus_to_exitcode(status)}")
        raise JobFailed(f"the job's process died ({how})")
    ok, value, child_traceback = pickle.loads(b"".join(chunks))
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
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        log.write(f"{stamp} {step}: started\n")
        log.flush()
        try:
            result = (func(*args, **kwargs) if _time_limit_s is None
                      else _run_limited(func, args, kwargs, _time_limit_s))
        except BaseException as exc:
            log.write(f"{step}: FAILED after {time.perf_counter() - started:.3f} s: "
                      f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            raise
        log.write(f"{step}: done in {time.perf_counter() - started:.3f} s\n")
    return result
