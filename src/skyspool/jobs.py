"""Running one product job with its log: what a Snakemake ``run:`` block calls."""

from __future__ import annotations

import datetime
import time
import traceback
from pathlib import Path
from typing import Callable


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
            result = func(*args, **kwargs)
        except BaseException as exc:
            log.write(f"{step}: FAILED after {time.perf_counter() - started:.3f} s: "
                      f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            raise
        log.write(f"{step}: done in {time.perf_counter() - started:.3f} s\n")
    return result
