"""Every nasa-gcn/gcn-schema 7.2 example (read in place from the corpus) through ``skyspool process``:
stored under the right kind and event id, the position and error radius in ``stats.json`` those of the
notice itself, the products of its localization's shape made, retractions honoured.

All 44 are processed in one spool (a module fixture), as a listener would drop them in.
"""

from __future__ import annotations

import base64
import json
import os
import shutil

import pytest

from skyspool import cli, config, status
from skyspool.formats import Refused, gcnjson, gcnschema
from support import CORPUS, FAST_CONFIG, entry_holding, make_spool

EXAMPLES = CORPUS / "notices" / "gcn-schema"
MAP_PRODUCTS = {"skymap.multiorder.fits", "moc90.fits", "contours.geojson", "skymap.png"}

# file, kind, event id, entry type, shape of the localization (None: no sky map)
CASES = [
    ("boom_alert.example.json", "grb", "BOOM-ZTF25acffkdr", "initial", None),
    ("burstcube_alert.example.json", "grb", "BurstCube-240601000", "initial", "circle"),
    ("burstcube_test.example.json", "grb", "test-BurstCube-240601000", "initial", "circle"),
    ("chime_frb.detection.example.json", "frb", "CHIME-427325191", "initial", "ellipse"),
    ("chime_frb.retraction.example.json", "frb", "CHIME-427325191", "retraction", None),
    ("chime_frb.subsequent.example.json", "frb", "CHIME-427325192", "subsequent", "ellipse"),
    ("chime_frb.update.example.json", "frb", "CHIME-427325191", "update", None),
    ("dsa110_frb.detection.example.json", "frb", "DSA110-240918aaaa", "initial", "ellipse"),
    ("dsa110_frb.retraction.example.json", "frb", "DSA110-240918aaaa", "retraction", None),
    ("dsa110_frb.subsequent.example.json", "frb", "DSA110-240918aaaa", "subsequent", "ellipse"),
    ("dsa110_frb.update.example.json", "frb", "DSA110-240918aaaa", "update", None),
    ("einstein_probe_wxt_alert.example.json", "grb", "EP-01708973486", "initial", "circle"),
    ("fermi_gbm_trigger.alert.example.json", "grb", "Fermi-745121685", "gbm_alert", None),
    ("fermi_gbm_trigger.final.example.json", "grb", "Fermi-745121685", "gbm_fin_pos", "circle"),
    ("fermi_gbm_trigger.flight1.example.json", "grb", "Fermi-745121685", "gbm_flt_pos", "circle"),
    ("fermi_gbm_trigger.flight2.example.json", "grb", "Fermi-745121685", "gbm_flt_pos", "circle"),
    ("fermi_gbm_trigger.flight3.example.json", "grb", "Fermi-745121685", "gbm_flt_pos", "circle"),
    ("fermi_gbm_trigger.ground1.example.json", "grb", "Fermi-745121685", "gbm_gnd_pos", "circle"),
    ("fermi_gbm_trigger.ground2.example.json", "grb", "Fermi-745121685", "gbm_gnd_pos", "circle"),
    ("fermi_lat_flare.example.json", "grb", "Fermi-LAT-OQ_334-20251120", "flare", None),
    ("glowbug_Alert.example.json", "grb", "Glowbug-BUG230423.789", "initial", None),
    ("heasarc_archive_alert.example.json", "grb", "HEASARC-IXPE-01001099", "initial", None),
    ("icecube_lvk_nu_track_search.example.json", "neutrino", "IceCube-LVK-S230914ak",
     "lvk_nu_track_search", "neutrinos"),
    ("icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json", "neutrino",
     "IceCube-137840_57034692", "initial", "circle"),
    ("km3net_alert.example.json", "neutrino", "KM3NeT-1", "initial", "circle"),
    ("km3net_alert.multiplet.example.json", "neutrino", "KM3NeT-2", "initial", "circle"),
    ("maxi_gsc.known.example.json", "grb", "MAXI-0858800020", "initial", None),
    ("maxi_gsc.known.retraction.example.json", "grb", "MAXI-0858800020", "retraction", None),
    ("maxi_gsc.unknown.circle.example.json", "grb", "MAXI-9995289617", "update", "circle"),
    ("maxi_gsc.unknown.ellipse.example.json", "grb", "MAXI-9995289617", "update", "ellipse"),
    ("maxi_gsc.unknown.noerror.example.json", "grb", "MAXI-9995289617", "initial", None),
    ("maxi_gsc.unknown.rectangle.example.json", "grb", "MAXI-9995289617", "update", "rectangle"),
    ("maxi_gsc.unknown.retraction.example.json", "grb", "MAXI-9995289617", "retraction", None),
    ("superk_sn_alert.real.example.json", "snews", "SuperK-SN.095001.000001", "initial", "circle"),
    ("superk_sn_alert.test.example.json", "snews", "test-SuperK-SN.095001.000001", "initial", "circle"),
    ("svom_eclairs_trigger.catalog.example.json", "grb", "test-SVOM-sb24022203", "initial", "circle"),
    ("svom_eclairs_trigger.not-slewing.example.json", "grb", "test-SVOM-sb24022203", "update", "circle"),
    ("svom_eclairs_trigger.slewing.example.json", "grb", "test-SVOM-sb24022203", "update", "circle"),
    ("svom_eclairs_trigger.wakeup.example.json", "grb", "test-SVOM-sb24022203", "initial", "circle"),
    ("svom_grm_trigger.example.json", "grb", "test-SVOM-sb24022203", "initial", "circle"),
    ("swift_bat_Guano.Retraction.example.json", "grb", "Swift-GUANO-694215995", "retraction", None),
    ("swift_bat_Guano.example.json", "grb", "Swift-GUANO-694215995", "initial", None),
    ("swift_bat_guano.loc_arc_min.example.json", "grb", "Swift-GUANO-694215995", "update", "circle"),
    ("swift_bat_guano.loc_map.example.json", "grb", "Swift-GUANO-694215995", "update", None),
]


def test_every_example_has_a_case():
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(case[0] for case in CASES)
    assert len(CASES) == 44


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    spool = make_spool(tmp_path_factory.mktemp("gcn-schema") / "spool", FAST_CONFIG)
    for path in sorted(EXAMPLES.glob("*.json")):
        shutil.copyfile(path, spool.inbox / path.name)  # copied in, as a person would
    cli.main(["process", str(spool.root), "--cores", "2"])
    return spool




def _own_error(record):
    error = record.get("ra_dec_error")
    return max(error[:2]) if isinstance(error, list) else error


@pytest.mark.parametrize("name, kind, event_id, entry_type, shape", CASES)
def test_example_through_process(processed, name, kind, event_id, entry_type, shape):
    data = (EXAMPLES / name).read_bytes()
    record = json.loads(data)
    entry = entry_holding(processed, kind, event_id, data)
    assert entry.alert_type == entry_type
    stats = json.loads(processed.product(entry, "stats.json").read_text())
    assert (stats["kind"], stats["trigger_id"]) == (kind, event_id)
    place = {"boom_alert.example.json": lambda: record["data"]["targets"][0],
             "icecube_lvk_nu_track_search.example.json": lambda: record["most_probable_direction"],
             }.get(name, lambda: record)()
    if "ra" in place:
        assert stats["ra_deg"] == pytest.approx(place["ra"] % 360)
        assert stats["dec_deg"] == pytest.approx(place["dec"])
    else:
        assert stats["ra_deg"] is None and stats["dec_deg"] is None
    assert stats["error_radius_deg"] == (None if _own_error(place) is None else pytest.approx(_own_error(place)))
    assert stats["retraction"] is (entry_type == "retraction")
    names = {p.name for p in processed.products_dir(entry).iterdir()}
    assert {"notice.json", "stats.json"} <= names
    if shape is None:
        assert not MAP_PRODUCTS & names and stats["area90_deg2"] is None
    else:
        assert MAP_PRODUCTS <= names, names
        assert stats["area90_deg2"] > 0
    if shape == "ellipse":
        assert stats["error_ellipse_deg"][:2] == pytest.approx(record["ra_dec_error"][:2])
    if shape == "rectangle":
        assert stats["error_rectangle_deg"] == record["rectangular_error_corners"]
        # Uniform within the quadrilateral: its 90% area is 90% of the rectangle's (~0.9 deg2).
        assert 0.5 < stats["area90_deg2"] < 1.2
    if entry_type == "retraction":
        event = status.event_status(processed, kind, event_id, config.load(processed))
        assert event["retracted"] is (processed.entries_of(kind, event_id)[-1] == entry)
    assert not processed.failure_record(entry, "stats.json").exists()


def test_schema_branch_or_version_in_the_url_and_forms_without_schema():
    data = json.loads((EXAMPLES / "maxi_gsc.unknown.circle.example.json").read_bytes())
    for url in ("https://gcn.nasa.gov/schema/v7.2.3/gcn/notices/maxi/gsc.unknown.schema.json",
                "https://gcn.nasa.gov/schema/stable/gcn/notices/maxi/gsc.unknown.schema.json",
                "https://gcn.nasa.gov/schema/v4.2.0/gcn/notices/maxi/gsc.unknown.schema.json"):
        notice = gcnjson.to_notice(json.dumps({**data, "$schema": url}).encode())
        assert notice.trigger_id == "MAXI-9995289617"
    without = {k: v for k, v in data.items() if k != "$schema"}
    assert gcnjson.to_notice(json.dumps(without).encode()).trigger_id == "MAXI-9995289617"
    # Einstein Probe without an id: named by its trigger time
    ep = json.loads((EXAMPLES / "einstein_probe_wxt_alert.example.json").read_bytes())
    del ep["id"], ep["$schema"]
    assert gcnjson.to_notice(json.dumps(ep).encode()).trigger_id == "EP-20240301T214605"


def test_a_notice_breaking_its_schema_is_refused_with_the_reason():
    assert gcnschema.schema_root() is not None or not os.environ.get("CI"), "GCN schema not installed"
    data = json.loads((EXAMPLES / "maxi_gsc.unknown.circle.example.json").read_bytes())
    with pytest.raises(Refused, match="not a valid maxi/gsc.unknown notice: .*unexpected_field"):
        gcnjson.to_notice(json.dumps({**data, "unexpected_field": 1}).encode())
    # Another version's schema may differ: accepted, the disagreement logged.
    other = {**data, "unexpected_field": 1,
             "$schema": "https://gcn.nasa.gov/schema/v4.2.0/gcn/notices/maxi/gsc.unknown.schema.json"}
    assert gcnjson.to_notice(json.dumps(other).encode()).trigger_id == "MAXI-9995289617"


@pytest.mark.parametrize("healpix_file, problem", [
    ("%%%", "healpix_file is not valid base64"),
    ("stuff", "healpix_file is not valid base64"),  # the schema's own placeholder
    (base64.b64encode(bytes(range(256)) * 8).decode(), "healpix_file is not a readable FITS file"),
])
def test_an_unreadable_own_sky_map_is_left_out_not_refused(healpix_file, problem):
    record = json.loads((EXAMPLES / "swift_bat_guano.loc_arc_min.example.json").read_bytes())
    notice = gcnjson.to_notice(json.dumps({**record, "healpix_file": healpix_file}).encode())
    assert notice.skymap is None and notice.facts["skymap_problem"].startswith(problem)
    assert (notice.ra_deg, notice.error_radius_deg) == (336.26, 0.5)  # the map comes from these


def test_fermi_gbm_targeted_search_and_guano_forms_without_schema():
    # written from the descriptions of these forms (no such file in the corpus): mission and
    # instrument fields, no $schema
    targeted = {"mission": "Fermi", "instrument": "GBM", "subtype": "TARGETED_SEARCH",
                "id": ["bn240501500"], "trigger_time": "2024-05-01T12:00:00.000",
                "ra": 150.0, "dec": -20.0, "ra_dec_error": 12.5, "containment_probability": 0.68}
    notice = gcnjson.to_notice(json.dumps(targeted).encode())
    assert (notice.trigger_id, notice.notice_type, notice.error_radius_deg) == (
        "Fermi-bn240501500", "gbm_targeted", 12.5)
    guano = json.loads((EXAMPLES / "swift_bat_guano.loc_arc_min.example.json").read_bytes())
    del guano["$schema"]
    assert gcnjson.to_notice(json.dumps(guano).encode()).trigger_id == "Swift-GUANO-694215995"
