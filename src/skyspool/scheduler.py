"""The watch daemon's scheduling policy, apart from its I/O: events in, run requests out.

Events: an entry was stored (:meth:`Scheduler.entry_stored`) or its timer is due
(:meth:`Scheduler.timer_due`), a run finished or failed (:meth:`Scheduler.run_finished`),
and a tick with the time now (:meth:`Scheduler.tick`, which returns the runs to start). No
threads, no Snakemake, no file system: the entries' product lists come from the two
functions it is given (``targets_of``: every product of an entry; ``missing_of``: those
not built yet), the time from the ``now`` of each tick (UNIX seconds).

The policy:

- every entry's notice products (``notice_products``) first, in one notice run at a time
  (at most ``round_size`` entries), then the rest by ``workers`` runs;
- no two runs ever hold the same entry (an entry is *busy* while a run holds it);
- an idle worker takes a batch of up to ``batch`` entries; when there are fewer entries than
  idle workers, one entry's rest is *split* into pieces for parallel runs (first attempt
  without retries; what is still missing then runs once more *whole*, its ``final`` run, with
  the remaining retries), so every product gets ``retries + 1`` attempts either way;
- when even that leaves workers idle while a notice run works, they *steal* the newest
  entries still waiting for it and build them whole, notices first;
- chained kinds (products that build on other entries': an FRB chunk, a pipeline
  candidate) are never stolen and never split;
- the dashboard is refreshed by a worker when the work is done, or every
  ``dashboard_interval_s`` while busy.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from skyspool.paths import Entry

# Most entries in one notice run: the first notices of a burst need not wait for all of it.
ROUND = 16
# While products are being built the dashboard is refreshed at most this often (s): a
# refresh takes a worker, and during a burst it would take one after every entry.
DASHBOARD_BUSY_INTERVAL_S = 60.0
# Kinds whose products build on other entries' (an FRB chunk continues the previous chunk's
# triggers; a pipeline candidate's orchestrator steps update its superevent): never taken by a
# worker before their notice run, never built in pieces by parallel runs.
CHAINED_KINDS = frozenset({"frb", "gwcand"})


class Run(typing.NamedTuple):
    """A run to start: ``kind`` (notice, rest, dashboard), the entries it holds with their
    targets, the retries Snakemake gets, and the (kind, event_id) pages a dashboard run
    refreshes. ``id`` names it in :meth:`Scheduler.run_finished`."""

    id: int
    kind: str
    piece: dict[Entry, list[Path]]
    retries: int
    events: tuple[tuple[str, str], ...] = ()


class NoticeBuilt(typing.NamedTuple):
    """The run that built ``entry``'s notice (``built_by``: notice or rest) ended."""

    entry: Entry
    built_by: str
    received: float


class Reported(typing.NamedTuple):
    """``entry`` is done: ``missing`` products failed for good (empty when all built)."""

    entry: Entry
    missing: list[Path]
    received: float


class Scheduler:
    """The daemon's queues, runs and policy (see the module's docstring)."""

    def __init__(self, *, workers: int, batch: int, retries: int,
                 targets_of: Callable[[Entry], list[Path]], missing_of: Callable[[Entry], list[Path]],
                 notice_products: Collection[str], round_size: int = ROUND,
                 dashboard_interval_s: float = DASHBOARD_BUSY_INTERVAL_S):
        self.workers, self.batch, self.retries = workers, batch, retries
        self.targets_of, self.missing_of = targets_of, missing_of
        self.notice_products = notice_products
        self.round_size, self.dashboard_interval_s = round_size, dashboard_interval_s
        self.notice_queue: dict[Entry, float] = {}  # entry -> UNIX time it was received
        self.rest_queue: dict[Entry, float] = {}
        self.received: dict[Entry, float] = {}
        self.busy: dict[Entry, int] = {}            # entry -> runs holding it
        self.split: set[Entry] = set()              # entries whose rest runs in pieces
        self.whole: set[Entry] = set()              # entries built whole by a worker
        self.final: set[Entry] = set()              # ... and then once more, whole
        self.runs: dict[int, Run] = {}
        self.stopping = False
        self.dashboard_due: set[tuple[str, str]] = set()  # events reported since the last refresh
        self.dashboard_last = -math.inf             # `now` of the last refresh's start
        self._next_id = 0

    # --- events in ---

    def entry_stored(self, entry: Entry, received: float) -> None:
        """Queue ``entry``'s products (again, when it is already queued or built)."""
        self.rest_queue.pop(entry, None)
        self.notice_queue.setdefault(entry, received)
        self.received.setdefault(entry, received)

    timer_due = entry_stored  # a due timer (a delayed step) builds the entry's missing products again

    def stop(self) -> None:
        """Start nothing new; running work finishes, its entries are not reported."""
        self.stopping = True

    def run_finished(self, run_id: int, ok: bool) -> list[NoticeBuilt | Reported]:
        """Account for a finished (``ok``) or failed run: what the caller publishes and records."""
        run = self.runs.pop(run_id)
        outcomes: list[NoticeBuilt | Reported] = []
        for entry in run.piece:
            self.busy[entry] -= 1
            if self.busy[entry]:
                continue
            del self.busy[entry]
            if run.kind == "notice" or entry in self.whole:
                self.whole.discard(entry)
                outcomes.append(NoticeBuilt(entry, run.kind, self.received[entry]))
                if run.kind == "notice":
                    if entry in self.rest_queue and not self.missing_of(entry):
                        del self.rest_queue[entry]  # nothing left for a worker (an FRB chunk)
                        outcomes.append(self._report(entry, []))
                    continue
            missing = self.missing_of(entry)
            if self.stopping:
                continue  # handed back: the restart's catch-up builds what is missing
            if entry in self.split:
                self.split.discard(entry)
                if missing:  # the remaining attempts, in one run (see _start_rest)
                    self.final.add(entry)
                    self.rest_queue[entry] = self.received[entry]
                    continue
            outcomes.append(self._report(entry, missing))
        return outcomes

    def tick(self, now: float) -> list[Run]:
        """The runs to start now (they count as running from here on)."""
        if self.stopping:
            return []
        started = [] if any(run.kind == "notice" for run in self.runs.values()) else self._start_notices()
        return started + self._start_rest() + self._start_dashboard(now)

    # --- state ---

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing running."""
        return not (self.notice_queue or self.rest_queue or self.runs)

    def queues(self) -> dict[str, int]:
        return {"notice": len(self.notice_queue), "rest": len(self.rest_queue), "runs": len(self.runs)}

    # --- policy ---

    def _report(self, entry: Entry, missing: list[Path]) -> Reported:
        self.final.discard(entry)
        self.dashboard_due.add((entry.kind, entry.event_id))
        received = self.received[entry]
        if entry not in self.notice_queue and entry not in self.rest_queue:
            del self.received[entry]
        return Reported(entry, missing, received)

    def _start(self, kind: str, piece: dict[Entry, list[Path]], retries: int,
               events: Iterable[tuple[str, str]] = ()) -> Run:
        for entry in piece:
            self.busy[entry] = self.busy.get(entry, 0) + 1
        run = Run(self._next_id, kind, piece, retries, tuple(events))
        self._next_id += 1
        self.runs[run.id] = run
        return run

    def _start_notices(self) -> list[Run]:
        """The notices of the queued entries that no run holds, in one run."""
        free = [e for e in self.notice_queue if e not in self.busy][:self.round_size]
        chosen = {e: [t for t in self.targets_of(e) if t.name in self.notice_products] for e in free}
        for entry in chosen:
            self.rest_queue[entry] = self.notice_queue.pop(entry)
        if not any(chosen.values()):
            return []  # no notices (pipeline candidates): a run without targets would build `all`
        return [self._start("notice", chosen, self.retries)]

    def _start_rest(self) -> list[Run]:
        """Give each idle worker a batch of entries, or pieces of one entry when too few;
        when even those are too few, entries still waiting for their notices (``_steal``).

        An entry built in pieces has its first attempt there, without retries; what is
        still missing is then built in one run with the remaining retries (its final run),
        so every product gets ``retries + 1`` attempts either way.
        """
        idle = self.workers - sum(1 for run in self.runs.values() if run.kind != "notice")
        ready = [e for e in self.rest_queue if e not in self.busy]
        runs = [({e: self.targets_of(e)}, self.retries - 1)
                for e in ready if e in self.final][:max(idle, 0)]
        ready = [e for e in ready if e not in self.final]
        free = idle - len(runs)
        if free > len(ready):
            ready += self._steal(free * self.batch - len(ready))
        if free > 0 and len(ready) >= free:
            size = min(self.batch, math.ceil(len(ready) / free))
            runs += [({e: self.targets_of(e) for e in ready[i:i + size]}, self.retries)
                     for i in range(0, free * size, size)]
        elif free > 0:
            for entry in ready:
                if entry in self.whole or entry.kind in CHAINED_KINDS:  # in one run
                    runs.append(({entry: self.targets_of(entry)}, self.retries))
                    continue
                groups = self._split(entry, max(1, free // len(ready)))
                if len(groups) > 1 and self.retries > 0:
                    self.split.add(entry)
                retries = 0 if entry in self.split else self.retries
                runs += [({entry: group}, retries) for group in groups]
        started = []
        for piece, retries in runs:
            if not piece:
                continue
            for entry in piece:
                self.rest_queue.pop(entry, None)
            started.append(self._start("rest", piece, retries))
        return started

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
        for target in self.missing_of(entry):
            if target.name not in self.notice_products:
                families.setdefault(target.name.split(".")[0], []).append(target)
        groups: list[list[Path]] = [[] for _ in range(parts)]
        for i, family in enumerate(families.values()):
            groups[i % parts] += family
        return [g for g in groups if g] or [self.targets_of(entry)]

    def _start_dashboard(self, now: float) -> list[Run]:
        """One refresh at a time (it never holds up a notice): when the work is done, or
        every ``dashboard_interval_s`` meanwhile."""
        if not self.dashboard_due or any(run.kind == "dashboard" for run in self.runs.values()):
            return []
        busy = self.notice_queue or self.rest_queue or any(
            run.kind != "notice" for run in self.runs.values())
        # (a clock stepped back counts as due: `now` is wall-clock time)
        if busy and 0 <= now - self.dashboard_last < self.dashboard_interval_s:
            return []
        events, self.dashboard_due = sorted(self.dashboard_due), set()
        self.dashboard_last = now
        return [self._start("dashboard", {}, 0, events)]
