"""GW data-quality segment lists: which detectors observed, which times are vetoed.

A JSON object (GPS seconds; a segment is ``[start, end)``)::

    {"dq_segments": "L1 and H1 state, run 42",      # any label
     "span": [1128678000, 1128680000],              # the time the list speaks for
     "observing": {"H1": [[1128678000, 1128680000]], "L1": [[...]]},
     "vetoed": [{"start": 1128679500, "end": 1128679510, "instruments": ["H1"],
                 "reason": "scattered light"}],
     "injections": [{"start": 1128679600, "end": 1128679601, "instruments": ["H1", "L1"],
                     "reason": "hardware injection"}],
     "bits": ["observing", "veto", "injection"]}    # which of these the list speaks for

The orchestrator checks a candidate over an interval (its superevent's, padded as GWCelery's
``check_vector_prepost``). Inside ``span``, a detector not in observing mode for all of it, or
a veto overlapping it, makes the candidate DQ-vetoed (label DQV); an injection overlapping it
on one of the candidate's detectors labels it INJ. Either way the orchestrator sends no alert.
``bits`` (default: observing and veto, plus injection when ``injections`` is given) says what
the list carries: a bit no list carries is reported as unknown.
Stored as ``spool/gwdq/dq-<start>-<end>/<NNN>-segments.json``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema

from skyspool.formats.registry import Message, Refused, load_json_object, looks_like_json_object, register

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
        "injections": {"$ref": "#/properties/vetoed"},
        "bits": {"type": "array", "items": {"enum": ["observing", "veto", "injection"]}},
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


def _covered(start: float, end: float, segments) -> bool:
    """[start, end] lies inside the union of ``segments``."""
    t = start
    for seg_start, seg_end in sorted(segments):
        if seg_start <= t < seg_end:
            t = seg_end
    return t > end or start < t == end


def _bits(segments: dict) -> set[str]:
    return set(segments.get("bits") or ["observing", "veto"] + (["injection"] if "injections" in segments else []))


def _hit(flags: list[dict], start: float, end: float, instruments: list[str]) -> tuple[dict, set] | None:
    for flag in flags:
        hit = set(flag.get("instruments") or instruments) & set(instruments)
        if flag["start"] <= end and start < flag["end"] and hit:
            return flag, hit
    return None


def verdict(segment_lists: list[dict], gps_time: float, instruments: list[str], end: float | None = None) -> dict:
    """Data quality over [``gps_time``, ``end``] (one instant without ``end``) for
    ``instruments`` from every list whose span holds it.

    Returns ``{"state": "ok"|"vetoed"|"not_observing"|"injection"|"unknown", "reason": str}``;
    ``unknown`` when no list speaks for that time (the reason also names a bit no list carries).
    """
    start, end = gps_time, gps_time if end is None else end
    relevant = [s for s in segment_lists if s["span"][0] <= start and end < s["span"][1]]
    if not relevant:
        return {"state": "unknown", "reason": "no segment list covers this time"}
    for segments in relevant:
        bits = _bits(segments)
        injection = "injection" in bits and _hit(segments.get("injections", []), start, end, instruments)
        if injection:
            flag, hit = injection
            return {"state": "injection", "reason": f"{','.join(sorted(hit))} injection: "
                    f"{flag.get('reason', 'injection')} ({segments['dq_segments']})"}
        veto = "veto" in bits and _hit(segments.get("vetoed", []), start, end, instruments)
        if veto:
            flag, hit = veto
            return {"state": "vetoed", "reason": f"{','.join(sorted(hit))} vetoed: "
                    f"{flag.get('reason', 'data-quality veto')} ({segments['dq_segments']})"}
        for ifo in instruments if "observing" in bits else []:
            if not _covered(start, end, segments["observing"].get(ifo, [])):
                return {"state": "not_observing",
                        "reason": f"{ifo} not in observing mode ({segments['dq_segments']})"}
    carried = set().union(*(_bits(s) for s in relevant))
    missing = sorted({"observing", "veto", "injection"} - carried)
    if {"observing", "veto"} & set(missing):
        return {"state": "unknown", "reason": f"no segment list carries {', '.join(missing)}"}
    return {"state": "ok", "reason": "observing, no veto" + (", injections unknown" if missing else ", no injection")}


def read_segments(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
