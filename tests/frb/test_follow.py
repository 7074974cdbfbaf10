"""FRB observations through the real watch daemon: growing AMBER files followed and cut into spool
chunks, VOEvents, triggers.json, LOFAR packets by UDP to a loopback socket, the summary e-mailed to
a local SMTP server after the stop file; a restart resumes following; no growth ends an observation.
"""

from __future__ import annotations

import json

import pytest
import voeventparse as vp
import yaml

from frb_synthetic import Burst, amber_text, sample_observation, synthetic_candidates
from skyspool import cli, coincidence, config, formats, ingest
from skyspool.frb import lofar
from skyspool.frb.amber import chunk_mark
from skyspool.paths import Spool
from support import CORPUS, make_spool
from test_daemon import Watch, wait_for

SOURCE_LIST = CORPUS / "frb" / "amber" / "source_list.yaml"


def _drop(spool: Spool, name: str, text: str) -> None:
    source = spool.root.parent / name
    source.write_text(text)
    ingest.put_in_inbox(spool, source)


def _observation(obs_id: str, amber_dir, cb: int = 0) -> str:
    doc = sample_observation(obs_id, mw_dm_max=40.0, cbs=(cb,))
    doc["candidate_files"] = [str(amber_dir / "CB*_step*.trigger")]
    return yaml.safe_dump(doc, sort_keys=False)


def _entries(spool: Spool, obs_id: str, alert_type: str):
    return [e for e in spool.entries_of("frb", obs_id) if e.alert_type == alert_type]


def _chunk_lines(spool: Spool, obs_id: str, source: str) -> list[bytes]:
    """The candidate lines the spool's chunks of ``source`` hold, in order."""
    lines = []
    for entry in _entries(spool, obs_id, "candidates"):
        data = entry.path.read_bytes()
        if chunk_mark(data)["source"] == source:
            lines += [line for line in data.splitlines() if line and not line.startswith(b"#")]
    return lines


def _file_lines(path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines(keepends=True)
            if line.endswith(b"\n") and not line.startswith(b"#")]


def _triggers(spool: Spool, obs_id: str) -> list[dict]:
    found = []
    for entry in _entries(spool, obs_id, "candidates"):
        if not spool.product(entry, "triggers.json").exists():
            continue  # not built yet
        doc = json.loads(spool.product(entry, "triggers.json").read_text())
        found += [t | {"dir": spool.products_dir(entry)} for t in doc["triggers"]]
    return found


def test_daemon_follows_a_growing_amber_file_to_voevents_lofar_and_summary(tmp_path, smtp_server, udp_socket):
    smtp_port, mails = smtp_server
    spool = make_spool(tmp_path / "spool", {"frb": {
        "lofar": {"send": True, "host": "127.0.0.1", "port": udp_socket.getsockname()[1]},
        "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "frb@test", "to": ["team@test"]},
        "follow": {"timeout_s": 3600, "poll_s": 0.5}}})
    amber_dir = tmp_path / "amber"
    amber_dir.mkdir()
    amber = amber_dir / "CB00_step1.trigger"
    noise = synthetic_candidates([], duration_s=50, n_noise=300, n_rfi=1, seed=1)
    text = amber_text(noise)
    amber.write_bytes(text[:len(text) // 2].rsplit(b"\n", 1)[0] + b"\n")
    watch = Watch(spool)
    try:
        _drop(spool, "sources.yaml", SOURCE_LIST.read_text())
        _drop(spool, "obs.yaml", _observation("20240101-0001", amber_dir))
        wait_for(lambda: "follow-started" in watch.text(), "following")
        wait_for(lambda: any(spool.product(e, "triggers.json").exists()
                             for e in _entries(spool, "20240101-0001", "candidates")), "first chunk built")

        # The rest of the noise, then a bright burst, the last line written in two pieces.
        burst = synthetic_candidates([Burst(60.0, 700.0, 30.0)], duration_s=0, n_noise=0, n_rfi=0, seed=2)
        burst_text = amber_text(burst, header=False)
        with open(amber, "ab") as handle:
            handle.write(text[len(amber.read_bytes()):])
            handle.flush()
            handle.write(burst_text[:-5])
            handle.flush()
            wait_for(lambda: len(_chunk_lines(spool, "20240101-0001", amber.name))
                     == len(_file_lines(amber)), "complete lines stored")
            handle.write(burst_text[-5:])
        wait_for(lambda: _triggers(spool, "20240101-0001"), "a trigger")

        triggers = _triggers(spool, "20240101-0001")
        assert len(triggers) == 1
        trigger = triggers[0]
        assert abs(trigger["dm"] - 700.0) <= 0.2 and abs(trigger["time"] - 60.0) < 0.01
        assert trigger["label"] == "astrophysical-new" and trigger["lofar"] and trigger["dump"]
        event = vp.load(open(trigger["dir"] / trigger["voevent_file"], "rb"))
        assert vp.valid_as_v2_0(event) and event.attrib["role"] == "observation"
        assert float(vp.get_grouped_params(event)["event parameters"]["dm"]["value"]) == trigger["dm"]
        packet = (trigger["dir"] / trigger["tbb_file"]).read_bytes()
        assert udp_socket.recv(64) == packet and lofar.unpack(packet).dm == round(trigger["dm"], 1)

        _drop(spool, "stop.yaml", "stop: 20240101-0001\nreason: end of the test observation\n")
        wait_for(lambda: _entries(spool, "20240101-0001", "stop")
                 and spool.product(_entries(spool, "20240101-0001", "stop")[0], "summary.html").exists(),
                 "observation summary")
        wait_for(lambda: len(mails) == 2, "the LOFAR trigger's and the summary's e-mails")
    finally:
        assert watch.stop() == 0, watch.text()

    # Every complete line of the file is in exactly one chunk, in order; nothing was quarantined.
    assert _chunk_lines(spool, "20240101-0001", amber.name) == [line.rstrip(b"\n") for line in _file_lines(amber)]
    assert not list(spool.quarantine.iterdir())
    stop = _entries(spool, "20240101-0001", "stop")[0]
    summary = json.loads(spool.product(stop, "triggers.json").read_text())
    assert len(summary["triggers"]) == 1 and summary["candidates"] == len(_file_lines(amber))
    assert "20240101-0001" in spool.product(stop, "summary.html").read_text()
    assert mails[0]["To"] == "team@test" and mails[0]["Subject"].startswith("LOFAR trigger: FRB observation 20240101-0001")
    assert mails[1]["To"] == "team@test" and "1 trigger" in mails[1]["Subject"]
    assert _entries(spool, "known-sources", "source_list")


def test_restart_resumes_following_and_no_growth_ends_the_observation(tmp_path, capsys):
    spool = make_spool(tmp_path / "spool", {"frb": {"plot": False, "follow": {"timeout_s": 3600}}})
    amber_dir = tmp_path / "amber"
    amber_dir.mkdir()
    amber = amber_dir / "CB03_step1.trigger"
    text = amber_text(synthetic_candidates([], duration_s=30, n_noise=200, n_rfi=0, seed=3))
    cut = text.index(b"\n", len(text) // 3) + 1
    amber.write_bytes(text[:cut])
    watch = Watch(spool)
    try:
        _drop(spool, "obs.yaml", _observation("20240102-0002", amber_dir, cb=3))
        wait_for(lambda: _entries(spool, "20240102-0002", "candidates"), "first chunk")
    finally:
        assert watch.stop() == 0, watch.text()
    with open(amber, "ab") as handle:  # written while no daemon runs
        handle.write(text[cut:])
    spool.config_file.write_text(yaml.safe_dump({"frb": {"plot": False, "follow": {"timeout_s": 2}}}))
    watch = Watch(spool)
    try:
        wait_for(lambda: _entries(spool, "20240102-0002", "stop"), "stop after no growth")
        stop = _entries(spool, "20240102-0002", "stop")[0]
        wait_for(lambda: spool.product(stop, "summary.html").exists(), "summary")
    finally:
        assert watch.stop() == 0, watch.text()
    assert "no candidate file grew" in stop.path.read_text()
    assert _chunk_lines(spool, "20240102-0002", amber.name) == [line.rstrip(b"\n") for line in _file_lines(amber)]
    assert cli.main(["status", str(spool.root)]) == 0
    table = capsys.readouterr().out
    assert "20240102-0002" in table and "ended" in table


@pytest.mark.parametrize("name, text, reason", [
    ("CB00_step1.trigger", "# beam_id integration_step time DM SNR\n1 1 0.5 10 12\n", "name no observation"),
    ("chunk.trigger", "#! skyspool-frb source=CB00.trigger offset=0 observation=x\n# integration_step time DM SNR\n"
     "1 0.5 -1 12\n", "negative time or DM"),
    ("obs.yaml", "id: a\nstart: yesterday\n", "not a UTC time"),
    ("obs.yaml", "id: [unclosed\n", "not valid YAML"),
    ("stop.yaml", "stop: ../etc\n", "unsafe event id"),
    ("sources.yaml", "pulsars: {B0329+54: -3}\n", "DM must be a number >= 0"),
    ("obs.yaml", yaml.safe_dump(sample_observation("known-sources")), "known-source lists are kept"),
])
def test_bad_frb_inputs_are_refused_with_a_reason(name, text, reason):
    with pytest.raises(formats.Refused, match=reason):
        formats.identify(text.encode(), name)


def test_frb_inputs_are_identified():
    assert formats.identify(SOURCE_LIST.read_bytes(), "source_list.yaml") == formats.Message(
        "frb", "known-sources", "source_list", "yaml")
    assert formats.identify(b"stop: obs-1\n", "x.yml").alert_type == "stop"
    chunk = b"#! skyspool-frb source=CB00_step1.trigger offset=0 observation=obs-1\n" + \
        (CORPUS / "frb" / "amber" / "CB00_step3.trigger").read_bytes()
    assert formats.identify(chunk, "CB00_step1.trigger") == formats.Message("frb", "obs-1", "candidates", "trigger")


def test_gw_coincidences_pass_over_frb_observations(tmp_path):
    spool = make_spool(tmp_path / "spool")
    settings = config.load(spool)
    observation = yaml.safe_dump(sample_observation("20240103-0003")).encode()
    assert ingest.store_bytes(spool, observation, "obs.yaml").entry is not None
    alert = ingest.store_bytes(spool, (CORPUS / "gw" / "alerts" / "S230520ae-Preliminary_alert.json").read_bytes(),
                               "alert.json").entry
    assert coincidence.external_partners(spool, alert, settings) == []
