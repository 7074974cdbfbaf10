"""The product schemas of workflow/schemas/ (stats.json, notice.json, coincidences.json,
classification.json) against real products: the corpus GW alerts through `skyspool process`, a
Fermi GBM notice coinciding with a GW alert, a pipeline candidate's classification."""

import json

import jsonschema
import pytest

import gwcand_samples as samples
from skyspool import coincidence, config
from skyspool.gwcand import products as gwcand_products
from skyspool.notices import products as notice_products
from support import make_spool
from test_coincidence import CONFIG, GW_ALERT, _arrive, _gbm_at, _spool

SCHEMAS = config.workflow_root() / "workflow" / "schemas"
# The keys each product form must have, written out (not read from the code that makes them).
REQUIRED = {
    "stats": [["event_id", "alert_type", "area50_deg2", "area90_deg2", "ra_deg", "dec_deg", "distmean_mpc",
               "diststd_mpc", "far_hz", "significant", "instruments", "group", "pipeline", "event_time",
               "skymap_pixels"],
              ["trigger_id", "notice_type", "kind", "role", "mission", "instrument", "trigger_time", "ra_deg",
               "dec_deg", "error_radius_deg", "far_hz", "retraction", "area50_deg2", "area90_deg2",
               "skymap_source"]],
    "notice": [["event_id", "kind", "alert_type", "sequence", "time_created", "time_issued", "retracted",
                "event", "localization", "external_coinc", "urls"],
               ["kind", "trigger_id", "notice_type", "role", "mission", "instrument", "source_format",
                "trigger_time", "ra_deg", "dec_deg", "error_radius_deg", "far_hz", "retraction", "facts"]],
    "coincidences": [["event_id", "kind", "entry", "coincidences", "preferred", "publishable", "combined_with"]],
    "classification": [["event_id", "alert_type", "method", "significant"],
                       ["candidate_id", "search", "p_astro_method", "properties_method"]],
}
COINCIDENCE_KEYS = ["kind", "search", "trigger_id", "entry", "trigger_time", "time_difference_s", "window_s",
                    "external_rate_hz", "gw_far_hz", "temporal_far_hz", "skymap_overlap", "spacetime_far_hz",
                    "has_skymap", "likely_noise", "publishable", "publishable_reasons"]


def schema(name):
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def check(name, product):
    """``product`` is valid and has every key of one of the product's forms."""
    jsonschema.Draft202012Validator(schema(name)).validate(product)
    assert any(set(keys) <= set(product) for keys in REQUIRED[name]), (name, sorted(product))


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_schemas_require_the_written_out_keys(name):
    jsonschema.Draft202012Validator.check_schema(schema(name))
    document = schema(name)
    forms = [form["required"] for form in document.get("anyOf", [])] or [document["required"]]
    assert sorted(map(sorted, forms)) == sorted(map(sorted, REQUIRED[name]))
    if name == "coincidences":
        assert document["properties"]["coincidences"]["items"]["required"] == COINCIDENCE_KEYS
    for form in document.get("anyOf", []) + [document]:  # every field with a unit says it
        for field, spec in form.get("properties", {}).items():
            unit = {"_deg": "deg", "_deg2": "deg2", "_mpc": "Mpc", "_hz": "Hz", "_s": "s)"}.get(
                "_" + field.rsplit("_", 1)[-1])
            assert unit is None or unit in spec.get("description", ""), (name, field)


def test_gw_products_match_their_schemas(processed_gw_spool):
    spool = processed_gw_spool
    checked = {}
    for entry in spool.entries():
        for name in REQUIRED:
            path = spool.product(entry, f"{name}.json")
            if path.exists():
                check(name, json.loads(path.read_text()))
                checked[name] = checked.get(name, 0) + 1
    assert set(checked) == set(REQUIRED)
    assert checked["notice"] == 14


def test_notice_and_coincidence_products_match_their_schemas(tmp_path):
    spool = _spool(tmp_path / "spool")
    gw_data = GW_ALERT.read_bytes()
    gw_entry = _arrive(spool, tmp_path, "gw.json", gw_data)
    grb_entry = _arrive(spool, tmp_path, "grb.xml", _gbm_at(json.loads(gw_data)["event"]["time"], 2.0))
    for entry in (gw_entry, grb_entry):
        output = tmp_path / f"{entry.kind}-coincidences.json"
        coincidence.write_coincidences(spool.root, entry.kind, entry.event_id, entry.name, output, CONFIG)
        coincidences = json.loads(output.read_text())
        check("coincidences", coincidences)
        assert len(coincidences["coincidences"]) == 1
        assert set(COINCIDENCE_KEYS) <= set(coincidences["coincidences"][0])
    notice_products.write_notice_json(str(grb_entry.path), tmp_path / "notice.json")
    check("notice", json.loads((tmp_path / "notice.json").read_text()))
    notice_products.write_skymap(str(grb_entry.path), str(tmp_path / "skymap.fits"), {"lat_fov_radius_deg": 65.0})
    notice_products.write_stats(str(grb_entry.path), str(tmp_path / "skymap.fits"), tmp_path / "stats.json")
    stats = json.loads((tmp_path / "stats.json").read_text())
    check("stats", stats)
    assert stats["area90_deg2"] > stats["area50_deg2"] > 0


def test_candidate_classification_matches_its_schema(tmp_path):
    bundle = tmp_path / "G197392.tar"
    bundle.write_bytes(samples.candidate_bundle(samples.candidate_files()[0].read_bytes(), samples.model_psd()))
    settings = config.load(make_spool(tmp_path / "spool"))["gwcand"]
    gwcand_products.write_classification(str(bundle), str(tmp_path / "classification.json"), settings)
    record = json.loads((tmp_path / "classification.json").read_text())
    check("classification", record)
    assert set(record["p_astro"]) == {"BNS", "NSBH", "BBH", "Terrestrial"}
