"""The ``treasuremap`` sink against a loopback Treasure Map API that checks every body with the
Treasure Map client's models, and the storage sink's ``layout: treasuremap``.

Expected values are the Treasure Map listeners' own answers: gwtm_cron's ``ligo_alert.listen``
and ``icecube_notice.listen`` (github.com/TheTreasureMap/gwtm_cron) run on the same corpus files
(network and storage stubbed), written down here.
"""

from __future__ import annotations

import json
import shutil

import pytest
from astropy.table import Table

from publish_backends import TreasureMapApi
from skyspool import cli, config, publish
from skyspool.galaxies import write_galaxies_ecsv
from skyspool.paths import Spool
from support import CORPUS, GW_ALERTS

TOKEN = "tm-s3cret"
FAST_RETRY = {"attempts": 2, "backoff_s": 0.05, "max_backoff_s": 0.1}

# gwtm_cron's post_alert body for S230518h-Preliminary_alert.json (datecreated and the
# sky map URL, which the listener finds by asking GraceDB, left out).
S230518H_PRELIMINARY = {
    "observing_run": "O4", "description": "O4 Alert", "role": "observation", "graceid": "S230518h",
    "alert_type": "Preliminary", "packet_type": 150, "far": 3.218261352069347e-10, "group": "CBC",
    "pipeline": "pycbc", "search": "AllSky", "centralfreq": None, "duration": None, "detectors": "H1,L1",
    "prob_hasns": 1.0, "prob_hasremenant": 0.0, "prob_gap": 0.0, "prob_bns": 0.0,
    "prob_nsbh": 0.8642645059209272, "prob_bbh": 0.036717034905487424,
    "prob_terrestrial": 0.09901845917358532, "avgra": 96.591796875, "avgdec": -14.015684425156824,
    "area_90": 1001.4871421482251, "area_50": 265.7938062678114,
    "time_of_signal": "2023-05-18T12:59:08.164119", "distance": 275.5385902924163,
    "distance_error": 78.8617488488108, "timesent": "2023-05-18T12:59:27.000000"}
# ... for MS181101ab-ext-update.json: the alert, and the external coincidence's.
MS181101AB_UPDATE = {
    "observing_run": "O4", "description": "O4 Alert", "role": "test", "graceid": "MS181101ab",
    "alert_type": "Update", "packet_type": 152, "far": 9.11069936486e-14, "group": "CBC",
    "pipeline": "gstlal", "search": "MDC", "centralfreq": None, "duration": None,
    "detectors": "H1,L1,V1", "prob_hasns": 0.95, "prob_hasremenant": 0.91, "prob_gap": 0.01,
    "prob_bns": 0.95, "prob_nsbh": 0.01, "prob_bbh": 0.03, "prob_terrestrial": 0.01,
    "avgra": 194.30419921874997, "avgdec": -17.856895095545468, "area_90": 30.975181093574633,
    "area_50": 8.897824035559013, "time_of_signal": "2018-11-01T22:22:46.654437",
    "distance": 39.76999609489013, "distance_error": 8.308435058808886,
    "timesent": "2018-11-01T22:34:49.000000"}
MS181101AB_EXT = {
    **MS181101AB_UPDATE, "alert_type": "Update-ExtCoinc", "packet_type": 666,
    "area_90": 27.69669029196851, "area_50": 8.284746255658668, "distance": 39.92897772303614,
    "distance_error": 8.245380268290726, "gcn_notice_id": 524666471,
    "ivorn": "ivo://nasa.gsfc.gcn/Fermi#GBM_Fin_Pos2017-08-17T12:41:06.47_524666471_0-389",
    "ext_coinc_observatory": "Fermi", "ext_coinc_search": "GRB", "time_difference": 2.02,
    "time_coincidence_far": 2.14387838137e-14, "time_sky_position_coincidence_far": 6.410749524018777e-16}
MS181101AB_RETRACTION = {"observing_run": "O4", "description": "O4 Alert", "role": "test",
                         "graceid": "MS181101ab", "alert_type": "Retraction", "packet_type": 164}
# icecube_notice.listen on gwtm_icecube_lvk_nu_track_search_MS230427r.json.
ICECUBE_NOTICE = {
    "ref_ID": 4642, "alert_datetime": "2023-04-16T05:32:29.55Z",
    "observation_start": "2023-04-16T05:14:06.0Z", "observation_stop": "2023-04-16T05:30:46.0Z",
    "pval_generic": 0.5, "pval_bayesian": 0.45, "graceid": "MS230427r",
    "most_probable_direction_ra": 343.66, "most_probable_direction_dec": 6.44,
    "flux_sens_low": 0.329, "flux_sens_high": 0.044, "sens_energy_range_low": 100,
    "sens_energy_range_high": 200000}
ICECUBE_EVENTS = [{"event_dt": -123.4, "event_pval_generic": 0.45, "event_pval_bayesian": 0.4},
                  {"event_dt": 321.9, "event_pval_generic": 0.05, "event_pval_bayesian": 0.03}]
ICECUBE_FILE = CORPUS / "notices" / "kafka_json" / "gwtm_icecube_lvk_nu_track_search_MS230427r.json"


@pytest.fixture
def spool(copied_gw_spool) -> Spool:
    return copied_gw_spool


def _entry_of(spool: Spool, corpus_file) -> object:
    data = corpus_file.read_bytes()
    return next(e for e in spool.entries() if e.path.read_bytes() == data)


def _galaxies(path, names: list[str]) -> None:
    write_galaxies_ecsv(Table({"rank": list(range(1, len(names) + 1)), "name": names,
                               "ra_deg": [10.0 + i for i in range(len(names))], "dec_deg": [-5.0] * len(names),
                               "distance_mpc": [40.0] * len(names), "credible_level": [0.5] * len(names),
                               "probdensity_per_mpc3": [1e-6] * len(names),
                               "score": [0.5 / (i + 1) for i in range(len(names))]}), path)


def _without_volatile(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("datecreated", "skymap_fits_url")}


def test_posts_what_the_treasure_map_listeners_post(spool, monkeypatch, tmp_path):
    api = TreasureMapApi(TOKEN)
    monkeypatch.setenv("GWTM_API_TOKEN", TOKEN)
    # An IceCube LVK track search notice, taken in and built as any other.
    shutil.copy(ICECUBE_FILE, spool.inbox / ICECUBE_FILE.name)
    assert cli.main(["process", str(spool.root)]) == 0
    preliminary = _entry_of(spool, GW_ALERTS / "S230518h-Preliminary_alert.json")
    ms_preliminary = _entry_of(spool, GW_ALERTS / "MS181101ab-preliminary.json")
    ms_update = _entry_of(spool, GW_ALERTS / "MS181101ab-ext-update.json")
    ms_retraction = _entry_of(spool, GW_ALERTS / "MS181101ab-retraction.json")
    neutrino = _entry_of(spool, ICECUBE_FILE)
    _galaxies(spool.product(ms_preliminary, "galaxies.ecsv"), ["NGC 4993", "ESO 508-G019"])
    _galaxies(spool.product(ms_update, "galaxies.ecsv"), ["NGC 4993"])
    settings = config.load(spool, {"publish": {"retry": FAST_RETRY, "sinks": {
        "tm": {"kind": "treasuremap", "url": api.url, "groupname": "skyspool-test"}}}})
    try:
        for entry in (preliminary, ms_preliminary, ms_update, ms_retraction, neutrino):
            assert publish.publish_now(spool, settings, [entry]) == [], entry
    finally:
        api.close()
    assert api.errors == []

    posted = {(a["graceid"], a["alert_type"]): a for a in api.posted}
    for key, expected in ((("S230518h", "Preliminary"), S230518H_PRELIMINARY),
                          (("MS181101ab", "Update"), MS181101AB_UPDATE),
                          (("MS181101ab", "Update-ExtCoinc"), MS181101AB_EXT),
                          (("MS181101ab", "Retraction"), MS181101AB_RETRACTION)):
        body = _without_volatile(posted[key])
        assert sorted(body) == sorted(expected), key
        for name, value in expected.items():
            same = value == pytest.approx(body[name], rel=1e-9) if isinstance(value, float) else value == body[name]
            assert same, (key, name, body[name], value)
    assert posted[("S230518h", "Preliminary")]["skymap_fits_url"] == \
        "https://gracedb.ligo.org/api/superevents/S230518h/files/bayestar.fits.gz"
    assert "skymap_fits_url" not in posted[("MS181101ab", "Retraction")]

    # The listener's order; the update's galaxy list replaced the preliminary's (one list
    # per event and group), and the test alerts are deleted after each mock alert.
    assert [f"{method} {path.removeprefix('/api/v1/')}" for method, path in api.calls] == [
        "POST post_alert",  # S230518h
        "POST post_alert", "GET event_galaxies", "POST event_galaxies", "POST del_test_alerts",
        "POST post_alert", "GET event_galaxies", "POST remove_event_galaxies", "POST event_galaxies",
        "POST post_alert", "POST del_test_alerts",  # MS181101ab update, with its coincidence
        "POST post_alert", "POST del_test_alerts",  # retraction
        "POST post_icecube_notice"]
    [kept] = api.galaxy_lists.values()
    assert (kept["graceid"], kept["groupname"], kept["timesent_stamp"]) == (
        "MS181101ab", "skyspool-test", "2018-11-01T22:34:49.000000")
    assert kept["galaxies"] == [{"ra": 10.0, "dec": -5.0, "score": 0.5, "rank": 0, "name": "NGC 4993",
                                 "info": {"Distance [Mpc]": 40.0, "credible_level": 0.5}}]
    assert [a["graceid"] for a in api.alerts] == ["S230518h"]  # test alerts deleted, as the listener does

    assert api.icecube == [{"icecube_notice": ICECUBE_NOTICE, "icecube_notice_coinc_events": ICECUBE_EVENTS}]
    receipt = spool.publish_receipt(neutrino, "tm").read_text()
    assert json.loads(receipt)["sent"][0]["endpoint"] == "/post_icecube_notice"
    assert TOKEN not in receipt


def test_an_api_that_is_down_or_refuses_the_token_is_retried_later(spool, monkeypatch, caplog):
    api = TreasureMapApi(TOKEN)
    entry = _entry_of(spool, GW_ALERTS / "S230518h-Preliminary_alert.json")
    settings = config.load(spool, {"publish": {"retry": FAST_RETRY, "sinks": {
        "tm": {"kind": "treasuremap", "url": api.url}}}})
    try:
        monkeypatch.setenv("GWTM_API_TOKEN", "wrong")
        [failure] = publish.publish_now(spool, settings, [entry])
        assert failure.startswith("tm gw/S230518h/") and "401" in failure
        monkeypatch.setenv("GWTM_API_TOKEN", TOKEN)
        api.down = True
        [failure] = publish.publish_now(spool, settings, [entry])
        assert "503" in failure and not spool.publish_receipt(entry, "tm").exists()
        assert publish.publish_now(spool, settings, [entry], dry=True) == []  # logged, not sent
        assert "would-send sink=tm entry=gw/S230518h/" in caplog.text and not api.posted
        api.down = False
        assert publish.publish_now(spool, settings, [entry]) == []
        assert publish.publish_now(spool, settings, [entry]) == []  # once
    finally:
        api.close()
    assert [a["graceid"] for a in api.posted] == ["S230518h"]


def test_storage_in_the_treasure_map_bucket_layout(spool, tmp_path):
    bucket = tmp_path / "bucket"
    settings = config.load(spool, {"publish": {"retry": FAST_RETRY, "sinks": {
        "tm-bucket": {"kind": "storage", "url": str(bucket), "layout": "treasuremap"}}}})
    entries = spool.entries_of("gw", "S230518h") + spool.entries_of("gw", "MS181101ab")
    first = entries[0]
    for name in ("fermi_occultation.moc.fits", "lat_fov.moc.fits"):  # as item 4's rule makes them
        from mocpy import MOC
        MOC.from_string("3/0-10" if name.startswith("fermi") else "4/100-120").save(
            spool.product(first, name), format="fits", overwrite=True)
    assert publish.publish_now(spool, settings, entries) == []
    assert publish.publish_now(spool, settings, entries) == []  # receipts: nothing again
    names = sorted(p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file())
    ms = [f"test/MS181101ab-{t}{s}" for t in ("EarlyWarning", "Preliminary", "Update", "Update1", "Initial")
          for s in (".fits.gz", "-contours-smooth.json", "_alert.json", "_moc.fits.gz")]
    assert names == sorted(
        [f"fit/S230518h-{t}{s}" for t in ("Preliminary", "Initial", "Update")
         for s in (".fits.gz", "-contours-smooth.json", "_alert.json", "_moc.fits.gz")]
        + ["fit/S230518h-Fermi.json", "fit/S230518h-LAT.json"]
        + ms + ["test/MS181101ab-Retraction_alert.json"])
    assert (bucket / "fit/S230518h-Preliminary_alert.json").read_bytes() == \
        (GW_ALERTS / "S230518h-Preliminary_alert.json").read_bytes()
    preliminary = _entry_of(spool, GW_ALERTS / "S230518h-Preliminary_alert.json")
    assert (bucket / "fit/S230518h-Preliminary-contours-smooth.json").read_bytes() == \
        spool.product(preliminary, "contours.geojson").read_bytes()
    # The sky Fermi GBM sees: the complement of the occulted cells, as MOC JSON.
    seen = json.loads((bucket / "fit/S230518h-Fermi.json").read_text())
    assert sorted(seen) == ["0", "1", "2", "3"] and 0 not in seen["3"] and 11 in seen["3"]
    assert json.loads((bucket / "fit/S230518h-LAT.json").read_text()) == {"3": [25, 26, 27, 28, 29], "4": [120]}
