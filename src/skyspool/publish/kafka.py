"""Kafka sink: produce an entry's chosen products (``notice.json`` by default) to a topic,
and, for an alert the orchestrator sent, that alert's IGWN JSON and Avro (``outgoing/``).

The producer is gcn-kafka's (GCN's OIDC login when GCN credentials are given, as for
``skyspool listen``; ``kafka`` settings override, e.g. a test broker's address). It is
idempotent, and every send waits for each message's fate (delivered, or failed after
``timeout_s``) before it returns, so a retry never doubles a message left queued. Each
message's key is ``<kind>/<event_id>/<NNN>-<type>/<file>`` (``triggers/trigger-<n>.xml``
of an FRB chunk).
"""

from __future__ import annotations

import hashlib

from skyspool.paths import Entry
from skyspool.publish.registry import Sink, product_files, sink


@sink("kafka")
class KafkaSink(Sink):
    """Settings: ``topic``, ``products`` (patterns), ``outgoing`` ({json, avro}: topics),
    ``domain``, ``kafka`` (librdkafka settings), ``timeout_s`` (s)."""

    default_stages = ("notice",)
    defaults = {"topic": None, "products": ["notice.json"], "outgoing": {"json": None, "avro": None},
                "domain": "gcn.nasa.gov", "kafka": {}, "timeout_s": 30.0}

    def __init__(self, *args):
        super().__init__(*args)
        self.producer = None

    def _outgoing(self, entry: Entry) -> list[tuple[str, object, str]]:
        """``(topic, path, name)`` of the outgoing alert that ``entry`` is (its JSON came back in)."""
        topics = self.settings["outgoing"]
        folder = self.spool.outgoing / entry.event_id
        if entry.kind != "gw" or not any(topics.values()) or not folder.is_dir():
            return []
        received = entry.path.read_bytes()
        for sent in sorted(folder.glob("*.json")):
            if sent.read_bytes() == received:
                found = [(topics[ext], sent.with_suffix("." + ext)) for ext in ("json", "avro")
                         if topics.get(ext) and sent.with_suffix("." + ext).exists()]
                return [(topic, path, path.name) for topic, path in found]
        return []

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        folder = self.spool.products_dir(entry)
        chosen = []
        if self.settings["topic"]:
            chosen = [(self.settings["topic"], folder / name, name)
                      for name in product_files(folder, self.settings["products"])]
        chosen += self._outgoing(entry)
        return [{"topic": topic, "file": str(path.relative_to(self.spool.root)),
                 "key": f"{entry.kind}/{entry.event_id}/{entry.name}/{name}",
                 "bytes": path.stat().st_size,
                 "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} for topic, path, name in chosen]

    def _producer(self):
        if self.producer is None:
            import gcn_kafka

            from skyspool import listen

            timeout_ms = int(self.settings["timeout_s"] * 1000)
            settings = {"domain": self.settings["domain"], "enable.idempotence": True,
                        "message.timeout.ms": timeout_ms, "message.max.bytes": 10_000_000,
                        **listen.credentials("gcn", self.config["listen"]["credentials_file"]),
                        **self.settings["kafka"]}
            self.producer = gcn_kafka.Producer(settings)
        return self.producer

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        producer = self._producer()
        errors = []

        def delivered(error, message):
            if error is not None:
                errors.append(f"{message.topic()}: {error.str()}")

        for item in items:
            producer.produce(item["topic"], (self.spool.root / item["file"]).read_bytes(),
                             key=item["key"], on_delivery=delivered)
        # message.timeout.ms bounds every message's fate: this returns once all are settled.
        while len(producer):
            producer.flush(1.0)
        if errors:
            raise RuntimeError("; ".join(errors))
        return items

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(self.settings["timeout_s"])
            self.producer = None
