"""Sky-map statistics against ligo.skymap's crossmatch, on the real maps of the corpus."""

import numpy as np
import pytest
from ligo.skymap import moc
from ligo.skymap.postprocess import crossmatch
from matplotlib.path import Path as PolygonPath

from skyspool import skymap as sm
from skyspool.formats.gwalert import read_alert
from support import GW_ALERTS

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


def enclosed_region(feature, inside_lonlat_deg):
    """The MOC of what a contour feature's rings enclose, by the even-odd rule, at 32 times
    finer pixels than it was traced at: each ring's polygon (mocpy takes the smaller side) is
    XORed in, which gives the region or its complement; the side holding a point known to be
    inside is the region."""
    import astropy.units as u
    from mocpy import MOC

    depth = int(np.log2(feature["properties"]["healpix_nside"])) + 5
    region = MOC.new_empty(depth)
    for line in feature["geometry"]["coordinates"]:
        lon_deg, lat_deg = np.array(line).T
        region = region.symmetric_difference(MOC.from_polygon(lon_deg * u.deg, lat_deg * u.deg,
                                                               max_depth=depth))
    if not region.contains_lonlat(*(np.array([value]) * u.deg for value in inside_lonlat_deg))[0]:
        region = region.complement()
    return region


@pytest.mark.parametrize("max_vertices", [100_000, 150])
def test_contours_hold_the_credible_region(skymap, max_vertices):
    """Both contours enclose their credible region (the greedy pixels mocpy selects from the
    map's own multi-order pixels) with a Jaccard overlap >= 0.98, and the simplification to a
    small vertex budget moves the enclosed area by <= 1%. S230522a/S230525a are half-sky maps
    (90%: 24,000 deg2, over half the sky); MS181101ab's pixels go to order 11."""
    from mocpy import MOC

    densest = sm.most_probable_position_deg(skymap)
    geojson = sm.contours_geojson(skymap, (50, 90), max_nside=2048, max_vertices=max_vertices)
    uniq = np.asarray(skymap["UNIQ"], dtype=np.uint64)
    prob = np.asarray(skymap["PROBDENSITY"]) * moc.uniq2pixarea(skymap["UNIQ"])
    for feature, level in zip(geojson["features"], (0.5, 0.9), strict=True):
        truth = MOC.from_valued_healpix_cells(uniq, prob, max_depth=int(moc.uniq2order(uniq.astype(np.int64)).max()),
                                              cumul_to=level)
        enclosed = enclosed_region(feature, densest)
        overlap = truth.intersection(enclosed).sky_fraction / truth.union(enclosed).sky_fraction
        assert overlap >= 0.98, (level, overlap)
        assert enclosed.sky_fraction == pytest.approx(truth.sky_fraction, rel=0.01)
        vertices = sum(map(len, feature["geometry"]["coordinates"]))
        if max_vertices == 150:
            assert feature["properties"]["area_moved_deg2"] > 0
        assert feature["properties"]["area_moved_deg2"] <= 0.005 * feature["properties"]["area_deg2"]
        assert vertices >= 3 * len(feature["geometry"]["coordinates"])


def test_contours_are_traced_at_the_region_pixels():
    """MS181101ab's 50% region is made of order-10 cells (nside 1024): traced there, and at
    the cap when a lower max_nside is set."""
    skymap = sm.read_multiorder(read_alert(GW_ALERTS / "MS181101ab-preliminary.json").skymap)
    [feature] = sm.contours_geojson(skymap, (50,), max_nside=4096)["features"]
    assert feature["properties"]["healpix_nside"] == 1024
    [feature] = sm.contours_geojson(skymap, (50,), max_nside=256)["features"]
    assert feature["properties"]["healpix_nside"] == 256


def test_ring_tracing_of_one_cell_and_a_hole():
    """One order-3 cell outlined at order 3 is its 4 corners, counter-clockwise seen from
    outside the sphere; the 8 cells around a ninth (a ring with a hole) give two rings of 8."""
    import healpy as hp

    [ring] = sm.boundary_rings(np.array([3]), np.array([100]), 3)
    corners = hp.boundaries(8, 100, step=1, nest=True).T
    assert len(ring) == 4
    assert sorted(map(tuple, np.round(ring, 12))) == sorted(map(tuple, np.round(corners, 12)))
    normal = np.cross(ring[1] - ring[0], ring[2] - ring[1])
    assert np.dot(normal, ring.mean(axis=0)) > 0
    # Cell 4 x 100 + 3 at order 4 and its 8 neighbours; the centre one left out.
    centre = 403
    around = hp.get_all_neighbours(16, centre, nest=True)
    rings = sm.boundary_rings(np.full(8, 4), around, 4)
    assert sorted(map(len, rings)) == [4, 12]


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
    from astropy.io import fits
    from ligo.skymap.bayestar import rasterize
    from ligo.skymap.io import read_sky_map, write_sky_map

    from skyspool.gw.products import write_flat

    multiorder = tmp_path / "skymap.multiorder.fits"
    write_sky_map(str(multiorder), skymap)
    flat = sm.flatten(sm.read_multiorder(multiorder), nside)
    ours, again, theirs = (tmp_path / name for name in ("ours.fits.gz", "again.fits.gz", "theirs.fits"))
    write_flat(str(multiorder), str(ours), nside)
    write_flat(str(multiorder), str(again), nside)
    assert ours.read_bytes() == again.read_bytes()
    write_sky_map(str(theirs), rasterize(skymap, int(np.log2(nside))), nest=True)
    our_layers, our_meta = read_sky_map(str(ours), nest=True, distances=True)
    their_layers, their_meta = read_sky_map(str(theirs), nest=True, distances=True)
    for ours_layer, theirs_layer in zip(np.atleast_2d(our_layers), np.atleast_2d(their_layers), strict=True):
        assert ours_layer.tobytes() == theirs_layer.tobytes()
    # The same cards but for the table's row layout (up to 1024 pixels a row, as healpy writes
    # maps) and the source map's MOC = T that write_sky_map copies onto a flat map.
    layout = ("NAXIS1", "NAXIS2", "TFORM1", "TFORM2", "TFORM3", "TFORM4", "MOC")
    with fits.open(ours) as our_hdus, fits.open(theirs) as their_hdus:
        assert ([tuple(card) for card in our_hdus[1].header.cards if card.keyword not in layout]
                == [tuple(card) for card in their_hdus[1].header.cards if card.keyword not in layout])
    their_meta.pop("MOC", None)  # the source map's flag, wrong on a flat map
    assert our_meta == their_meta
    np.testing.assert_array_equal(hp.read_map(str(ours), nest=True), flat["PROB"])


def assert_same_table(flat, expected):
    assert flat.colnames == expected.colnames
    for name in expected.colnames:
        assert np.asarray(flat[name]).tobytes() == np.asarray(expected[name]).tobytes(), name
        assert flat[name].unit == expected[name].unit
    assert flat.meta == expected.meta


@pytest.mark.parametrize("nside", [64, 512])
def test_flatten_is_ligo_skymap_rasterize_to_the_bit(skymap, nside):
    """flatten gives rasterize's table: the same columns in the same order, every value the
    same bits (NaNs included), the same units and metadata. At nside 64 every O4 map is
    averaged down; at 512 the maps with pixels of order 10 and 11."""
    from ligo.skymap.bayestar import rasterize

    assert_same_table(sm.flatten(skymap, nside), rasterize(skymap, int(np.log2(nside))))


def test_flatten_of_a_small_area_map_above_its_pixels():
    """MS181101ab (pixels of orders 4-11) without its distance layers at nside 1024: most
    pixels repeated, the order-11 ones averaged."""
    from ligo.skymap.bayestar import rasterize

    skymap = sm.read_multiorder(read_alert(GW_ALERTS / "MS181101ab-preliminary.json").skymap)
    probability_only = skymap[["UNIQ", "PROBDENSITY"]]
    assert_same_table(sm.flatten(probability_only, 1024), rasterize(probability_only, 10))
