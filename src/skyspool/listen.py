"""Listeners (``skyspool listen DIR``): GCN Kafka, SCiMMA/hopskotch and VOEvent brokers
(VTP: GCN Classic, DARC's, any Comet) into the inbox.

Every message is written into the spool's inbox atomically (renamed in, so the daemon takes
it whole), its origin (topic, partition, offset, timestamp) into ``logs/received/``, and
only then is its offset committed: a crash re-delivers at most the messages not yet
committed, and the spool drops their identical bytes. The consumer group is fixed (the
broker remembers what this spool took), and static membership lets a restarted listener
take its partitions back at once.

A VTP subscriber (:class:`VtpListener`) writes each VOEvent into the inbox as
``vtp-<hash of the IVORN>.xml`` with its origin in ``logs/received/``, then acknowledges it;
an IVORN already recorded there is acknowledged and not written again (brokers re-send after
a reconnection, and several brokers carry the same event). A broker that goes away is
reconnected to, with a delay doubling up to ``reconnect_max_s``.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path

import yaml

from skyspool import atomic, control, settings, times
from skyspool.paths import Spool

log = logging.getLogger("skyspool.listen")

AVRO_MAGIC = b"Obj\x01"
# Settings whose values are secrets: never logged.
SECRET_KEYS = re.compile(r"secret|password|token", re.IGNORECASE)
# A VTP broker says iamalive every 60 s: silence this long means the connection is dead.
VTP_SILENCE_S = 180
_VTP_WRITING = threading.Lock()


def extension(data: bytes) -> str:
    """File extension for a message body: json, avro, xml, or bin."""
    head = data.lstrip()[:1]
    if data.startswith(AVRO_MAGIC):
        return "avro"
    return {b"{": "json", b"<": "xml"}.get(head, "bin")


def inbox_name(source: str, topic: str, partition: int, offset: int, data: bytes) -> str:
    """A name unique to the message (a re-delivery gets the same name)."""
    safe_topic = re.sub(r"[^A-Za-z0-9_.-]", "_", topic)
    return f"{source}-{safe_topic}-{partition}-{offset}.{extension(data)}"


def redacted(settings: dict) -> dict:
    """``settings`` with secret values replaced, for logs."""
    return {key: "***" if SECRET_KEYS.search(key) else value for key, value in settings.items()}


def credentials(source: str, credentials_file: str | None) -> dict:
    """Credentials of ``source`` from the environment, else from the credentials file.

    GCN: ``GCN_KAFKA_CLIENT_ID``/``GCN_KAFKA_CLIENT_SECRET`` or the file's
    ``gcn: {client_id, client_secret}``; SCiMMA: ``HOP_USERNAME``/``HOP_PASSWORD`` or
    ``scimma: {username, password}``. Empty when none are given.
    """
    names = {"gcn": ("client_id", "GCN_KAFKA_CLIENT_ID", "client_secret", "GCN_KAFKA_CLIENT_SECRET"),
             "scimma": ("username", "HOP_USERNAME", "password", "HOP_PASSWORD")}[source]
    user_key, user_env, secret_key, secret_env = names
    if os.environ.get(user_env):
        return {user_key: os.environ[user_env], secret_key: os.environ.get(secret_env)}
    if credentials_file:
        data = yaml.safe_load(Path(credentials_file).expanduser().read_text()) or {}
        found = data.get(source) or {}
        if found.get(user_key):
            return {user_key: found[user_key], secret_key: found.get(secret_key)}
    return {}


def default_group_id(spool: Spool) -> str:
    """A consumer group fixed for this spool on this host."""
    digest = hashlib.sha256(str(spool.root).encode()).hexdigest()[:8]
    return f"skyspool-{socket.gethostname()}-{digest}"


def consumer_settings(spool: Spool, config: dict, source: str) -> dict:
    """librdkafka settings of ``source``'s consumer (secrets included: do not log)."""
    listen = config["listen"]
    group = listen["group_id"] or default_group_id(spool)
    settings = {"group.id": group, "group.instance.id": f"{group}-{source}",
                "enable.auto.commit": False, "auto.offset.reset": listen["start"],
                "logger": logging.getLogger("skyspool.listen.kafka")}
    found = credentials(source, listen["credentials_file"])
    if source == "scimma":
        settings.update({"bootstrap.servers": listen["scimma"]["bootstrap"],
                         "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512"})
        if found:
            settings.update({"sasl.username": found["username"], "sasl.password": found["password"]})
    else:
        settings["domain"] = listen["gcn"]["domain"]
        if found:
            settings.update(found)
    settings.update(listen[source]["kafka"])
    return settings


def make_consumer(settings: dict):
    """A consumer: gcn-kafka's for GCN settings (OIDC when a client id is given)."""
    if "domain" in settings:
        import gcn_kafka

        return gcn_kafka.Consumer(dict(settings))
    import confluent_kafka

    return confluent_kafka.Consumer(dict(settings))


def write_message(spool: Spool, source: str, message) -> Path:
    """Write one Kafka message into the inbox and its origin into ``logs/received/``, durably."""
    data = message.value() or b""
    name = inbox_name(source, message.topic(), message.partition(), message.offset(), data)
    kind, stamp_ms = message.timestamp()
    origin = {"source": source, "topic": message.topic(), "partition": message.partition(),
              "offset": message.offset(), "timestamp_ms": stamp_ms if kind else None,
              "received": datetime.datetime.now(datetime.UTC).isoformat()}
    atomic.write_json(spool.received_record(name), origin)
    return _write_inbox(spool, name, data)


def _write_inbox(spool: Spool, name: str, data: bytes) -> Path:
    target = atomic.write_bytes(spool.inbox / name, data)
    # The rename must survive a crash too before the message is acknowledged.
    folder = os.open(spool.inbox, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return target


def parse_replay(value: str | None) -> str | int | None:
    """``earliest``, or an ISO 8601 time as Unix milliseconds, or None."""
    if value in (None, "earliest"):
        return value
    return int(times.unix_from_iso(value) * 1000)


class Listener:
    """Consume ``source``'s topics into ``spool``'s inbox until ``stop`` is set.

    ``replay``: None (resume from the committed offsets), ``"earliest"`` (everything the
    broker holds) or Unix milliseconds (messages from that time on).
    """

    def __init__(self, spool: Spool, config: dict, source: str, replay=None):
        self.spool = spool
        self.source = source
        self.settings = consumer_settings(spool, config, source)
        self.topics = list(config["listen"][source]["topics"])
        self.replay = replay
        self.replayed: set[tuple[str, int]] = set()
        self.consumer = None
        # Service health (skyspool.control): GCN's heartbeat topic tells a silent broker from a quiet sky.
        gcn = settings.of(config).listen.gcn
        self.heartbeat_topic = gcn.heartbeat_topic if source == "gcn" else None
        self.silent_after_s = float(gcn.heartbeat_silent_s)
        self.started = time.time()
        self.last_broker_beat: float | None = None
        self.last_message: float | None = None
        self.last_error: str | None = None

    def _on_assign(self, consumer, partitions) -> None:
        """Start each partition where it should: replay, committed offset, or the policy."""
        import confluent_kafka

        fresh = [p for p in partitions if (p.topic, p.partition) not in self.replayed]
        self.replayed.update((p.topic, p.partition) for p in fresh)
        if self.replay == "earliest":
            for p in fresh:
                p.offset = confluent_kafka.OFFSET_BEGINNING
        elif isinstance(self.replay, int) and fresh:
            asked = [confluent_kafka.TopicPartition(p.topic, p.partition, self.replay) for p in fresh]
            for p, found in zip(fresh, consumer.offsets_for_times(asked, timeout=10)):
                # Brokers that cannot look times up answer -1: read all, skip older ones.
                p.offset = found.offset if found.offset >= 0 else confluent_kafka.OFFSET_BEGINNING
        else:
            committed = consumer.committed(partitions, timeout=10)
            first = []
            for p, known in zip(partitions, committed):
                if known.offset < 0:
                    low, high = consumer.get_watermark_offsets(p, timeout=10)
                    p.offset = low if self.settings["auto.offset.reset"] == "earliest" else high
                    first.append(confluent_kafka.TopicPartition(p.topic, p.partition, p.offset))
            if first:
                # Remember the start at once: a crash before the first message loses nothing.
                consumer.commit(offsets=first, asynchronous=False)
        consumer.assign(partitions)
        log.info("assigned source=%s partitions=%s", self.source,
                 ",".join(f"{p.topic}[{p.partition}]@{p.offset}" for p in partitions))

    def broker_health(self) -> str | None:
        """``alive`` or ``silent for N s`` from GCN's heartbeat topic; None without one."""
        if not self.heartbeat_topic:
            return None
        age = times.age_s(self.last_broker_beat or self.started)
        return "alive" if age <= self.silent_after_s else f"silent for {age:.0f} s (no {self.heartbeat_topic})"

    def _handle(self, message) -> None:
        if message.topic() == self.heartbeat_topic:  # the broker's heartbeat: noted, not stored
            self.last_broker_beat = time.time()
            self.consumer.commit(message=message, asynchronous=True)
            return
        self.last_message = time.time()
        kind, stamp_ms = message.timestamp()
        if isinstance(self.replay, int) and kind and stamp_ms < self.replay:
            self.consumer.commit(message=message, asynchronous=False)
            return
        path = write_message(self.spool, self.source, message)
        log.info("received source=%s topic=%s partition=%d offset=%d file=%s", self.source,
                 message.topic(), message.partition(), message.offset(), path.name)
        try:
            self.consumer.commit(message=message, asynchronous=False)
        except Exception as exc:  # broker away: a later commit covers this offset
            log.warning("commit failed source=%s offset=%d: %s", self.source, message.offset(), exc)

    def run(self, stop: threading.Event) -> None:
        import confluent_kafka

        log.info("listening source=%s topics=%s settings=%s", self.source, ",".join(self.topics),
                 {k: v for k, v in redacted(self.settings).items() if k != "logger"})
        self.consumer = make_consumer(self.settings)
        self.consumer.subscribe(self.topics + ([self.heartbeat_topic] if self.heartbeat_topic else []),
                                on_assign=self._on_assign)
        try:
            while not stop.is_set():
                message = self.consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    if message.error().code() != confluent_kafka.KafkaError._PARTITION_EOF:
                        log.warning("kafka source=%s: %s", self.source, message.error())
                        self.last_error = str(message.error())
                    continue
                self._handle(message)
        finally:
            self.consumer.close()


def vtp_inbox_name(ivorn: str) -> str:
    """The inbox name of the VOEvent ``ivorn`` (the same for every copy of it).

    >>> vtp_inbox_name("ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1234-567")
    'vtp-0929c4ffa260ab4e7f1ca1ac.xml'
    """
    return f"vtp-{hashlib.sha256(ivorn.encode()).hexdigest()[:24]}.xml"


class VtpListener:
    """Subscribe to the VTP broker at ``address`` (``host:port``) until ``stop`` is set."""

    def __init__(self, spool: Spool, config: dict, address: str):
        self.spool = spool
        self.address = address
        settings = config["listen"]["vtp"]
        self.local_ivo = settings["local_ivo"] or f"ivo://{config['gw_voevent']['author_ivorn']}"
        self.reconnect_s = settings["reconnect_s"]
        self.reconnect_max_s = settings["reconnect_max_s"]
        self.timeout_s = settings["timeout_s"]
        self.delay_s = settings["reconnect_s"]

    def write_event(self, data: bytes, ivorn: str) -> Path | None:
        """Write one VOEvent into the inbox (None: this IVORN was received before)."""
        name = vtp_inbox_name(ivorn)
        record = self.spool.received_record(name)
        with _VTP_WRITING:  # two brokers carrying the same event: one copy
            if record.exists():
                return None
            # The file first: a crash in between makes a duplicate the spool drops, not a loss.
            target = _write_inbox(self.spool, name, data)
            atomic.write_json(record, {"source": "vtp", "broker": self.address, "ivorn": ivorn,
                                       "received": datetime.datetime.now(datetime.UTC).isoformat()})
            return target

    def _session(self, stop: threading.Event) -> None:
        from skyspool.publish import voevent as vtp

        host, port = vtp.parse_host_port(self.address)
        with socket.create_connection((host, port), timeout=self.timeout_s) as connection:
            log.info("connected source=vtp broker=%s", self.address)
            self.delay_s = self.reconnect_s  # connected: the next outage starts again from a short delay
            connection.settimeout(0.5)  # to see stop; a message is then read whole
            heard = time.monotonic()
            while not stop.is_set():
                try:
                    head = connection.recv(1, socket.MSG_PEEK)
                except TimeoutError:
                    if time.monotonic() - heard > VTP_SILENCE_S:
                        raise ConnectionError(f"nothing heard for {VTP_SILENCE_S} s") from None
                    continue
                heard = time.monotonic()
                if not head:
                    raise ConnectionError("broker closed the connection")
                connection.settimeout(self.timeout_s)
                data = vtp.read_message(connection)
                connection.settimeout(0.5)
                kind, role, ivorn = vtp.message_kind(data)
                if kind == "Transport" and role in ("iamalive", "authenticate"):
                    vtp.send_message(connection, vtp.transport(role, self.local_ivo, ivorn))
                elif kind == "VOEvent" and role == "test" and "#TestEvent-" in (ivorn or ""):
                    # a broker's own hourly liveness event (Comet's): no alert
                    vtp.send_message(connection, vtp.transport("ack", self.local_ivo, ivorn))
                elif kind == "VOEvent" and ivorn:
                    path = self.write_event(data, ivorn)
                    log.info("received source=vtp broker=%s ivorn=%s file=%s", self.address,
                             ivorn, path.name if path else "(seen before)")
                    vtp.send_message(connection, vtp.transport("ack", self.local_ivo, ivorn))
                else:
                    log.warning("vtp broker=%s: ignored a %s message (role %s)", self.address, kind, role)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._session(stop)
            except (OSError, ValueError) as exc:  # down, refused, cut, or not VTP
                log.warning("vtp broker=%s: %s; reconnecting in %.1f s", self.address, exc, self.delay_s)
            stop.wait(self.delay_s)
            self.delay_s = min(self.delay_s * 2, self.reconnect_max_s)


def listen(spool: Spool, config: dict, *, sources: list[str] | None = None, replay=None) -> int:
    """Run a listener per enabled source (a VTP one per broker), each in a thread, until
    SIGTERM/SIGINT."""
    import signal

    chosen = sources or [name for name in ("gcn", "scimma", "vtp") if config["listen"][name]["enabled"]]
    if not chosen:
        raise SystemExit("skyspool: no listener source enabled (listen.gcn / listen.scimma / listen.vtp)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    listeners = [Listener(spool, config, name, replay) for name in chosen if name != "vtp"]
    runners = [(listener.source, listener.run) for listener in listeners]
    if "vtp" in chosen:
        if not config["listen"]["vtp"]["brokers"]:
            raise SystemExit("skyspool: listen.vtp.brokers is empty")
        runners += [(f"vtp-{address}", VtpListener(spool, config, address).run)
                    for address in config["listen"]["vtp"]["brokers"]]
    threads = [threading.Thread(target=run, args=(stop,), name=f"listen-{name}") for name, run in runners]
    for thread in threads:
        thread.start()
    heart = control.Heart(spool.root, "listen")
    silent: set[str] = set()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
            _beat(heart, listeners, silent)
    _beat(heart, listeners, silent, state="stopped")
    log.info("stopped")
    return 0


def _beat(heart: control.Heart, listeners: list[Listener], silent: set[str], **facts) -> None:
    """The listeners' heartbeat, and a warning when a broker's heartbeat topic goes silent."""
    brokers = {}
    for listener in listeners:
        health = listener.broker_health()
        if health is not None:
            brokers[listener.source] = health
            if health != "alive" and listener.source not in silent:
                log.warning("broker silent source=%s: %s", listener.source, health)
            (silent.add if health != "alive" else silent.discard)(listener.source)
    last = [listener.last_message for listener in listeners if listener.last_message]
    heart.beat(bool(facts), following=[t for listener in listeners for t in listener.topics], brokers=brokers,
               last_message_utc=times.iso_from_unix(max(last)) if last else None,
               last_error=next((listener.last_error for listener in listeners if listener.last_error), None),
               **facts)
