"""Effect handlers: what the product jobs decided to send, sent after the run.

Rules write only under ``products/``: a job that decides to send something writes an *intent*,
``effects.json`` or ``<step>.effects.json`` in the entry's products folder (see
:mod:`skyspool.effects`). Two built-in sinks perform them, with
the receipts, retries, locks and dry run of every sink (:mod:`skyspool.publish`):

- ``outgoing`` (items ``alert``): an IGWN alert the orchestrator decided to send is written to
  ``DIR/outgoing/<superevent_id>/`` (JSON and Avro) and its JSON put in the inbox
  (:func:`skyspool.outgoing.send`). It stays inside the spool, so a dry run performs it too;
- ``messages`` (items ``udp``: a LOFAR TBB packet; ``email``: an e-mail through SMTP). An item
  with ``after`` goes out only once the item of that key did (DARC's e-mail about a packet).

Each item has a ``key`` unique within its entry; the receipt (``logs/published/.../<sink>.json``)
lists the keys done, so a rebuilt intent never sends again. Receipts that product jobs wrote
before (``logs/sent/<kind>/<event>/<entry>/<key>.sent``) count as sent too.

Reprocessing does not send what was not sent at the time: ``publish.suppress_effects`` records the intents
of entries that a run did not receive (``skyspool reprocess``; ``skyspool process`` for entries
stored before it) as ``suppressed`` in the receipt, unless ``--send-old`` is given.
"""

from __future__ import annotations

from pathlib import Path

from skyspool.effects import read_intents
from skyspool.paths import Entry, Spool
from skyspool.publish.registry import Sink, sink

EFFECT_SINKS = {"outgoing": ("alert",), "messages": ("udp", "email")}


def legacy_receipts(spool: Spool, entry: Entry) -> set[str]:
    """Keys that product jobs sent before effects left them (``logs/sent/``)."""
    folder = spool.send_receipts(entry.kind, entry.event_id, entry.name)
    return {p.name.removesuffix(".sent") for p in folder.glob("*.sent")} if folder.is_dir() else set()


class PartialDelivery(Exception):
    """Some items went out before one failed: they are recorded, the rest is tried again."""

    def __init__(self, sent: list[dict], cause: Exception):
        super().__init__(str(cause))
        self.sent = sent
        self.cause = cause


class EffectSink(Sink):
    """Performs the intent items of its ``types`` (one sink per group, see the module's doc)."""

    once = False
    effect = True
    default_stages = ("notice", "done")
    types: tuple[str, ...] = ()

    def undone(self, entry: Entry, receipt: dict | None) -> list[dict]:
        """The intent items of this sink that its receipt (or an old one) does not list."""
        done = {r["key"] for r in (receipt or {}).get("sent", [])} | legacy_receipts(self.spool, entry)
        return [item for item in read_intents(self.spool.products_dir(entry))
                if item["type"] in self.types and item["key"] not in done]

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        records = (receipt or {}).get("sent", [])
        went = {r["key"] for r in records if not r.get("suppressed")} | legacy_receipts(self.spool, entry)
        todo = self.undone(entry, receipt)
        keys = {item["key"] for item in todo}
        # an item waiting for another goes with it, or once that one went (not suppressed)
        return [item for item in todo if "after" not in item or item["after"] in went | keys]

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        sent: list[dict] = []
        for item in items:
            try:
                result = HANDLERS[item["type"]](self.spool, entry, item)
            except Exception as exc:
                if sent:
                    raise PartialDelivery(sent, exc) from exc
                raise
            sent.append({"key": item["key"], "type": item["type"], "what": item.get("what", ""), **result})
        return sent


@sink("outgoing")
class OutgoingSink(EffectSink):
    """IGWN alerts the orchestrator decided on, into ``outgoing/`` and the inbox."""

    types = EFFECT_SINKS["outgoing"]
    internal = True  # inside the spool: performed in a dry run too, as before


@sink("messages")
class MessagesSink(EffectSink):
    """LOFAR trigger packets (UDP) and e-mails (SMTP) of the FRB jobs."""

    types = EFFECT_SINKS["messages"]


def _send_alert(spool: Spool, entry: Entry, item: dict) -> dict:
    from skyspool import outgoing

    return outgoing.send(spool, item["record"], item["number"])


def _send_udp(spool: Spool, entry: Entry, item: dict) -> dict:
    from skyspool.frb import lofar

    lofar.send((spool.products_dir(entry) / item["file"]).read_bytes(), item["host"], item["port"])
    return {"to": f"{item['host']}:{item['port']}"}


def _send_email(spool: Spool, entry: Entry, item: dict) -> dict:
    return send_email_intent(spool.products_dir(entry), item)


def send_email_intent(folder: Path, item: dict) -> dict:
    """Send the ``email`` intent ``item`` of the products ``folder`` (its attachments)."""
    from skyspool.frb.summary import SmtpSettings, send_email

    settings = SmtpSettings.from_config(item["smtp"])
    send_email(item["page"], item["subject"], settings,
               {name: (folder / name).read_bytes() for name in item.get("attachments", [])} or None)
    return {"to": list(settings.to)}


HANDLERS = {"alert": _send_alert, "udp": _send_udp, "email": _send_email}


def effect_sinks(spool: Spool, config: dict) -> list[Sink]:
    """The effect sinks: always there (they act only on intents, which the rules write)."""
    from skyspool.publish.registry import SINKS

    return [SINKS[kind](kind, {}, spool, config) for kind in EFFECT_SINKS]
