"""`skyspool reprocess` rebuilds chosen products of chosen entries; `skyspool report` writes
Snakemake's HTML report of them."""

import os
import shutil
import time

import pytest

from skyspool import cli, reprocess, times
from support import FAST_CONFIG, make_spool

EVENTS = ("S230520ae", "S230522a")


@pytest.fixture
def built_spool(processed_gw_spool, tmp_path):
    """Two events with their entries and products, copied from the session's built spool."""
    spool = make_spool(tmp_path / "spool", FAST_CONFIG)
    for event in EVENTS:
        shutil.copytree(processed_gw_spool.spool / "gw" / event, spool.spool / "gw" / event)
        shutil.copytree(processed_gw_spool.products / "gw" / event, spool.products / "gw" / event)
    # Entries older than their products, products older than now: nothing is out of date.
    now = time.time()
    for folder, age_s in ((spool.spool, 7200), (spool.products, 3600)):
        for path in folder.rglob("*"):
            os.utime(path, (now - age_s,) * 2)
    return spool


def mtimes(spool, event):
    folder = spool.products / "gw" / event / "001-preliminary"
    return {path.name: path.stat().st_mtime for path in folder.iterdir()}


def test_select_entries_by_kind_event_and_time(built_spool):
    spool = built_spool
    assert [e.event_id for e in reprocess.select_entries(spool)] == list(EVENTS)
    assert [e.event_id for e in reprocess.select_entries(spool, event="S230522a")] == ["S230522a"]
    assert reprocess.select_entries(spool, kind="grb") == []
    first = spool.entries()[0].path
    os.utime(first, (times.unix_from_iso("2026-01-01T00:00:00Z"),) * 2)
    assert reprocess.select_entries(spool, until=times.unix_from_iso("2026-01-02")) == \
        [spool.entries()[0]]
    assert reprocess.select_entries(spool, since=times.unix_from_iso("2026-01-02")) == \
        [spool.entries()[1]]


def test_reprocess_one_rule_of_one_event(built_spool):
    spool = built_spool
    before = {event: mtimes(spool, event) for event in EVENTS}
    assert cli.main(["reprocess", str(spool.root), "--event", EVENTS[0], "--rule", "gw_stats"]) == 0
    after = mtimes(spool, EVENTS[0])
    rebuilt = {name for name in after if after[name] != before[EVENTS[0]][name]}
    # stats.json and what is made from it; nothing else, and nothing of the other event.
    assert {"stats.json", "skymap.png", "skymap.thumb.png", "volume.png", "notice.json",
            "notice.xml", "circular.txt"} == rebuilt
    assert mtimes(spool, EVENTS[1]) == before[EVENTS[1]]


def test_reprocess_everything_of_an_event_then_report(built_spool, tmp_path):
    spool = built_spool
    before = mtimes(spool, EVENTS[1])
    assert cli.main(["reprocess", str(spool.root), "--kind", "gw", "--event", EVENTS[1]]) == 0
    after = mtimes(spool, EVENTS[1])
    assert all(after[name] > before[name] for name in before)

    report = tmp_path / "report.html"
    assert cli.main(["report", str(spool.root), str(report)]) == 0
    html = report.read_text()
    for event in EVENTS:
        assert event in html
    # The plots are embedded, with their captions.
    assert "skymap.png" in html and "credible-region" in html
