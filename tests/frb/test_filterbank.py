"""Filterbank data of FRB observations: SIGPROC ``.fil`` files taken from the inbox (header checked,
their own size limit), and each trigger's dedispersed views built whichever of the filterbank and
the trigger arrives first (through `skyspool process` and the watch daemon); what a chunk sends
(LOFAR UDP packet, summary e-mail) is sent once, even when its products are rebuilt.
"""

from __future__ import annotations

import json
import socket
import struct

import pytest
import yaml
from astropy.time import Time

from frb_synthetic import Burst, amber_text, sample_observation, synthetic_candidates, write_pulse_filterbank
from skyspool import cli, ingest
from skyspool.frb.amber import make_chunk
from skyspool.paths import Spool
from support import make_spool
from test_daemon import Watch, entries_status, wait_for

OBS = "20240301-0007"
BURST_DM, BURST_TIME_S = 500.0, 12.0  # the file starts FILE_START_S into the observation
FILE_START_S = 10.0
VIEW_DM_STEP = 2 * BURST_DM / 255  # one step of the views' DM-time grid (0 to 2 x the trigger's DM)


def _drop(spool: Spool, name: str, data: bytes) -> None:
    source = spool.root.parent / name
    source.write_bytes(data)
    ingest.put_in_inbox(spool, source)


def _observation() -> bytes:
    return yaml.safe_dump(sample_observation(OBS, mw_dm_max=40.0, cbs=(0,)), sort_keys=False).encode()


def _chunk(tmp_path, bursts, seed=1) -> bytes:
    """A candidate chunk of compound beam 0 as the daemon cuts it: noise and the ``bursts``."""
    amber = tmp_path / "CB00_step1.trigger"
    amber.write_bytes(amber_text(synthetic_candidates(bursts, duration_s=30, n_noise=100, n_rfi=0, seed=seed)))
    return make_chunk(amber, 0, observation=OBS)[0]


def _filterbank(tmp_path) -> bytes:
    path = tmp_path / "pulse.fil"
    start = Time(sample_observation(OBS)["start"], scale="utc").mjd + FILE_START_S / 86400
    write_pulse_filterbank(path, start, dm=BURST_DM, time_s=BURST_TIME_S - FILE_START_S)
    return path.read_bytes()


def _views(spool: Spool) -> list:
    """The views.json files of the observation's chunks."""
    return sorted((spool.products / "frb" / OBS).glob("*-candidates/*-filterbank_cb00/views.json"))


def _check_views(spool: Spool) -> None:
    [path] = _views(spool)
    views = json.loads(path.read_text())
    [view] = views["triggers"]
    [filterbank] = [e for e in spool.entries_of("frb", OBS) if e.alert_type == "filterbank_cb00"]
    assert views["filterbank"] == filterbank.path.name and path.parent.name == filterbank.name
    assert abs(view["best_dm"] - BURST_DM) <= VIEW_DM_STEP
    assert abs(view["best_time"] - BURST_TIME_S) < 0.01
    assert (path.parent / view["plot"]).read_bytes()[:4] == b"\x89PNG"


# ----- the format -----

def _header(**values) -> bytes:
    """A SIGPROC header with the given keywords (strings, ints, floats) over good defaults."""
    values = {"source_name": "test", "data_type": 1, "nchans": 16, "nbits": 8, "nifs": 1, "tsamp": 3.2768e-4,
              "tstart": 60370.5, "fch1": 1520.0, "foff": -18.75} | values

    def string(text):
        return struct.pack("<i", len(text)) + text.encode()

    out = string("HEADER_START")
    for key, value in values.items():
        if value is not None:
            out += string(key) + (string(value) if isinstance(value, str) else
                                  struct.pack("<i" if isinstance(value, int) else "<d", value))
    return out + string("HEADER_END")


@pytest.mark.parametrize("name, data, reason", [
    ("x_CB00.fil", _header(nchans=0) + bytes(16), "nchans 0 is out of range"),
    ("x_CB00.fil", _header(nbits=3) + bytes(16), "nbits 3"),
    ("x_CB00.fil", _header(tsamp=-1.0) + bytes(16), "tsamp -1.0 s is out of range"),
    ("x_CB00.fil", _header(foff=-120.0) + bytes(16), "band reaches"),
    ("x_CB00.fil", _header(tstart=None) + bytes(16), "lacks tstart"),
    ("x_CB00.fil", _header(colour=1) + bytes(16), "unknown keyword 'colour'"),
    ("x_CB00.fil", _header() + bytes(33), "not a whole number of 16-channel 8-bit spectra"),
    ("x_CB00.fil", _header(), "no data after its header"),
    ("x_CB00.fil", _header()[:40], "cut short"),
    ("x_CB00.fil", b"SIMPLE  = T" + bytes(100), "not a SIGPROC filterbank"),
    ("pulse.fil", _header() + bytes(32), "must say its observation and compound beam"),
])
def test_bad_filterbank_files_are_quarantined_with_a_reason(tmp_path, name, data, reason):
    spool = make_spool(tmp_path / "spool")
    _drop(spool, name, data)
    [outcome] = ingest.take_inbox(spool)
    assert outcome.status == "quarantined" and reason in outcome.reason, outcome.reason
    assert len(list(spool.quarantine.iterdir())) == 2  # the file and its one-line reason


def test_filterbank_files_have_their_own_size_limit_and_are_stored_once(tmp_path):
    spool = make_spool(tmp_path / "spool")
    data = _header() + bytes(16 * 1000)
    _drop(spool, f"{OBS}_CB07.fil", data)
    _drop(spool, "alert.json", b"{" + b" " * 20000 + b"}")
    outcomes = {o.source: o for o in ingest.take_inbox(spool, max_bytes=10000)}
    assert "too large" in outcomes["alert.json"].reason  # max_input_bytes still holds for the rest
    entry = outcomes[f"{OBS}_CB07.fil"].entry
    assert entry.path.name == "001-filterbank_cb07.fil" and entry.path.read_bytes() == data
    _drop(spool, f"{OBS}.CB07.fil", data)
    [again] = ingest.take_inbox(spool, max_bytes=10000)
    assert again.status == "duplicate" and again.entry == entry
    assert not [p for p in entry.path.parent.iterdir() if p.name.startswith(".")]  # no copy left behind


# ----- views of the triggers -----

def test_filterbank_first_then_triggers_through_process(tmp_path):
    spool = make_spool(tmp_path / "spool", {"frb": {"plot": False}})
    _drop(spool, "obs.yaml", _observation())
    _drop(spool, f"{OBS}_CB00.fil", _filterbank(tmp_path))
    assert cli.main(["process", str(spool.root)]) == 0
    assert not _views(spool)  # no trigger yet
    _drop(spool, "chunk.trigger", _chunk(tmp_path, [Burst(BURST_TIME_S, BURST_DM, 30.0)]))
    assert cli.main(["process", str(spool.root)]) == 0
    _check_views(spool)


def test_triggers_first_then_filterbank_through_the_daemon(tmp_path):
    spool = make_spool(tmp_path / "spool", {"frb": {"plot": False}})
    watch = Watch(spool)
    try:
        _drop(spool, "obs.yaml", _observation())
        _drop(spool, "chunk.trigger", _chunk(tmp_path, [Burst(BURST_TIME_S, BURST_DM, 30.0)]))
        wait_for(lambda: list((spool.products / "frb" / OBS).glob("*-candidates/triggers.json")), "the trigger")
        _drop(spool, f"{OBS}_CB00.fil", _filterbank(tmp_path))
        wait_for(lambda: _views(spool), "the trigger's views")
    finally:
        assert watch.stop() == 0, watch.text()
    assert "filterbank-views" in watch.text()
    _check_views(spool)


# ----- sent once -----

def test_a_rebuilt_chunk_does_not_send_again(tmp_path, smtp_server, udp_socket):
    smtp_port, mails = smtp_server
    spool = make_spool(tmp_path / "spool", {"frb": {
        "plot": False, "lofar": {"send": True, "host": "127.0.0.1", "port": udp_socket.getsockname()[1]},
        "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "frb@test", "to": ["team@test"]}}})
    _drop(spool, "obs.yaml", _observation())
    _drop(spool, "chunk.trigger", _chunk(tmp_path, [Burst(BURST_TIME_S, 700.0, 30.0)]))
    _drop(spool, "stop.yaml", f"stop: {OBS}\n".encode())
    assert cli.main(["process", str(spool.root)]) == 0
    [chunk] = [e for e in spool.entries_of("frb", OBS) if e.alert_type == "candidates"]
    [trigger] = json.loads(spool.product(chunk, "triggers.json").read_text())["triggers"]
    packet = spool.products_dir(chunk) / trigger["tbb_file"]
    # DARC e-mails when a LOFAR trigger goes out; the summary is the second e-mail
    assert udp_socket.recv(64) == packet.read_bytes() and len(mails) == 2
    assert sorted(m["Subject"].split(":")[0] for m in mails) == [f"FRB observation {OBS}", "LOFAR trigger"]
    built = packet.stat().st_mtime_ns

    assert cli.main(["reprocess", str(spool.root), "--kind", "frb"]) == 0
    assert packet.stat().st_mtime_ns > built  # rebuilt...
    udp_socket.settimeout(2)
    with pytest.raises(socket.timeout):  # ... but not sent again
        udp_socket.recv(64)
    assert len(mails) == 2
    # the one receipt of what went out (skyspool.publish.effects), per entry
    [stop] = [e for e in spool.entries_of("frb", OBS) if e.alert_type == "stop"]
    sent = {entry.alert_type: [(item["key"], item["what"]) for item in json.loads(
        spool.publish_receipt(entry, "messages").read_text())["sent"]] for entry in (chunk, stop)}
    port = udp_socket.getsockname()[1]
    assert sent == {"candidates": [("trigger-1.tbb", f"trigger 1: LOFAR TBB packet to 127.0.0.1:{port}"),
                                   ("trigger-1.email", "trigger 1: LOFAR trigger e-mail to team@test")],
                    "stop": [("summary.email", "summary e-mail to team@test")]}
    [status] = [e for e in entries_status(spool) if e["entry"] == chunk.name]
    assert status["products_done"] == status["products_expected"] and not status["missing"]
