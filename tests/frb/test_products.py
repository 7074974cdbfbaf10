"""Observation files, VOEvents, LOFAR packets, filterbank views, e-mail and the product functions."""

import json
import socket

import numpy as np
import pytest
import voeventparse as vp
import yaml
from astropy.time import Time

from frb_synthetic import (
    PULSE_TSAMP_S,
    Burst,
    amber_text,
    sample_observation,
    synthetic_candidates,
    write_observation,
    write_pulse_filterbank,
)
from skyspool.frb import lofar
from skyspool.frb.amber import make_chunk
from skyspool.frb.observation import ObservationError, dispersion_delay_s, load_observation
from skyspool.frb.products import ConfigError, filterbank_views, process_chunk, summarize_observation
from skyspool.frb.summary import SmtpSettings
from skyspool.frb.voevent_writer import VOEventAuthor, frb_voevent, retraction_voevent
from skyspool.ids import InvalidId
from skyspool.publish import effects

TRIGGER = {"time": 12.5, "dm": 650.0, "snr": 30.0, "width": 4, "cb": 0, "beam": 3, "mw_dm": 28.0,
           "members": 40, "label": "astrophysical-new"}


@pytest.mark.parametrize("change, reason", [
    ({"sampling_time_us": -1}, "sampling_time_us' must be positive"),
    ({"start": "yesterday"}, "not a UTC time"),
    ({"compound_beams": {0: {"ra_deg": 400, "dec_deg": 0}}}, "compound beam 0: 'ra_deg' must lie in"),
    ({"compound_beams": {0: {"dec_deg": 0}}}, "compound beam 0: lacks 'ra_deg'"),
    ({"npol": 3}, "npol"),
    ({"bandwidth_mhz": None}, "bandwidth_mhz' must be a finite number"),
])
def test_invalid_observations_are_refused_with_one_line(tmp_path, change, reason):
    path = tmp_path / "obs.yaml"
    write_observation(path, sample_observation() | change)
    with pytest.raises(ObservationError, match=reason) as info:
        load_observation(path)
    assert "\n" not in str(info.value)


def test_unsafe_observation_id_is_refused(tmp_path):
    path = tmp_path / "obs.yaml"
    write_observation(path, sample_observation() | {"id": "../x"})
    with pytest.raises(InvalidId):
        load_observation(path)


def test_observation_physics(observation_path):
    obs = load_observation(observation_path)
    assert obs.top_frequency_mhz == 1520.0 and obs.sampling_time_s == pytest.approx(81.92e-6)
    # radiometer equation: S/N 10, SEFD 85 Jy, 2 pol, 300 MHz, 1 ms
    assert obs.flux_jy(10, 1e-3 / obs.sampling_time_s) == pytest.approx(10 * 85 / np.sqrt(2 * 300e6 * 1e-3))
    assert dispersion_delay_s(obs.dm_error(4), 1220, 1520) == pytest.approx(4 * 81.92e-6)


def test_frb_voevents_are_valid_with_update_and_retraction(observation_path):
    obs = load_observation(observation_path)
    pub = VOEventAuthor()
    detection = frb_voevent(TRIGGER, obs, pub, "obs_1", importance=0.8)
    assert vp.valid_as_v2_0(detection) and detection.attrib["role"] == "observation"
    params = vp.get_grouped_params(detection)
    assert float(params["event parameters"]["dm"]["value"]) == 650.0
    assert float(params["event parameters"]["flux"]["value"]) > 0
    assert params["advanced parameters"]["MW_dm_limit"]["value"] == "28.0"
    assert detection.WhereWhen.ObsDataLocation.ObservationLocation.AstroCoords.Time.TimeInstant.ISOTime == \
        "2024-01-01T12:00:12.500000"
    update = frb_voevent(TRIGGER | {"dm": 651.0}, obs, pub, "obs_1b", importance=0.8,
                         supersedes=pub.ivorn("obs_1"))
    assert update.Citations.EventIVORN.attrib["cite"] == "supersedes"
    retraction = retraction_voevent(pub.ivorn("obs_1"), obs, pub, "obs_1c", "RFI after inspection")
    assert vp.valid_as_v2_0(retraction)
    assert retraction.Citations.EventIVORN == pub.ivorn("obs_1")
    assert retraction.Citations.EventIVORN.attrib["cite"] == "retraction"


def test_test_observations_give_test_voevents(tmp_path):
    path = tmp_path / "obs.yaml"
    write_observation(path, sample_observation(test=True))
    v = frb_voevent(TRIGGER, load_observation(path), VOEventAuthor(), "t_1", importance=0.5)
    assert v.attrib["role"] == "test" and vp.valid_as_v2_0(v)


def test_lofar_packet_round_trip_and_udp():
    arrival = Time("2024-01-01T12:00:12.5", scale="utc")
    stop = lofar.stop_time(arrival, 500.0, 1520.0)
    assert (stop - arrival).sec == pytest.approx(4.148808e3 * 500 * (200 ** -2 - 1520 ** -2) + 2.5)
    packet = lofar.pack(stop, 500.04, test=True)
    assert len(packet) == 11 and packet[:2] == b"\x99\xa0" and packet[-1:] == b"T"
    decoded = lofar.unpack(packet)
    assert decoded.dm == 500.0 and decoded.test
    assert decoded.stop_s + decoded.stop_ms / 1000 == pytest.approx(stop.unix, abs=5e-4)
    with pytest.raises(lofar.PacketError):
        lofar.unpack(b"\x00" * 11)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)
        lofar.send(packet, "127.0.0.1", server.getsockname()[1])
        assert server.recv(64) == packet


def _spool(tmp_path, bursts, **kwargs):
    """An AMBER file written in two appends and cut into two chunks, as the daemon does."""
    text = amber_text(synthetic_candidates(bursts, **kwargs))
    follow = tmp_path / "CB00_step1.trigger"
    half = text.index(b"\n", len(text) // 2) + 1
    follow.write_bytes(text[:half])
    chunk1, offset = make_chunk(follow, 0)
    follow.write_bytes(text)
    chunk2, _ = make_chunk(follow, offset)
    paths = [tmp_path / "001-candidates.trigger", tmp_path / "002-candidates.trigger"]
    for path, chunk in zip(paths, (chunk1, chunk2)):
        path.write_bytes(chunk)
    return paths


def test_chunks_to_triggers_and_observation_summary(tmp_path, observation_path, source_list_path):
    bursts = [Burst(100.0, 700.0, 15.0), Burst(110.0, 900.0, 30.0), Burst(500.0, 1500.0, 16.0)]
    chunks = _spool(tmp_path, bursts, n_noise=3000, n_rfi=3)
    out = tmp_path / "products"
    docs, previous = [], None
    for chunk in chunks:
        docs.append(process_chunk(chunk, observation_path, source_list_path, out / chunk.stem,
                                  {"plot": False}, previous_triggers=previous))
        previous = out / chunk.stem / "triggers.json"
    triggers = [t for d in docs for t in d["triggers"]]
    assert [round(t["dm"]) for t in triggers] == [700, 900, 1500]
    # DARC's policy: a VOEvent only with the LOFAR trigger
    assert [(t["dump"], t["lofar"], t["voevent"]) for t in triggers] == [
        (True, False, False), (False, True, True), (True, False, False)]
    first = next(d for d in docs if d["triggers"])
    chunk_dir = out / first["chunk"]
    assert (chunk_dir / "clusters.csv").read_text().startswith(
        "cb,beam,time,dm,snr,width,members,sb_period,mw_dm,label,reason")
    assert sorted(p.name for p in (chunk_dir / "triggers").iterdir()) == ["trigger-2.tbb", "trigger-2.xml"]
    assert vp.valid_as_v2_0(vp.load(open(chunk_dir / "triggers" / "trigger-2.xml", "rb")))
    tbb = [p for d in docs for p in (out / d["chunk"]).glob("triggers/*.tbb")]
    assert len(tbb) == 1 and lofar.unpack(tbb[0].read_bytes()).dm == 900.0

    summary = summarize_observation(chunks, [out / c.stem / "triggers.json" for c in chunks], observation_path,
                                    source_list_path, out / "observation")
    assert len(summary["triggers"]) == 3 and summary["labels"]["astrophysical-new"] == 3
    page = (out / "observation" / "summary.html").read_text()
    assert "20240101-0001" in page and 'src="candidates.png"' in page
    assert (out / "observation" / "candidates.png").read_bytes()[:4] == b"\x89PNG"


def test_summary_is_emailed_through_a_local_smtp_server(tmp_path, observation_path, source_list_path,
                                                         monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    chunks = _spool(tmp_path, [Burst(100.0, 700.0, 15.0)], n_noise=200, n_rfi=0)
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        email = {"host": "127.0.0.1", "port": port, "sender": "frb@test", "to": ["team@test"]}
        # the job writes the summary and the e-mail as an intent; it sends nothing itself
        summarize_observation(chunks, [], observation_path, source_list_path, tmp_path / "obs", {"email": email})
        [item] = json.loads((tmp_path / "obs" / "effects.json").read_text())["effects"]
        assert (item["key"], item["type"], item["attachments"]) == ("summary.email", "email", ["candidates.png"])
        assert (tmp_path / "obs" / "summary.html").exists() and received == []
        # its effect handler sends it (after the run)
        assert effects.send_email_intent(tmp_path / "obs", item) == {"to": ["team@test"]}
    finally:
        controller.stop()
    assert len(received) == 1
    message = received[0]
    assert message["To"] == "team@test" and "20240101-0001" in message["Subject"]
    parts = [p.get_content_type() for p in message.walk()]
    assert "text/html" in parts and "image/png" in parts
    with pytest.raises(ValueError, match="recipient"):
        SmtpSettings.from_config({"host": "x"})


def test_unknown_settings_are_refused(tmp_path, observation_path, source_list_path):
    chunks = _spool(tmp_path, [], n_noise=10, n_rfi=0)
    with pytest.raises(ConfigError, match="clustering.time"):
        process_chunk(chunks[0], observation_path, source_list_path, tmp_path / "p", {"clustering": {"time": 1}})


def test_filterbank_cutout_recovers_the_injected_dm(tmp_path, observation_path):
    start_offset, dm, t0 = 10.0, 420.0, 2.0  # the file starts 10 s into the observation
    fil = tmp_path / "007-filterbank_cb00.fil"  # named as its spool entry
    start = Time(yaml.safe_load(observation_path.read_text())["start"], scale="utc").mjd + start_offset / 86400
    write_pulse_filterbank(fil, start, dm=dm, time_s=t0)
    # AMBER's DM is off by 15 and its width is in the file's samples
    triggers = tmp_path / "triggers.json"
    triggers.write_text(json.dumps({"chunk": "001-candidates", "triggers": [
        {"n": 1, "cb": 0, "time": start_offset + t0, "dm": dm - 15, "width": 2, "snr": 30.0},
        {"n": 2, "cb": 0, "time": 500.0, "dm": dm, "width": 2, "snr": 30.0},
        {"n": 3, "cb": 1, "time": start_offset + t0, "dm": dm, "width": 2, "snr": 30.0}]}))
    result = filterbank_views(triggers, fil, observation_path, tmp_path / "fil")
    assert [t["n"] for t in result["triggers"]] == [1]  # the others lie outside the file or beam
    view = result["triggers"][0]
    assert abs(view["best_dm"] - dm) <= 2 * (dm - 15) / 255  # one step of the DM-time grid
    assert abs(view["best_time"] - (start_offset + t0)) < 2 * PULSE_TSAMP_S
    assert (tmp_path / "fil" / "trigger-1.png").read_bytes()[:4] == b"\x89PNG"
