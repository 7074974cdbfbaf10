"""Publishers against real backends on loopback: a moto S3 server (s3fs), a local directory,
a JSON API that fails on purpose, and librdkafka's mock Kafka cluster.

The entries are a copy of the session's processed GW spool (real products of real alerts).
"""

from __future__ import annotations

import json
import logging
import os

import confluent_kafka
import pytest

from kafka_mock import MockCluster
from publish_backends import BUCKET, ApiServer, S3Server
from skyspool import cli, config, publish
from skyspool.paths import Spool

FAST_RETRY = {"attempts": 4, "backoff_s": 0.05, "max_backoff_s": 0.2}


@pytest.fixture
def spool(copied_gw_spool) -> Spool:
    return copied_gw_spool


def _config(spool: Spool, sinks: dict, **publish_settings) -> dict:
    return config.load(spool, {"publish": {"sinks": sinks, "retry": FAST_RETRY, **publish_settings}})


def _entries(spool: Spool, event_id: str) -> list:
    return spool.entries_of("gw", event_id)


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


def test_s3_uploads_chosen_products_once_and_catch_up_after_an_outage(spool, s3):
    sinks = {"archive": {"kind": "storage", "url": f"s3://{BUCKET}/skyspool",
                         "products": ["notice.json", "stats.json", "*.png"],
                         "storage_options": s3.storage_options()}}
    settings = _config(spool, sinks)
    entries = _entries(spool, "S230518h")
    s3.stop()  # the backend is down: nothing is recorded as sent, every entry fails
    try:
        failures = publish.publish_now(spool, settings, entries)
    finally:
        s3.start()
    assert len(failures) == len(entries) and all(f.startswith("archive gw/S230518h/") for f in failures)
    assert not list((spool.logs / "published").rglob("*.json"))
    archive = publish.make_sinks(spool, settings)[0]  # what a daemon's start would catch up
    assert publish.pending(spool, settings, archive, entries, dry=False) == [(e, "done") for e in entries]

    assert publish.publish_now(spool, settings, entries) == []  # back: everything goes
    expected = {}
    for entry in entries:
        for path in spool.products_dir(entry).iterdir():
            if path.name in ("notice.json", "stats.json") or path.suffix == ".png":
                key = f"skyspool/gw/S230518h/{entry.name}/{path.name}"
                expected[key] = path.stat().st_size
        receipt = json.loads(spool.publish_receipt(entry, "archive").read_text())
        assert receipt["stage"] == "done" and not receipt["dry_run"]
        assert all(item["to"].startswith(f"s3://{BUCKET}/skyspool/gw/S230518h/") for item in receipt["sent"])
    objects = s3.objects("skyspool/gw/S230518h/")
    assert objects == expected and len(expected) >= 3 * len(entries)
    body = s3.client().get_object(Bucket=BUCKET, Key=f"skyspool/gw/S230518h/{entries[0].name}/notice.json")
    assert body["Body"].read() == spool.product(entries[0], "notice.json").read_bytes()

    # Sent once: the receipts stop a second run; without them, the sizes at the destination do.
    assert publish.publish_now(spool, settings, entries) == []
    receipt_file = spool.publish_receipt(entries[0], "archive")
    receipt_file.unlink()
    assert publish.publish_now(spool, settings, entries[:1]) == []
    again = json.loads(receipt_file.read_text())["sent"]
    assert again and all(item["skipped_present"] for item in again)


def test_a_local_directory_mirrors_the_products(spool, tmp_path):
    archive = tmp_path / "archive"
    settings = _config(spool, {"local": {"kind": "storage", "url": str(archive)}})
    entry = _entries(spool, "S230520ae")[0]
    assert publish.publish_now(spool, settings, [entry]) == []
    published = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    built = sorted(f"gw/S230520ae/{entry.name}/{p.name}" for p in spool.products_dir(entry).iterdir()
                   if not p.name.startswith("."))
    assert published == built  # everything ("*"), nothing partial left
    assert (archive / "gw/S230520ae" / entry.name / "contours.geojson").read_bytes() == \
        spool.product(entry, "contours.geojson").read_bytes()


def test_api_posts_are_retried_through_failures_and_recorded(spool, monkeypatch, caplog):
    api = ApiServer(fail_first=3)
    monkeypatch.setenv("TEST_API_TOKEN", "s3cret-token")
    settings = _config(spool, {"tm": {"kind": "http", "url": api.url, "token_env": "TEST_API_TOKEN",
                                      "body": {"graceid": "$event_id", "type": "$alert_type",
                                               "area90": "$stats.area90_deg2",
                                               "area50": "$stats.area50_deg2",
                                               "contours": "$contours", "galaxies": "$galaxies",
                                               "source": "skyspool"}}})
    entry = _entries(spool, "S230520ae")[0]
    caplog.set_level(logging.INFO, logger="skyspool.publish")
    try:
        assert publish.publish_now(spool, settings, [entry]) == []
        assert publish.publish_now(spool, settings, [entry]) == []  # the receipt: not again
    finally:
        api.close()
    assert [r["status"] for r in api.requests] == [503, 503, 503, 201]
    posted = api.accepted()[0]
    assert posted["headers"]["Authorization"] == "Bearer s3cret-token"
    stats = json.loads(spool.product(entry, "stats.json").read_text())
    body = posted["body"]
    assert (body["graceid"], body["type"], body["source"]) == ("S230520ae", "preliminary", "skyspool")
    assert (body["area90"], body["area50"]) == (stats["area90_deg2"], stats["area50_deg2"])
    assert body["contours"] == json.loads(spool.product(entry, "contours.geojson").read_text())
    assert body["galaxies"] is None  # no galaxy catalog configured
    receipt = spool.publish_receipt(entry, "tm").read_text()
    assert json.loads(receipt)["sent"][0]["status"] == 201
    assert json.loads(receipt)["sent"][0]["body"] == body
    assert "s3cret" not in receipt and "s3cret" not in caplog.text


def test_a_missing_token_is_a_clear_failure(spool):
    api = ApiServer()
    settings = _config(spool, {"tm": {"kind": "http", "url": api.url, "token_env": "NO_SUCH_TOKEN"}},
                       retry={"attempts": 1})
    try:
        failures = publish.publish_now(spool, settings, _entries(spool, "S230520ae"))
    finally:
        api.close()
    assert failures == ["tm gw/S230520ae/001-preliminary: environment variable NO_SUCH_TOKEN "
                        "(the API token) is not set"]
    assert api.requests == []


def _consume(bootstrap: str, topics: list[str], count: int) -> list:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "check",
                                         "auto.offset.reset": "earliest"})
    consumer.subscribe(topics)
    messages, empty = [], 0
    while empty < 3 or len(messages) < count:  # then a few empty polls: nothing more comes
        message = consumer.poll(2.0)
        if message is None:
            empty += 1
            assert empty < 30, f"{len(messages)} of {count} messages"
        elif not message.error():
            messages.append(message)
    consumer.close()
    return messages


def test_kafka_notices_and_outgoing_alerts_go_out_once_per_entry(spool):
    cluster = MockCluster()
    for topic in ("skyspool.notices", "igwn.json", "igwn.avro"):
        cluster.create_topic(topic)
    entries = _entries(spool, "MS181101ab")
    # The orchestrator's outgoing alert that came back as the first entry (JSON and Avro).
    sent = spool.outgoing_alert("MS181101ab", 1, entries[0].alert_type, "json")
    sent.parent.mkdir(parents=True)
    sent.write_bytes(entries[0].path.read_bytes())
    sent.with_suffix(".avro").write_bytes(b"Obj\x01avro")
    settings = _config(spool, {"out": {"kind": "kafka", "topic": "skyspool.notices",
                                       "outgoing": {"json": "igwn.json", "avro": "igwn.avro"},
                                       "kafka": {"bootstrap.servers": cluster.bootstrap,
                                                 "security.protocol": "plaintext"}}})
    try:
        assert publish.publish_now(spool, settings, entries) == []
        assert publish.publish_now(spool, settings, entries) == []  # receipts: nothing again
        messages = _consume(cluster.bootstrap, ["skyspool.notices", "igwn.json", "igwn.avro"],
                            len(entries) + 2)
    finally:
        cluster.close()
    notices = {m.key().decode(): m.value() for m in messages if m.topic() == "skyspool.notices"}
    assert len(notices) == len([m for m in messages if m.topic() == "skyspool.notices"]) == len(entries)
    for entry in entries:
        key = f"gw/MS181101ab/{entry.name}/notice.json"
        assert notices[key] == spool.product(entry, "notice.json").read_bytes()
    outgoing = {m.topic(): m.value() for m in messages if m.topic() != "skyspool.notices"}
    assert outgoing == {"igwn.json": entries[0].path.read_bytes(), "igwn.avro": b"Obj\x01avro"}


def test_dry_run_sends_nothing_logs_everything_and_does_not_block_a_real_send(spool, caplog):
    api = ApiServer()
    spool.config_file.write_text(json.dumps({"publish": {"retry": FAST_RETRY, "sinks": {
        "tm": {"kind": "http", "url": api.url}}}}))
    entries = _entries(spool, "S230522a")
    try:
        assert cli.main(["process", str(spool.root), "--dry-run"]) == 0  # publishes at the end
        assert api.requests == [] and "SKYSPOOL_DRY_RUN" not in os.environ
        assert caplog.text.count("would-send sink=tm entry=gw/S230522a/") == len(entries)
        for entry in entries:
            dry = json.loads(spool.publish_receipt(entry, "tm", dry_run=True).read_text())
            assert dry["dry_run"] and dry["sent"][0]["body"]["event_id"] == "S230522a"
            assert not spool.publish_receipt(entry, "tm").exists()
        assert cli.main(["publish", str(spool.root), "--event", "S230522a"]) == 0
        assert len(api.accepted()) == len(entries)
        assert cli.main(["publish", str(spool.root), "--event", "S230522a"]) == 0  # once
        assert cli.main(["publish", str(spool.root), "--event", "S230522a", "--force"]) == 0
    finally:
        api.close()
    assert len(api.accepted()) == 2 * len(entries)
