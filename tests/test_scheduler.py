"""The watch daemon's scheduling policy (skyspool.scheduler), without threads, Snakemake or
files: entries with made-up product lists, runs that "build" by marking their targets built,
and a clock that is a number. Every test runs in milliseconds.

Each policy of the daemon: notices first in one run at a time, batches, split rests with
their final whole run, steal, chained kinds, busy entries, failures, stopping, timers, the
dashboard's pace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skyspool import timers
from skyspool.paths import SUBDIRS, Entry, Spool
from skyspool.scheduler import NoticeBuilt, Reported, Scheduler

NOTICES = {"notice.json", "notice.xml", "circular.txt", "triggers.json"}
GW_PRODUCTS = ["notice.json", "notice.xml", "circular.txt", "stats.json", "flat.fits",
               "flat.png", "moc90.fits", "volume.png"]


def entry(event_id: str, kind: str = "gw") -> Entry:
    return Entry(kind, event_id, 1, "preliminary", Path(f"spool/{kind}/{event_id}/001-preliminary.json"))


class World:
    """Made-up products of entries, which of them are built, and a scheduler on them."""

    def __init__(self, workers: int = 2, batch: int = 4, retries: int = 1, **options):
        self.products: dict[Entry, list[Path]] = {}
        self.built: set[Path] = set()
        self.scheduler = Scheduler(workers=workers, batch=batch, retries=retries,
                                   targets_of=lambda e: list(self.products[e]),
                                   missing_of=lambda e: [p for p in self.products[e] if p not in self.built],
                                   notice_products=NOTICES, **options)

    def store(self, event_id: str, kind: str = "gw", names=GW_PRODUCTS, received: float = 100.0) -> Entry:
        new = entry(event_id, kind)
        self.products[new] = [Path(f"products/{kind}/{event_id}/001-preliminary/{n}") for n in names]
        self.scheduler.entry_stored(new, received)
        return new

    def tick(self, now: float):
        """The runs started now but dashboard refreshes (tested on their own: here they end
        at once, so they do not hold a worker)."""
        runs = self.scheduler.tick(now)
        for run in runs:
            if run.kind == "dashboard":
                assert self.scheduler.run_finished(run.id, True) == []
        return [run for run in runs if run.kind != "dashboard"]

    def finish(self, run, fail: tuple[str, ...] = (), ok: bool = True):
        """The run ends having built its targets but those named in ``fail``."""
        self.built.update(t for ts in run.piece.values() for t in ts if t.name not in fail)
        return self.scheduler.run_finished(run.id, ok and not fail)


def names(run) -> dict[str, list[str]]:
    return {e.event_id: sorted(t.name for t in ts) for e, ts in run.piece.items()}


def test_notices_first_in_one_run_the_rest_waits_until_it_ends():
    world = World()
    alert = world.store("S1")
    [notice] = world.tick(now=0.0)
    assert (notice.kind, notice.retries) == ("notice", 1)
    assert names(notice) == {"S1": ["circular.txt", "notice.json", "notice.xml"]}
    assert world.tick(now=1.0) == []  # busy: no second run holds it
    assert world.finish(notice) == [NoticeBuilt(alert, "notice", 100.0)]
    assert [run.kind for run in world.tick(now=2.0)] == ["rest", "rest"]


def test_one_notice_run_at_a_time_of_at_most_round_size_entries_oldest_first():
    world = World(workers=0, round_size=3)
    for i in range(5):
        world.store(f"S{i}")
    [first] = world.tick(now=0.0)
    assert list(names(first)) == ["S0", "S1", "S2"]
    world.store("S9")
    assert world.tick(now=1.0) == []  # the notice run still runs
    world.finish(first)
    [second] = world.tick(now=2.0)
    assert list(names(second)) == ["S3", "S4", "S9"]


@pytest.mark.parametrize("workers, batch, entries, sizes", [
    (2, 4, 5, [3, 2]),      # ceil(5 / 2) = 3 per worker
    (2, 4, 2, [1, 1]),      # one entry per idle worker
    (2, 4, 20, [4, 4]),     # at most `batch` per run; the rest waits for a worker
    (3, 2, 4, [2, 2]),      # ceil(4 / 3) = 2: the third worker stays idle
    (1, 4, 3, [3]),
])
def test_batches_of_ready_entries_for_idle_workers(workers, batch, entries, sizes):
    world = World(workers=workers, batch=batch, round_size=100)
    for i in range(entries):
        world.store(f"S{i:02d}")
    [notice, *rest] = world.tick(now=0.0)
    assert rest == []  # nothing ready while the notice run holds them all
    world.finish(notice)
    runs = world.tick(now=1.0)
    assert [len(run.piece) for run in runs] == sizes
    assert all(run.kind == "rest" and run.retries == 1 for run in runs)
    assert all(set(names(run)[e]) == set(GW_PRODUCTS) for run in runs for e in names(run))


@pytest.mark.parametrize("workers, products, groups", [
    # families (the name before the first dot) stay together, dealt round the groups in
    # their order (stats, flat, moc90, volume); notices are left out
    (2, GW_PRODUCTS, [["moc90.fits", "stats.json"], ["flat.fits", "flat.png", "volume.png"]]),
    (3, GW_PRODUCTS, [["stats.json", "volume.png"], ["flat.fits", "flat.png"], ["moc90.fits"]]),
    (4, ["notice.json", "a.fits", "a.png", "b.json"], [["a.fits", "a.png"], ["b.json"]]),
])
def test_one_ready_entry_is_split_between_idle_workers_first_attempt_without_retries(workers, products, groups):
    world = World(workers=workers, retries=2)
    alert = world.store("S1", names=products)
    world.finish(world.tick(now=0.0)[0])
    runs = world.tick(now=1.0)
    assert [sorted(run.piece[alert]) for run in runs] == [
        sorted(Path(f"products/gw/S1/001-preliminary/{n}") for n in group) for group in groups]
    assert {run.retries for run in runs} == {0}
    outcomes = [o for run in runs for o in world.finish(run)]
    assert outcomes == [Reported(alert, [], 100.0)]  # once, when the last piece ends
    assert world.scheduler.idle


def test_what_a_split_left_missing_gets_one_final_whole_run_with_the_remaining_retries():
    world = World(workers=2, retries=2)
    alert = world.store("S1")
    world.finish(world.tick(now=0.0)[0])
    first, second = world.tick(now=1.0)
    assert world.finish(first, fail=("stats.json",)) == []
    assert world.finish(second) == []  # not reported yet: stats.json has attempts left
    [final] = world.tick(now=2.0)
    assert (final.kind, final.retries) == ("rest", 1)  # 1 (split) + 2 = retries + 1 attempts
    assert sorted(t.name for t in final.piece[alert]) == sorted(GW_PRODUCTS)  # whole
    missing = [p for p in world.products[alert] if p.name == "stats.json"]
    assert world.finish(final, fail=("stats.json",)) == [Reported(alert, missing, 100.0)]
    assert world.tick(now=3.0) == []  # nothing more for it
    assert not world.scheduler.rest_queue and not world.scheduler.final


def test_without_retries_a_split_entry_is_reported_after_its_pieces():
    world = World(workers=2, retries=0)
    alert = world.store("S1")
    world.finish(world.tick(now=0.0)[0])
    first, second = world.tick(now=1.0)
    assert (first.retries, second.retries) == (0, 0)
    world.finish(first, fail=("stats.json",))
    [outcome] = world.finish(second)
    assert outcome.entry == alert and [p.name for p in outcome.missing] == ["stats.json"]


def test_idle_workers_steal_the_newest_entries_from_a_running_notice_run():
    world = World(workers=2, batch=2, round_size=3)
    alerts = [world.store(f"S{i}", received=float(i)) for i in range(7)]
    notice, *rest = world.tick(now=0.0)
    assert list(names(notice)) == ["S0", "S1", "S2"]  # the oldest
    assert [list(names(run)) for run in rest] == [["S6", "S5"], ["S4", "S3"]]  # the newest, whole
    assert all(set(names(run)[e]) == set(GW_PRODUCTS) for run in rest for e in names(run))
    assert world.scheduler.whole == set(alerts[3:])
    # a stolen entry's notice is the worker's, reported with everything else
    assert world.finish(rest[0]) == [NoticeBuilt(alerts[6], "rest", 6.0), Reported(alerts[6], [], 6.0),
                                     NoticeBuilt(alerts[5], "rest", 5.0), Reported(alerts[5], [], 5.0)]


def test_nothing_is_stolen_without_a_running_notice_run():
    world = World(workers=2, round_size=1)
    world.store("S0", names=["stats.json"])  # no notice: no notice run
    world.store("S1")
    runs = world.tick(now=0.0)
    # S0 has no notice products: it goes to the rest at once; S1 waits for the next notice run
    assert [(run.kind, list(names(run))) for run in runs] == [("rest", ["S0"])]
    assert list(world.scheduler.notice_queue) == [entry("S1")]


@pytest.mark.parametrize("kind", ["frb", "gwcand"])
def test_chained_kinds_are_never_stolen_nor_split(kind):
    world = World(workers=3, round_size=1)
    world.store("S0")
    chained = world.store("C1", kind=kind, names=["triggers.json", "a.json", "b.png"])
    [notice] = world.tick(now=0.0)
    assert list(names(notice)) == ["S0"]  # the chained entry is not stolen
    assert list(world.scheduler.notice_queue) == [chained]
    world.finish(notice)
    notice, *rest = world.tick(now=1.0)
    assert list(names(notice)) == ["C1"] and {e for run in rest for e in names(run)} == {"S0"}
    for run in [notice, *rest]:
        world.finish(run)
    runs = world.tick(now=2.0)
    assert [list(names(run)) for run in runs] == [["C1"]]  # one whole run, not pieces
    assert sorted(names(runs[0])["C1"]) == ["a.json", "b.png", "triggers.json"]


def test_an_entry_whose_notice_run_built_everything_is_reported_at_once():
    world = World()
    chunk = world.store("F1", kind="frb", names=["triggers.json"])
    [notice] = world.tick(now=0.0)
    assert world.finish(notice) == [NoticeBuilt(chunk, "notice", 100.0), Reported(chunk, [], 100.0)]
    assert world.scheduler.idle


def test_an_entry_without_notice_products_goes_to_the_workers_whole():
    world = World(workers=1)
    candidate = world.store("G1", kind="gwcand", names=["raven.json", "decision.json"])
    [run] = world.tick(now=0.0)
    assert (run.kind, names(run)) == ("rest", {"G1": ["decision.json", "raven.json"]})
    assert world.finish(run) == [Reported(candidate, [], 100.0)]


def test_an_entry_stored_again_while_a_run_holds_it_waits_for_that_run():
    world = World(workers=1)
    alert = world.store("S1")
    [notice] = world.tick(now=0.0)
    world.finish(notice)
    [rest] = world.tick(now=1.0)
    world.scheduler.entry_stored(alert, 200.0)  # e.g. a coincidence partner arrived
    assert world.tick(now=2.0) == []  # never two runs on one entry
    assert world.finish(rest) == [Reported(alert, [], 100.0)]
    [again] = world.tick(now=3.0)
    assert (again.kind, list(names(again))) == ("notice", ["S1"])


@pytest.mark.parametrize("kind, ok, fail, reported_missing", [
    ("rest run fails", False, ("volume.png",), ["volume.png"]),
    ("worker crashed", False, (), []),  # crashed after building everything: nothing missing
])
def test_a_failed_run_reports_what_is_missing(kind, ok, fail, reported_missing):
    world = World(workers=4, retries=0, round_size=1)
    alerts = [world.store("S1"), world.store("S2"), world.store("S3"), world.store("S4"), world.store("S5")]
    world.finish(world.tick(now=0.0)[0])  # S1's notice; S2..S5 stolen whole meanwhile
    runs = [run for run in world.scheduler.runs.values() if run.kind == "rest"]
    run = next(r for r in runs if alerts[4] in r.piece)
    outcomes = world.finish(run, fail=fail, ok=ok)
    [report] = [o for o in outcomes if isinstance(o, Reported)]
    assert [p.name for p in report.missing] == reported_missing


def test_while_stopping_nothing_starts_and_handed_back_entries_are_not_reported():
    world = World(workers=1)
    alert = world.store("S1")
    [notice] = world.tick(now=0.0)
    world.scheduler.stop()
    assert world.finish(notice) == [NoticeBuilt(alert, "notice", 100.0)]  # its notice is out
    assert world.tick(now=1.0) == []
    assert not world.scheduler.runs  # the daemon may exit; the restart's catch-up builds the rest


def test_a_due_timer_builds_the_entrys_missing_products_again():
    world = World(workers=1)
    alert = world.store("S1", names=["notice.json", "alert.json"])
    world.finish(world.tick(now=0.0)[0])
    [rest] = world.tick(now=1.0)
    world.finish(rest, fail=("alert.json",))  # the delayed step is not due yet
    world.scheduler.timer_due(alert, 500.0)
    [notice] = world.tick(now=500.0)
    assert notice.kind == "notice" and world.finish(notice) == [NoticeBuilt(alert, "notice", 500.0)]
    [rest] = world.tick(now=501.0)
    assert names(rest) == {"S1": ["alert.json", "notice.json"]}


@pytest.mark.parametrize("busy, last, now, refreshed", [
    (False, 0.0, 1.0, True),     # idle: at once
    (True, None, 5.0, True),     # the first refresh, even while busy
    (True, 10.0, 69.0, False),   # busy: at most every 60 s
    (True, 10.0, 70.0, True),
    (True, 10.0, 5.0, True),     # the clock stepped back: due
])
def test_the_dashboard_is_refreshed_when_idle_or_every_interval_while_busy(busy, last, now, refreshed):
    world = World(workers=2)
    alert = world.store("S1", names=["notice.json"])
    world.finish(world.scheduler.tick(now=0.0)[0])  # reported: its pages are due
    if last is not None:
        world.scheduler.dashboard_last = last
    if busy:
        world.store("S2", names=["stats.json"])
    runs = [run for run in world.scheduler.tick(now=now) if run.kind == "dashboard"]
    assert [run.events for run in runs] == ([((alert.kind, alert.event_id),)] if refreshed else [])
    if refreshed:
        assert world.scheduler.dashboard_last == now and not world.scheduler.dashboard_due
        assert world.scheduler.tick(now=now + 100) == []  # one refresh at a time


def test_timers_read_the_injected_clock(tmp_path):
    spool = Spool(tmp_path)
    for name in SUBDIRS:
        (spool.root / name).mkdir()
    stored = spool.spool / "gw" / "S1" / "001-preliminary.json"
    stored.parent.mkdir(parents=True)
    stored.write_text("{}")
    alert = spool.find_entry("gw", "S1", "001-preliminary")
    timers.set_timer(spool, alert, 1000.0, "later")
    assert timers.seconds_to_next(spool, clock=lambda: 400.0) == 600.0
    assert timers.take_due(spool, clock=lambda: 999.0) == []
    slept = []
    assert timers.wait_for_next(spool, clock=lambda: 1000.0, sleep=slept.append)
    assert slept == [0.0] and timers.take_due(spool, clock=lambda: 2000.0) == []
