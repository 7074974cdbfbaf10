"""Property-based tests of every parser: any input gives a clean refusal or a valid parse.

A refusal is :class:`skyspool.formats.Refused` (for AMBER candidates, ``AmberFormatError``)
with a one-line reason; anything else raised is a bug. Inputs: arbitrary bytes, real
corpus files cut and spliced with junk, and real records with one field replaced by any
JSON value. Examples are few and derandomised (the same in every run) to stay quick.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyspool import formats
from skyspool.formats import Message, Refused, gcn_voevent, gcnjson, gwalert, skymaps
from skyspool.frb import amber
from support import CORPUS, GW_ALERTS

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GCN_JSONS = sorted((CORPUS / "notices" / "kafka_json").glob("gcnschema_*.json"))
VOEVENTS = sorted((CORPUS / "notices" / "voevent").glob("*.xml"))
SMALL_ALERT = GW_ALERTS / "MS181101ab-retraction.json"
MAP_ALERT = GW_ALERTS / "MS181101ab-preliminary.json"
AVRO = GW_ALERTS / "MS181101ab-retraction.avro"
AMBER = CORPUS / "frb" / "amber" / "CB00_step3.trigger"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10)


def spliced(source: Path | bytes) -> st.SearchStrategy[bytes]:
    """The bytes of ``source`` cut at some point, with junk put in there."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    return st.tuples(st.integers(0, len(data)), st.integers(0, 64), st.binary(max_size=32)).map(
        lambda t: data[: t[0]] + t[2] + data[t[0] + t[1]:])


def one_field_replaced(source: Path) -> st.SearchStrategy[bytes]:
    """``source``'s JSON object with one (top-level or nested) field set to any JSON value."""
    record = json.loads(source.read_bytes())
    paths = [(key,) for key in record] + [(key, sub) for key, value in record.items()
                                          if isinstance(value, dict) for sub in value]

    def replace(args) -> bytes:
        path, value = args
        copy = json.loads(json.dumps(record))
        holder = copy
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value
        return json.dumps(copy).encode()

    return st.tuples(st.sampled_from(paths), json_values).map(replace)


def refuses_cleanly_or_parses(parse, data: bytes) -> None:
    try:
        result = parse(data)
    except Refused as exc:
        reason = str(exc)
        assert reason and "\n" not in reason.strip(), repr(reason)
        return
    assert isinstance(result, Message)


@SETTINGS
@given(st.binary(max_size=2000) | spliced(SMALL_ALERT) | spliced(GCN_JSONS[0]) | spliced(VOEVENTS[0]))
def test_identify_any_bytes(data):
    refuses_cleanly_or_parses(formats.identify, data)


@SETTINGS
@given(st.binary(max_size=500) | spliced(SMALL_ALERT) | one_field_replaced(SMALL_ALERT)
       | one_field_replaced(MAP_ALERT))
def test_igwn_alert_json(data):
    refuses_cleanly_or_parses(gwalert.parse_json, data)


@SETTINGS
@given(st.binary(max_size=500).map(lambda b: gwalert.AVRO_MAGIC + b) | spliced(AVRO))
def test_igwn_alert_avro(data):
    refuses_cleanly_or_parses(gwalert.parse_avro, data)


@SETTINGS
@given(st.binary(max_size=500) | st.sampled_from(GCN_JSONS).flatmap(spliced)
       | st.sampled_from(GCN_JSONS).flatmap(one_field_replaced))
def test_gcn_json_notice(data):
    refuses_cleanly_or_parses(gcnjson.parse, data)


@SETTINGS
@given(st.binary(max_size=500) | st.sampled_from(VOEVENTS).flatmap(spliced))
def test_gcn_voevent(data):
    refuses_cleanly_or_parses(gcn_voevent.parse, data)


@SETTINGS
@given(st.binary(max_size=3000) | spliced(base64.b64decode(json.loads(MAP_ALERT.read_bytes())["event"]["skymap"])))
def test_skymap_check(data):
    try:
        skymaps.check_skymap(data, "map", flat_ok=True)
    except Refused as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(st.binary(max_size=1000) | spliced(AMBER)
       | st.lists(st.sampled_from(["1", "0", "-1", "nan", "1e400", "x", " ", "\t", "#", "\n"]),
                  max_size=60).map(lambda parts: (AMBER.read_text().split("\n", 1)[0] + "\n"
                                                  + "".join(parts)).encode()))
def test_amber_candidates(data):
    try:
        frame = amber.read_candidates(data)
    except amber.AmberFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert list(frame.columns) == list(amber.CANDIDATE_COLUMNS)
