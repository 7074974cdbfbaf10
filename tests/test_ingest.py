"""Ingest: every corpus alert identified and stored once; bad input quarantined with a reason."""

import base64
import io
import json
import os

import pytest
from astropy.io import fits

from skyspool import formats, ingest
from skyspool.formats.gwalert import read_alert
from support import GW_ALERTS, make_spool


def good_alert() -> dict:
    return json.loads((GW_ALERTS / "S230518h-Preliminary_alert.json").read_text())


@pytest.mark.parametrize("path", sorted(GW_ALERTS.iterdir()), ids=lambda p: p.name)
def test_every_corpus_alert_is_identified(path):
    message = formats.identify(path.read_bytes(), path.name)
    alert = read_alert(path)
    assert message.kind == "gw"
    assert message.event_id == alert.superevent_id
    assert message.alert_type == {"earlywarning": "early_warning"}.get(
        path.stem.split("-")[1].split("_")[0].lower(), message.alert_type)
    assert (alert.event is None) == (message.alert_type == "retraction")
    if alert.skymap is not None:
        assert alert.skymap.startswith(b"SIMPLE  =")


def test_external_coinc_carries_combined_map():
    alert = read_alert(GW_ALERTS / "MS181101ab-ext-update.json")
    assert alert.external_coinc["observatory"] == "Fermi"
    assert alert.combined_skymap.startswith(b"SIMPLE  =")
    assert "combined_skymap" not in alert.external_coinc


def test_avro_and_json_give_the_same_alert():
    from_avro = read_alert(GW_ALERTS / "MS181101ab-preliminary.avro")
    from_json = read_alert(GW_ALERTS / "MS181101ab-preliminary.json")
    assert from_avro.skymap == from_json.skymap
    assert from_avro.event["far"] == from_json.event["far"]


def test_same_alert_three_times_is_stored_once(tmp_path):
    spool = make_spool(tmp_path / "spool")
    source = GW_ALERTS / "S230520ae-Preliminary_alert.json"
    for copy in range(3):
        (spool.inbox / f"copy{copy}.json").write_bytes(source.read_bytes())
    outcomes = ingest.take_inbox(spool)
    assert [o.status for o in outcomes] == ["stored", "duplicate", "duplicate"]
    assert [e.path.name for e in spool.entries()] == ["001-preliminary.json"]
    assert not list(spool.inbox.iterdir())


def test_entries_are_numbered_in_arrival_order(tmp_path):
    spool = make_spool(tmp_path / "spool")
    for name in ("S230518h-Preliminary_alert.json", "S230518h-Initial_alert.json",
                 "S230518h-Update_alert.json"):
        ingest.put_in_inbox(spool, GW_ALERTS / name)
        ingest.take_inbox(spool)
    assert [e.name for e in spool.entries()] == ["001-preliminary", "002-initial", "003-update"]


def _fits_table_bytes() -> bytes:
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="FLUX", format="D", array=[1.0, 2.0])])])
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    return buffer.getvalue()


def _with_event(**changes) -> bytes:
    alert = good_alert()
    alert["event"].update(changes)
    return json.dumps(alert).encode()


def _with(**changes) -> bytes:
    return json.dumps({**good_alert(), **changes}).encode()


BAD_INPUTS = {
    "empty.json": (b"", "empty file"),
    "bad.json": (b'{"superevent_id": "S1", "alert_type": ', "not valid JSON"),
    "bad-base64.json": (_with_event(skymap="!!!not base64!!!"), "not valid base64"),
    "not-a-skymap.json": (_with_event(skymap=base64.b64encode(_fits_table_bytes()).decode()),
                          "not a multi-order HEALPix sky map"),
    "not-fits.json": (_with_event(skymap=base64.b64encode(b"hello world" * 300).decode()),
                      "not a readable FITS file"),
    "unsafe-id.json": (_with(superevent_id="../../x"), "unsafe event id"),
    "nul-id.json": (_with(superevent_id="S1\x00x"), "unsafe event id"),
    "long-id.json": (_with(superevent_id="S" + "a" * 200), "unsafe event id"),
    "wrong-type.json": (_with(alert_type="PANIC"), "not a valid IGWN alert"),
    "no-event-field.json": (_with_event(far="high"), "not a valid IGWN alert"),
    "junk.json": (os.urandom(2000), "not a recognised"),
    "deep.json": (b'{"superevent_id": ' + b"[" * 100000 + b"]" * 100000 + b"}", "JSON"),
    "broken.avro": (b"Obj\x01" + os.urandom(500), "not a readable Avro file"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_quarantined_with_a_one_line_reason(tmp_path, name):
    data, expected_reason = BAD_INPUTS[name]
    spool = make_spool(tmp_path / "spool")
    (spool.inbox / name).write_bytes(data)
    [outcome] = ingest.take_inbox(spool)
    assert outcome.status == "quarantined"
    assert expected_reason in outcome.reason
    [reason_file] = spool.quarantine.glob("*.reason.txt")
    reason = reason_file.read_text()
    assert reason.count("\n") == 1 and expected_reason in reason
    kept = reason_file.with_name(reason_file.name.removesuffix(".reason.txt"))
    assert kept.read_bytes() == data
    assert not list(spool.inbox.iterdir()) and not spool.entries()


def test_symlink_to_outside_is_quarantined_without_reading_it(tmp_path):
    spool = make_spool(tmp_path / "spool")
    secret = tmp_path / "secret.json"
    secret.write_bytes((GW_ALERTS / "S230520ae-Preliminary_alert.json").read_bytes())
    (spool.inbox / "link.json").symlink_to(secret)
    [outcome] = ingest.take_inbox(spool)
    assert outcome.status == "quarantined" and "symbolic link" in outcome.reason
    assert secret.exists() and not spool.entries()


def test_oversized_file_is_quarantined(tmp_path):
    spool = make_spool(tmp_path / "spool")
    ingest.put_in_inbox(spool, GW_ALERTS / "S230520ae-Preliminary_alert.json")
    [outcome] = ingest.take_inbox(spool, max_bytes=1000)
    assert outcome.status == "quarantined" and "too large" in outcome.reason


def test_files_being_written_are_left_alone(tmp_path):
    spool = make_spool(tmp_path / "spool")
    (spool.inbox / ".partial.json.part").write_bytes(b'{"superevent_id": "S1"')
    assert ingest.take_inbox(spool) == []
    assert (spool.inbox / ".partial.json.part").exists()


def test_corrupt_gzip_is_refused_by_every_sniffer():
    """A gzip stream broken inside (zlib.error, not OSError) gets a reason, whatever its name:
    the coinc sniffer once let it escape and stop the daemon."""
    import gzip

    intact = gzip.compress(b"<?xml version='1.0'?><LIGO_LW>" + b"x" * 100_000)
    broken = intact[:20] + bytes(b ^ 0x55 for b in intact[20:200]) + intact[200:]
    for name in ("coinc.xml.gz", "alert.json", "noname"):
        with pytest.raises(formats.Refused, match="gzip"):
            formats.identify(broken, name)
