"""Faults: product jobs that hang or crash the interpreter, under a time limit.

Jobs are real functions failing for real reasons (an abort, a SIGKILL, a sleep that never
ends while a product is half written); nothing of ours is mocked.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from skyspool import atomic, jobs


@pytest.fixture
def time_limit():
    jobs.set_time_limit(3)
    yield
    jobs.set_time_limit(None)


def _write_then_hang(path):
    with atomic.atomic_path(path) as tmp:
        tmp.write_text("half")
        time.sleep(3600)


def test_a_job_that_hangs_is_stopped_at_its_limit_and_cleans_up(tmp_path, time_limit):
    out = tmp_path / "product.json"
    started = time.monotonic()
    with pytest.raises(jobs.JobFailed, match=r"no result after 3 s \(job_timeout_s\): stopped"):
        jobs.run_logged(tmp_path / "job.log", "hang", _write_then_hang, out)
    assert time.monotonic() - started < 3 + jobs.TERM_GRACE_S + 30  # not an hour
    assert list(tmp_path.iterdir()) == [tmp_path / "job.log"]  # no product, no temporary file
    assert "hang: FAILED after" in (tmp_path / "job.log").read_text()


def test_a_job_that_crashes_the_interpreter_takes_only_its_own_process(tmp_path, time_limit):
    with pytest.raises(jobs.JobFailed, match=r"the job's process died \(killed by SIGABRT\)"):
        jobs.run_logged(tmp_path / "job.log", "crash", os.abort)
    with pytest.raises(jobs.JobFailed, match=r"killed by SIGKILL"):
        jobs.run_logged(tmp_path / "job.log", "oom", lambda: os.kill(os.getpid(), signal.SIGKILL))


def test_a_limited_job_returns_its_result_and_raises_its_errors(tmp_path, time_limit):
    assert jobs.run_logged(tmp_path / "job.log", "sum", sum, [1, 2, 3]) == 6
    with pytest.raises(jobs.JobFailed, match=r"ZeroDivisionError: division by zero") as failure:
        jobs.run_logged(tmp_path / "job.log", "divide", lambda: 1 / 0)
    assert "in the job's process" in "".join(failure.value.__notes__)
    assert "ZeroDivisionError" in (tmp_path / "job.log").read_text()

