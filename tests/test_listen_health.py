"""`skyspool listen`'s heartbeat and GCN's heartbeat topic, against librdkafka's mock cluster:
heartbeat messages are noted, not stored; a broker whose heartbeat stops is reported silent;
`skyspool status` shows the listener's state."""

import json
import os
import signal
import subprocess
import sys
import time

import confluent_kafka

from kafka_mock import MockCluster
from skyspool import cli, control
from support import make_spool
from test_daemon import wait_for


def test_listener_heartbeat_and_a_silent_broker(tmp_path, capsys):
    cluster = MockCluster()
    try:
        for topic in ("gcn.heartbeat", "gcn.notices.test"):
            cluster.create_topic(topic)
        spool = make_spool(tmp_path / "spool", {"listen": {"start": "earliest", "gcn": {
            "topics": ["gcn.notices.test"], "heartbeat_silent_s": 3,
            "kafka": {"bootstrap.servers": cluster.bootstrap, "security.protocol": "plaintext"}}}})
        producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap})
        process = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "listen", str(spool.root)],
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "GCN_KAFKA_CLIENT_ID": ""})
        try:
            def beat_and_health():
                producer.produce("gcn.heartbeat", json.dumps({"alert_datetime": time.time()}).encode())
                producer.flush(10)
                health = control.service_health(spool.root)
                return health and health[0].get("brokers", {}).get("gcn") == "alive" and health[0]
            wait_for(beat_and_health, "the listener's heartbeat with the broker alive")
            [health] = control.service_health(spool.root)
            assert health["service"] == "listen" and health["health"] == "running"
            assert health["following"] == ["gcn.notices.test"] and health["pid"] == process.pid
            producer.produce("gcn.notices.test", b'{"a notice": 1}')
            producer.flush(10)
            wait_for(lambda: [p for p in spool.inbox.iterdir() if not p.name.startswith(".")], "the notice")
            assert [p.name for p in spool.inbox.iterdir() if not p.name.startswith(".")] == [
                "gcn-gcn.notices.test-0-0.json"]  # heartbeats are not stored
            # The broker's heartbeat stops: silent after 3 s.
            wait_for(lambda: control.service_health(spool.root)[0]["brokers"]["gcn"].startswith("silent for"),
                     "the broker reported silent")
            assert cli.main(["status", str(spool.root)]) == 0
            out = capsys.readouterr().out
            assert "listen: running" in out and "broker gcn: silent for" in out
        finally:
            process.send_signal(signal.SIGTERM)
            stderr = process.communicate(timeout=30)[1]
        assert "broker silent source=gcn" in stderr
        [health] = control.service_health(spool.root)
        assert health["health"] == "stopped"
    finally:
        cluster.close()
