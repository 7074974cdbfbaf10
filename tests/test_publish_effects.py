"""Effects: what a job decided to send (an intent product) is sent after the run by the effect
sinks, once, with publish's receipts, retries and dry run; real protocols on loopback (a UDP
socket, an aiosmtpd server). Reprocessing sends nothing that was not sent at the time."""

import json
import shutil
import socket

import pytest

from skyspool import config, ingest, publish
from skyspool.effects import write_intents
from support import GW_ALERTS, Mailbox, free_port, make_spool

PACKET = b"\x99\xa0abcdefghi"


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def spool_entry(tmp_path):
    spool = make_spool(tmp_path / "spool", {"publish": {"retry": {"attempts": 1}}})
    shutil.copy(GW_ALERTS / "MS181101ab-preliminary.json", spool.inbox)
    ingest.take_inbox(spool)
    [entry] = spool.entries()
    return spool, entry


def _intents(spool, entry, udp_port, smtp_port):
    folder = spool.products_dir(entry)
    (folder / "triggers").mkdir(parents=True)
    (folder / "triggers" / "trigger-1.tbb").write_bytes(PACKET)
    write_intents(folder / "effects.json", [
        {"key": "trigger-1.tbb", "type": "udp", "file": "triggers/trigger-1.tbb", "host": "127.0.0.1",
         "port": udp_port, "what": "packet"},
        {"key": "trigger-1.email", "type": "email", "subject": "LOFAR trigger", "page": "<p>hi</p>",
         "smtp": {"host": "127.0.0.1", "port": smtp_port, "to": ["team@test"]}, "after": "trigger-1.tbb"}])


def _receipt(spool, entry, sink="messages"):
    return json.loads(spool.publish_receipt(entry, sink).read_text())["sent"]


def test_intents_are_sent_once_after_the_run(spool_entry, udp_socket, smtp_port):
    spool, entry = spool_entry
    settings = config.load(spool)
    _intents(spool, entry, udp_socket.getsockname()[1], smtp_port)
    with Mailbox(smtp_port) as mails:
        assert publish.perform_effects(spool, settings, [entry]) == []
        assert udp_socket.recv(64) == PACKET
        assert [m["Subject"] for m in mails] == ["LOFAR trigger"]
        assert [(r["key"], r["type"]) for r in _receipt(spool, entry)] == [
            ("trigger-1.tbb", "udp"), ("trigger-1.email", "email")]
        # another pass, and every sink as `skyspool publish [--force]` runs them: nothing again
        assert publish.perform_effects(spool, settings, [entry]) == []
        assert publish.publish_now(spool, settings, [entry]) == []
        assert publish.publish_now(spool, settings, [entry], force=True) == []
    assert len(mails) == 1
    udp_socket.settimeout(0.5)
    with pytest.raises(socket.timeout):
        udp_socket.recv(64)


def test_a_packet_that_went_out_is_not_sent_again_when_its_e_mail_failed(spool_entry, udp_socket, smtp_port):
    """The SMTP server is down: the packet's receipt is written all the same; the retry sends
    only the e-mail."""
    spool, entry = spool_entry
    settings = config.load(spool)
    _intents(spool, entry, udp_socket.getsockname()[1], smtp_port)
    [failure] = publish.perform_effects(spool, settings, [entry])
    assert failure.startswith("messages gw/MS181101ab/001-preliminary: ")
    assert udp_socket.recv(64) == PACKET
    assert [r["key"] for r in _receipt(spool, entry)] == ["trigger-1.tbb"]
    with Mailbox(smtp_port) as mails:
        assert publish.perform_effects(spool, settings, [entry]) == []
    assert len(mails) == 1 and [r["key"] for r in _receipt(spool, entry)] == ["trigger-1.tbb", "trigger-1.email"]
    udp_socket.settimeout(0.5)
    with pytest.raises(socket.timeout):
        udp_socket.recv(64)


def test_receipts_of_the_old_logs_sent_folder_count_as_sent(spool_entry, udp_socket, smtp_port):
    """A spool whose jobs sent (before effects left the rules) never sends again."""
    spool, entry = spool_entry
    _intents(spool, entry, udp_socket.getsockname()[1], smtp_port)
    old = spool.logs / "sent" / entry.kind / entry.event_id / entry.name
    old.mkdir(parents=True)
    for name in ("trigger-1.tbb.sent", "trigger-1.email.sent"):
        (old / name).write_text('{"what": "x", "sent_utc": "2026-01-01T00:00:00"}')
    assert publish.perform_effects(spool, config.load(spool), [entry]) == []
    assert not spool.publish_receipt(entry, "messages").exists()
    udp_socket.settimeout(0.5)
    with pytest.raises(socket.timeout):
        udp_socket.recv(64)


def test_dry_run_sends_nothing_but_an_outgoing_alert_stays_inside_the_spool(spool_entry, udp_socket, smtp_port):
    spool, entry = spool_entry
    settings = config.load(spool, {"publish": {"dry_run": True}})
    _intents(spool, entry, udp_socket.getsockname()[1], smtp_port)
    record = json.loads((GW_ALERTS / "MS181101ab-preliminary.json").read_text())
    write_intents(spool.product(entry, "orchestrator.effects.json"), [
        {"key": "MS181101ab-002", "type": "alert", "superevent_id": "MS181101ab", "number": 2,
         "alert_type": "preliminary", "record": record}])
    assert publish.perform_effects(spool, settings, [entry]) == []
    udp_socket.settimeout(0.5)
    with pytest.raises(socket.timeout):
        udp_socket.recv(64)
    assert not spool.publish_receipt(entry, "messages").exists()
    dry = json.loads(spool.publish_receipt(entry, "messages", dry_run=True).read_text())
    assert [r["key"] for r in dry["sent"]] == ["trigger-1.tbb", "trigger-1.email"]
    # the orchestrator's alert: into outgoing/ (JSON and Avro) and the inbox, as before
    assert spool.outgoing_alert("MS181101ab", 2, "preliminary", "json").read_bytes() == json.dumps(record).encode()
    assert spool.outgoing_alert("MS181101ab", 2, "preliminary", "avro").exists()
    assert [p.name for p in ingest.inbox_files(spool)] == ["002-preliminary.json"]
    assert [r["key"] for r in _receipt(spool, entry, "outgoing")] == ["MS181101ab-002"]


def test_suppressed_effects_are_never_sent(spool_entry, udp_socket, smtp_port):
    spool, entry = spool_entry
    settings = config.load(spool)
    _intents(spool, entry, udp_socket.getsockname()[1], smtp_port)
    assert publish.suppress_effects(spool, settings, [entry], "reprocessing") == 2
    assert publish.perform_effects(spool, settings, [entry]) == []
    assert publish.publish_now(spool, settings, [entry]) == []
    assert [(r["key"], r["suppressed"]) for r in _receipt(spool, entry)] == [
        ("trigger-1.tbb", "reprocessing"), ("trigger-1.email", "reprocessing")]
    udp_socket.settimeout(0.5)
    with pytest.raises(socket.timeout):
        udp_socket.recv(64)
