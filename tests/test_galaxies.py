"""Galaxy lists in the 3D credible volume: agreement with ligo.skymap's crossmatch on real O4 maps."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import astropy.units as u
import healpy as hp
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from ligo.skymap import distance, moc
from ligo.skymap.io import read_sky_map, write_sky_map
from ligo.skymap.postprocess.crossmatch import crossmatch

import skyspool.catalog
from skyspool.catalog import IndexedCatalog, build_catalog, synthesize_glade_plus
from skyspool.galaxies import galaxy_list, notice_galaxies, write_galaxies_ecsv

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gw" / "alerts"
# S230518h: O4 NSBH at ~275 Mpc; the Update map is another BAYESTAR/Bilby map of the same event.
ALERTS = ["S230518h-Preliminary_alert.json", "S230518h-Update_alert.json"]

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="alert corpus not available")


@pytest.fixture(scope="module")
def skymaps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("skymaps")
    paths = {}
    for alert in ALERTS:
        path = folder / alert.replace(".json", ".multiorder.fits")
        path.write_bytes(base64.b64decode(json.loads((CORPUS / alert).read_text())["event"]["skymap"]))
        paths[alert] = path
    return paths


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory):
    """200,000 synthetic galaxies to 800 Mpc, built from the GLADE+ text form."""
    folder = tmp_path_factory.mktemp("catalog")
    text = synthesize_glade_plus(folder / "synth.txt", 200_000, seed=11, max_distance_mpc=800.0)
    build_catalog(text, folder / "synth.arrow")
    return folder / "synth.arrow"


@pytest.fixture(scope="module")
def reference(skymaps, catalog_path):
    """crossmatch (cosmology=False) of the whole catalog, per map: a DataFrame indexed by name."""
    table = IndexedCatalog(catalog_path).read().to_pandas().set_index("name")
    coordinates = SkyCoord(table.ra_deg.values * u.deg, table.dec_deg.values * u.deg,
                           table.distance_mpc.values * u.Mpc)
    results = {}
    for alert, path in skymaps.items():
        result = crossmatch(read_sky_map(str(path), moc=True), coordinates, cosmology=False)
        results[alert] = table.assign(level=result.searched_prob_vol, density=result.probdensity_vol)
    return results


def ranked_names(frame, weight):
    score = frame.density * (frame[weight] if weight else 1.0)
    order = np.argsort(np.where(np.isnan(score), np.inf, -score.values), kind="stable")
    return list(frame.index[order])


@pytest.mark.parametrize("alert", ALERTS)
@pytest.mark.parametrize("level", [0.9, 0.5])
def test_same_galaxies_inside_the_volume_as_crossmatch(skymaps, catalog_path, reference, alert, level):
    expected = reference[alert][reference[alert].level < level]
    table = galaxy_list(skymaps[alert], catalog_path, credible_level=level)
    assert len(expected) > 50
    differing = set(expected.index) ^ set(table["name"])
    assert len(differing) <= 0.001 * len(expected)
    common = expected.loc[[name for name in table["name"] if name in expected.index]]
    got = table.to_pandas().set_index("name").loc[common.index]
    np.testing.assert_allclose(got.credible_level, common.level, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.probdensity_per_mpc3, common.density, rtol=1e-12)


@pytest.mark.parametrize("alert", ALERTS)
@pytest.mark.parametrize("weight", [None, "stellar_mass_msun", "lum_k_lsun"])
def test_same_top_100_as_crossmatch_under_the_same_weighting(skymaps, catalog_path, reference, alert, weight):
    inside = reference[alert][reference[alert].level < 0.9]
    table = galaxy_list(skymaps[alert], catalog_path, weight_column=weight, fold_distance_error=False)
    assert list(table["name"][:100]) == ranked_names(inside, weight)[:100]
    assert list(table["rank"][:3]) == [1, 2, 3]


def test_only_the_cells_of_the_volume_are_read(skymaps, catalog_path):
    table = galaxy_list(skymaps[ALERTS[0]], catalog_path)
    assert table.meta["galaxies_inside"] == len(table)
    assert len(table) <= table.meta["rows_read"] < 0.05 * table.meta["catalog_rows"]


def test_distance_uncertainty_folds_in_as_the_expected_density_over_the_galaxy_distance(skymaps, catalog_path):
    folded = galaxy_list(skymaps[ALERTS[0]], catalog_path)
    point = galaxy_list(skymaps[ALERTS[0]], catalog_path, fold_distance_error=False)
    assert sorted(folded["name"]) == sorted(point["name"])  # membership does not use the error
    assert list(folded["name"]) != list(point["name"])
    sky_map = read_sky_map(str(skymaps[ALERTS[0]]), moc=True)
    step = folded.meta["radial_step_mpc"]
    for row in folded[:: max(1, len(folded) // 20)]:
        # The map's density along the galaxy's line of sight, averaged over its distance Gaussian.
        pixel = _pixel_of(sky_map, row["ra_deg"], row["dec_deg"])
        mu, sigma = sky_map["DISTMU"][pixel], sky_map["DISTSIGMA"][pixel]
        grid_distance = step * math.floor(row["distance_mpc"] / step)
        r = np.linspace(grid_distance - 8 * row["distance_err_mpc"], grid_distance + 8 * row["distance_err_mpc"], 20001)
        profile = np.exp(-0.5 * ((r - mu) / sigma) ** 2)
        weight = np.exp(-0.5 * ((r - grid_distance) / row["distance_err_mpc"]) ** 2)
        expected = np.trapezoid(profile * weight, r) / np.trapezoid(weight, r) / np.exp(-0.5 * ((grid_distance - mu) / sigma) ** 2)
        assert row["score"] / row["probdensity_per_mpc3"] == pytest.approx(expected, rel=1e-6)


def _pixel_of(sky_map, ra_deg, dec_deg):
    order, ipix = moc.uniq2nest(sky_map["UNIQ"])
    max_order = int(order.max())
    point = hp.ang2pix(2**max_order, ra_deg, dec_deg, nest=True, lonlat=True)
    return int(np.flatnonzero((point >> 2 * (max_order - order)) == ipix)[0])


def test_galaxies_without_the_weight_are_ranked_last(skymaps, catalog_path):
    table = galaxy_list(skymaps[ALERTS[0]], catalog_path, weight_column="stellar_mass_msun")
    missing = np.isnan(table["stellar_mass_msun"])
    assert 0 < missing.sum() < len(table)
    assert np.all(np.flatnonzero(missing) >= (~missing).sum())
    scores = np.asarray(table["score"][~missing])
    assert np.all(np.diff(scores) <= 0)


def test_max_rows_is_the_head_of_the_full_list(skymaps, catalog_path):
    full = galaxy_list(skymaps[ALERTS[0]], catalog_path, weight_column="lum_b_lsun")
    top = galaxy_list(skymaps[ALERTS[0]], catalog_path, weight_column="lum_b_lsun", max_rows=25)
    assert list(top["name"]) == list(full["name"][:25])
    for name in ("probability", "cumulative_probability", "score"):
        np.testing.assert_array_equal(top[name], full[name][:25])
    assert top.meta["galaxies_inside"] == full.meta["galaxies_inside"] == len(full)
    assert top.meta["score_total"] == full.meta["score_total"]
    assert (top.meta["galaxies_listed"], full.meta["galaxies_listed"]) == (25, len(full))


@pytest.mark.parametrize("alert", ALERTS)
@pytest.mark.parametrize("weight", [None, "stellar_mass_msun"])
def test_probabilities_are_shares_of_the_whole_selection(skymaps, catalog_path, reference, alert, weight):
    """probability = density x weight over its sum over every galaxy crossmatch puts inside the
    90% volume (galaxies without the weight: 0), cumulated down the list."""
    inside = reference[alert][reference[alert].level < 0.9]
    score = (inside.density * (inside[weight] if weight else 1.0)).fillna(0.0)
    expected = score / score.sum()
    table = galaxy_list(skymaps[alert], catalog_path, weight_column=weight, fold_distance_error=False,
                        max_rows=200)
    common = [name for name in table["name"] if name in expected.index]
    assert len(common) >= 199
    got = dict(zip(table["name"], table["probability"]))
    np.testing.assert_allclose([got[name] for name in common], expected.loc[common], rtol=2e-3)
    np.testing.assert_allclose(table["cumulative_probability"], np.cumsum(table["probability"]), rtol=1e-12)
    assert table.meta["galaxies_inside"] == pytest.approx(len(inside), rel=0.001)
    assert np.all(np.diff(table["probability"]) <= 0)


def test_cumulative_probability_cut_ends_the_list(skymaps, catalog_path):
    full = galaxy_list(skymaps[ALERTS[0]], catalog_path)
    assert full["cumulative_probability"][-1] == pytest.approx(1.0, abs=1e-9)
    cut = galaxy_list(skymaps[ALERTS[0]], catalog_path, max_cumulative_probability=0.5)
    assert 1 < len(cut) < len(full) / 2
    assert cut["cumulative_probability"][-2] < 0.5 <= cut["cumulative_probability"][-1]
    assert list(cut["name"]) == list(full["name"][: len(cut)])
    assert cut.meta["probability_listed"] == cut["cumulative_probability"][-1]
    assert cut.meta["galaxies_inside"] == len(full)


def test_ecsv_product_and_notice_entries(skymaps, catalog_path, tmp_path):
    table = galaxy_list(skymaps[ALERTS[0]], catalog_path, weight_column="stellar_mass_msun")
    path = write_galaxies_ecsv(table, tmp_path / "products" / "galaxies.ecsv")
    back = Table.read(path, format="ascii.ecsv")
    assert list(back["name"]) == list(table["name"])
    assert back["distance_mpc"].unit == u.Mpc and back["probdensity_per_mpc3"].unit == u.Mpc**-3
    assert back.meta["weight_column"] == "stellar_mass_msun"
    assert [p.name for p in path.parent.iterdir()] == ["galaxies.ecsv"]  # no temporary left
    entries = notice_galaxies(table, 10)
    assert [entry["rank"] for entry in entries] == list(range(1, 11))
    assert entries[0]["name"] == table["name"][0]
    json.dumps(entries, allow_nan=False)


def test_a_map_without_distance_is_refused(skymaps, catalog_path, tmp_path):
    sky_map = read_sky_map(str(skymaps[ALERTS[0]]), moc=True)
    flat = tmp_path / "2d.multiorder.fits"
    write_sky_map(str(flat), Table(sky_map)[["UNIQ", "PROBDENSITY"]], moc=True)
    with pytest.raises(ValueError, match="no distance"):
        galaxy_list(flat, catalog_path)


def test_unknown_weight_is_refused(skymaps, catalog_path):
    with pytest.raises(ValueError, match="weight_column"):
        galaxy_list(skymaps[ALERTS[0]], catalog_path, weight_column="sfr")


def test_coarse_pixels_cover_all_their_cells(catalog_path, tmp_path):
    """A map of order-3 pixels (each 1024 cells of the catalog index) gives crossmatch's answer."""
    order = 3
    ipix = np.arange(12 * 4**order)
    ra, dec = hp.pix2ang(2**order, ipix, nest=True, lonlat=True)
    # A blob 15 degrees wide around (ra, dec) = (120, 30), distance 150 +/- 40 Mpc.
    cos_offset = hp.rotator.dir2vec(ra, dec, lonlat=True).T @ hp.rotator.dir2vec(120, 30, lonlat=True)
    probability = np.exp((cos_offset - 1) / np.radians(15) ** 2)
    mu, sigma, norm = distance.moments_to_parameters(np.full(len(ipix), 150.0), np.full(len(ipix), 40.0))
    path = tmp_path / "coarse.multiorder.fits"
    write_sky_map(str(path), Table({
        "UNIQ": moc.nest2uniq(np.int8(order), ipix),
        "PROBDENSITY": probability / probability.sum() / hp.nside2pixarea(2**order),
        "DISTMU": mu, "DISTSIGMA": sigma, "DISTNORM": norm}), moc=True)
    table = IndexedCatalog(catalog_path).read().to_pandas()
    result = crossmatch(read_sky_map(str(path), moc=True),
                        SkyCoord(table.ra_deg.values * u.deg, table.dec_deg.values * u.deg,
                                 table.distance_mpc.values * u.Mpc))
    expected = set(table.name[result.searched_prob_vol < 0.9])
    assert len(expected) > 100
    assert set(galaxy_list(path, catalog_path)["name"]) == expected


def test_half_sky_map_is_capped_and_ranked_as_crossmatch(catalog_path, tmp_path):
    """S230525a (one detector, 24,000 deg2 at 90%, 1,170 +/- 390 Mpc): thousands of galaxies of
    the test catalog inside; the list holds the best 300 by density x stellar mass, in
    crossmatch's order, and the header counts all of them. Its pixels (order <= 6) are coarser
    than the catalog's cells: galaxies are placed by their index key, not their coordinates."""
    path = tmp_path / "S230525a.multiorder.fits"
    path.write_bytes(base64.b64decode(json.loads((CORPUS / "S230525a-preliminary.json").read_text())["event"]["skymap"]))
    table = IndexedCatalog(catalog_path).read().to_pandas().set_index("name")
    result = crossmatch(read_sky_map(str(path), moc=True),
                        SkyCoord(table.ra_deg.values * u.deg, table.dec_deg.values * u.deg,
                                 table.distance_mpc.values * u.Mpc), cosmology=False)
    inside = table.assign(level=result.searched_prob_vol, density=result.probdensity_vol)
    inside = inside[inside.level < 0.9]
    assert len(inside) > 5000
    listed = galaxy_list(path, catalog_path, weight_column="stellar_mass_msun", fold_distance_error=False,
                         max_rows=300, max_cumulative_probability=0.99)
    assert len(listed) == 300
    assert listed.meta["galaxies_inside"] == pytest.approx(len(inside), rel=0.001)
    expected = ranked_names(inside, "stellar_mass_msun")[:300]
    assert len(set(listed["name"]) ^ set(expected)) <= 3
    score = (inside.density * inside.stellar_mass_msun).fillna(0.0)
    assert listed.meta["probability_listed"] == pytest.approx(score.loc[expected].sum() / score.sum(), rel=0.01)


@pytest.mark.parametrize("max_rows", [25, None])
def test_chunks_and_threads_do_not_change_the_list(skymaps, catalog_path, monkeypatch, max_rows):
    """The test catalog's blocks read one per chunk by 2 threads, each chunk keeping only
    its best rows: the same rows, values and header as one chunk read by one thread (with the
    galaxies without B luminosity among the ranked)."""
    kwargs = dict(weight_column="lum_b_lsun", max_rows=max_rows)
    whole = galaxy_list(skymaps[ALERTS[0]], catalog_path, threads=1, **kwargs)
    monkeypatch.setattr(skyspool.catalog, "CHUNK_GROUPS", 1)
    chunked = galaxy_list(skymaps[ALERTS[0]], catalog_path, threads=2, **kwargs)
    assert len(whole) == (25 if max_rows else whole.meta["galaxies_inside"]) > 20
    if max_rows is None:
        assert np.isnan(whole["lum_b_lsun"][-10:]).all()
    assert chunked.meta == whole.meta
    for name in whole.colnames:
        np.testing.assert_array_equal(chunked[name], whole[name])
