"""Hostile inputs: every case of hostile_cases.py ends in quarantine with its own reason.

First each case alone through ``ingest`` (quick, names the failing case), then all of them
at once in the inbox of a real ``skyspool watch`` process that keeps building the good
alerts dropped among them, while nothing outside the spool is opened or written.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import threading
from pathlib import Path

import pytest

import hostile_cases
from hostile_cases import Case
from skyspool import ingest
from skyspool.paths import Spool
from support import FAST_CONFIG, GW_ALERTS, make_spool
from test_daemon import Watch, all_built, wait_for

CONFIG = {**FAST_CONFIG, "max_input_bytes": hostile_cases.MAX_INPUT_BYTES}
GOOD = [GW_ALERTS / "S230520ae-Preliminary_alert.json", GW_ALERTS / "MS181101ab-retraction.json",
        GW_ALERTS / "MS181101ab-preliminary.avro"]


@functools.cache
def all_cases() -> list[Case]:
    return hostile_cases.cases()


def inbox_names(spool: Spool) -> list[str]:
    return [name for name in os.listdir(spool.inbox) if not name.startswith(".")]


def quarantined(spool: Spool, case: Case) -> list[tuple[Path, str]]:
    """(quarantined file, reason) of every file quarantined under the case's inbox name."""
    suffix = ingest.quarantine_name(case.inbox_name, b"").split("-", 1)[1]
    found = []
    for reason in spool.quarantine.glob("*.reason.txt"):
        if reason.name[13:] == suffix + ".reason.txt":
            found.append((reason.with_name(reason.name[: -len(".reason.txt")]), reason.read_text()))
    return found


def check_case(spool: Spool, case: Case, reason_text: str, kept: Path) -> None:
    """The reason is one line matching the case's; the refused file is kept as it came."""
    assert reason_text.endswith("\n") and reason_text.count("\n") == 1, (case.name, reason_text)
    assert len(reason_text) < 400, (case.name, reason_text)
    assert re.search(case.reason, reason_text, re.IGNORECASE), (case.name, reason_text)
    info = kept.lstat()
    if case.link is not None:
        assert stat.S_ISLNK(info.st_mode) and os.readlink(kept) == case.link.format(
            outside=spool.root.parent / "outside", spool=spool.root)
    elif case.fifo:
        assert stat.S_ISFIFO(info.st_mode)
    else:
        assert kept.read_bytes() == case.data, case.name  # nothing lost


def test_the_corpus_covers_the_issue():
    names = [case.name for case in all_cases()]
    assert len(names) == len(set(names)) and len(names) >= 60
    for needed in ("trunc-half", "nested-arrays", "base64-bad-chars", "gzip-truncated-map",
                   "gzip-corrupt-map", "fits-image", "map-nan", "map-negative", "map-unnormalised",
                   "map-ring-flat", "empty", "oversized", "xxe-file",
                   "dtd-only", "billion-laughs", "wrong-namespace", "no-packet-type", "id-slash",
                   "id-dotdot", "id-nul", "id-newline", "id-long", "link-outside", "same-name",
                   "random.json"):
        assert any(name.startswith(needed) for name in names), needed


@pytest.fixture(scope="module")
def ingest_spool(tmp_path_factory) -> Spool:
    root = tmp_path_factory.mktemp("hostile-ingest")
    hostile_cases.outside_files(root / "outside")
    return make_spool(root / "spool", CONFIG)


@pytest.mark.parametrize("index", range(len(all_cases())),
                         ids=[re.sub(r"\W", "_", c.name)[:40] for c in all_cases()])
def test_each_case_alone_is_quarantined_with_its_reason(ingest_spool, index):
    case = all_cases()[index]
    spool = ingest_spool
    path = hostile_cases.materialise(case, spool.inbox, spool.root.parent / "outside")
    outcome = ingest.ingest_file(spool, path, max_bytes=CONFIG["max_input_bytes"])
    assert outcome.status == "quarantined", (case.name, outcome)
    assert not os.path.lexists(path)
    kept = [(file, text) for file, text in quarantined(spool, case) if text == " ".join(
        outcome.reason.split()) + "\n"]
    assert kept, (case.name, outcome.reason)
    check_case(spool, case, *kept[0][::-1])
    assert spool.entries() == []


class OutsideAccess:
    """Every inotify event (open, read, write, create...) under a directory, from any process."""

    def __init__(self, folder: Path):
        from watchdog.observers.inotify import InotifyObserver

        self.events: list[str] = []
        self.lock = threading.Lock()
        self.observer = InotifyObserver()
        self.observer.schedule(self, str(folder), recursive=True)
        self.observer.start()

    def dispatch(self, event) -> None:
        with self.lock:
            self.events.append(f"{event.event_type} {event.src_path}")

    def stop(self) -> list[str]:
        self.observer.stop()
        self.observer.join()
        return self.events


def test_a_daemon_quarantines_every_case_and_keeps_serving_good_alerts(tmp_path):
    cases = all_cases()
    outside = tmp_path / "outside"
    hostile_cases.outside_files(outside)
    before = {p: p.read_bytes() for p in outside.iterdir()}
    spool = make_spool(tmp_path / "spool", CONFIG)
    access = OutsideAccess(outside)
    watch = Watch(spool)
    singles = [case for case in cases if case.group is None]
    grouped = [case for case in cases if case.group is not None]
    third = len(singles) // 3
    for good, batch in zip(GOOD, (singles[:third], singles[third:2 * third], singles[2 * third:])):
        (spool.inbox / good.name).write_bytes(good.read_bytes())
        for case in batch:
            hostile_cases.materialise(case, spool.inbox, outside)
    for case in grouped:  # the same name again only once the previous one was taken
        wait_for(lambda: case.inbox_name not in inbox_names(spool), "the previous same-name file")
        hostile_cases.materialise(case, spool.inbox, outside)
    wait_for(lambda: not inbox_names(spool) and all_built(spool, len(GOOD)),
             "every case taken and the good alerts built")
    assert watch.stop() == 0
    events = access.stop()

    correct = 0
    for case in cases:
        found = quarantined(spool, case)
        if case.group is None:
            assert len(found) == 1, (case.name, found)
            check_case(spool, case, found[0][1], found[0][0])
        else:  # each content of the same name kept apart, with its own reason
            kept = [(f, r) for f, r in found if f.is_file() and f.read_bytes() == case.data]
            assert len(kept) == 1, (case.name, found)
            check_case(spool, case, kept[0][1], kept[0][0])
        correct += 1
    reasons = list(spool.quarantine.glob("*.reason.txt"))
    entries = spool.entries()
    print(f"\nhostile cases tried: {len(cases)}, quarantined correctly: {correct}, "
          f"quarantine entries: {len(reasons)}, good alerts: {len(GOOD)}, spool entries: "
          f"{len(entries)} (lost {len(GOOD) - len(entries)}, duplicates "
          f"{len(entries) - len({(e.kind, e.event_id, e.name) for e in entries})})")
    assert correct == len(cases) == len(reasons)
    assert sorted((e.event_id, e.alert_type) for e in entries) == [
        ("MS181101ab", "preliminary"), ("MS181101ab", "retraction"), ("S230520ae", "preliminary")]
    # Nothing outside the spool was opened, read or written (by the daemon or anyone).
    assert events == [], events
    assert {p: p.read_bytes() for p in outside.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("watch-")) == [
        "outside", "spool"]
    assert not Path("/tmp/x").exists()
