"""GW data-quality segment lists: which detectors observed, which times are vetoed.

A JSON object (GPS seconds; a segment is ``[start, end)``)::

    {"dq_segments": "L1 and H1 state, run 42",      # any label
     "span": [1128678000, 1128680000],              # the time the list speaks for
     "observing": {"H1": [[1128678000, 1128680000]], "L1": [[...]]},
     "vetoed": [{"start": 1128679500, "end": 1128679510, "instruments": ["H1"],
                 "reason": "scattered light"}]}

Inside ``span``, a detector that is not in observing mode makes its candidates "offline
data" and a vetoed time makes them DQ-vetoed (label DQV): the orchestrator sends no alert.
Stored as ``spool/gwdq/dq-<start>-<end>/<NNN>-segments.json``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema

from skyspool.formats import Message, Refused, load_json_object, looks_like_json_object, register

SEGMENT = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
SCHEMA = {
    "type": "object", "required": ["dq_segments", "span", "observing"],
    "additionalProperties": False,
    "properties": {
        "dq_segments": {"type": "string"},
        "span": SEGMENT,
        "observing": {"type": "object", "additionalProperties": {"type": "array", "items": SEGMENT}},
        "vetoed": {"type": "array", "items": {
            "type": "object", "required": ["start", "end"], "additionalProperties": False,
            "properties": {"start": {"type": "number"}, "end": {"type": "number"},
                           "instruments": {"type": "array", "items": {"type": "string"}},
                           "reason": {"type": "string"}}}},
    },
}


@functools.cache
def _validator():
    return jsonschema.Draft202012Validator(SCHEMA)


@register("GW data-quality segment list", sniff=lambda data, name: looks_like_json_object(data, name)
          and b'"dq_segments"' in data)
def parse_segments(data: bytes) -> Message:
    record = load_json_object(data)
    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise Refused(f"not a valid DQ segment list: {where}: {error.message[:120]}")
    start, end = record["span"]
    if not end > start:
        raise Refused("DQ segment list: span must end after it starts")
    return Message("gwdq", f"dq-{int(start)}-{int(end)}", "segments", "json")


def _inside(t: float, segments) -> bool:
    return any(start <= t < end for start, end in segments)


def verdict(segment_lists: list[dict], gps_time: float, instruments: list[str]) -> dict:
    """Data quality at ``gps_time`` for ``instruments`` from every list whose span holds it.

    Returns ``{"state": "ok"|"vetoed"|"not_observing"|"unknown", "reason": str}``;
    ``unknown`` when no list speaks for that time.
    """
    relevant = [s for s in segment_lists if _inside(gps_time, [s["span"]])]
    if not relevant:
        return {"state": "unknown", "reason": "no segment list covers this time"}
    for segments in relevant:
        for veto in segments.get("vetoed", []):
            hit = set(veto.get("instruments") or instruments) & set(instruments)
            if veto["start"] <= gps_time < veto["end"] and hit:
                return {"state": "vetoed", "reason": f"{','.join(sorted(hit))} vetoed: "
                        f"{veto.get('reason', 'data-quality veto')} ({segments['dq_segments']})"}
        for ifo in instruments:
            if not _inside(gps_time, segments["observing"].get(ifo, [])):
                return {"state": "not_observing",
                        "reason": f"{ifo} not in observing mode ({segments['dq_segments']})"}
    return {"state": "ok", "reason": "observing, no veto"}


def read_segments(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
