"""Pipeline candidates to public alerts, end to end with real BAYESTAR runs (`skyspool process`).

One spool (module fixture) takes: ligo.skymap's bundled candidate G197392 (pycbc) and the same
event as seen by a second pipeline (louder, gstlal), and a candidate made with
bayestar-realize-coincs at a time a DQ segment list vetoes. BAYESTAR runs once per candidate.
"""

import json

import pytest

from skyspool import cli, samples, superevents
from skyspool.formats.gwalert import read_alert as read_alert_any
from support import FAST_CONFIG, make_spool

VETOED_GPS = 1128679900.25
CONFIG = FAST_CONFIG | {"orchestrator": {"orchestrator_timeout_s": 1, "second_preliminary_delay_s": 2}}


@pytest.fixture(scope="module")
def pipeline_spool(tmp_path_factory):
    spool = make_spool(tmp_path_factory.mktemp("pipeline") / "spool", CONFIG)
    psd = samples.model_psd()
    g197392 = samples.candidate_files()[0].read_bytes()
    realized = samples.realize_coinc(gps_time=VETOED_GPS, mass1=1.5, mass2=1.3, distance_mpc=300,
                                     ra_rad=1.0, dec_rad=0.3)
    files = {"pycbc.tar": samples.candidate_bundle(g197392, psd),
             "gstlal.tar": samples.candidate_bundle(g197392, psd, program="gstlal_inspiral",
                                                    gps_shift_s=0.01, snr_scale=1.2, far_hz=1e-9),
             "vetoed.tar": samples.candidate_bundle(realized, psd, far_hz=1e-10),
             "dq.json": json.dumps({"dq_segments": "test", "span": [1128678000, 1128690000],
                                    "observing": {"H1": [[1128678000, 1128690000]],
                                                  "L1": [[1128678000, 1128690000]]},
                                    "vetoed": [{"start": VETOED_GPS - 5, "end": VETOED_GPS + 5,
                                                "reason": "scattered light"}]}).encode()}
    for name, data in files.items():
        (spool.inbox / name).write_bytes(data)
    assert cli.main(["process", str(spool.root)]) == 0
    return spool


def _superevent_of(spool, candidate_prefix):
    return next(s for s in superevents.all_states(spool)
                if any(c.startswith(candidate_prefix) for c in s["members"]))


def test_two_pipelines_one_superevent(pipeline_spool):
    state = _superevent_of(pipeline_spool, "gstlal-")
    assert sorted(c.split("-")[0] for c in state["members"]) == ["gstlal", "pycbc"]
    assert state["preferred_event"].startswith("gstlal-")  # louder, both complete
    assert state["history"]
    preliminaries = [a for a in state["alerts"] if a["alert_type"] == "preliminary"]
    assert preliminaries
    # The first preliminary goes with whichever candidate was complete first; the second one
    # carries the new preferred event, unless that was still not complete after the delay.
    first = preliminaries[0]["preferred_event"]
    second = json.loads((pipeline_spool.products / "gwcand" / first / "001-coinc"
                         / "second_preliminary.json").read_text())
    assert (preliminaries[-1]["preferred_event"] == state["preferred_event"]
            or "not complete" in second["reason"])
    labels = superevents.labels(pipeline_spool, state["superevent_id"])
    assert {"SIGNIF_LOCKED", "SKYMAP_READY", "EM_READY", "DQOK"} <= set(labels)
    products = pipeline_spool.products / "gw" / state["superevent_id"] / "001-preliminary"
    notice = json.loads((products / "notice.json").read_text())
    assert notice["event"]["significant"] is True and notice["event"]["pipeline"] in ("gstlal", "pycbc")
    for name in ("skymap.multiorder.fits", "stats.json", "notice.xml", "circular.txt", "skymap.png"):
        assert (products / name).exists()


def test_vetoed_candidate_sends_nothing(pipeline_spool):
    state = _superevent_of(pipeline_spool, "bayestar-realize-coincs-")
    assert state["alerts"] == []
    assert "DQV" in superevents.labels(pipeline_spool, state["superevent_id"])
    assert not (pipeline_spool.spool / "gw" / state["superevent_id"]).exists()


def test_outgoing_json_and_avro_round_trip(pipeline_spool):
    state = _superevent_of(pipeline_spool, "gstlal-")
    sent = state["alerts"][0]
    from_json, from_avro = read_alert_any(sent["json"]), read_alert_any(sent["avro"])
    # Avro spells out the optional fields JSON leaves out (mchirp_source: null).
    assert from_avro.event.pop("mchirp_source") is None
    assert from_json == from_avro and from_json.skymap
    stored = pipeline_spool.entries_of("gw", state["superevent_id"])[0]
    assert read_alert_any(stored.path) == from_json


def test_retraction_by_hand(pipeline_spool, capsys):
    sid = _superevent_of(pipeline_spool, "gstlal-")["superevent_id"]
    assert cli.main(["send", str(pipeline_spool.root), sid, "retraction"]) == 0
    assert cli.main(["process", str(pipeline_spool.root)]) == 0
    entry = pipeline_spool.entries_of("gw", sid)[-1]
    assert entry.alert_type == "retraction"
    assert (pipeline_spool.product(entry, "notice.json")).exists()
    assert cli.main(["send", str(pipeline_spool.root), sid, "update"]) == 1  # retracted
    capsys.readouterr()
    assert cli.main(["status", str(pipeline_spool.root)]) == 0
    table = capsys.readouterr().out
    assert "RETRACTED" in table and "DQV" not in table.split(sid)[0][-200:]
    assert "data quality" in table
