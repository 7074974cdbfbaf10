"""`skyspool listen` against librdkafka's mock Kafka cluster on loopback (a real protocol)."""

import hashlib
import json
import signal
import subprocess
import sys
import time

import confluent_kafka
import pytest

from kafka_mock import MockCluster
from skyspool import ingest, listen
from support import CORPUS, GW_ALERTS, make_spool

TOPICS = {"igwn.gwalert": sorted(GW_ALERTS.iterdir()),
          "gcn.notices.mixed": sorted((CORPUS / "notices").rglob("*.*"))}


@pytest.fixture
def cluster():
    mock = MockCluster()
    for topic in TOPICS:
        mock.create_topic(topic)
    yield mock
    mock.close()


def _produce(cluster, files_by_topic, pace=None):
    """Produce the files; with ``pace`` (a spool), wait for each large one to arrive: the
    mock cluster keeps only a few MB per partition and drops older messages."""
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap,
                                         "message.max.bytes": 10_000_000})
    for topic, files in files_by_topic.items():
        for path in files:
            producer.produce(topic, path.read_bytes())
            if pace is not None and path.stat().st_size > 100_000:
                assert producer.flush(30) == 0
                _wait_for(pace, len(_digests(pace.inbox)) + 1, timeout=30)
    assert producer.flush(30) == 0


def _spool(tmp_path, cluster):
    return make_spool(tmp_path / "spool", {"listen": {"gcn": {
        "topics": list(TOPICS), "kafka": {
            "bootstrap.servers": cluster.bootstrap, "security.protocol": "plaintext",
            # The mock cluster has no static membership: a restarted listener waits for
            # the killed one's session to expire before the group gives it the partitions.
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}},
        "start": "earliest"}})


def _start(spool, *args):
    return subprocess.Popen([sys.executable, "-m", "skyspool.cli", "listen", str(spool.root), *args],
                            stderr=subprocess.PIPE, text=True)


def _digests(folder):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if not p.name.startswith(".")]


def _wait_for(spool, count, timeout=60):
    deadline = time.monotonic() + timeout
    while len(_digests(spool.inbox)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return len(_digests(spool.inbox))


def _stop(process):
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=30)[1]


def _corpus_digests(files_by_topic):
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest()
                  for files in files_by_topic.values() for p in files)


def test_every_message_arrives_once_with_its_origin(tmp_path, cluster, monkeypatch):
    spool = _spool(tmp_path, cluster)
    monkeypatch.setenv("GCN_KAFKA_CLIENT_ID", "")
    process = _start(spool)
    _produce(cluster, TOPICS, pace=spool)
    expected = _corpus_digests(TOPICS)
    assert _wait_for(spool, len(expected)) == len(expected)
    time.sleep(1)  # nothing more comes
    stderr = _stop(process)
    assert sorted(_digests(spool.inbox)) == expected, stderr
    origin = json.loads(spool.received_record("gcn-igwn.gwalert-0-0.json").read_text())
    assert (origin["topic"], origin["partition"], origin["offset"]) == ("igwn.gwalert", 0, 0)
    assert origin["timestamp_ms"] > 0
    # The ingest step takes every message; the origin records are not in its way.
    outcomes = ingest.take_inbox(spool)
    assert len(outcomes) == len(expected) and not list(spool.inbox.iterdir())
    # A restart resumes after the committed offsets: nothing is delivered again.
    process = _start(spool)
    time.sleep(3)
    _stop(process)
    assert not list(spool.inbox.iterdir())


def test_kill_mid_stream_and_broker_loss_lose_nothing(tmp_path, cluster):
    spool = _spool(tmp_path, cluster)
    notices = {"gcn.notices.mixed": TOPICS["gcn.notices.mixed"]}
    first, rest = notices["gcn.notices.mixed"][:10], notices["gcn.notices.mixed"][10:]
    alerts = {"igwn.gwalert": TOPICS["igwn.gwalert"]}
    process = _start(spool)
    _produce(cluster, {"gcn.notices.mixed": first})
    _wait_for(spool, 5)
    process.send_signal(signal.SIGKILL)  # mid-stream: offsets committed only for what is on disk
    process.wait()
    _produce(cluster, {"gcn.notices.mixed": rest})  # while no listener runs
    process = _start(spool)
    assert _wait_for(spool, len(notices["gcn.notices.mixed"])) >= len(notices["gcn.notices.mixed"])
    cluster.broker_down()
    time.sleep(3)
    cluster.broker_up()
    _produce(cluster, alerts, pace=spool)
    assert set(_digests(spool.inbox)) <= set(_corpus_digests(TOPICS))
    deadline = time.monotonic() + 90
    while set(_digests(spool.inbox)) != set(_corpus_digests(TOPICS)) and time.monotonic() < deadline:
        time.sleep(0.3)
    _stop(process)
    assert set(_digests(spool.inbox)) == set(_corpus_digests(TOPICS))
    # Duplicates of re-delivered messages are dropped by the spool's byte comparison.
    outcomes = ingest.take_inbox(spool)
    stored = [o for o in outcomes if o.status == "stored"]
    quarantined = [o for o in outcomes if o.status == "quarantined"]
    assert len(stored) + len(quarantined) + len([o for o in outcomes if o.status == "duplicate"]) \
        == len(outcomes)
    assert len({hashlib.sha256(o.entry.path.read_bytes()).hexdigest() for o in stored}) == len(stored)


def test_replay_from_a_time_takes_only_later_messages(tmp_path, cluster):
    spool = _spool(tmp_path, cluster)
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap})
    files = TOPICS["gcn.notices.mixed"][:4]
    for i, path in enumerate(files):
        producer.produce("gcn.notices.mixed", path.read_bytes(),
                         timestamp=1_700_000_000_000 + i * 60_000)
    assert producer.flush(30) == 0
    process = _start(spool, "--from", "2023-11-14T22:15:00Z")  # 1_700_000_100_000 ms
    _wait_for(spool, 2, timeout=30)
    time.sleep(1)
    _stop(process)
    assert sorted(_digests(spool.inbox)) == sorted(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in files[2:])


def test_credentials_come_from_env_or_file_and_are_never_logged(tmp_path, monkeypatch):
    secrets = tmp_path / "credentials.yaml"
    secrets.write_text("gcn: {client_id: abc, client_secret: s3cr3t}\n")
    monkeypatch.delenv("GCN_KAFKA_CLIENT_ID", raising=False)
    assert listen.credentials("gcn", str(secrets)) == {"client_id": "abc", "client_secret": "s3cr3t"}
    monkeypatch.setenv("GCN_KAFKA_CLIENT_ID", "envid")
    monkeypatch.setenv("GCN_KAFKA_CLIENT_SECRET", "envsecret")
    assert listen.credentials("gcn", str(secrets))["client_secret"] == "envsecret"
    shown = listen.redacted({"client_secret": "envsecret", "sasl.password": "x", "group.id": "g"})
    assert shown == {"client_secret": "***", "sasl.password": "***", "group.id": "g"}


def test_scimma_avro_alerts_arrive_and_are_ingested(tmp_path, cluster, monkeypatch):
    """SCiMMA/hopskotch's igwn.gwalert: one Avro container per message, with hop-client's
    headers; the credentials come from HOP_USERNAME/HOP_PASSWORD and are never logged."""
    monkeypatch.setenv("HOP_USERNAME", "skyspool-test")
    monkeypatch.setenv("HOP_PASSWORD", "hop-s3cr3t")
    spool = make_spool(tmp_path / "spool", {"listen": {
        "start": "earliest", "gcn": {"enabled": False},
        "scimma": {"enabled": True, "bootstrap": cluster.bootstrap,
                   "kafka": {"security.protocol": "plaintext"}}}})
    alerts = sorted(GW_ALERTS.glob("*.avro"))
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap,
                                         "message.max.bytes": 10_000_000})
    for number, path in enumerate(alerts):
        producer.produce("igwn.gwalert", path.read_bytes(), headers=[
            ("_format", b"avro"), ("_id", number.to_bytes(16, "big")), ("_sender", b"gwcelery")])
    assert producer.flush(30) == 0
    process = _start(spool)
    assert _wait_for(spool, len(alerts)) == len(alerts)
    stderr = _stop(process)
    assert "hop-s3cr3t" not in stderr
    names = [f"scimma-igwn.gwalert-0-{offset}.avro" for offset in range(len(alerts))]
    assert sorted(p.name for p in spool.inbox.iterdir()) == names
    assert json.loads(spool.received_record(names[0]).read_text())["source"] == "scimma"
    outcomes = ingest.take_inbox(spool)
    assert [str(o) for o in outcomes] == [
        f"stored: {names[0]} -> gw/MS181101ab/001-preliminary.avro",
        f"stored: {names[1]} -> gw/MS181101ab/002-retraction.avro"]
