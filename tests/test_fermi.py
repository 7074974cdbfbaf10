"""Fermi GBM Earth occultation and LAT field of view of GW alerts, from a Fermi FT2 spacecraft
file (a small one in the mission's format, made here) or from a Fermi GBM notice, through the
pipeline: stats.json's fractions and the two MOC products.

The expected fractions are computed here independently, with healpy's ``query_disc`` on the
flattened map (skymap.flat.fits.gz), not with the code under test.
"""

from __future__ import annotations

import json
import shutil

import healpy as hp
import numpy as np
import pytest
import yaml
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from mocpy import MOC

from skyspool import cli, ingest
from skyspool.paths import Spool
from support import CORPUS

EVENT = "S230518h"
EVENT_TIME = "2023-05-18T12:59:08.167"  # the alert's event time (UTC)
GW_PEAK = (96.591796875, -14.015684425156834)  # stats.json's most probable position
FERMI_DISTANCE_KM = 6378.137 + 535.0
MJDREF = (51910, 7.428703703703703e-4)  # Fermi MET origin, 2001-01-01T00:00:00 UTC, in TT
GBM_NOTICE = CORPUS / "notices" / "kafka_json" / "gcnschema_fermi_gbm_trigger.alert.example.json"


def _unit(ra_deg: float, dec_deg: float) -> np.ndarray:
    return np.asarray(hp.ang2vec(ra_deg, dec_deg, lonlat=True))


def write_ft2(path, start_utc: str, rows: int, position_km: np.ndarray, boresight: tuple[float, float]):
    """A Fermi FT2 file: SC_DATA rows of 30 s, the columns and header keys of the mission's."""
    origin = Time(MJDREF[0] + MJDREF[1], format="mjd", scale="tt")
    start = (Time(start_utc, scale="utc") - origin).sec + 30.0 * np.arange(rows)
    position_m = np.tile(position_km * 1000.0, (rows, 1))
    zenith_ra, zenith_dec = hp.vec2ang(position_km / np.linalg.norm(position_km), lonlat=True)
    columns = [
        fits.Column("START", "D", unit="s", array=start),
        fits.Column("STOP", "D", unit="s", array=start + 30.0),
        fits.Column("SC_POSITION", "3E", unit="m", array=position_m),
        fits.Column("LAT_GEO", "E", unit="deg", array=np.full(rows, 10.0)),
        fits.Column("LON_GEO", "E", unit="deg", array=np.full(rows, 20.0)),
        fits.Column("RAD_GEO", "E", unit="m", array=np.full(rows, FERMI_DISTANCE_KM * 1000)),
        fits.Column("RA_ZENITH", "E", unit="deg", array=np.full(rows, zenith_ra[0])),
        fits.Column("DEC_ZENITH", "E", unit="deg", array=np.full(rows, zenith_dec[0])),
        fits.Column("IN_SAA", "L", array=np.zeros(rows, bool)),
        fits.Column("RA_SCZ", "E", unit="deg", array=np.full(rows, boresight[0])),
        fits.Column("DEC_SCZ", "E", unit="deg", array=np.full(rows, boresight[1])),
        fits.Column("RA_SCX", "E", unit="deg", array=np.full(rows, 0.0)),
        fits.Column("DEC_SCX", "E", unit="deg", array=np.full(rows, 0.0)),
        fits.Column("LAT_MODE", "J", array=np.full(rows, 5)),
        fits.Column("DATA_QUAL", "J", array=np.ones(rows, int)),
        fits.Column("LIVETIME", "D", unit="s", array=np.full(rows, 27.0)),
    ]
    table = fits.BinTableHDU.from_columns(columns, name="SC_DATA")
    for key, value in {"TELESCOP": "GLAST", "INSTRUME": "LAT", "MJDREFI": MJDREF[0],
                       "MJDREFF": MJDREF[1], "TIMESYS": "TT", "TIMEUNIT": "s", "TIMEREF": "LOCAL",
                       "TSTART": start[0], "TSTOP": start[-1] + 30.0}.items():
        table.header[key] = value
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"], primary.header["FILENAME"] = "GLAST", path.name
    fits.HDUList([primary, table]).writeto(path)


def _fraction_in_disc(flat_map_path, centre: np.ndarray, radius_deg: float) -> float:
    prob = hp.read_map(flat_map_path)
    return float(prob[hp.query_disc(hp.npix2nside(len(prob)), centre, np.radians(radius_deg))].sum())


@pytest.fixture
def spool(processed_gw_spool, tmp_path) -> Spool:
    """The processed GW spool with one alert left: S230518h's first."""
    root = tmp_path / "spool"
    shutil.copytree(processed_gw_spool.root, root, symlinks=True,
                    ignore=shutil.ignore_patterns(".snakemake", "published"))
    the_spool = Spool(root)
    for entry in the_spool.entries("gw")[:]:
        if (entry.event_id, entry.number) != (EVENT, 1):
            shutil.rmtree(the_spool.products_dir(entry), ignore_errors=True)
            entry.path.unlink()
    return the_spool


def _rebuild(spool: Spool, settings: dict):
    """Rebuild the alert's stats.json with ``fermi: settings``; the entry and its stats."""
    merged = yaml.safe_load(spool.config_file.read_text()) or {}
    merged["fermi"] = settings
    spool.config_file.write_text(yaml.safe_dump(merged))
    [entry] = spool.entries("gw")
    spool.product(entry, "stats.json").unlink()
    assert cli.main(["process", str(spool.root)]) == 0
    return entry, json.loads(spool.product(entry, "stats.json").read_text())


def test_occultation_and_lat_fov_from_an_ft2_file(spool, tmp_path):
    # Fermi with the Earth right in front of the GW peak, the LAT looking at its zenith.
    earth_direction = _unit(*GW_PEAK)
    position_km = -earth_direction * FERMI_DISTANCE_KM
    zenith_ra, zenith_dec = hp.vec2ang(-earth_direction, lonlat=True)
    ft2 = tmp_path / "ft2"
    ft2.mkdir()
    write_ft2(ft2 / "gll_pt_p999_r_v001.fit", "2023-05-18T12:58:00", 5, position_km,
              (float(zenith_ra[0]), float(zenith_dec[0])))
    write_ft2(ft2 / "gll_pt_p998_r_v001.fit", "2023-05-17T00:00:00", 3, -position_km, (0.0, 0.0))
    entry, stats = _rebuild(spool, {"enabled": True, "ft2_folder": str(ft2), "lat_fov_radius_deg": 65})

    earth_radius_deg = np.degrees(np.arcsin(6378.137 / FERMI_DISTANCE_KM))  # 66.1 deg
    flat = spool.product(entry, "skymap.flat.fits.gz")
    occulted = _fraction_in_disc(flat, earth_direction, earth_radius_deg)
    in_lat = _fraction_in_disc(flat, -earth_direction, 65.0)
    assert occulted > 0.8 and in_lat < 0.05  # the geometry this test set up
    assert (stats["fermi_source"], stats["fermi_origin"]) == ("ft2", "gll_pt_p999_r_v001.fit")
    assert stats["fermi_time"].startswith("2023-05-18T12:59:08.167")
    assert stats["fermi_occulted_prob"] == pytest.approx(occulted, abs=0.01)
    assert stats["lat_fov_prob"] == pytest.approx(in_lat, abs=0.01)
    assert stats["area90_deg2"] > 0  # the GW statistics are all still there

    occultation = MOC.from_fits(str(spool.product(entry, "fermi_occultation.moc.fits")))
    lat = MOC.from_fits(str(spool.product(entry, "lat_fov.moc.fits")))
    sky = 4 * np.pi * (180 / np.pi) ** 2
    cap = lambda radius: sky * (1 - np.cos(np.radians(radius))) / 2  # noqa: E731
    assert occultation.sky_fraction * sky == pytest.approx(cap(earth_radius_deg), rel=0.02)
    assert lat.sky_fraction * sky == pytest.approx(cap(65.0), rel=0.02)
    peak = (np.atleast_1d(GW_PEAK[0]) * u.deg, np.atleast_1d(GW_PEAK[1]) * u.deg)
    assert occultation.contains_lonlat(*peak)[0] and not lat.contains_lonlat(*peak)[0]


def test_without_an_ft2_file_the_nearest_gbm_notice_gives_the_position(spool, tmp_path):
    notice = tmp_path / GBM_NOTICE.name
    shutil.copy(GBM_NOTICE, notice)
    assert ingest.ingest_file(spool, notice).status == "stored"
    entry, stats = _rebuild(spool, {"enabled": True, "ft2_folder": str(tmp_path / "no-ft2")})
    assert stats["fermi_source"] == "gbm_notice"
    assert stats["fermi_origin"].startswith("grb/") and stats["fermi_time"].startswith("2024-08-24T02:14:40.43")
    # The notice's spacecraft at latitude 23.83, longitude 257.4, at its own trigger time.
    assert 0 <= stats["fermi_occulted_prob"] <= 1 and 0 <= stats["lat_fov_prob"] <= 1
    assert stats["fermi_occulted_prob"] + stats["lat_fov_prob"] <= 1.0 + 1e-6  # opposite cones
    assert spool.product(entry, "lat_fov.moc.fits").exists()


def test_nothing_tells_where_fermi_was(spool, tmp_path):
    entry, stats = _rebuild(spool, {"enabled": True})
    assert {k: stats[k] for k in ("fermi_source", "fermi_occulted_prob", "lat_fov_prob")} == {
        "fermi_source": None, "fermi_occulted_prob": None, "lat_fov_prob": None}
    assert MOC.from_fits(str(spool.product(entry, "fermi_occultation.moc.fits"))).empty()
