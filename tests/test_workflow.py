"""The whole GW corpus through `skyspool process`: every product of every alert, checked."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import voeventparse
from astropy.io import fits
from mocpy import MOC

from skyspool import cli, config, status, targets
from skyspool.formats.gwalert import read_alert

NOTICE_PRODUCTS = ["notice.json", "notice.xml", "circular.txt"]
SKYMAP_PRODUCTS = ["skymap.multiorder.fits", "skymap.flat.fits.gz", "stats.json", "contours.geojson",
                   "moc50.fits", "moc90.fits", "skymap.png", "classification.json"]

REPO = config.workflow_root()


def test_every_corpus_alert_is_stored_and_nothing_quarantined(processed_gw_spool):
    spool = processed_gw_spool
    assert not list(spool.quarantine.iterdir())
    assert not list(spool.inbox.iterdir())
    # 14 files; the JSON and Avro forms of one alert differ in bytes, so both are kept.
    assert len(spool.entries()) == 14


def test_every_product_of_every_alert_exists(processed_gw_spool):
    spool = processed_gw_spool
    settings = config.load(spool)
    for entry in spool.entries():
        names = targets.product_names(entry, settings)
        expected = (NOTICE_PRODUCTS if entry.alert_type == "retraction"
                    else NOTICE_PRODUCTS + SKYMAP_PRODUCTS + ["volume.png", "coincidences.json"])
        assert set(expected) <= set(names), entry
        for name in names:
            assert spool.product(entry, name).stat().st_size > 0, (entry, name)


def test_products_hold_what_the_alert_says(processed_gw_spool):
    spool = processed_gw_spool
    for entry in spool.entries():
        alert = read_alert(entry.path)
        products = spool.products_dir(entry)
        notice = json.loads((products / "notice.json").read_text())
        assert (notice["event_id"], notice["alert_type"]) == (entry.event_id, entry.alert_type)
        assert notice["retracted"] == (entry.alert_type == "retraction")
        voevent = voeventparse.load(open(products / "notice.xml", "rb"))
        assert voeventparse.valid_as_v2_0(voevent)
        params = voeventparse.get_toplevel_params(voevent)
        assert params["GraceID"]["value"] == entry.event_id
        circular = (products / "circular.txt").read_text()
        assert entry.event_id in circular
        if alert.is_retraction:
            assert "Retraction" in circular
            continue
        assert (products / "skymap.multiorder.fits").read_bytes() == alert.skymap
        stats = json.loads((products / "stats.json").read_text())
        assert stats["far_hz"] == alert.event["far"]
        assert stats["significant"] == alert.event["significant"]
        assert stats["instruments"] == alert.event["instruments"]
        assert 0 < stats["area50_deg2"] < stats["area90_deg2"] <= 41253
        assert f"{stats['area90_deg2']:.0f} deg2" in circular
        assert notice["localization"]["area90_deg2"] == stats["area90_deg2"]
        assert float(params["FAR"]["value"]) == alert.event["far"]
        classification = json.loads((products / "classification.json").read_text())
        assert classification["p_astro"] == alert.event["classification"]
        assert classification["properties"] == alert.event["properties"]
        with fits.open(gzip.open(products / "skymap.flat.fits.gz")) as hdus:
            assert hdus[1].header["NSIDE"] == 128 and hdus[1].header["ORDERING"] == "NESTED"
            assert np.sum(hdus[1].data["PROB"]) == pytest.approx(1, abs=1e-3)
        geojson = json.loads((products / "contours.geojson").read_text())
        assert [f["properties"]["credible_level"] for f in geojson["features"]] == [50, 90]
        for name in ("moc50.fits", "moc90.fits"):
            assert 0 < MOC.from_fits(products / name).sky_fraction <= 1
        for name in ("skymap.png", "volume.png"):
            assert (products / name).read_bytes().startswith(b"\x89PNG")


def test_less_significant_and_retracted_are_shown(processed_gw_spool, capsys):
    spool = processed_gw_spool
    events = {e["event_id"]: e for e in status.spool_status(spool, config.load(spool))}
    [low] = events["S230525a"]["entries"]
    assert "less-significant" in low["flags"]
    circular = (spool.products / "gw/S230525a/001-preliminary/circular.txt").read_text()
    assert "low-significance" in circular
    assert not events["S230518h"]["retracted"]
    assert all(not e["missing"] for event in events.values() for e in event["entries"])
    assert cli.main(["status", str(spool.root)]) == 0
    table = capsys.readouterr().out
    assert "S230525a" in table and "less-significant" in table


def test_retraction_marks_the_event_retracted(tmp_path):
    from support import FAST_CONFIG, GW_ALERTS, make_spool

    spool = make_spool(tmp_path / "spool", FAST_CONFIG)
    assert cli.main(["ingest", str(spool.root), str(GW_ALERTS / "MS181101ab-preliminary.json"),
                     str(GW_ALERTS / "MS181101ab-retraction.json")]) == 0
    assert cli.main(["process", str(spool.root)]) == 0
    [event] = status.spool_status(spool, config.load(spool))
    assert event["retracted"]
    retraction = spool.products / "gw/MS181101ab/002-retraction"
    assert sorted(p.name for p in retraction.iterdir()) == sorted(NOTICE_PRODUCTS)


def test_spool_config_overrides_defaults(tmp_path):
    from support import make_spool

    spool = make_spool(tmp_path / "spool", {"skymap": {"flat_nside": 256}})
    settings = config.load(spool)
    assert settings["skymap"]["flat_nside"] == 256
    assert settings["skymap"]["contour_nside"] == 2048  # default kept
    assert "max_input_bytes" in settings


def test_init_writes_a_commented_config(tmp_path):
    from support import make_spool

    spool = make_spool(tmp_path / "spool")
    text = spool.config_file.read_text()
    assert "# skymap:" in text and "  # flat_nside: 512" in text
    for name in ("inbox", "spool", "products", "quarantine", "logs"):
        assert (spool.root / name).is_dir()


def test_snakemake_lint_is_clean(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--config",
                             f"spool={tmp_path}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr
