"""Pipeline candidates to public alerts, end to end with real BAYESTAR runs (`skyspool process`).

One spool (module fixture) takes: ligo.skymap's bundled candidate G197392 (pycbc) and the same
event as seen by a second pipeline (louder, gstlal) and then by cWB (a burst, with its own sky map);
a candidate made with bayestar-realize-coincs at a time a DQ segment list vetoes; G197392 again
later as a gstlal candidate with its ranking data and a FAR between the less-significant and
significant thresholds, and again as one above both; and a cWB burst on its own. BAYESTAR runs
once per CBC candidate. One test has a spool of its own: an early-warning candidate, then an
all-sky one of the same injection (made with bayestar-realize-coincs).
"""

import json

import pytest

import gwcand_samples as samples
from skyspool import cli, superevents
from skyspool.formats.gwalert import read_alert as read_alert_any
from support import FAST_CONFIG, make_spool

VETOED_GPS = 1128679900.25
G197392_GPS = 1128678900.4443
EARLY_WARNING_GPS = 1128680400.25
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
             # 7 x FAR above 1/30 days, FAR under 2/day: less-significant
             "lowsig.tar": samples.candidate_bundle(g197392, psd, program="gstlal_inspiral", gps_shift_s=300,
                                                    far_hz=1e-6, ln_likelihood_ratio=8.0,
                                                    ranking=samples.ranking_data()),
             # the case: a noise-level candidate (FAR 1e-3 Hz, louder) beside the
             # less-significant one: above the FAR gate, it must not take its alert away
             "noise-beside-lowsig.tar": samples.candidate_bundle(g197392, psd, gps_shift_s=300.02, snr_scale=1.1,
                                                                 far_hz=1e-3),
             # an SSM search's candidate: 3 x FAR <= 1/year
             "ssm.tar": samples.candidate_bundle(g197392, psd, program="MBTAOnline", gps_shift_s=1200,
                                                 far_hz=1e-10, meta={"search": "SSM"}),
             # below the superevent FAR gate (1/hour), above every alert threshold
             "noise.tar": samples.candidate_bundle(g197392, psd, gps_shift_s=600, far_hz=1e-4),
             "cwb-alone.tar": samples.burst_bundle(gps_time=G197392_GPS + 900, duration_s=0.3, far_hz=1e-9),
             "dq.json": json.dumps({"dq_segments": "test", "span": [1128678000, 1128690000],
                                    "observing": {"H1": [[1128678000, 1128690000]],
                                                  "L1": [[1128678000, 1128690000]]},
                                    "vetoed": [{"start": VETOED_GPS - 5, "end": VETOED_GPS + 5,
                                                "reason": "scattered light"}]}).encode()}
    for name, data in files.items():
        (spool.inbox / name).write_bytes(data)
    assert cli.main(["process", str(spool.root)]) == 0
    # cWB's view of G197392, once the CBC candidates are complete (a complete candidate
    # outranks an incomplete one): more detectors and a lower FAR, still not preferred.
    (spool.inbox / "cwb-with-cbc.tar").write_bytes(samples.burst_bundle(
        gps_time=G197392_GPS + 0.05, duration_s=0.3, far_hz=1e-12, instruments=("H1", "L1", "V1")))
    assert cli.main(["process", str(spool.root)]) == 0
    return spool


def _superevent_of(spool, candidate_prefix):
    return next(s for s in superevents.all_states(spool)
                if any(c.startswith(candidate_prefix) for c in s["members"]))


def test_two_pipelines_one_superevent(pipeline_spool):
    state = _superevent_of(pipeline_spool, "pycbc-1128678900")
    # cWB's burst joins too, and loses to the CBC candidates though more significant
    assert sorted(c.split("-")[0] for c in state["members"]) == ["CWB", "gstlal", "pycbc"]
    assert state["preferred_event"].startswith("gstlal-")  # louder, both complete
    burst = json.loads((pipeline_spool.products / "gwcand" / f"CWB-{G197392_GPS + 0.05:.4f}" / "001-burst"
                        / "orchestrator.json").read_text())
    assert burst["sent"] is None and burst["preferred_event"] == state["preferred_event"]
    assert state["history"]
    preliminaries = [a for a in state["alerts"] if a["alert_type"] == "preliminary"]
    assert preliminaries
    # The first preliminary goes with the preferred event once settled; the second one (sent
    # by default, as GWCelery does) carries the preferred event then.
    assert len(preliminaries) == 2 and all(a["significant"] for a in preliminaries)
    assert preliminaries[-1]["preferred_event"] == state["preferred_event"]
    decisions = superevents.decisions(pipeline_spool, state["superevent_id"])
    assert [d["step"] for d in decisions].count("assign") == 3
    assert {d["rule"] for d in decisions if d["step"] == "second_preliminary"} == {"second_preliminary"}
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
    state = _superevent_of(pipeline_spool, "pycbc-1128678900")
    sent = state["alerts"][0]
    from_json, from_avro = read_alert_any(sent["json"]), read_alert_any(sent["avro"])
    # Avro spells out the optional fields JSON leaves out (mchirp_source: null).
    assert from_avro.event.pop("mchirp_source") is None
    assert from_json == from_avro and from_json.skymap
    stored = pipeline_spool.entries_of("gw", state["superevent_id"])[0]
    assert read_alert_any(stored.path) == from_json


def test_retraction_by_hand(pipeline_spool, capsys):
    sid = _superevent_of(pipeline_spool, "pycbc-1128678900")["superevent_id"]
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
    # each candidate's rule, as in its superevent's decisions.jsonl
    assert "no superevent: [superevent_far_threshold] FAR 0.001 Hz above" in table
    assert "[dq_veto]" in table and "[below_thresholds]" in table


def test_less_significant_candidate_sends_less_significant_preliminary(pipeline_spool):
    state = _superevent_of(pipeline_spool, "gstlal-1128679200")
    # GWCelery sends a second less-significant preliminary unless advocates were asked
    assert [(a["alert_type"], a["significant"]) for a in state["alerts"]] == [("preliminary", False)] * 2
    labels = set(superevents.labels(pipeline_spool, state["superevent_id"]))
    assert {"LOW_SIGNIF_LOCKED", "LOW_SIGNIF_PRELIM_SENT", "SKYMAP_READY", "EM_READY"} <= labels
    assert not labels & {"SIGNIF_LOCKED", "GCN_PRELIM_SENT", "ADVREQ"}
    # the louder noise-level candidate joined no superevent (GWCelery's 1/hour FAR gate)
    assert list(state["members"]) == [state["preferred_event"]]
    noise = json.loads((pipeline_spool.products / "gwcand" / f"pycbc-{G197392_GPS + 300.02:.4f}" / "001-coinc"
                        / "orchestrator.json").read_text())
    assert noise["superevent_id"] is None and noise["rule"] == "superevent_far_threshold"
    products = pipeline_spool.products / "gw" / state["superevent_id"] / "001-preliminary"
    notice = json.loads((products / "notice.json").read_text())
    assert notice["event"]["significant"] is False and notice["event"]["far_hz"] == pytest.approx(1e-6)
    # p_astro from its ranking data, carried into the alert
    candidate = pipeline_spool.products / "gwcand" / state["preferred_event"] / "001-coinc"
    classification = json.loads((candidate / "classification.json").read_text())
    assert classification["p_astro_method"].startswith("ranking data")
    alert = read_alert_any(state["alerts"][0]["json"])
    assert alert.event["classification"] == pytest.approx(classification["p_astro"])


def test_candidate_below_both_thresholds_sends_nothing(pipeline_spool):
    state = _superevent_of(pipeline_spool, "pycbc-1128679500")
    assert state["alerts"] == [] and not (pipeline_spool.spool / "gw" / state["superevent_id"]).exists()
    decision = json.loads((pipeline_spool.products / "gwcand" / state["preferred_event"] / "001-coinc"
                           / "orchestrator.json").read_text())
    assert decision["rule"] == "below_thresholds" and "above every alert threshold" in decision["reason"]
    assert not {"SIGNIF_LOCKED", "LOW_SIGNIF_LOCKED"} & set(superevents.labels(pipeline_spool,
                                                                               state["superevent_id"]))


def test_burst_alone_uses_its_own_skymap(pipeline_spool):
    state = _superevent_of(pipeline_spool, "CWB-1128679800")
    assert state["t_end"] - state["t_start"] == pytest.approx(0.3)  # its duration, no CBC window
    assert [(a["alert_type"], a["significant"]) for a in state["alerts"]] == [("preliminary", True)] * 2
    candidate = pipeline_spool.products / "gwcand" / state["preferred_event"] / "001-burst"
    assert (candidate / "skymap.multiorder.fits").exists() and not (candidate / "bayestar.multiorder.fits").exists()
    alert = read_alert_any(state["alerts"][0]["json"])
    assert alert.event["group"] == "Burst" and alert.event["pipeline"] == "CWB"
    assert alert.event["duration"] == pytest.approx(0.3) and alert.event["central_frequency"] == 150
    assert alert.skymap == (candidate / "skymap.multiorder.fits").read_bytes()
    products = pipeline_spool.products / "gw" / state["superevent_id"] / "001-preliminary"
    assert json.loads((products / "stats.json").read_text())["area90_deg2"] > 0
    assert (products / "notice.json").exists()


def test_ssm_alert_carries_has_ssm_and_no_p_astro(pipeline_spool):
    state = _superevent_of(pipeline_spool, "MBTA-1128680100")
    assert [(a["alert_type"], a["significant"]) for a in state["alerts"]][0] == ("preliminary", True)
    alert = read_alert_any(state["alerts"][0]["json"])
    assert alert.event["search"] == "SSM" and alert.event["classification"] == {}
    assert set(alert.event["properties"]) == {"HasSSM", "HasNS", "HasMassGap"}
    assert alert.event["properties"]["HasSSM"] < 0.05  # G197392 is no sub-solar-mass binary


def test_early_warning_then_all_sky_sends_the_full_bandwidth_preliminary(tmp_path):
    """The issue's second measured case: a 3-detector early-warning candidate, then a 2-detector
    significant all-sky one of the same injection. The early warning has more detectors, a higher
    SNR and a lower FAR; only the search's rank (all-sky 2 > early warning 1) makes the all-sky
    candidate preferred, and the full-bandwidth preliminary goes out carrying it."""
    spool = make_spool(tmp_path / "spool", CONFIG)
    injection = {"gps_time": EARLY_WARNING_GPS, "mass1": 1.5, "mass2": 1.3, "distance_mpc": 200,
                 "ra_rad": 1.0, "dec_rad": 0.3}
    hlv, hl = ("H1", "L1", "V1"), ("H1", "L1")
    early = samples.candidate_bundle(samples.realize_coinc(**injection, detectors=hlv), samples.model_psd(hlv),
                                     program="gstlal_inspiral", far_hz=1e-10, meta={"search": "EarlyWarning"})
    all_sky = samples.candidate_bundle(samples.realize_coinc(**injection, detectors=hl), samples.model_psd(hl),
                                       program="pycbc", far_hz=1e-9)
    # Each arrives in its own `skyspool process`: the early warning's decision is made (and
    # its alert sent) before the all-sky candidate exists, as when it comes before the merger.
    (spool.inbox / "early.tar").write_bytes(early)
    assert cli.main(["process", str(spool.root)]) == 0
    (state,) = superevents.all_states(spool)
    assert state["preferred_event"].startswith("gstlal-") and len(state["alerts"]) == 1
    (spool.inbox / "all-sky.tar").write_bytes(all_sky)
    assert cli.main(["process", str(spool.root)]) == 0

    (state,) = superevents.all_states(spool)
    sid = state["superevent_id"]
    members = {c.split("-")[0]: m for c, m in state["members"].items()}
    assert sorted(members) == ["gstlal", "pycbc"]
    assert len(members["gstlal"]["instruments"]) == 3 and len(members["pycbc"]["instruments"]) == 2
    assert members["gstlal"]["snr"] > members["pycbc"]["snr"] and members["gstlal"]["far_hz"] == 1e-10
    all_sky_id = members["pycbc"]["candidate_id"]
    assert state["preferred_event"] == all_sky_id
    # the early-warning alert, then the preliminary and GWCelery's second preliminary, both
    # carrying the all-sky candidate
    assert [(a["alert_type"], a["significant"], a["preferred_event"].split("-")[0]) for a in state["alerts"]] == [
        ("early_warning", True, "gstlal"), ("preliminary", True, "pycbc"), ("preliminary", True, "pycbc")]
    assert {"EARLY_WARNING", "SIGNIF_LOCKED", "GCN_PRELIM_SENT", "SKYMAP_READY", "EM_READY"} <= set(
        superevents.labels(spool, sid))
    decisions = superevents.decisions(spool, sid)
    assert [(d["step"], d["rule"], d["outcome"]) for d in decisions if d["step"] != "assign"] == [
        ("decide", "significant", "sent early_warning #1"), ("decide", "significant", "sent preliminary #2"),
        ("second_preliminary", "second_preliminary", "sent preliminary #3")]
    early_alert = read_alert_any(state["alerts"][0]["json"])
    assert early_alert.alert_type == "early_warning" and early_alert.event["search"] == "EarlyWarning"
    alert = read_alert_any(state["alerts"][1]["json"])
    assert alert.alert_type == "preliminary" and alert.event["search"] == "AllSky"
    assert alert.event["pipeline"] == "pycbc" and alert.event["instruments"] == ["H1", "L1"]
    assert alert.event["far"] == pytest.approx(1e-9)
    bayestar = spool.products / "gwcand" / all_sky_id / "001-coinc" / "bayestar.multiorder.fits"
    assert alert.skymap == bayestar.read_bytes()
