"""Pipeline candidates without BAYESTAR: parsing, data quality, superevents, classification,
outgoing alert formats, p_astro from ranking data, burst candidates, timers."""

import base64
import io
import json
import time

import numpy as np
import pytest
from astropy.table import Table
from ligo.skymap.io import write_sky_map

import gwcand_samples as samples
from skyspool import formats, gw_classify, outgoing, superevents
from skyspool.formats import coinc, dqsegments
from skyspool.formats.gwalert import read_alert
from skyspool.paths import Spool

# GWCelery 3.0.0's defaults (conf/__init__.py), written out here.
MONTH, YEAR, LESS = 1 / (30 * 86400), 1 / (365 * 86400), 2 / 86400 * 8
THRESHOLDS = {"cbc_allsky": {"rank": 2, "trials_factor": 7, "significant_far_hz": MONTH,
                             "less_significant_trials_factor": 8, "less_significant_far_hz": LESS},
              "cbc_early_warning": {"rank": 1, "trials_factor": 4, "significant_far_hz": MONTH,
                                    "less_significant_trials_factor": 4, "less_significant_far_hz": None},
              "burst_allsky": {"rank": 0, "trials_factor": 3, "significant_far_hz": YEAR,
                               "less_significant_trials_factor": 8, "less_significant_far_hz": LESS}}
EM_BRIGHT = {"max_ns_mass_msun": 3.0, "ns_radius_km": 12.0, "mass_gap_msun": [3.0, 5.0],
             "samples": 2000, "mchirp_sigma_frac": 0.01, "mass_ratio_sigma": 0.2, "seed": 1}
P_ASTRO = {"snr_star": 8.5, "far_star_hz": 1 / (30 * 86400)}


@pytest.fixture(scope="module")
def psd():
    return samples.model_psd()


@pytest.fixture(scope="module")
def g197392():
    return samples.candidate_files()[0].read_bytes()


def test_coinc_needs_its_psd(g197392, psd):
    with pytest.raises(formats.Refused, match="no PSD"):
        formats.identify(g197392, "coinc.xml.gz")
    message = formats.identify(samples.candidate_bundle(g197392, psd), "G197392.tar")
    assert (message.kind, message.event_id, message.alert_type, message.extension) == (
        "gwcand", "pycbc-1128678900.4443", "coinc", "tar")


def test_bundle_metadata_and_p_astro(g197392, psd):
    bundle = samples.candidate_bundle(g197392, psd, program="gstlal_inspiral", gps_shift_s=0.5,
                                      snr_scale=2, far_hz=1e-9, meta={"search": "MDC", "offline": True},
                                      p_astro={"BBH": 0.9, "Terrestrial": 0.1})
    candidate = coinc.candidate_from_bytes(bundle)
    assert candidate.pipeline == "gstlal" and candidate.category == "mdc" and candidate.offline
    assert candidate.gps_time == pytest.approx(1128678900.9443, abs=1e-4)
    assert candidate.snr == pytest.approx(2 * 9.7199, rel=1e-3) and candidate.far_hz == 1e-9
    assert candidate.p_astro == {"BBH": 0.9, "Terrestrial": 0.1}
    assert formats.identify(bundle).role == "test"


@pytest.mark.parametrize("meta, reason", [({"search": "Nope"}, "search must be"),
                                          ({"color": "red"}, "unknown key"),
                                          ({"category": "real"}, "category must be")])
def test_bad_bundles_refused(g197392, psd, meta, reason):
    with pytest.raises(formats.Refused, match=reason):
        formats.identify(samples.candidate_bundle(g197392, psd, meta=meta))


def test_broken_coinc_refused():
    with pytest.raises(formats.Refused, match="LIGO-LW"):
        formats.identify(b'<?xml version="1.0"?><LIGO_LW><Table Name="x:table">', "coinc.xml")


SEGMENTS = {"dq_segments": "test", "span": [1000, 2000],
            "observing": {"H1": [[1000, 2000]], "L1": [[1000, 1500]]},
            "vetoed": [{"start": 1200, "end": 1210, "instruments": ["H1"], "reason": "glitch"}]}


def test_dq_segment_list():
    message = formats.identify(json.dumps(SEGMENTS).encode())
    assert (message.kind, message.event_id) == ("gwdq", "dq-1000-2000")
    assert dqsegments.verdict([SEGMENTS], 1100, ["H1", "L1"])["state"] == "ok"
    assert dqsegments.verdict([SEGMENTS], 1205, ["H1", "L1"])["state"] == "vetoed"
    assert dqsegments.verdict([SEGMENTS], 1205, ["L1"])["state"] == "ok"
    assert dqsegments.verdict([SEGMENTS], 1600, ["H1", "L1"])["state"] == "not_observing"
    assert dqsegments.verdict([SEGMENTS], 3000, ["H1"])["state"] == "unknown"
    with pytest.raises(formats.Refused, match="span"):
        formats.identify(json.dumps({**SEGMENTS, "span": [5]}).encode())


def _member(cid, t, *, group="CBC", far=1e-10, snr=10.0, ifos=("H1", "L1"), category="production",
            complete=True, duration=None, search="AllSky"):
    facts = {"candidate_id": cid, "group": group, "gps_time": t, "far_hz": far, "snr": snr,
             "instruments": list(ifos), "category": category, "complete": complete,
             "duration_s": duration, "search": search, "offline": False,
             "pipeline": "CWB" if group == "Burst" else cid.split("-")[0]}
    return facts | {"significance": superevents.significance(facts, THRESHOLDS)}


def test_significance_thresholds():
    assert _member("a", 0, far=1e-8)["significance"] == "significant"
    assert _member("a", 0, far=1e-6)["significance"] == "less-significant"
    assert _member("a", 0, far=1e-3)["significance"] == "none"
    assert _member("a", 0, far=5e-8, search="EarlyWarning")["significance"] == "significant"
    assert _member("a", 0, far=1e-6, search="EarlyWarning")["significance"] == "none"
    assert _member("b", 0, group="Burst", far=2e-8, duration=0.1)["significance"] == "less-significant"


def test_superevents_group_prefer_and_keep_categories_apart(tmp_path):
    spool = Spool(tmp_path)
    t0 = 1128678900.0
    with superevents.decision_lock(spool):
        first = superevents.add_candidate(spool, _member("gstlal-1", t0, snr=9), 1.0, 1.0, THRESHOLDS)
        sid = first["superevent_id"]
        assert sid == "S151012a" and first["preferred_event"] == "gstlal-1"
        # another pipeline, overlapping segment, louder: joins and becomes preferred
        state = superevents.add_candidate(spool, _member("pycbc-1", t0 + 1.5, snr=12), 1.0, 2.0, THRESHOLDS)
        assert state["superevent_id"] == sid and state["preferred_event"] == "pycbc-1"
        assert state["t_end"] == pytest.approx(t0 + 2.5)  # the window grew
        # a burst with more significance loses to a CBC; three detectors beat two
        state = superevents.add_candidate(spool, _member("cwb-1", t0 + 2.0, group="Burst", far=1e-12,
                                                         duration=0.5, ifos=("H1", "L1", "V1")),
                                          1.0, 3.0, THRESHOLDS)
        assert state["preferred_event"] == "pycbc-1"
        state = superevents.add_candidate(spool, _member("mbta-1", t0 + 0.2, snr=8, ifos=("H1", "L1", "V1")),
                                          1.0, 4.0, THRESHOLDS)
        assert state["preferred_event"] == "mbta-1"
        # an incomplete event is not preferred over a complete one
        state = superevents.add_candidate(spool, _member("spiir-1", t0, snr=30, ifos=("H1", "L1", "V1"),
                                                         complete=False), 1.0, 5.0, THRESHOLDS)
        assert state["preferred_event"] == "mbta-1"
        # test and MDC events at the same time get superevents of their own
        assert superevents.add_candidate(spool, _member("t", t0, category="test"), 1.0, 6.0, THRESHOLDS)[
            "superevent_id"] == "TS151012a"
        assert superevents.add_candidate(spool, _member("m", t0, category="mdc"), 1.0, 7.0, THRESHOLDS)[
            "superevent_id"] == "MS151012a"
        # far away: a new superevent
        assert superevents.add_candidate(spool, _member("x", t0 + 100), 1.0, 8.0, THRESHOLDS)[
            "superevent_id"] == "S151012b"
    history = superevents.load(spool, sid)["history"]
    assert [h["preferred_event"] for h in history] == ["gstlal-1", "pycbc-1", "mbta-1"]
    superevents.add_label(spool, sid, "DQV", "why")
    assert superevents.labels(spool, sid) == ["DQV"]


def _candidate(m1, m2, chi1=0.0, snr=12.0, far=1e-10):
    mchirp = (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2
    return coinc.Candidate("c", "gstlal", "gstlal_inspiral", "CBC", "AllSky", "production", False,
                           1e9, far, snr, ("H1", "L1"), m1, m2, chi1, 0.0, mchirp, None)


def test_analytic_source_properties():
    bns = gw_classify.properties_analytic(_candidate(1.5, 1.3), EM_BRIGHT)
    assert bns["HasNS"] == bns["HasRemnant"] == 1.0 and bns["HasMassGap"] < 0.01
    bbh = gw_classify.properties_analytic(_candidate(30, 20), EM_BRIGHT)
    assert bbh == {"HasNS": 0.0, "HasRemnant": 0.0, "HasMassGap": 0.0}
    assert gw_classify.properties_analytic(_candidate(4.0, 1.4), EM_BRIGHT)["HasMassGap"] > 0.5
    # NSBH: a rapidly spinning light BH disrupts the NS, a heavy non-spinning one swallows it
    assert gw_classify.properties_analytic(_candidate(7, 1.4, chi1=0.9), EM_BRIGHT)["HasRemnant"] > 0.9
    assert gw_classify.properties_analytic(_candidate(15, 1.4, chi1=0.0), EM_BRIGHT)["HasRemnant"] < 0.1
    # Foucart et al. 2018: more spin, more remnant; a more compact star, less
    assert gw_classify.remnant_mass(7, 1.4, 0.9, 12) > gw_classify.remnant_mass(7, 1.4, 0.5, 12) > 0
    assert gw_classify.remnant_mass(7, 1.4, 0.5, 11) < gw_classify.remnant_mass(7, 1.4, 0.5, 13)


def test_p_astro_fallback_and_method():
    loud = gw_classify.p_astro_fallback(_candidate(1.4, 1.3, snr=20, far=1e-12), P_ASTRO)
    assert loud["BNS"] > 0.99 and loud["NSBH"] == loud["BBH"] == 0
    weak = gw_classify.p_astro_fallback(_candidate(30, 20, snr=8, far=1e-3), P_ASTRO)
    assert weak["Terrestrial"] > 0.99 and sum(weak.values()) == pytest.approx(1)
    record = gw_classify.classification_dict(_candidate(1.4, 1.3), {"em_bright": EM_BRIGHT, "p_astro": P_ASTRO})
    assert record["properties_method"].startswith("analytic")  # no em-bright data files here
    assert record["p_astro_method"].startswith("GWCelery fallback")


def test_outgoing_alert_round_trips(tmp_path):
    # A uniform multi-order map of the 12 base pixels (UNIQ 4..15): the ingest checks it is one.
    table = Table({"UNIQ": np.arange(4, 16), "PROBDENSITY": np.full(12, 1 / (4 * np.pi))})
    buffer = io.BytesIO()
    write_sky_map(buffer, table, moc=True)
    skymap = buffer.getvalue()
    member = _member("gstlal-1", 1128678900.5) | {"pipeline": "gstlal", "search": "AllSky"}
    classification = {"p_astro": {"BNS": 0.9, "NSBH": 0.0, "BBH": 0.0, "Terrestrial": 0.1},
                      "properties": {"HasNS": 1.0, "HasRemnant": 1.0, "HasMassGap": 0.0}}
    record = outgoing.alert_record("S151012a", "preliminary", member=member,
                                   classification=classification, skymap=skymap, significant=True,
                                   gracedb_url="https://gracedb.invalid/{superevent_id}")
    spool = Spool(tmp_path)
    (tmp_path / "inbox").mkdir()
    where = outgoing.send(spool, record, 1)
    from_json, from_avro = read_alert(where["json"]), read_alert(where["avro"])
    # Avro spells out the optional fields JSON leaves out (mchirp_source: null).
    assert from_avro.event.pop("mchirp_source") is None and from_json == from_avro
    assert from_json.skymap == skymap and from_json.event["classification"]["BNS"] == 0.9
    assert base64.b64decode(json.loads((tmp_path / "inbox" / where["inbox"]).read_text())
                            ["event"]["skymap"]) == skymap
    retraction = outgoing.alert_record("S151012a", "retraction", member=None, classification=None,
                                       skymap=None, significant=False, gracedb_url="https://x.invalid/")
    assert read_alert(outgoing.send(spool, retraction, 2)["avro"]).is_retraction


# ----- p_astro from gstlal ranking data -----

@pytest.fixture(scope="module")
def ranking():
    return samples.ranking_data()


def _gstlal(g197392, psd, ranking, ln_lr, **kwargs):
    bundle = samples.candidate_bundle(g197392, psd, program="gstlal_inspiral", ln_likelihood_ratio=ln_lr,
                                      ranking=ranking, **kwargs)
    return coinc.candidate_from_bytes(bundle), coinc.split_bundle(bundle).ranking_data


def test_p_astro_from_ranking_data(g197392, psd, ranking):
    settings = {"em_bright": EM_BRIGHT, "p_astro": P_ASTRO | {"ranking_livetime_s": 14394240,
                                                               "ranking_extinct_bins": 40}}
    loud, data = _gstlal(g197392, psd, ranking, 15.0)
    assert loud.has_ranking_data and loud.ln_likelihood_ratio == 15.0
    record = gw_classify.classification_dict(loud, settings, data)
    assert record["p_astro_method"].startswith("ranking data: ligo.p_astro")
    assert "ln L 15.00" in record["p_astro_method"]
    p_astro = record["p_astro"]
    assert sum(p_astro.values()) == pytest.approx(1)
    # G197392's template (32 + 15 Msun) weighs in the BBH bins only
    assert p_astro["BBH"] > 0.99 and p_astro["BNS"] == p_astro["NSBH"] == 0
    quiet, _ = _gstlal(g197392, psd, ranking, -5.0)
    assert gw_classify.classification_dict(quiet, settings, data)["p_astro"]["Terrestrial"] > 0.99
    # the pipeline's own p_astro.json comes first
    own, data = _gstlal(g197392, psd, ranking, 15.0, p_astro={"BBH": 0.5, "Terrestrial": 0.5})
    assert gw_classify.classification_dict(own, settings, data)["p_astro_method"] == "gstlal p_astro.json"


def test_ranking_data_of_o3_reproduces_p_astro_package():
    # ligo.p_astro's own O3 ranking data (G322589): the terrestrial count its tests expect
    from importlib import resources

    import ligo.p_astro.tests.data

    data = resources.files(ligo.p_astro.tests.data).joinpath("ranking_data_G322589.xml.gz").read_bytes()
    _, terrestrial = gw_classify._p_astro_gstlal()._get_ln_f_over_b(data, [21.65], 14394240, 40)
    assert terrestrial == pytest.approx(32575, abs=1)


def test_bad_ranking_data_refused(g197392, psd):
    with pytest.raises(formats.Refused, match="rankingstatpdf"):
        formats.identify(samples.candidate_bundle(g197392, psd, ranking=psd, ln_likelihood_ratio=3.0))


# ----- burst (cWB) candidates -----

def test_burst_candidate():
    bundle = samples.burst_bundle(gps_time=1128678900.5, duration_s=0.2, far_hz=1e-9)
    message = formats.identify(bundle, "cwb.tar")
    assert (message.kind, message.event_id, message.alert_type) == ("gwcand", "CWB-1128678900.5000", "burst")
    burst = coinc.candidate_from_bytes(bundle)
    assert burst.group == "Burst" and burst.instruments == ("H1", "L1")
    assert burst.central_frequency_hz == 150 and burst.duration_s == pytest.approx(0.2)
    facts = burst.facts()
    assert superevents.segment(facts, 1.0) == pytest.approx((1128678900.4, 1128678900.6))
    assert superevents.significance(facts, THRESHOLDS) == "significant"  # 3 x FAR < 1/year
    assert superevents.significance(facts | {"far_hz": 2e-8}, THRESHOLDS) == "less-significant"
    assert gw_classify.classification_dict(burst, {})["p_astro"] == {}
    assert len(coinc.burst_skymap(coinc.split_bundle(bundle).skymap)) > 0


def test_burst_without_its_skymap_refused():
    import tarfile

    bundle = samples.burst_bundle(gps_time=1128678900.5, duration_s=0.2, far_hz=1e-9)
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        coinc_xml = tar.extractfile("coinc.xml.gz").read()
    with pytest.raises(formats.Refused, match="without its sky map"):
        formats.identify(coinc_xml, "coinc.xml.gz")
    with pytest.raises(formats.Refused, match="sky map is not a readable"):
        formats.identify(samples._tar({"coinc.xml.gz": coinc_xml, "cwb.fits": b"SIMPLE  = nonsense"}))


# ----- timers -----

def test_timers(tmp_path):
    from skyspool import timers
    from skyspool.paths import Entry

    spool = Spool(tmp_path)
    path = spool.entry_path("gwcand", "gstlal-1", 1, "coinc", "tar")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    entry = Entry("gwcand", "gstlal-1", 1, "coinc", path)
    assert timers.seconds_to_next(spool) == float("inf") and not timers.wait_for_next(spool)
    timers.set_timer(spool, entry, time.time() + 60, "later")
    assert 50 < timers.seconds_to_next(spool) <= 60 and timers.take_due(spool) == []
    timers.set_timer(spool, entry, time.time() + 0.2, "soon")
    assert timers.wait_for_next(spool) and not list(spool.timers.iterdir())
