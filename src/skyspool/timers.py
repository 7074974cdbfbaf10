"""Wake-ups at a due time, kept as files: a step that must happen later writes a timer
instead of sleeping in a job.

``DIR/timers/<kind>.<event_id>.<NNN-type>.json`` holds ``{"due": <Unix time>, "why": ...}``
for one entry. The daemon's main loop waits at most until the earliest timer is due, then
takes the due ones and builds those entries' missing products again: by then the delayed
step (the second preliminary alert, :func:`skyspool.orchestrator.second_preliminary_due`) is
one of them. ``skyspool process`` waits for them the same way before it exits. Timers
survive a restart.

Every function that reads the time takes ``clock=``: a zero-argument callable returning
UNIX seconds (``time.time`` by default).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from skyspool import atomic
from skyspool.paths import Entry, Spool


def set_timer(spool: Spool, entry: Entry, due: float, why: str) -> None:
    """Wake ``entry`` up at ``due`` (Unix time)."""
    atomic.write_json(spool.timer(entry), {"due": due, "entry": [entry.kind, entry.event_id, entry.name],
                                           "why": why})


def _pending(spool: Spool) -> list[tuple[float, Entry, object]]:
    found = []
    for path in sorted(spool.timers.glob("*.json")) if spool.timers.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, LookupError):
            record = json.loads(path.read_text())
            found.append((float(record["due"]), spool.find_entry(*record["entry"]), path))
    return found


def seconds_to_next(spool: Spool, *, clock: Callable[[], float] = time.time) -> float:
    """Seconds until the earliest timer is due (0 when one is due; inf when none is set)."""
    return max(0.0, min((due for due, _, _ in _pending(spool)), default=float("inf")) - clock())


def take_due(spool: Spool, *, clock: Callable[[], float] = time.time) -> list[Entry]:
    """The entries whose timers are due; those timers are removed."""
    now = clock()
    due = [(entry, path) for when, entry, path in _pending(spool) if when <= now]
    for _, path in due:
        path.unlink(missing_ok=True)
    return [entry for entry, _ in due]


def wait_for_next(spool: Spool, report=None, *, clock: Callable[[], float] = time.time,
                  sleep: Callable[[float], None] = time.sleep) -> bool:
    """Sleep until the earliest timer is due and take it (and all due then); False when
    no timer is set (batch mode: ``skyspool process``). ``report`` gets a line saying so.
    ``sleep`` waits that many seconds of ``clock``."""
    wait = seconds_to_next(spool, clock=clock)
    if wait == float("inf"):
        return False
    if report:
        report(f"waiting {wait:.0f} s for a step due later ({spool.timers})")
    sleep(wait)
    return bool(take_due(spool, clock=clock))
