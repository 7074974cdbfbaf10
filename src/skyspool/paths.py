"""The one place that names paths in a spool directory.

::

    DIR/config.yaml                                   the spool's own configuration
    DIR/inbox/                                        the only door; dot-files are in-progress writes
    DIR/spool/<kind>/<event_id>/<NNN>-<type>.<ext>    every accepted message, once, never modified
    DIR/products/<kind>/<event_id>/<NNN>-<type>/      products of one entry
    DIR/quarantine/<name>, <name>.reason.txt          refused files and why
    DIR/logs/                                         rule logs, daemon log, failure records
    DIR/superevents/<superevent_id>/                  superevents formed from pipeline candidates:
                                                      superevent.json and label files (DQV, ...)
    DIR/outgoing/<superevent_id>/<NNN>-<type>.*       alerts the orchestrator sent (JSON, Avro)
    DIR/timers/<kind>.<event_id>.<NNN-type>.json      a wake-up: rebuild that entry at the due time
    DIR/logs/received/<inbox name>.json               where a listener got a message (Kafka topic, ...)
    DIR/logs/sent/<kind>/<event_id>/<NNN>-<type>/     receipts that product jobs wrote before effects left
                                                      them (read only: they count as sent, logs/published/)
    DIR/spool/frb/<obs_id>/<NNN>-filterbank_cbNN.fil  an FRB observation's filterbank data of beam NN
    DIR/control/                                      run-time control: requests, answers, switches,
                                                      heartbeats (named in skyspool.control)
    DIR/products/services.html                        each service's health (skyspool.control)
    DIR/logs/published/<kind>/<event_id>/<NNN>-<type>/<sink>.json
                                                      what a publisher or an effect handler sent
                                                      (the one receipt; with .dry-run.json: what it
                                                      would have sent; .lock: held while sending)
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from skyspool import ids

#: Alert type of an FRB observation's filterbank file of compound beam ``cb``: ``filterbank_cb07``.
FILTERBANK_TYPE = re.compile(r"filterbank_cb(?P<cb>\d{2,3})")


def filterbank_alert_type(cb: int) -> str:
    """The alert type naming the filterbank entry of compound beam ``cb``."""
    return f"filterbank_cb{cb:02d}"


def filterbank_beam(alert_type: str) -> int | None:
    """The compound beam of a filterbank entry's alert type, None for other alert types."""
    match = FILTERBANK_TYPE.fullmatch(alert_type)
    return int(match["cb"]) if match else None


SUBDIRS = ("inbox", "spool", "products", "quarantine", "logs")
ENTRY_NAME = re.compile(r"(?P<number>\d{3,})-(?P<alert_type>" + ids.ALERT_TYPE_PATTERN + r")\.(?P<ext>[a-z0-9.]+)")


@dataclasses.dataclass(frozen=True, order=True)
class Entry:
    """One accepted message: ``spool/<kind>/<event_id>/<NNN>-<alert_type>.<ext>``."""

    kind: str
    event_id: str
    number: int
    alert_type: str
    path: Path

    @property
    def name(self) -> str:
        """``NNN-alert_type``, the entry's name in ``products/``."""
        return f"{self.number:03d}-{self.alert_type}"


class Spool:
    """A spool directory and the names of everything in it."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.inbox = self.root / "inbox"
        self.spool = self.root / "spool"
        self.products = self.root / "products"
        self.quarantine = self.root / "quarantine"
        self.logs = self.root / "logs"
        self.config_file = self.root / "config.yaml"
        self.ingest_lock = self.spool / ".ingest.lock"
        # Held by the one process building products: `skyspool watch`, `process` or `reprocess`.
        self.build_lock = self.root / ".skyspool-watch.lock"
        self.superevents = self.root / "superevents"
        self.outgoing = self.root / "outgoing"
        self.timers = self.root / "timers"

    def exists(self) -> bool:
        return all((self.root / name).is_dir() for name in SUBDIRS)

    def event_dir(self, kind: str, event_id: str) -> Path:
        return self.spool / ids.check_kind(kind) / ids.check_event_id(event_id)

    def entry_path(self, kind: str, event_id: str, number: int, alert_type: str, ext: str) -> Path:
        return self.event_dir(kind, event_id) / f"{number:03d}-{alert_type}.{ext}"

    def products_dir(self, entry: Entry) -> Path:
        return self.products / entry.kind / entry.event_id / entry.name

    def product(self, entry: Entry, product: str) -> Path:
        return self.products_dir(entry) / product

    def superevent_dir(self, superevent_id: str) -> Path:
        return self.superevents / ids.check_event_id(superevent_id)

    def outgoing_alert(self, superevent_id: str, number: int, alert_type: str, ext: str) -> Path:
        return self.outgoing / ids.check_event_id(superevent_id) / f"{number:03d}-{alert_type}.{ext}"

    def timer(self, entry: Entry) -> Path:
        """The wake-up file of ``entry`` (skyspool.timers)."""
        return self.timers / f"{entry.kind}.{entry.event_id}.{entry.name}.json"

    def received_record(self, inbox_name: str) -> Path:
        """Where a listener notes the origin (topic, partition, offset, time) of an inbox file."""
        return self.logs / "received" / f"{inbox_name}.json"

    def send_receipts(self, kind: str, event_id: str, entry_name: str) -> Path:
        """Where the product jobs of the entry ``entry_name`` (``NNN-type``) noted what they sent
        (a trigger's UDP packet, an e-mail) before effects left them; read as sent by
        :mod:`skyspool.publish.effects`."""
        return self.logs / "sent" / ids.check_kind(kind) / ids.check_event_id(event_id) / entry_name

    def publish_receipt(self, entry: Entry, sink: str, dry_run: bool = False) -> Path:
        """The record of what the publisher ``sink`` sent for ``entry`` (or would have sent)."""
        suffix = ".dry-run.json" if dry_run else ".json"
        return (self.logs / "published" / entry.kind / entry.event_id / entry.name
                / (ids.check_event_id(sink) + suffix))

    def failure_record(self, entry: Entry, product: str) -> Path:
        """Where a product that failed for good is reported."""
        return self.logs / "failures" / entry.kind / entry.event_id / entry.name / f"{product}.txt"

    def entries_of(self, kind: str, event_id: str) -> list[Entry]:
        """The entries of one event, in arrival order."""
        folder = self.event_dir(kind, event_id)
        found = []
        if folder.is_dir():
            for path in folder.iterdir():
                match = ENTRY_NAME.fullmatch(path.name)
                if match:
                    found.append(Entry(kind, event_id, int(match["number"]), match["alert_type"], path))
        return sorted(found)

    def events(self, kind: str | None = None) -> list[tuple[str, str]]:
        """``(kind, event_id)`` of every event in the spool."""
        kinds = [kind] if kind else ids.KINDS
        return [(k, folder.name) for k in kinds if (self.spool / k).is_dir()
                for folder in sorted((self.spool / k).iterdir()) if folder.is_dir()]

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Every entry of the spool (of one kind when given)."""
        return [entry for k, event_id in self.events(kind) for entry in self.entries_of(k, event_id)]

    def find_entry(self, kind: str, event_id: str, name: str) -> Entry:
        """The entry called ``NNN-alert_type`` of an event."""
        for entry in self.entries_of(kind, event_id):
            if entry.name == name:
                return entry
        raise FileNotFoundError(f"no spool entry {kind}/{event_id}/{name}")


def existing_spool(path: str | Path) -> Spool:
    """The spool at ``path`` for a command line; SystemExit saying how to make one when there is none."""
    spool = Spool(path)
    if not spool.exists():
        raise SystemExit(f"skyspool: {path} is not a spool (make one with: skyspool init {path})")
    return spool
