"""IGWN public gravitational-wave alerts: JSON (GCN Kafka ``igwn.gwalert``) and Avro (SCiMMA).

Both carry the same record, validated against the official schema of the PyPI package
``igwn-gwalert-schema``. In JSON the sky maps are base64 text; in Avro they are bytes.
:func:`read_alert` gives the rules one view of either.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import functools
import importlib.resources
import io
import json
import logging
from pathlib import Path

import fastavro
import jsonschema

from skyspool import ids
from skyspool.formats import skymaps
from skyspool.formats.registry import Message, Refused, load_json_object, looks_like_json_object, register

log = logging.getLogger(__name__)

AVRO_MAGIC = b"Obj\x01"
SKYMAP_FIELDS = (("event", "skymap"), ("external_coinc", "combined_skymap"))
# The schema's EARLYWARNING is spelled early_warning in spool and product names.
ALERT_TYPE_NAMES = {"EARLYWARNING": "early_warning"}


@dataclasses.dataclass(frozen=True)
class GWAlert:
    """One IGWN alert; sky maps decoded to the bytes of multi-order FITS files."""

    superevent_id: str
    alert_type: str          # lower case: preliminary, initial, ...
    time_created: str        # ISO 8601 UTC
    event: dict | None       # None for a retraction; ``skymap`` removed (see below)
    external_coinc: dict | None  # ``combined_skymap`` removed (see below)
    urls: dict
    skymap: bytes | None
    combined_skymap: bytes | None

    @property
    def is_retraction(self) -> bool:
        return self.alert_type == "retraction"


# Fields of ``event`` that later schema versions made required: the alerts of 2022-2023
# (igwn-gwalert-schema before ``significant``) are validated without them.
LATER_EVENT_FIELDS = ("significant",)


@functools.cache
def _validator(first_version: bool = False) -> jsonschema.protocols.Validator:
    """The current IGWN alert schema; with ``first_version``, the schema the alerts published
    since 2022 followed before ``event.significant`` was added (the same otherwise)."""
    schema_file = importlib.resources.files("igwn_gwalert_schema") / "igwn.alerts.Alert.schema.json"
    schema = json.loads(schema_file.read_text())
    if first_version:
        event = next(choice for choice in schema["properties"]["event"]["oneOf"]
                     if choice.get("type") == "object")
        event["required"] = [name for name in event["required"] if name not in LATER_EVENT_FIELDS]
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _zoned_times(record: dict) -> None:
    """Give ``time_created`` and ``event.time`` written without a zone their UTC zone (said in
    the log): every reader of the alert then gets an unambiguous time."""
    holders = [(record, "time_created")]
    if isinstance(record.get("event"), dict):
        holders.append((record["event"], "time"))
    for holder, field in holders:
        value = holder.get(field)
        if isinstance(value, str) and _naive(value):
            log.info("%s %s has no time zone: taken as UTC", field, value[:40])
            holder[field] = value.strip() + "Z"


def _naive(text: str) -> bool:
    try:
        return datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).tzinfo is None
    except ValueError:
        return False  # the schema's date-time check says what is wrong


def _schema_error(record: dict) -> str | None:
    _zoned_times(record)
    validator = _validator()
    event = record.get("event")
    if isinstance(event, dict) and not any(name in event for name in LATER_EVENT_FIELDS):
        validator = _validator(first_version=True)
    error = jsonschema.exceptions.best_match(validator.iter_errors(record))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    message = error.message if len(error.message) < 120 else error.message[:117] + "..."
    return f"{where}: {message}"


def _decode_json(data: bytes) -> dict:
    record = load_json_object(data)
    problem = _schema_error(record)
    if problem:
        raise Refused(f"not a valid IGWN alert: {problem}")
    for parent, field in SKYMAP_FIELDS:
        holder = record.get(parent)
        if holder and holder.get(field) is not None:
            try:
                holder[field] = base64.b64decode(holder[field], validate=True)
            except (binascii.Error, ValueError):
                raise Refused(f"{parent}.{field} is not valid base64") from None
    return record


def _decode_avro(data: bytes) -> dict:
    try:
        records = list(fastavro.reader(io.BytesIO(data)))
    except Exception as exc:  # fastavro raises ValueError, EOFError, StopIteration...
        raise Refused(f"not a readable Avro file ({type(exc).__name__}: {exc})"[:200]) from None
    if len(records) != 1 or not isinstance(records[0], dict):
        raise Refused(f"Avro alert must hold exactly one record, found {len(records)}")
    record = records[0]
    _zoned_times(record)
    as_json = json.loads(json.dumps(record, default=lambda b: base64.b64encode(b).decode()))
    problem = _schema_error(as_json)
    if problem:
        raise Refused(f"not a valid IGWN alert: {problem}")
    return record


@functools.cache
def _default_thresholds() -> dict:
    from skyspool import config

    return config.defaults()["orchestrator"]["thresholds"]


def _with_significance(event: dict | None) -> None:
    """An alert of the first schema version has no ``significant``: it is what the default
    thresholds (orchestrator.thresholds, GWCelery's) make of its FAR, group and search."""
    if not event or "significant" in event:
        return
    from skyspool.superevents import significance

    # a published alert is online and no injection: only its FAR, group and search decide
    facts = {"far_hz": float(event["far"]), "group": event["group"], "search": event["search"],
             "pipeline": event.get("pipeline", ""), "offline": False}
    event["significant"] = significance(facts, _default_thresholds()) == "significant"


def _to_alert(record: dict) -> GWAlert:
    _with_significance(record.get("event"))
    maps = {}
    for parent, field in SKYMAP_FIELDS:
        holder = record.get(parent)
        maps[field] = holder.pop(field, None) if holder else None
    return GWAlert(
        superevent_id=record["superevent_id"],
        alert_type=ALERT_TYPE_NAMES.get(record["alert_type"], record["alert_type"].lower()),
        time_created=record["time_created"],
        event=record.get("event"),
        external_coinc=record.get("external_coinc"),
        urls=record.get("urls") or {},
        skymap=maps["skymap"],
        combined_skymap=maps["combined_skymap"],
    )


def _accept(record: dict, extension: str) -> Message:
    alert = _to_alert(record)
    if alert.is_retraction != (alert.event is None):
        raise Refused("a retraction must have event null, and only a retraction may")
    if not alert.is_retraction and alert.skymap is None and alert.event.get("group") == "CBC":
        raise Refused("CBC alert without a sky map")
    for field in ("skymap", "combined_skymap"):
        if getattr(alert, field) is not None:
            skymaps.check_skymap(getattr(alert, field), field)
    return Message("gw", alert.superevent_id, alert.alert_type, extension, ids.superevent_role(alert.superevent_id))


@register("IGWN alert JSON", sniff=lambda data, name: looks_like_json_object(data, name)
          and b'"superevent_id"' in data)
def parse_json(data: bytes) -> Message:
    return _accept(_decode_json(data), "json")


@register("IGWN alert Avro", sniff=lambda data, name: data.startswith(AVRO_MAGIC))
def parse_avro(data: bytes) -> Message:
    return _accept(_decode_avro(data), "avro")


def read_alert(path: str | Path) -> GWAlert:
    """Read a spooled IGWN alert (``.json`` or ``.avro``, or an LVK VOEvent ``.xml``) into a
    :class:`GWAlert`."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix == ".xml":  # an LVK VOEvent (O2-O4), read for reprocessing an archive
        from skyspool.formats.gcn_voevent import lvk_alert_record

        return _to_alert(lvk_alert_record(data))
    record = _decode_avro(data) if path.suffix == ".avro" else _decode_json(data)
    return _to_alert(record)
