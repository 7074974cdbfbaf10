"""GW-external coincidences: the combined map against the LVK example alert, both arrival
orders of a GW alert and a GRB, joint FARs, and the separation of test and real events."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import healpy as hp
import numpy as np
import pytest
from astropy.table import Table
from ligo.skymap import moc

from skyspool import coincidence, ingest
from skyspool import skymap as sm
from skyspool.paths import SUBDIRS, Spool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
EXT_UPDATE = CORPUS / "gw" / "alerts" / "MS181101ab-ext-update.json"
GW_ALERT = CORPUS / "gw" / "alerts" / "S230518h-Preliminary_alert.json"
GBM_VOEVENT = CORPUS / "notices" / "voevent" / "finkmm_fermi_voevent_number_193.xml"
SECONDS_PER_YEAR = 365.25 * 86400
# GWCelery 3.0.0's RAVEN settings (conf/__init__.py), in skyspool's t_external - t_gw windows.
DAY = 86400
CONFIG = {"notices": {"lat_fov_radius_deg": 65.0},
          "coincidence": {
              "windows_s": {"grb_cbc": [-1, 5], "grb_burst": [-60, 600], "grb_subthreshold_fermi": [-1, 11],
                            "grb_subthreshold_swift": [-10, 20], "frb_cbc": [-2, 10], "frb_burst": [-120, 600],
                            "neutrino_cbc": [-10, 10], "neutrino_burst": [-500, 500], "snews_burst": [-10, 10]},
              "rates_per_year": {"grb": 325, "grb_subthreshold": 390, "frb": 485, "neutrino": 15},
              "pairs": {"GRB": ["cbc/*", "burst/allsky", "burst/bbh"], "FRB": ["cbc/*", "burst/allsky", "burst/bbh"],
                        "HEN": ["cbc/*", "burst/allsky", "burst/bbh"], "SubGRB": ["cbc/*", "burst/bbh"],
                        "SubGRBTargeted": ["cbc/allsky", "burst/allsky", "burst/bbh"], "Supernova": ["burst/*"]},
              "search_preference": {"Supernova": 2, "GRB": 1, "FRB": 1, "HEN": 1, "SubGRB": 0, "SubGRBTargeted": 0},
              "targeted_far_thresholds_hz": {"gw": {"Fermi": 16 / DAY, "Swift": 16 / DAY},
                                             "grb": {"Fermi": 1e-4, "Swift": 1e-3}},
              "publish": {"far_threshold_hz": {"cbc": {"allsky": 1 / (30 * DAY), "earlywarning": 1 / (30 * DAY),
                                                       "mdc": 1 / (30 * DAY), "ssm": 1 / (365 * DAY)},
                                               "burst": {"allsky": 1 / (365 * DAY), "bbh": 1 / (30 * DAY)}},
                          "trials_factor": {"cbc": {"allsky": 7, "earlywarning": 4, "mdc": 7, "ssm": 3},
                                            "burst": {"allsky": 3, "bbh": 7}},
                          "snews_gw_far_hz": 1 / DAY}}}


def test_combined_map_area_matches_the_lvk_example_alert():
    """The alert's combined map is the GW map times a Fermi map of nside 128: recover that
    map on its own grid from the two maps in the alert, combine, compare the 90% areas."""
    alert = json.loads(EXT_UPDATE.read_text())
    gw_map = sm.read_multiorder(base64.b64decode(alert["event"]["skymap"]))
    alert_combined = sm.read_multiorder(base64.b64decode(alert["external_coinc"]["combined_skymap"]))
    gw_density = np.asarray(gw_map["PROBDENSITY"])
    ratio = np.divide(np.asarray(alert_combined["PROBDENSITY"]), gw_density,
                      out=np.zeros_like(gw_density), where=gw_density > 0)
    order, ipix = moc.uniq2nest(np.asarray(gw_map["UNIQ"]))
    nside = 128
    flat = np.arange(hp.nside2npix(nside))
    centres = hp.pix2vec(nside, flat, nest=True)
    fermi = np.zeros(flat.size)
    for level in np.unique(order):
        here = order == level
        lookup = np.full(hp.order2npix(int(level)), np.nan)
        lookup[ipix[here]] = ratio[here]
        found = lookup[hp.vec2pix(hp.order2nside(int(level)), *centres, nest=True)]
        fermi = np.where(np.isnan(found), fermi, found)
    fermi_map = Table({"UNIQ": moc.nest2uniq(np.int8(7), flat), "PROBDENSITY": fermi})

    combined, overlap = coincidence.combine(gw_map, fermi_map)

    expected_area90 = sm.credible_areas_deg2(alert_combined)[1]
    assert sm.credible_areas_deg2(combined)[1] == pytest.approx(expected_area90, rel=0.02)
    assert sm.credible_areas_deg2(combined)[1] < 0.95 * sm.credible_areas_deg2(gw_map)[1]
    assert combined.meta["distmean"] == pytest.approx(alert_combined.meta["distmean"], rel=1e-3)
    assert overlap > 1


def test_common_grid_keeps_the_finer_pixel():
    coarse = Table({"UNIQ": moc.nest2uniq(np.int8(0), np.arange(12)), "PROBDENSITY": np.ones(12)})
    fine_ipix = np.arange(48)
    fine = Table({"UNIQ": moc.nest2uniq(np.int8(1), fine_ipix), "PROBDENSITY": np.ones(48)})
    uniq, coarse_rows, fine_rows = coincidence.common_grid(coarse, fine)
    assert np.array_equal(np.sort(uniq), np.sort(fine["UNIQ"]))
    assert np.array_equal(coarse_rows, fine_ipix // 4)


def _spool(root: Path) -> Spool:
    for name in SUBDIRS:
        (root / name).mkdir(parents=True)
    return Spool(root)


def _gbm_at(gw_time: str, offset_s: float) -> bytes:
    """The corpus GBM final-position VOEvent moved to ``offset_s`` after the GW time."""
    from astropy import units as u
    from astropy.time import Time

    when = (Time(gw_time.replace("Z", "")) + offset_s * u.s).isot
    return GBM_VOEVENT.read_bytes().replace(b"2022-07-29T10:17:31.51", when.encode())


def _arrive(spool: Spool, tmp_path: Path, name: str, data: bytes):
    source = tmp_path / name
    source.write_bytes(data)
    ingest.put_in_inbox(spool, source)
    (outcome,) = ingest.take_inbox(spool)
    assert outcome.status == "stored", outcome
    return outcome.entry


@pytest.mark.parametrize("gw_first", [True, False], ids=["gw-first", "grb-first"])
def test_gw_and_grb_coincide_whichever_arrives_first(tmp_path, gw_first):
    spool = _spool(tmp_path / "spool")
    gw_data = GW_ALERT.read_bytes()
    gw_record = json.loads(gw_data)
    grb_data = _gbm_at(gw_record["event"]["time"], 2.0)
    order = [("gw.json", gw_data), ("grb.xml", grb_data)]
    entries = {}
    for name, data in order if gw_first else order[::-1]:
        entries[name] = _arrive(spool, tmp_path, name, data)
    gw_entry, grb_entry = entries["gw.json"], entries["grb.xml"]

    assert coincidence.affected_entries(spool, grb_entry, CONFIG) == [gw_entry]
    result = coincidence.coincidences(spool, gw_entry, CONFIG)
    (found,) = result["coincidences"]
    assert (found["trigger_id"], found["time_difference_s"]) == ("Fermi-680782656", pytest.approx(2.0, abs=0.01))
    expected_temporal = 6 * 325 / SECONDS_PER_YEAR * gw_record["event"]["far"]
    assert found["temporal_far_hz"] == pytest.approx(expected_temporal)
    assert found["skymap_overlap"] > 0
    assert found["spacetime_far_hz"] == pytest.approx(expected_temporal / found["skymap_overlap"])
    assert coincidence.gw_products(gw_entry, CONFIG) == ["coincidences.json", "combined.multiorder.fits",
                                                         "combined.png"]
    # The other side sees the same coincidence.
    (seen_from_grb,) = coincidence.coincidences(spool, grb_entry, CONFIG)["coincidences"]
    assert seen_from_grb["gw_event_id"] == gw_entry.event_id
    assert seen_from_grb["spacetime_far_hz"] == pytest.approx(found["spacetime_far_hz"])

    coincidences_path = tmp_path / "coincidences.json"
    coincidence.write_coincidences(spool.root, "gw", gw_entry.event_id, gw_entry.name, coincidences_path, CONFIG)
    combined_path = tmp_path / "combined.multiorder.fits"
    coincidence.write_combined(spool.root, gw_entry.event_id, gw_entry.name, coincidences_path,
                               combined_path, CONFIG)
    combined = sm.read_multiorder(combined_path)
    assert sm.credible_areas_deg2(combined)[1] < sm.credible_areas_deg2(
        sm.read_multiorder(base64.b64decode(gw_record["event"]["skymap"])))[1]
    extra = coincidence.notice_extra(coincidences_path)
    assert extra["external_coinc"]["time_sky_position_coincidence_far"] == found["spacetime_far_hz"]
    assert "Fermi-680782656" in "\n".join(coincidence.circular_lines(coincidences_path))


@pytest.mark.parametrize("offset_s", [-1.5, 5.5, 400.0])
def test_grb_outside_the_cbc_window_does_not_coincide(tmp_path, offset_s):
    spool = _spool(tmp_path / "spool")
    gw_data = GW_ALERT.read_bytes()
    gw_entry = _arrive(spool, tmp_path, "gw.json", gw_data)
    grb_entry = _arrive(spool, tmp_path, "grb.xml", _gbm_at(json.loads(gw_data)["event"]["time"], offset_s))
    assert coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"] == []
    assert coincidence.affected_entries(spool, grb_entry, CONFIG) == []
    assert coincidence.gw_products(gw_entry, CONFIG) == ["coincidences.json"]


def test_test_notice_never_coincides_with_a_real_gw_event(tmp_path):
    spool = _spool(tmp_path / "spool")
    gw_data = GW_ALERT.read_bytes()
    gw_entry = _arrive(spool, tmp_path, "gw.json", gw_data)
    test_grb = _gbm_at(json.loads(gw_data)["event"]["time"], 1.0).replace(
        b'"Test_Submission"       value="false"', b'"Test_Submission"       value="true"')
    grb_entry = _arrive(spool, tmp_path, "grb.xml", test_grb)
    assert grb_entry.event_id.startswith("test-")
    assert coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"] == []


def test_retracted_neutrino_no_longer_coincides(tmp_path):
    spool = _spool(tmp_path / "spool")
    gw_data = GW_ALERT.read_bytes()
    gw_time = json.loads(gw_data)["event"]["time"]
    gw_entry = _arrive(spool, tmp_path, "gw.json", gw_data)
    _arrive(spool, tmp_path, "grb.xml", _gbm_at(gw_time, 1.0))
    assert len(coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"]) == 1
    bronze = CORPUS / "notices" / "voevent" / "finkmm_icecube_voevent_number_3028.xml"
    neutrino = bronze.read_bytes().replace(b"2022-08-08T07:59:57.26", gw_time[:22].encode())
    _arrive(spool, tmp_path, "nu.xml", neutrino)
    assert len(coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"]) == 2
    _arrive(spool, tmp_path, "nu-retracted.xml", neutrino.replace(
        b'"Retraction"     value="false"', b'"Retraction"     value="true"'))
    (only,) = coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"]
    assert only["kind"] == "grb"


def test_icecube_lvk_search_is_linked_to_its_superevent(tmp_path):
    spool = _spool(tmp_path / "spool")
    gw_data = GW_ALERT.read_bytes()
    gw_entry = _arrive(spool, tmp_path, "gw.json", gw_data)
    search = (CORPUS / "notices" / "kafka_json" / "gcnschema_icecube_lvk_nu_track_search.example.json").read_bytes()
    _arrive(spool, tmp_path, "search.json", search.replace(b"S230914ak", gw_entry.event_id.encode()))
    (linked,) = coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"]
    assert linked["notice_type"] == "lvk_nu_track_search"
    assert (linked["pval_generic"], linked["pval_bayesian"]) == (0.0191, 0.0549)
    assert [nu["time_difference_s"] for nu in linked["coincident_neutrinos"]] == [12.91, 222.46]


# ----- end to end through `skyspool process`: the orchestrator's RAVEN hook -----

SUB_GPS = 1128700000.5      # a sub-threshold candidate with a Fermi GRB on it
NOISE_GPS = 1128702000.5    # the same with a likely-noise GBM trigger (an initial alert),
#                             whose final position (likely real) arrives in the second pass
SUB_FAR_HZ = 1e-4           # above both alert thresholds of the orchestrator
RA_RAD, DEC_RAD = 1.0, 0.3  # where the candidates are (and the GRBs)


def _gbm_voevent(gps_time: float, packet: int) -> bytes:
    import re

    from astropy.time import Time

    text = GBM_VOEVENT.read_text()
    text = text.replace("2022-07-29T10:17:31.51", Time(gps_time, format="gps").utc.isot[:22])
    text = re.sub(r"<C1>[^<]*</C1>", f"<C1>{np.degrees(RA_RAD):.4f}</C1>", text)
    text = re.sub(r"<C2>[^<]*</C2>", f"<C2>{np.degrees(DEC_RAD):.4f}</C2>", text)
    text = re.sub(r'(name="Packet_Type"\s+value=")\d+"', rf'\g<1>{packet}"', text)
    # a distinct trigger number per notice
    return text.replace("680782656", str(int(gps_time) % 1000000000)).encode()


@pytest.fixture(scope="module")
def raven_spool(tmp_path_factory):
    import gwcand_samples as samples
    from skyspool import cli
    from support import FAST_CONFIG, make_spool

    spool = make_spool(tmp_path_factory.mktemp("raven") / "spool",
                       FAST_CONFIG | {"orchestrator": {"orchestrator_timeout_s": 1,
                                                       "second_preliminary_delay_s": 1}})
    psd = samples.model_psd()
    gw_alert = json.loads(GW_ALERT.read_text())
    icecube = json.loads((CORPUS / "notices" / "gcn-schema"
                          / "icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json").read_text())
    icecube["trigger_time"] = gw_alert["event"]["time"]
    icecube["p_astro"] = 0.6
    files = {}
    for name, gps in (("sub.tar", SUB_GPS), ("noise.tar", NOISE_GPS)):
        coinc = samples.realize_coinc(gps_time=gps, mass1=1.5, mass2=1.3, distance_mpc=60,
                                      ra_rad=RA_RAD, dec_rad=DEC_RAD)
        files[name] = samples.candidate_bundle(coinc, psd, far_hz=SUB_FAR_HZ)
    files["grb.xml"] = _gbm_voevent(SUB_GPS + 2.0, 115)          # final position: likely real
    files["grb-initial.xml"] = _gbm_voevent(NOISE_GPS + 2.0, 110)  # initial alert: likely noise
    files["gw.json"] = GW_ALERT.read_bytes()
    files["icecube.json"] = json.dumps(icecube).encode()
    for name, data in files.items():
        (spool.inbox / name).write_bytes(data)
    assert cli.main(["process", str(spool.root)]) == 0
    gw_entry = spool.entries_of("gw", gw_alert["superevent_id"])[0]
    before = json.loads(spool.product(gw_entry, "coincidences.json").read_text())
    noise_first = _state_near(spool, NOISE_GPS)
    # second pass: the IceCube retraction, and the GBM trigger's final position after the
    # orchestrator decided "no alert" for the candidate under it (GW170817's case)
    icecube["alert_type"] = "retraction"
    (spool.inbox / "icecube-retraction.json").write_text(json.dumps(icecube))
    (spool.inbox / "grb-final.xml").write_bytes(_gbm_voevent(NOISE_GPS + 2.0, 115))
    assert cli.main(["process", str(spool.root)]) == 0
    return spool, gw_entry, before, noise_first


def _state_near(spool, gps):
    from skyspool import superevents

    return next(s for s in superevents.all_states(spool)
                if any(abs(float(c.rsplit("-", 1)[1]) - gps) < 1 for c in s["members"]))


def test_publishable_coincidence_sends_a_preliminary_alert_with_external_coinc(raven_spool):
    import importlib.resources

    import jsonschema

    from skyspool import superevents

    spool, _, _, _ = raven_spool
    state = _state_near(spool, SUB_GPS)
    # GWCelery sends the second preliminary too (no person acted on the superevent)
    assert [(a["alert_type"], a["significant"]) for a in state["alerts"]] == [("preliminary", True)] * 2
    assert "RAVEN_ALERT" in superevents.labels(spool, state["superevent_id"])
    alert = json.loads(Path(state["alerts"][0]["json"]).read_text())
    schema = json.loads((importlib.resources.files("igwn_gwalert_schema")
                         / "igwn.alerts.Alert.schema.json").read_text())
    jsonschema.validate(alert, schema)
    coinc = alert["external_coinc"]
    assert (coinc["observatory"], coinc["search"]) == ("Fermi", "GRB")
    assert coinc["time_difference"] == pytest.approx(2.0, abs=0.01)
    # joint FARs: 6 s x 325/yr x GW FAR, over the overlap; x trials 7 x 6 at most 1/30 days
    temporal = 6 * 325 / (365 * 86400) * SUB_FAR_HZ
    assert coinc["time_coincidence_far"] == pytest.approx(temporal, rel=1e-3)
    assert coinc["time_sky_position_coincidence_far"] * 42 <= 1 / (30 * 86400)
    combined = sm.read_multiorder(base64.b64decode(coinc["combined_skymap"]))
    assert sm.credible_areas_deg2(combined)[1] > 0
    assert alert["event"]["far"] == pytest.approx(SUB_FAR_HZ)
    second = json.loads(Path(state["alerts"][1]["json"]).read_text())
    assert second["external_coinc"]["time_coincidence_far"] == pytest.approx(temporal, rel=1e-3)


def test_likely_noise_trigger_sends_no_alert(raven_spool):
    spool, _, _, state = raven_spool  # as the first pass left it
    assert state["alerts"] == []
    decision = json.loads((spool.products / "gwcand" / state["preferred_event"] / "001-coinc"
                           / "orchestrator.json").read_text())
    assert "above every alert threshold" in decision["reason"]


def test_retracted_icecube_track_leaves_no_coincidence(raven_spool):
    spool, gw_entry, before, _ = raven_spool
    (paired,) = before["coincidences"]
    assert (paired["search"], paired["likely_noise"], paired["has_skymap"]) == ("HEN", False, True)
    after = json.loads(spool.product(gw_entry, "coincidences.json").read_text())
    assert after["coincidences"] == [] and after["preferred"] is None
    assert not spool.product(gw_entry, "combined.multiorder.fits").exists()
    assert not spool.product(gw_entry, "combined.png").exists()


def _raven_steps(spool, superevent_id):
    from skyspool import superevents

    return [d for d in superevents.decisions(spool, superevent_id) if d["step"] == "raven"]


def test_grb_after_the_decision_reopens_it(raven_spool):
    """GW170817's case: the candidate's decision was "no alert" (its GBM trigger was an
    initial alert, likely noise); the trigger's final position, arriving later, makes the
    coincidence publishable: RAVEN_ALERT, one significant preliminary (then GWCelery's second),
    with external_coinc; taking the same notice again and a rerun send nothing more."""
    from skyspool import cli, config, status, superevents

    spool, _, _, _ = raven_spool
    state = _state_near(spool, NOISE_GPS)
    sid, candidate = state["superevent_id"], state["preferred_event"]
    products = spool.products / "gwcand" / candidate / "001-coinc"
    decision = json.loads((products / "orchestrator.json").read_text())
    assert (decision["rule"], decision["sent"]) == ("below_thresholds", None)
    reopened = json.loads((products / "raven.json").read_text())
    assert (reopened["step"], reopened["rule"], reopened["outcome"]) == ("raven", "significant",
                                                                         "sent preliminary #1")
    assert "RAVEN: coincidence with Fermi" in reopened["reason"]
    assert "RAVEN_ALERT" in superevents.labels(spool, sid)
    assert [(a["alert_type"], a["significant"], a["preferred_event"]) for a in state["alerts"]] == [
        ("preliminary", True, candidate)] * 2
    (step,) = _raven_steps(spool, sid)
    assert (step["candidate_id"], step["sent"]["number"]) == (candidate, 1)
    (entry,) = spool.entries_of("gwcand", candidate)
    assert f"{sid}: [significant] sent preliminary" in status.entry_status(spool, entry, config.load(spool)).flags
    alert = json.loads(Path(state["alerts"][0]["json"]).read_text())
    coinc = alert["external_coinc"]
    assert (coinc["observatory"], coinc["search"]) == ("Fermi", "GRB")
    assert coinc["time_difference"] == pytest.approx(2.0, abs=0.01)
    assert coinc["time_coincidence_far"] == pytest.approx(6 * 325 / (365 * 86400) * SUB_FAR_HZ, rel=1e-3)
    # idempotent: the same notice again (a duplicate), then a rerun with nothing new
    (spool.inbox / "grb-final-again.xml").write_bytes(_gbm_voevent(NOISE_GPS + 2.0, 115))
    assert cli.main(["process", str(spool.root)]) == 0
    assert cli.main(["process", str(spool.root)]) == 0
    assert len(superevents.load(spool, sid)["alerts"]) == 2
    assert len(_raven_steps(spool, sid)) == 1


def test_processing_the_record_again_sends_nothing_that_was_not_sent(raven_spool, tmp_path):
    """The spool's record (its entries, the GRB that came after the candidate's decision
    among them) processed again from nothing, as after losing the products: every entry was
    stored before this run, so the alerts its decisions make are recorded as suppressed in
    the one receipt, never put in outgoing/ or the inbox (skyspool process --send-old would)."""
    import shutil

    from skyspool import cli, superevents
    from support import make_spool

    spool, _, _, _ = raven_spool
    again = make_spool(tmp_path / "again")
    again.config_file.write_text(spool.config_file.read_text())
    shutil.copytree(spool.spool, again.spool, dirs_exist_ok=True)
    entries = again.entries()
    assert cli.main(["process", str(again.root)]) == 0
    decided = {f"{state['superevent_id']}-{alert['number']:03d}"
               for state in superevents.all_states(again) for alert in state["alerts"]}
    assert len(decided) >= 2  # the decisions were made again, alerts among them
    suppressed = {item["key"]: item["suppressed"] for entry in again.entries("gwcand")
                  if again.publish_receipt(entry, "outgoing").exists()
                  for item in json.loads(again.publish_receipt(entry, "outgoing").read_text())["sent"]}
    assert set(suppressed) == decided
    assert all(why.startswith("entry stored before this run") for why in suppressed.values())
    assert again.entries() == entries and not list(again.outgoing.rglob("*.json"))


# ----- likely noise, ranking, publishable (GWCelery's rules, on real notices) -----

NOTICES = CORPUS / "notices"


@pytest.mark.parametrize("path, reason", [
    ("gcn-schema/fermi_gbm_trigger.flight1.example.json", "GRB below 50%"),      # BELOW_HORIZON
    ("gcn-schema/fermi_gbm_trigger.alert.example.json", "initial alert"),
    ("gcn-schema/icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json", "p_astro 0.341"),
    ("voevent/finkmm_icecube_voevent_number_3028.xml", "signalness 0.387"),
    ("gcn-schema/chime_frb.subsequent.example.json", "repeater"),
])
def test_likely_noise_vetoes(path, reason):
    from skyspool.notices import read_notice

    found = coincidence.likely_noise(read_notice(NOTICES / path), CONFIG)
    assert found is not None and reason in found


@pytest.mark.parametrize("path", ["gcn-schema/fermi_gbm_trigger.flight3.example.json",  # GRB 0.85
                                  "voevent/finkmm_fermi_voevent_number_193.xml",
                                  "voevent/finkmm_swift_voevent_number_392.xml",
                                  "voevent/finkmm_icecube_voevent_number_825.xml",        # signalness 0.90
                                  "gcn-schema/swift_bat_guano.loc_arc_min.example.json",  # FAR 1e-5 < 1e-3
                                  "gcn-schema/chime_frb.detection.example.json"])
def test_likely_real_triggers(path):
    from skyspool.notices import read_notice

    assert coincidence.likely_noise(read_notice(NOTICES / path), CONFIG) is None


def test_targeted_trigger_above_its_far_threshold_is_likely_noise():
    import dataclasses

    from skyspool.notices import read_notice

    guano = read_notice(NOTICES / "gcn-schema" / "swift_bat_guano.loc_arc_min.example.json")
    assert "above the targeted search's" in coincidence.likely_noise(dataclasses.replace(guano, far_hz=2e-3), CONFIG)


def test_chime_frb_of_low_importance_is_likely_noise():
    from skyspool.formats import gcnjson

    record = json.loads((NOTICES / "gcn-schema" / "chime_frb.detection.example.json").read_text())
    assert coincidence.likely_noise(gcnjson.to_notice(json.dumps(record).encode()), CONFIG) is None
    record["importance"] = 0.3
    found = coincidence.likely_noise(gcnjson.to_notice(json.dumps(record).encode()), CONFIG)
    assert found == "CHIME importance 0.3 below 0.5"


def _record(**changes):
    record = {"search": "GRB", "likely_noise": False, "noise_reason": None, "publishable": False,
              "spacetime_far_hz": 1e-9, "temporal_far_hz": 1e-8, "role": "observation"}
    return record | changes


def test_preferred_coincidence_is_ranked_as_gwcelery():
    records = [_record(likely_noise=True, spacetime_far_hz=1e-20),      # likely noise: last
               _record(search="SubGRB", spacetime_far_hz=1e-15),        # sub-threshold after GRB
               _record(spacetime_far_hz=1e-9),
               _record(spacetime_far_hz=1e-10),                          # lowest space-time FAR
               _record(spacetime_far_hz=None, temporal_far_hz=1e-30)]   # no sky map: after any
    assert coincidence._preferred(records, CONFIG) == 3
    assert coincidence._preferred(records + [_record(search="Supernova", spacetime_far_hz=None)], CONFIG) == 5
    assert coincidence._preferred(records + [_record(publishable=True, spacetime_far_hz=1e-5)], CONFIG) == 5


def test_publishable_decision_and_its_reasons():
    gw = coincidence.GWSide("S1", "observation", 1e9, "CBC", "AllSky", 1e-4)
    threshold = 1 / (30 * 86400)
    ok, why = coincidence.publishable(_record(spacetime_far_hz=0.99 * threshold / 42), gw, CONFIG)
    assert ok and "at most" in why[0]
    ok, why = coincidence.publishable(_record(spacetime_far_hz=1.01 * threshold / 42), gw, CONFIG)
    assert not ok and why == [f"joint FAR x trials {1.01 * threshold:.4g} Hz above the threshold {threshold:.4g} Hz"]
    ok, why = coincidence.publishable(_record(spacetime_far_hz=None, temporal_far_hz=1e-20), gw, CONFIG)
    assert not ok and why == ["space-time FAR needs both sky maps"]
    ok, why = coincidence.publishable(_record(search="SubGRB", likely_noise=True, noise_reason="x",
                                              spacetime_far_hz=1e-20), gw, CONFIG)
    assert not ok and why == ["the trigger is sub-threshold", "likely noise: x"]
    burst = coincidence.GWSide("S1", "observation", 1e9, "Burst", "AllSky", 1 / 86400 / 3 * 0.99)
    assert coincidence.publishable(_record(search="Supernova", spacetime_far_hz=None, temporal_far_hz=None),
                                   burst, CONFIG)[0]
    test_gw = coincidence.GWSide("T1", "test", 1e9, "CBC", "AllSky", 1e-4)
    assert coincidence.publishable(_record(spacetime_far_hz=1e-30), test_gw, CONFIG) == (False, ["a test event"])


@pytest.mark.parametrize("group, search, external, window", [
    ("CBC", "AllSky", "voevent/finkmm_fermi_voevent_number_193.xml", (-1, 5)),
    ("Burst", "BBH", "voevent/finkmm_fermi_voevent_number_193.xml", (-1, 5)),   # BBH: CBC windows
    ("Burst", "AllSky", "voevent/finkmm_fermi_voevent_number_193.xml", (-60, 600)),
    ("Burst", "IMBH", "voevent/finkmm_fermi_voevent_number_193.xml", None),     # not searched
    ("CBC", "AllSky", "gcn-schema/swift_bat_guano.loc_arc_min.example.json", (-10, 20)),
    ("CBC", "SSM", "gcn-schema/swift_bat_guano.loc_arc_min.example.json", None),  # targeted: AllSky only
    ("CBC", "AllSky", "gcn-schema/chime_frb.detection.example.json", (-2, 10)),
    ("Burst", "AllSky", "gcn-schema/chime_frb.detection.example.json", (-120, 600)),
    ("CBC", "AllSky", "voevent/finkmm_icecube_voevent_number_825.xml", (-10, 10)),
    ("Burst", "AllSky", "voevent/finkmm_icecube_voevent_number_825.xml", (-500, 500)),
    ("CBC", "AllSky", "kafka_json/gcnschema_unmerged_snews2_coincidence_real_triangulation.example.json", None),
    ("Burst", "AllSky", "kafka_json/gcnschema_unmerged_snews2_coincidence_real_triangulation.example.json",
     (-10, 10)),
])
def test_windows_and_pairings(group, search, external, window):
    from skyspool.notices import read_notice

    gw = coincidence.GWSide("S1", "observation", 1e9, group, search, 1e-8)
    assert coincidence.window(CONFIG, read_notice(NOTICES / external), gw) == window


# ----- a mission's own map file for a notice's healpix_url -----

GBM_FINAL_JSON = CORPUS / "notices" / "gcn-schema" / "fermi_gbm_trigger.final.example.json"
GBM_MAP_NAME = "glg_healpix_all_bn240812094.fit"  # the last part of the notice's healpix_url
MAP_RA_DEG, MAP_DEC_DEG = 120.0, 10.0             # the file's peak: far from the notice's 29.24, -63.62


def _gbm_healpix_file(path: Path) -> None:
    """A Fermi GBM-like flat map (RING, nside 64, PROBABILITY and SIGNIFICANCE columns)
    peaked at MAP_RA_DEG, MAP_DEC_DEG, 3 degrees wide."""
    nside = 64
    vectors = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    centre = hp.ang2vec(MAP_RA_DEG, MAP_DEC_DEG, lonlat=True)
    prob = np.exp(-0.5 * (np.degrees(np.arccos(np.clip(centre @ vectors, -1, 1))) / 3.0) ** 2)
    hp.write_map(str(path), [prob / prob.sum(), prob], nest=False, coord="C",
                 column_names=["PROBABILITY", "SIGNIFICANCE"], dtype=[np.float64, np.float64])


def test_mission_map_file_replaces_the_model(tmp_path):
    """A GBM notice names its map only by healpix_url: its products use the model; the map
    file dropped into the inbox later (written under another name, renamed in place) is
    matched to the trigger, and the notice's products and its coincidences use it and say so."""
    import os

    from skyspool import cli
    from support import FAST_CONFIG, make_spool

    spool = make_spool(tmp_path / "spool", FAST_CONFIG)
    gw_time = json.loads(GW_ALERT.read_text())["event"]["time"]
    notice = json.loads(GBM_FINAL_JSON.read_text())
    notice["trigger_time"] = _gbm_at(gw_time, 2.0).split(b"<ISOTime>")[1].split(b"<")[0].decode()
    (spool.inbox / "gbm.json").write_text(json.dumps(notice))
    assert cli.main(["process", str(spool.root)]) == 0
    (notice_entry,) = spool.entries_of("grb", "Fermi-745121685")
    stats = json.loads(spool.product(notice_entry, "stats.json").read_text())
    assert stats["skymap_source"] == "model, healpix_url not fetched"
    assert (stats["map_ra_deg"], stats["map_dec_deg"]) == (pytest.approx(29.24, abs=1), pytest.approx(-63.62, abs=1))

    _gbm_healpix_file(tmp_path / "download.part")
    os.rename(tmp_path / "download.part", spool.inbox / ".partial")
    os.rename(spool.inbox / ".partial", spool.inbox / GBM_MAP_NAME)
    assert cli.main(["process", str(spool.root)]) == 0
    notice_entry, map_entry = spool.entries_of("grb", "Fermi-745121685")
    assert map_entry.path.name == "002-mission_map.fits"
    stats = json.loads(spool.product(notice_entry, "stats.json").read_text())
    assert stats["skymap_source"] == "mission map file 002-mission_map.fits (healpix_url)"
    assert (stats["map_ra_deg"], stats["map_dec_deg"]) == (pytest.approx(120, abs=1), pytest.approx(10, abs=1))
    assert json.loads(spool.product(notice_entry, "notice.json").read_text())["skymap_file"] == \
        "002-mission_map.fits"

    gw_entry = _arrive(spool, tmp_path, "gw.json", GW_ALERT.read_bytes())
    assert coincidence.affected_entries(spool, map_entry, CONFIG) == [notice_entry, gw_entry]
    (record,) = coincidence.coincidences(spool, gw_entry, CONFIG)["coincidences"]
    assert record["skymap_source"] == "mission map file 002-mission_map.fits (healpix_url)"
    assert record["has_skymap"] is True


def test_fits_file_no_notice_names_is_quarantined(tmp_path):
    spool = _spool(tmp_path / "spool")
    _gbm_healpix_file(tmp_path / GBM_MAP_NAME)
    ingest.put_in_inbox(spool, tmp_path / GBM_MAP_NAME)
    (outcome,) = ingest.take_inbox(spool)
    assert outcome.status == "quarantined" and "a FITS file on its own" in outcome.reason
