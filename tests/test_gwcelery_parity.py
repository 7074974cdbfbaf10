"""The orchestrator's decisions against GWCelery 3.0.0's, case by case, and in every arrival order.

Each case is a set of pipeline candidates of one superevent (all arrived before it settled),
with the preferred event and the first automatic alert GWCelery 3.0.0 gives for it, written in
the table. The same outcome is computed two more ways:

- by skyspool (:func:`skyspool.superevents.best_member`, :func:`skyspool.orchestrator.first_alert`)
  with the shipped default configuration;
- by GWCelery 3.0.0 itself: its ``tasks/superevents.py`` (``keyfunc``, ``select_preferred_event``,
  ``should_publish``, ``is_complete``) and ``conf/__init__.py`` loaded from the installed
  ``gwcelery`` distribution with its broker-side imports stubbed (the Makefile installs it
  without dependencies, as a reference only), then its orchestrator's path for a settled
  superevent: a complete candidate that passes the significant criteria makes the superevent
  SIGNIF_LOCKED (EARLY_WARNING for an early-warning candidate) and the preferred event is sent
  if it passes them with no DQV/INJ label; otherwise a complete less-significant candidate makes
  it LOW_SIGNIF_LOCKED and a less-significant alert goes out on the same terms.
"""

import importlib.util
import itertools
import json
import logging
import os
import sys
import types
from dataclasses import replace as dataclass_replace
from pathlib import Path

import pytest

from skyspool import config as skyspool_config
from skyspool import gw_classify, orchestrator, superevents
from skyspool.formats.coinc import Candidate
from skyspool.paths import Spool

T0 = 1128678900.0
MONTH, YEAR = 1 / (30 * 86400), 1 / (365 * 86400)


def cand(cid, far, snr=10.0, *, group="CBC", search="AllSky", ifos=("H1", "L1"), complete=True,
         offline=False, dq="ok", pipeline=None, dt=0.0):
    """One candidate's facts as the orchestrator holds them."""
    return {"candidate_id": cid, "group": group, "search": search, "far_hz": far, "snr": snr,
            "instruments": list(ifos), "complete": complete, "offline": offline,
            "pipeline": pipeline or ("CWB" if group == "Burst" else cid.split("-")[0]),
            "gps_time": T0 + dt, "category": "production", "duration_s": 0.2 if group == "Burst" else None,
            "dq": {"state": dq, "reason": f"test: {dq}"}, "injection": dq == "injection"}


# (name, candidates, GWCelery's preferred event, GWCelery's first automatic alert)
CASES = [
    ("significant all-sky", [cand("gstlal-a", 1e-8)], "gstlal-a", "preliminary"),
    ("less-significant all-sky", [cand("gstlal-a", 1e-6)], "gstlal-a", "less-significant"),
    ("between thresholds and the FAR gate", [cand("pycbc-a", 1e-4)], "pycbc-a", None),
    ("significant threshold is inclusive", [cand("MBTA-a", MONTH / 7)], "MBTA-a", "preliminary"),
    ("issue: less-significant beats noise above the FAR gate",
     [cand("gstlal-a", 1e-6, 9.0), cand("pycbc-b", 1e-3, 10.0)], "gstlal-a", "less-significant"),
    ("issue: significant 2-detector all-sky beats 3-detector early warning",
     [cand("gstlal-ew", 1e-9, 12.0, search="EarlyWarning", ifos=("H1", "L1", "V1")),
      cand("pycbc-a", 1e-9, 9.0)], "pycbc-a", "preliminary"),
    ("early warning alone", [cand("spiir-ew", 5e-8, search="EarlyWarning")], "spiir-ew", "earlywarning"),
    ("early warning has no less-significant alerts", [cand("spiir-ew", 1e-6, search="EarlyWarning")],
     "spiir-ew", None),
    ("significant early warning beats less-significant all-sky",
     [cand("spiir-ew", 5e-8, 8.0, search="EarlyWarning"), cand("gstlal-a", 1e-6, 20.0)],
     "spiir-ew", "earlywarning"),
    ("SSM significant: 3 x FAR <= 1/year", [cand("MBTA-s", 1e-8, search="SSM")], "MBTA-s", "preliminary"),
    ("SSM has no less-significant alerts", [cand("gstlal-s", 1e-7, search="SSM")], "gstlal-s", None),
    ("all-sky beats SSM", [cand("gstlal-s", 1e-10, 20.0, search="SSM"), cand("gstlal-a", 1e-8, 9.0)],
     "gstlal-a", "preliminary"),
    ("cWB BBH: 7 x FAR <= 1/30 days", [cand("CWB-b", 2e-8, group="Burst", search="BBH")],
     "CWB-b", "preliminary"),
    ("cWB all-sky burst at the same FAR is less-significant", [cand("CWB-a", 2e-8, group="Burst")],
     "CWB-a", "less-significant"),
    ("burst all-sky: 3 x FAR <= 1/year", [cand("CWB-a", 1e-8, group="Burst")], "CWB-a", "preliminary"),
    ("burst less-significant: 8 x FAR <= 8 x 2/day", [cand("MLy-a", 2e-5, group="Burst")],
     "MLy-a", "less-significant"),
    ("burst above the less-significant threshold", [cand("MLy-a", 1e-4, group="Burst")], "MLy-a", None),
    ("CBC all-sky beats cWB BBH", [cand("CWB-b", 1e-12, group="Burst", search="BBH", ifos=("H1", "L1", "V1")),
                                   cand("pycbc-a", 1e-8, 8.0)], "pycbc-a", "preliminary"),
    ("CBC beats a more significant burst",
     [cand("CWB-a", 1e-12, group="Burst", ifos=("H1", "L1", "V1")), cand("gstlal-a", 1e-8, 9.0)],
     "gstlal-a", "preliminary"),
    ("MDC CBC significant", [cand("gstlal-m", 1e-8, search="MDC")], "gstlal-m", "preliminary"),
    ("MDC has no less-significant alerts", [cand("gstlal-m", 1e-6, search="MDC")], "gstlal-m", None),
    ("offline candidate: no alert", [cand("gstlal-a", 1e-10, offline=True)], "gstlal-a", None),
    ("online less-significant beats offline significant",
     [cand("gstlal-a", 1e-10, 30.0, offline=True), cand("pycbc-a", 1e-6, 8.0)], "pycbc-a", "less-significant"),
    ("DQ veto: no alert", [cand("gstlal-a", 1e-10, dq="vetoed")], "gstlal-a", None),
    ("injection (INJ): no alert", [cand("gstlal-a", 1e-10, dq="injection")], "gstlal-a", None),
    ("more detectors first", [cand("gstlal-a", 1e-9, 20.0), cand("MBTA-a", 1e-9, 8.0, ifos=("H1", "L1", "V1"))],
     "MBTA-a", "preliminary"),
    ("then the higher SNR", [cand("gstlal-a", 1e-9, 9.0), cand("pycbc-a", 1e-9, 12.0)], "pycbc-a", "preliminary"),
    ("complete before significant",
     [cand("spiir-a", 1e-12, 30.0, ifos=("H1", "L1", "V1"), complete=False), cand("gstlal-a", 1e-6, 8.0)],
     "gstlal-a", "less-significant"),
    ("significant before more detectors",
     [cand("gstlal-a", 1e-6, 20.0, ifos=("H1", "L1", "V1")), cand("pycbc-a", 1e-8, 8.0)],
     "pycbc-a", "preliminary"),
    ("bursts: the lower FAR, detectors not counted",
     [cand("CWB-a", 1e-9, group="Burst", ifos=("H1", "L1", "V1")), cand("MLy-a", 1e-10, group="Burst")],
     "MLy-a", "preliminary"),
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return skyspool_config.load(Spool(tmp_path_factory.mktemp("cfg")))["orchestrator"]


def _outcome(verdict: dict):
    """skyspool's verdict in GWCelery's alert_type words."""
    if verdict["alert_type"] is None:
        return None
    if verdict["alert_type"] == "early_warning":
        return "earlywarning"
    return "preliminary" if verdict["significant"] else "less-significant"


def skyspool_decision(candidates, settings):
    gated = [c for c in candidates if c["far_hz"] <= settings["superevent_far_threshold_hz"]]
    preferred = superevents.best_member(gated, settings["thresholds"])
    return preferred["candidate_id"], _outcome(orchestrator.first_alert(preferred, set(), settings))


# ----- GWCelery 3.0.0 as the reference -----

def _stub(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _decorator_factory(*args, **kwargs):
    return lambda function: function


@pytest.fixture(scope="module")
def gwcelery():
    """GWCelery 3.0.0's tasks/superevents.py with its configuration, without a broker (and
    its tasks/p_astro.py as the attribute ``p_astro``)."""
    spec = importlib.util.find_spec("gwcelery")
    if spec is None:
        if os.environ.get("CI"):
            pytest.fail("gwcelery 3.0.0 (the reference) is not installed: make .venv/.installed installs it")
        pytest.skip("gwcelery 3.0.0 (the reference) is not installed")
    root = Path(spec.origin).parent
    stubs = {"celery": _stub("celery"), "celery.utils": _stub("celery.utils"),
             "celery.utils.log": _stub("celery.utils.log", get_task_logger=logging.getLogger),
             # celery's lazy proxy, evaluated at once (ligo.p_astro's data files GWCelery reads)
             "celery.local": _stub("celery.local", PromiseProxy=lambda function, args=(), kwargs=None:
                                   function(*args, **(kwargs or {}))),
             "igwn_alert": _stub("igwn_alert"), "igwn_alert.client": _stub("igwn_alert.client",
                                                                           DEFAULT_SERVER="kafka://invalid"),
             "gwcelery": _stub("gwcelery", __path__=[str(root)]),
             "gwcelery.tasks": _stub("gwcelery.tasks", __path__=[str(root / "tasks")]),
             "gwcelery.tasks.gracedb": _stub("gwcelery.tasks.gracedb", task=_decorator_factory,
                                             catch_retryable_http_errors=lambda function: function),
             "gwcelery.tasks.igwn_alert": _stub("gwcelery.tasks.igwn_alert", handler=_decorator_factory)}
    loaded = ["gwcelery.conf", "gwcelery.tasks.superevents", "gwcelery.tasks.p_astro", "gwcelery.util"]
    saved = {name: sys.modules.get(name) for name in [*stubs, *loaded]}
    sys.modules.update(stubs)
    try:
        conf = _load("gwcelery.conf", root / "conf" / "__init__.py")
        stubs["gwcelery"].app = types.SimpleNamespace(
            conf={k: v for k, v in vars(conf).items() if not k.startswith("_")}, task=_decorator_factory)
        superevents_module = _load("gwcelery.tasks.superevents", root / "tasks" / "superevents.py")
        superevents_module.p_astro = _load("gwcelery.tasks.p_astro", root / "tasks" / "p_astro.py")
        yield superevents_module
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def gracedb_event(c):
    """The candidate as GraceDB's event JSON (what GWCelery's functions read)."""
    labels = ["PASTRO_READY", "EMBRIGHT_READY", "SKYMAP_READY"] if c["complete"] else []
    labels += ["EARLY_WARNING"] if c["search"] == "EarlyWarning" else []
    labels += {"vetoed": ["DQV"], "injection": ["INJ"]}.get(c["dq"]["state"], [])
    if c["group"] == "CBC":
        extra = {"CoincInspiral": {"snr": c["snr"]},
                 "SingleInspiral": [{"ifo": ifo, "chisq": 1.0} for ifo in c["instruments"]]}
    else:
        extra = {"MultiBurst" if c["pipeline"] == "CWB" else "MLyBurst": {"snr": c["snr"], "SNR": c["snr"]}}
    return {"graceid": c["candidate_id"], "group": c["group"], "pipeline": c["pipeline"], "search": c["search"],
            "far": c["far_hz"], "offline": c["offline"], "instruments": ",".join(c["instruments"]),
            "labels": labels, "extra_attributes": extra, "gpstime": c["gps_time"]}


def gwcelery_decision(gw, candidates):
    events = [gracedb_event(c) for c in candidates]
    accepted = [e for e in events if e["far"] <= gw.app.conf["superevent_far_threshold"]]
    preferred = gw.select_preferred_event(accepted)
    complete = [e for e in accepted if gw.is_complete(e)]
    clean = {"DQV", "INJ"}.isdisjoint(preferred["labels"])
    if any(gw.should_publish(e, significant=True) for e in complete):
        sent = gw.should_publish(preferred, significant=True) and clean
        kind = "earlywarning" if "EARLY_WARNING" in preferred["labels"] else "preliminary"
    elif any(gw.should_publish(e, significant=False) for e in complete):
        sent, kind = gw.should_publish(preferred, significant=False) and clean, "less-significant"
    else:
        sent, kind = False, None
    return preferred["graceid"], kind if sent else None


@pytest.mark.parametrize("name, candidates, preferred, alert", CASES, ids=[c[0] for c in CASES])
def test_same_decision_as_gwcelery(name, candidates, preferred, alert, settings, gwcelery):
    assert gwcelery_decision(gwcelery, candidates) == (preferred, alert)
    assert skyspool_decision(candidates, settings) == (preferred, alert)


def test_default_thresholds_are_gwcelerys(settings, gwcelery):
    conf = gwcelery.app.conf
    assert settings["superevent_far_threshold_hz"] == conf["superevent_far_threshold"]
    for (group, search), key in {("cbc", "allsky"): "cbc_allsky", ("cbc", "earlywarning"): "cbc_early_warning",
                                 ("cbc", "ssm"): "cbc_ssm", ("cbc", "mdc"): "cbc_mdc",
                                 ("burst", "allsky"): "burst_allsky", ("burst", "bbh"): "burst_bbh"}.items():
        ours = settings["thresholds"][key]
        assert ours["rank"] == conf["superevent_candidate_preference"][group][search]
        assert ours["trials_factor"] == conf["significant_alert_trials_factor"][group][search]
        assert ours["significant_far_hz"] == conf["significant_alert_far_threshold"][group][search]
        assert ours["less_significant_trials_factor"] == conf["preliminary_alert_trials_factor"][group][search]
        less = conf["preliminary_alert_far_threshold"][group][search]
        assert ours["less_significant_far_hz"] == (None if less == float("-inf") else less)


def _labels_after(spool, sid, verdict):
    if verdict["alert_type"]:
        orchestrator._label_sent(spool, sid, verdict["alert_type"], verdict["significant"])


@pytest.mark.parametrize("name, candidates, preferred, alert",
                         [c for c in CASES if len(c[1]) > 1], ids=[c[0] for c in CASES if len(c[1]) > 1])
def test_same_decision_in_every_arrival_order(name, candidates, preferred, alert, settings, tmp_path):
    """The candidates join their superevent in every order (on disk, as the assign step
    does), then each one's decision step runs in that order: one superevent, the same
    preferred event and the same alerts every time."""
    thresholds = settings["thresholds"]
    for n, order in enumerate(itertools.permutations(candidates)):
        spool = Spool(tmp_path / str(n))
        alerts = []
        with superevents.decision_lock(spool):
            for c in order:
                if c["far_hz"] <= settings["superevent_far_threshold_hz"]:
                    state = superevents.add_candidate(spool, dict(c), 1.0, 0.0, thresholds)
            for c in order:
                state = superevents.load(spool, state["superevent_id"])
                best = superevents.best_member(list(state["members"].values()), thresholds)
                verdict = orchestrator.first_alert(best, set(superevents.labels(spool, state["superevent_id"])),
                                                   settings)
                _labels_after(spool, state["superevent_id"], verdict)
                alerts.append(_outcome(verdict))
        assert len(superevents.all_states(spool)) == 1
        assert state["preferred_event"] == preferred
        assert [a for a in alerts if a] == ([alert] if alert else [])


def test_second_preliminary_rules(settings):
    significant, less = cand("gstlal-a", 1e-9), cand("gstlal-b", 1e-6)
    # GWCelery sends it whether or not the preferred event changed, unless a person acted
    assert orchestrator.second_alert(significant, {"SIGNIF_LOCKED", "ADVREQ"}, settings, True, False)[
        "alert_type"] == "preliminary"
    assert orchestrator.second_alert(significant, {"ADVOK"}, settings, True, False)["rule"] == "person_decided"
    assert orchestrator.second_alert(significant, {"ADVNO"}, settings, True, True)["rule"] == "person_decided"
    assert orchestrator.second_alert(significant | {"complete": False}, set(), settings, True, True)[
        "rule"] == "incomplete"
    # a preferred event that passes no threshold is never sent (the FAR 1e-4 Hz case)
    assert orchestrator.second_alert(cand("pycbc-c", 1e-4), set(), settings, True, True)[
        "rule"] == "below_thresholds"
    assert orchestrator.second_alert(less, set(), settings, True, True)["rule"] == "below_thresholds"
    # after a less-significant first: blocked once advocates were asked or a significant alert went
    assert orchestrator.second_alert(less, {"LOW_SIGNIF_LOCKED"}, settings, False, False)[
        "alert_type"] == "preliminary"
    for label in ("ADVREQ", "SIGNIF_LOCKED", "EARLY_WARNING"):
        assert orchestrator.second_alert(less, {label}, settings, False, False)["rule"] == "blocked"
    assert orchestrator.second_alert(significant, set(), settings | {"second_preliminary": "if_changed"},
                                     True, False)["rule"] == "unchanged"


def test_early_warning_blocks_later_less_significant_and_is_superseded(settings):
    less, early = cand("gstlal-a", 1e-6), cand("spiir-ew", 5e-8, search="EarlyWarning")
    assert orchestrator.first_alert(less, {"EARLY_WARNING"}, settings)["rule"] == "less_significant_blocked"
    assert orchestrator.first_alert(early, {"SIGNIF_LOCKED"}, settings)["rule"] == "early_warning_superseded"
    assert orchestrator.first_alert(cand("gstlal-b", 1e-9), {"EARLY_WARNING"}, settings)[
        "alert_type"] == "preliminary"
    assert orchestrator.first_alert(cand("gstlal-b", 1e-9), set(), settings | {"only_alert_for_mdc": True})[
        "rule"] == "only_alert_for_mdc"


@pytest.mark.parametrize("mass1, mass2, snr, far_hz, pipeline, instruments", [
    (1.4, 1.4, 10.0, 1e-8, "pycbc", ("H1", "L1")),
    (1.4, 1.4, 10.0, 1e-8, "gstlal", ("H1", "L1")),
    (4.0, 1.2, 10.0, 1e-8, "MBTA", ("H1", "L1", "V1")),
    (30.0, 25.0, 25.0, 1e-12, "spiir", ("H1", "L1")),
    (8.0, 4.0, 8.5, 1e-6, "pycbc", ("H1", "L1", "V1")),
    (2.0, 1.5, 12.0, 3e-4, "gstlal", ("L1",)),
])
def test_p_astro_fallback_as_gwcelery(mass1, mass2, snr, far_hz, pipeline, instruments, gwcelery, tmp_path):
    mchirp = (mass1 * mass2) ** 0.6 / (mass1 + mass2) ** 0.2
    candidate = Candidate("c", pipeline, pipeline, "CBC", "AllSky", "production", False, T0, far_hz, snr,
                          instruments, mass1, mass2, 0.0, 0.0, mchirp, None)
    settings = skyspool_config.load(Spool(tmp_path))["gwcand"]["p_astro"]
    ours = gw_classify.p_astro_fallback(candidate, settings)
    reference = json.loads(gwcelery.p_astro.compute_p_astro(snr, far_hz, mass1, mass2, pipeline.lower(),
                                                            set(instruments)))
    assert ours == pytest.approx(reference, rel=1e-12, abs=1e-15)
    assert sum(ours.values()) == pytest.approx(1)


def test_p_astro_fallback_numbers():
    """The issue's cases, GWCelery's answers written out: 1.4+1.4 Msun, SNR 10, FAR 1e-8 Hz is
    a BNS; (4.0, 1.2) Msun is an NSBH by ligo.p_astro's mass cuts (m2 <= 3 < m1)."""
    settings = {"snr_star": 8.5, "far_star_hz": 1 / (30 * 86400)}
    bns = gw_classify.p_astro_fallback(Candidate("c", "pycbc", "pycbc", "CBC", "AllSky", "production", False, T0,
                                              1e-8, 10.0, ("H1", "L1"), 1.4, 1.4, 0, 0, 1.22, None), settings)
    nsbh = gw_classify.p_astro_fallback(Candidate("c", "pycbc", "pycbc", "CBC", "AllSky", "production", False, T0,
                                               1e-8, 10.0, ("H1", "L1"), 4.0, 1.2, 0, 0, 1.87, None), settings)
    assert bns["BNS"] == pytest.approx(0.8902, abs=1e-4) and bns["NSBH"] == bns["BBH"] == 0
    assert nsbh["NSBH"] == pytest.approx(0.9141, abs=1e-4) and nsbh["BNS"] == nsbh["BBH"] == 0


def _alert_schema_validator():
    import importlib.resources

    import jsonschema

    schema = json.loads((importlib.resources.files("igwn_gwalert_schema") / "igwn.alerts.Alert.schema.json")
                        .read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("member, classification, expected", [
    # CBC all-sky: p_astro and HasNS/HasRemnant/HasMassGap
    (cand("gstlal-a", 1e-9), {"p_astro": {"BNS": 0.9, "NSBH": 0, "BBH": 0, "Terrestrial": 0.1},
                              "properties": {"HasNS": 1.0, "HasRemnant": 1.0, "HasMassGap": 0.0}},
     {"group": "CBC", "classification": {"BNS": 0.9, "NSBH": 0, "BBH": 0, "Terrestrial": 0.1},
      "properties": {"HasNS": 1.0, "HasRemnant": 1.0, "HasMassGap": 0.0}, "duration": None}),
    # SSM: HasSSM, no p_astro
    (cand("MBTA-s", 1e-10, search="SSM"), {"p_astro": {}, "properties": {"HasSSM": 0.8, "HasNS": 1.0,
                                                                            "HasMassGap": 0.0}},
     {"group": "CBC", "classification": {}, "properties": {"HasSSM": 0.8, "HasNS": 1.0, "HasMassGap": 0.0},
      "duration": None}),
    # cWB BBH: announced as CBC, with its p_astro and source properties, no burst fields
    (cand("CWB-b", 1e-9, group="Burst", search="BBH") | {"central_frequency_hz": 80.0},
     {"p_astro": {"BBH": 0.95, "Terrestrial": 0.05}, "properties": {"HasNS": 0.0, "HasRemnant": 0.0,
                                                                     "HasMassGap": 0.0}},
     {"group": "CBC", "classification": {"BBH": 0.95, "Terrestrial": 0.05},
      "properties": {"HasNS": 0.0, "HasRemnant": 0.0, "HasMassGap": 0.0}, "duration": None,
      "central_frequency": None}),
    # burst all-sky: duration and central frequency, nothing else
    (cand("CWB-a", 1e-9, group="Burst") | {"central_frequency_hz": 150.0}, {"p_astro": {}, "properties": {}},
     {"group": "Burst", "classification": {}, "properties": {}, "duration": 0.2, "central_frequency": 150.0}),
])
def test_alert_fields_per_search(member, classification, expected):
    from skyspool import outgoing

    record = outgoing.alert_record("S151012a", "preliminary", member=member, classification=classification,
                                   skymap=b"SIMPLE", significant=True,
                                   gracedb_url="https://gracedb.invalid/superevents/{superevent_id}/view/")
    errors = [e.message for e in _alert_schema_validator().iter_errors(record)]
    assert errors == []
    assert {key: record["event"][key] for key in expected} == expected
    assert record["urls"] == {"gracedb": "https://gracedb.invalid/superevents/S151012a/view/"}
    assert outgoing.avro_bytes(record)  # and as SCiMMA's Avro


def test_classification_per_search(tmp_path):
    pipeline_settings = skyspool_config.load(Spool(tmp_path))["gwcand"]
    ssm = Candidate("s", "MBTA", "MBTAOnline", "CBC", "SSM", "production", False, T0, 1e-10, 9.0, ("H1", "L1"),
                    0.7, 0.5, 0.0, 0.0, (0.35 ** 0.6) / 1.2 ** 0.2, None)
    record = gw_classify.classification_dict(ssm, pipeline_settings)
    assert record["p_astro"] == {} and set(record["properties"]) == {"HasSSM", "HasNS", "HasMassGap"}
    assert record["properties"]["HasSSM"] > 0.9 and record["properties"]["HasNS"] == 1.0
    bbh = Candidate("b", "CWB", "cwb", "Burst", "BBH", "production", False, T0, 1e-9, 12.0, ("H1", "L1"),
                    0.0, 0.0, 0.0, 0.0, 0.0, {"BBH": 0.97, "Terrestrial": 0.03}, duration_s=0.1)
    record = gw_classify.classification_dict(bbh, pipeline_settings)
    # GWCelery: equal masses of 30 Msun when cWB gives no chirp mass; its own p_astro
    assert record["template"]["mass1_msun"] == record["template"]["mass2_msun"] == 30.0
    assert record["properties"]["HasNS"] == 0.0 and record["p_astro"] == {"BBH": 0.97, "Terrestrial": 0.03}
    burst = dataclass_replace(bbh, search="AllSky")
    assert gw_classify.classification_dict(burst, pipeline_settings)["properties"] == {}


# ----- the decision steps on a spool (no BAYESTAR: a uniform sky map stands in) -----

def _spool_with_candidates(tmp_path, bundles, overrides):
    import io

    import numpy as np
    from astropy.table import Table
    from ligo.skymap.io import write_sky_map

    from skyspool import gwcand
    from skyspool.formats import identify
    from skyspool.gwcand import products as gwcand_products
    from support import make_spool

    spool = make_spool(tmp_path / "spool", overrides)
    table = Table({"UNIQ": np.arange(4, 16), "PROBDENSITY": np.full(12, 1 / (4 * np.pi))})
    buffer = io.BytesIO()
    write_sky_map(buffer, table, moc=True)
    entries = []
    for data in bundles:
        message = identify(data, "candidate.tar")
        path = spool.entry_path("gwcand", message.event_id, 1, message.alert_type, message.extension)
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        entry = spool.find_entry("gwcand", message.event_id, f"001-{message.alert_type}")
        spool.product(entry, "x").parent.mkdir(parents=True)
        spool.product(entry, gwcand.LOCALIZATION).write_bytes(buffer.getvalue())
        gwcand_products.write_classification(str(path), str(spool.product(entry, gwcand.CLASSIFICATION)),
                                             skyspool_config.load(spool)["gwcand"])
        entries.append(entry)
    return spool, entries


@pytest.fixture(scope="module")
def two_candidate_bundles():
    import gwcand_samples as samples

    g197392, psd = samples.candidate_files()[0].read_bytes(), samples.model_psd()
    return [samples.candidate_bundle(g197392, psd, far_hz=1e-9),
            samples.candidate_bundle(g197392, psd, program="gstlal_inspiral", gps_shift_s=0.01, snr_scale=1.2,
                                     far_hz=1e-9)]


@pytest.mark.parametrize("person", [None, "ADVOK", "ADVNO"])
def test_decisions_on_a_spool_and_a_person_stops_the_second_preliminary(tmp_path, two_candidate_bundles, person):
    settings = {"orchestrator": {"orchestrator_timeout_s": 0, "second_preliminary_delay_s": 0}}
    spool, entries = _spool_with_candidates(tmp_path, two_candidate_bundles, settings)
    config = skyspool_config.load(spool)
    def step(function, entry, product):
        orchestrator.write_step(function, spool, entry, str(spool.product(entry, product)), config)
        return json.loads(spool.product(entry, product).read_text())

    for entry in entries:
        step(orchestrator.assign, entry, "superevent.json")
    assert orchestrator.settle_due(entries[0], config)
    records = [step(orchestrator.decide, entry, "orchestrator.json") for entry in entries]
    sid = records[0]["superevent_id"]
    # one superevent, preferred event the louder gstlal candidate, one preliminary
    assert records[0]["preferred_event"] == records[1]["preferred_event"] == "gstlal-1128678900.4543"
    assert [r["rule"] for r in records] == ["significant", "already_sent"]
    if person:
        superevents.add_label(spool, sid, person, "a person decided")
    assert orchestrator.second_preliminary_due(entries[0], config)
    second = orchestrator.second_preliminary(spool, entries[0], config)
    assert second["rule"] == ("person_decided" if person else "second_preliminary")
    alerts = superevents.load(spool, sid)["alerts"]
    assert [a["alert_type"] for a in alerts] == ["preliminary"] * (1 if person else 2)
    logged = superevents.decisions(spool, sid)
    assert [d["step"] for d in logged] == ["assign", "assign", "decide", "decide", "second_preliminary"]
    assert logged[2]["numbers"]["trials_factor x far_hz"] == pytest.approx(7e-9)
    assert logged[2]["outcome"] == "sent preliminary #1"


# ----- ligo.em-bright from a data folder, with classifiers this test trains -----

def test_em_bright_from_a_data_folder(tmp_path):
    """Classifiers trained here on synthetic samples, written in ligo.em-bright's file format
    (pickled (HasNS, HasRemnant, name) per EOS, (classifier, name) for the mass gap and SSM,
    the EOS Bayes-factor and maximum-mass maps, the EOS draws): classification.json comes from
    them, with the numbers the classifiers give; without the folder, from the analytic method."""
    import pickle

    import h5py
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    if importlib.util.find_spec("ligo.em_bright") is None:
        if os.environ.get("CI"):
            pytest.fail("ligo.em-bright is not installed")
        pytest.skip("ligo.em-bright is not installed")
    import ligo.em_bright

    rng = np.random.default_rng(3)
    m1 = rng.uniform(1, 30, 3000)
    m2 = rng.uniform(0.2, m1)
    features = np.column_stack([m1, m2, rng.uniform(-0.5, 0.5, (2, 3000)).T, rng.uniform(8, 30, 3000)])

    def trained(labels, columns=features):
        return RandomForestClassifier(n_estimators=10, random_state=0).fit(columns, labels)

    has_ns, has_remnant = trained(m2 <= 3), trained((m2 <= 3) & (m1 <= 8))
    mass_gap = trained(((m1 > 3) & (m1 < 5)) | ((m2 > 3) & (m2 < 5)))
    ssm_features = np.column_stack([features[:, :4], (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2, features[:, 4]])
    ssm = trained(np.digitize(m2, [0.5, 1, 2, 3, 5, 8]), ssm_features)  # 7 classes, as its SSM model
    folder = tmp_path / "em-bright-data"
    folder.mkdir()
    for name in ligo.em_bright.PACKAGE_DATA_LINKS:
        contents = {"MASS_GAP.pickle": (mass_gap, name), "GSTLAL_SSM.pickle": (ssm, name),
                    "MBTA_SSM.pickle": (ssm, name)}.get(name, (has_ns, has_remnant, name))
        if name.endswith(".pickle"):
            (folder / name).write_bytes(pickle.dumps(contents))
    (folder / "EOS_BAYES_FACTOR_MAP.json").write_text(json.dumps({"SLy": 2.5}))
    (folder / "EOS_MAX_MASS_MAP.json").write_text(json.dumps({"SLy": 2.05}))
    (folder / "equil_2H.dat").write_text("1.0 1.1 0.12\n2.0 2.3 0.25\n")
    with h5py.File(folder / "EOS_POSTERIOR_DRAWS.h5", "w") as f:
        f["EOS"] = np.arange(10.0)

    settings = skyspool_config.load(Spool(tmp_path))["gwcand"]
    bns = Candidate("c", "pycbc", "pycbc", "CBC", "AllSky", "production", False, T0, 1e-9, 12.0, ("H1", "L1"),
                    1.4, 1.3, 0.0, 0.0, 1.17, None)
    analytic = gw_classify.classification_dict(bns, settings)
    assert analytic["properties_method"].startswith("analytic (gwcand.em_bright.data_dir not set)")
    settings["em_bright"]["data_dir"] = str(folder)
    record = gw_classify.classification_dict(bns, settings)
    assert record["properties_method"].startswith("ligo.em-bright 1.2.0 with the data files of")
    point = [[1.4, 1.3, 0.0, 0.0, 12.0]]
    assert record["properties"] == {"HasNS": has_ns.predict_proba(point)[0, 1],
                                    "HasRemnant": has_remnant.predict_proba(point)[0, 1],
                                    "HasMassGap": mass_gap.predict_proba(point)[0, 1]}
    assert record["properties"]["HasNS"] > 0.8 and record["properties"]["HasMassGap"] < 0.2
    light = dataclass_replace(bns, pipeline="MBTA", search="SSM", mass1=0.6, mass2=0.4, mchirp=0.42)
    probabilities = ssm.predict_proba([[0.6, 0.4, 0.0, 0.0, 0.42, 12.0]])[0]
    assert gw_classify.classification_dict(light, settings)["properties"] == pytest.approx({
        "HasSSM": probabilities[:4].sum(), "HasNS": probabilities[[1, 4, 5, 6]].sum(),
        "HasMassGap": probabilities[[2, 5]].sum()})
    # an incomplete folder: the analytic method, saying why
    (folder / "MASS_GAP.pickle").unlink()
    assert "data files missing" in gw_classify.classification_dict(bns, settings)["properties_method"]
