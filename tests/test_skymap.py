"""Sky-map statistics against ligo.skymap's crossmatch, on the real maps of the corpus."""

import numpy as np
import pytest
from ligo.skymap.postprocess import crossmatch
from matplotlib.path import Path as PolygonPath

from support import GW_ALERTS
from skyspool import skymap as sm
from skyspool.formats.gwalert import read_alert

MAP_ALERTS = ["S230518h-Preliminary_alert.json", "S230518h-Update_alert.json",
              "S230520ae-Preliminary_alert.json", "S230522a-Preliminary_alert.json",
              "S230525a-preliminary.json", "MS181101ab-preliminary.json"]


@pytest.fixture(scope="module", params=MAP_ALERTS)
def skymap(request):
    return sm.read_multiorder(read_alert(GW_ALERTS / request.param).skymap)


def test_areas_agree_with_crossmatch(skymap):
    expected = crossmatch(skymap, contours=(0.5, 0.9)).contour_areas
    area50_deg2, area90_deg2 = sm.credible_areas_deg2(skymap)
    assert area50_deg2 == pytest.approx(expected[0], rel=0.005)
    assert area90_deg2 == pytest.approx(expected[1], rel=0.005)


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_moc_area_agrees_with_crossmatch(skymap, level):
    expected_deg2 = crossmatch(skymap, contours=(level,)).contour_areas[0]
    moc_deg2 = sm.credible_moc(skymap, level).sky_fraction * 4 * np.pi * sm.DEG2_PER_SR
    assert moc_deg2 == pytest.approx(expected_deg2, rel=0.01)


def test_moc_contains_most_probable_position(skymap):
    import astropy.units as u

    ra_deg, dec_deg = sm.most_probable_position_deg(skymap)
    assert sm.credible_moc(skymap, 0.9).contains_lonlat(ra_deg * u.deg, dec_deg * u.deg)[0]


def test_contours_enclose_the_most_probable_pixel():
    """Checked in the RA/Dec plane, so only for regions under half the sky that do not
    cross RA = 0 (a flat point-in-polygon test cannot tell inside from outside there)."""
    checked = 0
    for name in MAP_ALERTS:
        skymap = sm.read_multiorder(read_alert(GW_ALERTS / name).skymap)
        ra_deg, dec_deg = sm.most_probable_position_deg(skymap)
        geojson = sm.contours_geojson(skymap, (50, 90), max_nside=256, min_pixels=1000)
        for feature, area_deg2 in zip(geojson["features"], sm.credible_areas_deg2(skymap)):
            lines = [np.array(line) for line in feature["geometry"]["coordinates"]]
            if area_deg2 > 20000 or any(np.ptp(line[:, 0]) > 300 for line in lines):
                continue
            polygons = [PolygonPath(line) for line in lines if len(line) > 2]
            assert any(polygon.contains_point((ra_deg, dec_deg)) for polygon in polygons), \
                (name, feature["properties"])
            checked += 1
    assert checked >= 4


def test_contour_resolution_follows_the_region_size(skymap):
    """The 90% region is traced with at least min_pixels pixels unless max_nside stops it,
    and with fewer than 4 x min_pixels (one step coarser would not have had enough)."""
    import healpy as hp

    (area90_deg2,) = sm.credible_areas_deg2(skymap, (0.9,))
    nside = sm.contour_nside(skymap, max_nside=512, min_pixels=1000)
    pixels = area90_deg2 / hp.nside2pixarea(nside, degrees=True)
    assert 64 <= nside <= 512
    assert pixels >= 1000 or nside == 512
    assert pixels < 4000 or nside == 64
    feature = sm.contours_geojson(skymap, (90,), max_nside=512)["features"][0]
    assert feature["properties"]["healpix_nside"] == nside


def test_distance_mean_is_the_header_value(skymap):
    distmean_mpc, diststd_mpc = sm.distance_moments_mpc(skymap)
    assert distmean_mpc == skymap.meta["distmean"]
    assert diststd_mpc == skymap.meta["diststd"]


def test_most_probable_position_is_the_densest_pixel(skymap):
    import healpy as hp

    ra_deg, dec_deg = sm.most_probable_position_deg(skymap)
    flat = sm.flat_probabilities(skymap, 1024)
    best_ra, best_dec = hp.pix2ang(1024, int(np.argmax(flat)), nest=True, lonlat=True)
    assert hp.rotator.angdist([ra_deg, dec_deg], [best_ra, best_dec], lonlat=True)[0] < np.radians(1)


@pytest.mark.parametrize("nside", [8, 128])
def test_flat_fits_reads_back_as_ligo_skymap_writes_it(skymap, nside, tmp_path):
    """The fast flat-map writer gives what write_sky_map's file gives, to ligo.skymap and
    healpy, and the same bytes every time (no time stamp in the gzip header)."""
    import healpy as hp
    from ligo.skymap.io import read_sky_map, write_sky_map

    from skyspool.gw.products import write_flat

    multiorder = tmp_path / "skymap.multiorder.fits"
    write_sky_map(str(multiorder), skymap)
    flat = sm.flatten(sm.read_multiorder(multiorder), nside)
    ours, again, theirs = (tmp_path / name for name in ("ours.fits.gz", "again.fits.gz", "theirs.fits"))
    write_flat(str(multiorder), str(ours), nside)
    write_flat(str(multiorder), str(again), nside)
    assert ours.read_bytes() == again.read_bytes()
    write_sky_map(str(theirs), flat.copy(), nest=True)
    our_layers, our_meta = read_sky_map(str(ours), nest=True, distances=True)
    their_layers, their_meta = read_sky_map(str(theirs), nest=True, distances=True)
    for ours_layer, theirs_layer in zip(np.atleast_2d(our_layers), np.atleast_2d(their_layers), strict=True):
        np.testing.assert_array_equal(ours_layer, theirs_layer)
    their_meta.pop("MOC", None)  # the source map's flag, wrong on a flat map
    assert our_meta == their_meta
    np.testing.assert_array_equal(hp.read_map(str(ours), nest=True), flat["PROB"])
