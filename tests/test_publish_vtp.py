"""VOEvents over the VOEvent Transport Protocol through a real Comet broker on loopback: the
``voevent`` sink of one spool sends, ``skyspool listen`` of another spool subscribes.

The sending entries are a copy of the session's processed GW spool (real notice.xml of real
alerts).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from skyspool import config, listen, publish
from skyspool.paths import Spool
from support import make_spool
from test_daemon import wait_for
from vtp_broker import CometBroker

FAST_RETRY = {"attempts": 2, "backoff_s": 0.05, "max_backoff_s": 0.2}
EVENTS = ("S230518h", "S230520ae")


@pytest.fixture
def spool(copied_gw_spool) -> Spool:
    return copied_gw_spool


@pytest.fixture
def broker(tmp_path):
    the_broker = CometBroker(tmp_path / "comet")
    yield the_broker
    the_broker.stop()


def _settings(spool: Spool, broker: CometBroker, **publish_settings) -> dict:
    return config.load(spool, {"publish": {
        "retry": FAST_RETRY, **publish_settings,
        "sinks": {"vtp": {"kind": "voevent", "brokers": [broker.receive]}}}})


def _subscriber(tmp_path, broker: CometBroker) -> Spool:
    return make_spool(tmp_path / "subscriber", {"listen": {
        "gcn": {"enabled": False},
        "vtp": {"enabled": True, "brokers": [broker.broadcast], "reconnect_s": 0.1,
                "reconnect_max_s": 0.5, "local_ivo": "ivo://skyspool.test/subscriber"}}})


def _inbox(spool: Spool) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in spool.inbox.iterdir() if not p.name.startswith(".")}


def _entries(spool: Spool) -> list:
    return [e for event in EVENTS for e in spool.entries_of("gw", event)]


def test_notices_reach_a_subscriber_through_comet_exactly_once(spool, broker, tmp_path):
    subscriber = _subscriber(tmp_path, broker)
    log = tmp_path / "listen.log"
    listener = subprocess.Popen([str(Path(sys.executable).parent / "skyspool"), "listen",
                                 str(subscriber.root)], stderr=log.open("w"))
    try:
        wait_for(lambda: broker.subscribers() == 1, "skyspool listen subscribed")
        settings = _settings(spool, broker)
        entries = _entries(spool)
        assert len(entries) == 4
        notices = sorted(spool.product(e, "notice.xml").read_bytes() for e in entries)

        assert publish.publish_now(spool, settings, entries) == []
        # the inbox file comes first, its record right after (see VtpListener.write_event)
        wait_for(lambda: len(_inbox(subscriber)) == len(entries)
                 and all(subscriber.received_record(name).exists() for name in _inbox(subscriber)),
                 "the VOEvents at the subscriber, with their records")
        received = _inbox(subscriber)
        assert sorted(received.values()) == notices  # the exact bytes
        assert all(name.startswith("vtp-") and name.endswith(".xml") for name in received)
        for entry in entries:
            receipt = json.loads(spool.publish_receipt(entry, "vtp").read_text())
            [item] = receipt["sent"]
            assert (item["broker"], item["product"], item["answer"]) == (broker.receive, "notice.xml", "ack")
            assert item["ivorn"].startswith("ivo://skyspool.invalid/gw#")
            origin = json.loads(subscriber.received_record(
                next(n for n, data in received.items() if item["ivorn"].encode() in data)).read_text())
            assert (origin["source"], origin["ivorn"], origin["broker"]) == ("vtp", item["ivorn"], broker.broadcast)

        # The receipts keep everything from going again; forced, the broker has seen every
        # IVORN (a receipt lost in a crash): delivered, and nothing new reaches the subscriber.
        assert publish.publish_now(spool, settings, entries) == []
        broker.wait_for_log("Event rejected (Previously seen", 0)
        assert publish.publish_now(spool, settings, entries, force=True) == []
        broker.wait_for_log("Event rejected (Previously seen by this broker)", len(entries))
        assert [json.loads(spool.publish_receipt(e, "vtp").read_text())["sent"][0]["answer"]
                for e in entries] == ["seen"] * len(entries)

        # A broker that forgot (new event database) sends them all again: the subscriber
        # reconnects after the restart and writes none of them twice.
        broker.stop()
        shutil.rmtree(broker.eventdb)
        broker.eventdb.mkdir()
        broker.start()
        wait_for(lambda: broker.subscribers() == 1, "skyspool listen back")
        assert publish.publish_now(spool, settings, entries, force=True) == []
        wait_for(lambda: log.read_text().count("(seen before)") == len(entries), "the copies")
        assert _inbox(subscriber) == received
    finally:
        listener.terminate()
        listener.wait(30)
    assert listener.returncode == 0, log.read_text()[-2000:]
    assert log.read_text().count("received source=vtp") == 2 * len(entries)


def test_a_broker_that_is_down_delays_nothing_and_is_caught_up(spool, broker, tmp_path, caplog):
    subscriber = _subscriber(tmp_path, broker)
    stop = threading.Event()
    receiver = threading.Thread(target=listen.VtpListener(subscriber, config.load(subscriber),
                                                          broker.broadcast).run, args=(stop,))
    receiver.start()
    for event_dir in spool.event_dir("gw", EVENTS[0]).parent.iterdir():  # what a start catches up: one event
        if event_dir.name != EVENTS[0]:
            shutil.rmtree(event_dir)
    settings = _settings(spool, broker)
    entries = spool.entries()
    caplog.set_level(logging.INFO, logger="skyspool")
    try:
        wait_for(lambda: broker.subscribers() == 1, "the subscriber")
        broker.stop()

        # A dry run while it is down: logged, not sent, no real receipt.
        assert publish.publish_now(spool, settings, entries, dry=True) == []
        assert caplog.text.count("would-send sink=vtp") == len(entries)
        assert not any(spool.publish_receipt(e, "vtp").exists() for e in entries)

        publisher = publish.Publisher(spool, settings)
        wait_for(lambda: caplog.text.count(f"publish-catch-up sink=vtp pending={len(entries)}"), "catch-up")
        for entry in entries:  # handed over to the sink's thread: returns at once
            publisher.offer(entry, "notice")
        wait_for(lambda: caplog.text.count("publish-failed sink=vtp") >= 2 * len(entries), "failed sends")
        publisher.close(timeout_s=5)
        assert not any(spool.publish_receipt(e, "vtp").exists() for e in entries)

        broker.start()  # back: the subscriber reconnects, the next start catches up
        wait_for(lambda: broker.subscribers() == 1, "the subscriber back")
        publisher = publish.Publisher(spool, settings)
        wait_for(lambda: all(spool.publish_receipt(e, "vtp").exists() for e in entries), "receipts")
        publisher.close()
        wait_for(lambda: len(_inbox(subscriber)) == len(entries), "the VOEvents at the subscriber")
    finally:
        stop.set()
        receiver.join(10)
    assert sorted(_inbox(subscriber).values()) == sorted(
        spool.product(e, "notice.xml").read_bytes() for e in entries)


def test_frb_trigger_files_reach_a_broker_and_a_bucket(broker, tmp_path):
    """An FRB chunk's trigger VOEvent goes through Comet to a subscriber; a storage sink sends
    the files in triggers/ and the observation summary too."""
    from frb_synthetic import sample_observation, write_observation
    from skyspool.frb.observation import load_observation
    from skyspool.frb.voevent_writer import VOEventAuthor, dumps, frb_voevent
    from support import make_spool

    spool = make_spool(tmp_path / "frb")
    chunk = spool.entry_path("frb", "20240101-0001", 2, "candidates", "trigger")
    chunk.parent.mkdir(parents=True)
    chunk.write_bytes(b"# AMBER chunk\n")
    [entry] = spool.entries_of("frb", "20240101-0001")
    write_observation(tmp_path / "obs.yaml", sample_observation())
    trigger = {"time": 12.5, "dm": 700.0, "snr": 15.0, "width": 4, "cb": 0, "beam": 0, "mw_dm": 40.0,
               "members": 30, "label": "astrophysical-new"}
    event = dumps(frb_voevent(trigger, load_observation(tmp_path / "obs.yaml"), VOEventAuthor.from_config(None),
                              "20240101-0001_002_1", importance=0.5))
    folder = spool.products_dir(entry)
    (folder / "triggers").mkdir(parents=True)
    (folder / "triggers" / "trigger-1.xml").write_bytes(event)
    (folder / "triggers" / "trigger-1.tbb").write_bytes(b"\x00" * 16)
    (folder / "triggers.json").write_text("{}")
    (folder / "summary.html").write_text("<html></html>")

    subscriber = _subscriber(tmp_path, broker)
    stop = threading.Event()
    receiver = threading.Thread(target=listen.VtpListener(subscriber, config.load(subscriber),
                                                          broker.broadcast).run, args=(stop,))
    receiver.start()
    bucket = tmp_path / "bucket"
    settings = config.load(spool, {"publish": {"retry": FAST_RETRY, "sinks": {
        "vtp": {"kind": "voevent", "brokers": [broker.receive]},
        "archive": {"kind": "storage", "url": str(bucket)}}}})
    try:
        wait_for(lambda: broker.subscribers() == 1, "the subscriber")
        for the_sink in publish.make_sinks(spool, settings):
            assert publish.publish_entry(the_sink, entry, "done", dry=False) >= 1
        wait_for(lambda: len(_inbox(subscriber)) == 1, "the FRB VOEvent at the subscriber")
    finally:
        stop.set()
        receiver.join(10)
    assert list(_inbox(subscriber).values()) == [event]
    [sent] = json.loads(spool.publish_receipt(entry, "vtp").read_text())["sent"]
    assert (sent["product"], sent["ivorn"]) == ("triggers/trigger-1.xml", "ivo://skyspool.local/frb#20240101-0001_002_1")
    stored = sorted(p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file())
    assert stored == [f"frb/20240101-0001/002-candidates/{name}" for name in
                      ("summary.html", "triggers.json", "triggers/trigger-1.tbb", "triggers/trigger-1.xml")]
