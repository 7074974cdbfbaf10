"""Outgoing IGWN alerts: the JSON of GCN Kafka (base64 sky map) and the Avro of SCiMMA.

An alert the orchestrator decides to send is an intent product (:func:`intent`); after the
run, its effect handler (:mod:`skyspool.publish.effects`) writes it to
``DIR/outgoing/<superevent_id>/`` in both formats (:func:`send`), checked by the very parser
that takes received alerts, and its JSON is put in the inbox: it becomes a spool entry like any
received alert, and the gw rules make its sky-map products, ``notice.json``, the VOEvent 2.0
``notice.xml`` and the Circular draft.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import io
import json

import fastavro

from skyspool import atomic, formats, ingest, times
from skyspool.paths import Spool

ALERT_TYPES = {"early_warning": "EARLYWARNING", "preliminary": "PRELIMINARY", "initial": "INITIAL",
               "update": "UPDATE", "retraction": "RETRACTION"}


@functools.cache
def _avro_schema():
    text = (importlib.resources.files("igwn_gwalert_schema") / "igwn.alerts.Alert.avsc").read_text()
    return fastavro.parse_schema(json.loads(text))


def alert_record(superevent_id: str, alert_type: str, *, member: dict | None,
                 classification: dict | None, skymap: bytes | None, significant: bool,
                 gracedb_url: str, created: float | None = None) -> dict:
    """An IGWN alert (``igwn.gwalert`` JSON); ``member`` None makes a retraction. ``created``:
    its ``time_created`` (Unix s; None: now)."""
    event = None
    if member is not None:
        # As GWCelery 3.0: cWB's BBH search is announced as CBC; bursts carry their duration
        # and central frequency; SSM searches carry no p_astro (HasSSM is among the properties).
        group = "CBC" if (member["group"], member["search"]) == ("Burst", "BBH") else member["group"]
        burst = group == "Burst"
        event = {
            "time": times.iso_from_gps(member["gps_time"]), "far": member["far_hz"],
            "significant": significant, "instruments": sorted(member["instruments"]),
            "group": group, "pipeline": member["pipeline"], "search": member["search"],
            "classification": {} if burst or member["search"] == "SSM"
            else (classification or {}).get("p_astro", {}),
            "properties": {} if burst else (classification or {}).get("properties", {}),
            "duration": member.get("duration_s") if burst else None,
            "central_frequency": member.get("central_frequency_hz") if burst else None,
            "skymap": None if skymap is None else base64.b64encode(skymap).decode()}
    return {"alert_type": ALERT_TYPES[alert_type],
            "time_created": times.iso_now() if created is None else times.iso_from_unix(created),
            "superevent_id": superevent_id,
            "urls": {"gracedb": gracedb_url.format(superevent_id=superevent_id)},
            "event": event, "external_coinc": None}


def avro_bytes(record: dict) -> bytes:
    """The alert as a one-record Avro container (sky map as bytes), as SCiMMA sends it."""
    binary = json.loads(json.dumps(record))
    if binary["event"] and binary["event"]["skymap"] is not None:
        binary["event"]["skymap"] = base64.b64decode(binary["event"]["skymap"])
    if binary["external_coinc"] and binary["external_coinc"]["combined_skymap"] is not None:
        binary["external_coinc"]["combined_skymap"] = base64.b64decode(binary["external_coinc"]["combined_skymap"])
    buffer = io.BytesIO()
    fastavro.writer(buffer, _avro_schema(), [binary])
    return buffer.getvalue()


def _alert_type(record: dict) -> str:
    alert_type = record["alert_type"].lower()
    return {"earlywarning": "early_warning"}.get(alert_type, alert_type)


def destinations(spool: Spool, record: dict, number: int) -> dict:
    """Where :func:`send` writes alert ``number`` of its superevent: the JSON and Avro files
    and the name it gets in the inbox (unless a file of that name waits there)."""
    sid, alert_type = record["superevent_id"], _alert_type(record)
    json_path = spool.outgoing_alert(sid, number, alert_type, "json")
    return {"json": str(json_path), "avro": str(spool.outgoing_alert(sid, number, alert_type, "avro")),
            "inbox": json_path.name}


def intent(spool: Spool, record: dict, number: int) -> dict:
    """The ``alert`` intent (:mod:`skyspool.effects`) of alert ``number``: what the effect
    handler passes to :func:`send` after the run."""
    return {"key": f"{record['superevent_id']}-{number:03d}", "type": "alert",
            "what": f"{record['superevent_id']} {_alert_type(record)} alert #{number} into the inbox",
            "superevent_id": record["superevent_id"], "number": number,
            "alert_type": _alert_type(record), "record": record}


def send(spool: Spool, record: dict, number: int) -> dict:
    """Write the alert (JSON and Avro), check both with the ingest parsers, put the JSON in
    the inbox. Returns where they went."""
    sid, alert_type = record["superevent_id"], _alert_type(record)
    json_data = json.dumps(record).encode()
    avro_data = avro_bytes(record)
    for data, name in ((json_data, "json"), (avro_data, "avro")):
        message = formats.identify(data, f"alert.{name}")  # raises Refused: a bug of ours
        if (message.event_id, message.alert_type) != (sid, alert_type):
            raise ValueError(f"outgoing {name} alert reads back as {message}")
    json_path = atomic.write_bytes(spool.outgoing_alert(sid, number, alert_type, "json"), json_data)
    avro_path = atomic.write_bytes(spool.outgoing_alert(sid, number, alert_type, "avro"), avro_data)
    inbox_path = ingest.put_in_inbox(spool, json_path)
    return {"json": str(json_path), "avro": str(avro_path), "inbox": inbox_path.name}
