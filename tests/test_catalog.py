"""Galaxy catalogs: readers, the indexed (memory-mapped Arrow) build, reading by cell, the synthetic
catalog, CLI."""

from __future__ import annotations

import json

import healpy as hp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.cosmology import Planck18
from astropy.table import Table

from skyspool import catalog
from skyspool.catalog import (
    INDEX_ORDER,
    N_CELLS,
    SHELL_EDGES_MPC,
    ColumnMap,
    IndexedCatalog,
    build_catalog,
    main,
    synthesize_glade_plus,
)

# Four GLADE+ rows as in the distributed text file (40 columns, "null" when missing): NGC 4993
# with every name, one with only a WISExSCOS name and no stellar mass, one without any name, and
# one without a distance (dropped: it cannot be placed in 3D).
GLADE_ROWS = """\
2379 45657 NGC4993 NGC4993 13091936-2322495 J130919.36-232249.5 null G 197.448776 -23.383831 13.32 0.07 0 -19.84 10.844 0.023 10.119 0.029 9.828 0.037 10.587 0.023 10.609 0.021 0 null null 0.009727 0.010748 1 0.000834 1.5e-05 40.2 4.17 3 3.977 0.6 0 -0.93 0.09
15000001 null null null null J101112.00+050403.0 null G 152.8 5.0675 null null null null null null null null 15.2 0.1 15.5 0.05 15.6 0.08 0 17.9 0.2 0.05 0.05 0 0.0015 0.015 231.6 60.1 1 null null null null null
15000002 null null null null null null G 0.5 -89.9 18.5 0.2 1 -17.1 null null null null 16.0 0.1 null null null null 1 null null 0.1 0.1 0 0.0015 0.02 479.4 120.2 1 0.2 0.05 1 -2.0 0.2
15000003 null null null null null null G 10.0 10.0 19.0 0.2 0 null null null null null null null null null null null 1 null null null null 0 null null null null 0 null null null null null
"""


@pytest.fixture
def glade_text(tmp_path):
    path = tmp_path / "GLADE+.txt"
    path.write_text(GLADE_ROWS)
    return path


def test_glade_plus_rows_are_read_by_documented_column(glade_text, tmp_path):
    summary = build_catalog(glade_text, tmp_path / "glade.arrow")
    assert summary["n_rows"] == 3
    assert summary["max_distance_mpc"] == pytest.approx(479.4)
    rows = {row["name"]: row for row in IndexedCatalog(tmp_path / "glade.arrow").read().to_pylist()}
    assert set(rows) == {"NGC4993", "J101112.00+050403.0", "GLADE+ 15000002"}
    ngc4993 = rows["NGC4993"]
    assert (ngc4993["ra_deg"], ngc4993["dec_deg"]) == (197.448776, -23.383831)
    assert (ngc4993["distance_mpc"], ngc4993["distance_err_mpc"]) == (40.2, 4.17)
    assert ngc4993["stellar_mass_msun"] == pytest.approx(3.977e10)
    # B = 13.32 at 40.2 Mpc: M_B = -19.70, L_B = 10**(0.4 * (5.48 + 19.70)) Lsun.
    assert ngc4993["lum_b_lsun"] == pytest.approx(10 ** (0.4 * (5.48 - 13.32 + 5 * np.log10(40.2) + 25)))
    assert ngc4993["lum_k_lsun"] == pytest.approx(10 ** (0.4 * (3.27 - 9.828 + 5 * np.log10(40.2) + 25)))
    cell = hp.ang2pix(2**INDEX_ORDER, 197.448776, -23.383831, nest=True, lonlat=True)
    assert ngc4993["index_key"] == 7 * N_CELLS + cell  # 40.2 Mpc: shell 7, [38.1, 47.7) Mpc
    wise = rows["J101112.00+050403.0"]
    assert np.isnan(wise["stellar_mass_msun"]) and np.isnan(wise["lum_b_lsun"])
    assert wise["distance_mpc"] == 231.6


def test_a_file_without_40_columns_is_refused(tmp_path):
    path = tmp_path / "glade.txt"
    path.write_text(GLADE_ROWS.splitlines()[0].rsplit(" ", 1)[0] + "\n")
    with pytest.raises(ValueError, match="39 columns"):
        build_catalog(path, tmp_path / "out.arrow")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """20,000 synthetic galaxies to 500 Mpc: text and indexed catalog."""
    folder = tmp_path_factory.mktemp("synthetic")
    text = synthesize_glade_plus(folder / "synth.txt", 20_000, seed=3, max_distance_mpc=500.0)
    build_catalog(text, folder / "synth.arrow", batch_rows=3_000)
    return text, folder / "synth.arrow"


def test_synthetic_catalog_is_seeded(tmp_path, synthetic):
    text, _ = synthetic
    again = synthesize_glade_plus(tmp_path / "again.txt", 20_000, seed=3, max_distance_mpc=500.0)
    other = synthesize_glade_plus(tmp_path / "other.txt", 20_000, seed=4, max_distance_mpc=500.0)
    assert again.read_bytes() == text.read_bytes()
    assert other.read_bytes() != text.read_bytes()


def test_synthetic_catalog_is_uniform_in_comoving_volume_with_a_schechter_mass_function(synthetic):
    _, indexed_path = synthetic
    table = IndexedCatalog(indexed_path).read().to_pandas()
    assert len(table) == 20_000
    assert table.distance_mpc.max() <= 500.0
    z_max = 0.106  # d_L(0.106) ~ 500 Mpc (Planck18)
    z = np.linspace(0, z_max, 2001)
    dl = Planck18.luminosity_distance(z).value
    dc = np.interp(table.distance_mpc, dl, Planck18.comoving_distance(z).value)
    # (d_C / d_C,max)**3 is uniform on [0, 1].
    fraction = (dc / Planck18.comoving_distance(np.interp(500.0, dl, z)).value) ** 3
    assert np.histogram(fraction, bins=4, range=(0, 1))[0] == pytest.approx([5000] * 4, rel=0.06)
    # Isotropic: as many galaxies north as south, sin(dec) uniform.
    assert np.mean(table.dec_deg > 0) == pytest.approx(0.5, abs=0.02)
    log_mass = np.log10(table.stellar_mass_msun.dropna())
    assert np.mean(table.stellar_mass_msun.isna()) == pytest.approx(0.15, abs=0.02)
    # Schechter with alpha = -1.21 from 1e8 Msun: dwarfs dominate, a tail beyond M*.
    assert 8.0 <= log_mass.min() and log_mass.max() <= 12.5
    assert np.median(log_mass) == pytest.approx(8.8, abs=0.3)
    assert 0.01 < np.mean(log_mass > 10.66) < 0.1


def test_catalog_is_sorted_by_shell_cell_distance_and_indexed_by_block(synthetic):
    _, indexed_path = synthetic
    indexed = IndexedCatalog(indexed_path)
    table = indexed.read().to_pandas()
    cell = hp.ang2pix(2**INDEX_ORDER, table.ra_deg, table.dec_deg, nest=True, lonlat=True)
    shell = np.searchsorted(SHELL_EDGES_MPC, table.distance_mpc, side="right")
    assert np.array_equal(table.index_key, shell * N_CELLS + cell)
    expected = table.sort_values(["index_key", "distance_mpc"], kind="stable")
    assert np.array_equal(table.index, expected.index)
    # One record batch per (shell, base cell) bucket, indexed by blocks of 8,192 rows within each.
    with pa.memory_map(str(indexed_path)) as mapped:
        batch_rows = [batch.num_rows for batch in pa.ipc.open_file(mapped).read_all().to_batches()]
    assert len(batch_rows) > 1 and sum(batch_rows) == len(table)
    offsets = np.cumsum(batch_rows) - batch_rows
    starts = np.concatenate([np.arange(0, rows, 8192) + offset for rows, offset in zip(batch_rows, offsets)])
    ends = np.concatenate([np.minimum(np.arange(0, rows, 8192) + 8192, rows) + offset
                           for rows, offset in zip(batch_rows, offsets)])
    assert np.array_equal(indexed.group_first_key, table.index_key.values[starts])
    assert np.array_equal(indexed.group_last_key, table.index_key.values[ends - 1])
    assert np.array_equal(indexed.group_offset, starts)


def test_read_volume_returns_exactly_the_rows_of_the_cells_in_their_distance_windows(synthetic):
    _, indexed_path = synthetic
    indexed = IndexedCatalog(indexed_path)
    table = indexed.read().to_pandas()
    table["cell"] = table.index_key % N_CELLS
    rng = np.random.default_rng(5)
    cells = np.unique(np.concatenate([rng.choice(table.cell.unique(), 300), np.arange(1000, 1100)]))
    low, high = rng.uniform(0, 250, len(cells)), rng.uniform(250, 500, len(cells))
    got = indexed.read_volume(cells, low, high, columns=["name", "distance_mpc"]).to_pandas()
    window = dict(zip(cells, zip(low, high)))
    expected = table[[c in window and window[c][0] <= d <= window[c][1]
                      for c, d in zip(table.cell, table.distance_mpc)]]
    assert len(expected) > 100
    assert list(got.name) == list(expected.name)
    nearby = indexed.read_volume(cells, np.full(len(cells), 20.0), np.full(len(cells), 40.0), columns=["name"])
    assert nearby.num_rows == np.sum(table.cell.isin(cells) & table.distance_mpc.between(20, 40))


def test_batch_size_does_not_change_the_catalog(synthetic, tmp_path):
    text, indexed_path = synthetic
    build_catalog(text, tmp_path / "one-batch.arrow", batch_rows=1_000_000)
    one_batch = IndexedCatalog(tmp_path / "one-batch.arrow").read().to_pandas()
    assert one_batch.equals(IndexedCatalog(indexed_path).read().to_pandas())  # NaN equal to NaN


def _named_table():
    return Table({
        "Name": ["NGC 1", "NGC 2", "far away"],
        "RA": [10.0, 200.0, 300.0],
        "DEC": [-5.0, 45.0, 0.0],
        "D": [20.0, 150.0, np.nan],
        "E_D": [2.0, 30.0, 1.0],
        "logM": [10.5, 9.0, 11.0],
        "Bmag": [12.0, np.nan, 15.0],
    })


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".fits"])
def test_any_table_is_read_by_configured_column_names(tmp_path, suffix):
    source = tmp_path / f"galaxies{suffix}"
    _named_table().write(source)
    columns = ColumnMap.from_mapping({"ra": "RA", "dec": "DEC", "distance": "D", "distance_err": "E_D",
                                      "name": "Name", "stellar_mass": "logM", "stellar_mass_log10": True,
                                      "b_mag": "Bmag"})
    build_catalog(source, tmp_path / "out.arrow", fmt="table", columns=columns)
    rows = IndexedCatalog(tmp_path / "out.arrow").read().to_pandas().set_index("name")
    assert sorted(rows.index) == ["NGC 1", "NGC 2"]  # no distance: dropped
    assert rows.loc["NGC 1", "stellar_mass_msun"] == pytest.approx(10**10.5)
    assert rows.loc["NGC 2", "distance_err_mpc"] == 30.0
    assert np.isnan(rows.loc["NGC 2", "lum_b_lsun"]) and rows.loc["NGC 1", "lum_b_lsun"] > 0


def test_ned_lvs_and_hecate_presets(tmp_path):
    ned = Table({"objname": ["WINGS J1", "NGC 4993"], "ra": [1.0, 197.448776], "dec": [2.0, -23.383831],
                 "DistMpc": [100.0, 40.2], "DistMpc_unc": [7.0, 2.0], "Mstar": [1e9, 4e10],
                 "m_Ks": [14.0, 9.8], "z": [0.02, 0.0098]})
    ned.write(tmp_path / "NEDLVS.fits")
    hecate = Table({"PGC": [45657], "OBJNAME": ["NGC4993"], "RA": [197.448776], "DEC": [-23.383831],
                    "D": [41.0], "E_D": [3.0], "BT": [13.3], "K": [9.8], "logM_HEC": [10.6]})
    hecate.write(tmp_path / "HECATE_v1.1.csv")
    build_catalog(tmp_path / "NEDLVS.fits", tmp_path / "ned.arrow", fmt="ned-lvs")
    build_catalog(tmp_path / "HECATE_v1.1.csv", tmp_path / "hecate.arrow", fmt="hecate")
    ned_rows = IndexedCatalog(tmp_path / "ned.arrow").read().to_pandas().set_index("name")
    assert ned_rows.loc["NGC 4993", "stellar_mass_msun"] == 4e10
    assert ned_rows.loc["WINGS J1", "distance_err_mpc"] == 7.0
    assert np.isnan(ned_rows.loc["NGC 4993", "lum_b_lsun"]) and ned_rows.loc["NGC 4993", "lum_k_lsun"] > 0
    hecate_row = IndexedCatalog(tmp_path / "hecate.arrow").read().to_pylist()[0]
    assert hecate_row["name"] == "NGC4993"
    assert hecate_row["stellar_mass_msun"] == pytest.approx(10**10.6)


def test_a_catalog_without_index_metadata_is_refused(tmp_path):
    pq.write_table(pa.table({"ra": [1.0], "dec": [2.0]}), tmp_path / "plain.parquet")
    with pytest.raises(ValueError, match="not a skyspool catalog"):
        IndexedCatalog(tmp_path / "plain.parquet")
    with pa.ipc.new_file(str(tmp_path / "plain.arrow"), pa.schema([("ra", pa.float64())])) as writer:
        writer.write_table(pa.table({"ra": [1.0]}))
    with pytest.raises(ValueError, match="not a skyspool catalog"):
        IndexedCatalog(tmp_path / "plain.arrow")
    (tmp_path / "text.txt").write_text("ra dec\n1 2\n")
    with pytest.raises(ValueError, match="not a skyspool catalog"):
        IndexedCatalog(tmp_path / "text.txt")


def test_a_catalog_of_an_older_format_is_refused_with_how_to_rebuild_it(tmp_path, synthetic):
    """Format 2 was Parquet with the same schema and metadata: refused, not misread."""
    _, indexed_path = synthetic
    table = IndexedCatalog(indexed_path).read()
    metadata = json.loads(table.schema.metadata[b"skyspool.catalog"])
    old = table.replace_schema_metadata({b"skyspool.catalog": json.dumps({**metadata, "format_version": 2})})
    pq.write_table(old, tmp_path / "glade.parquet", row_group_size=8192)
    with pytest.raises(ValueError, match=r"glade.parquet: a Parquet file: skyspool catalog format 2 .* "
                                         r"rebuild it from its source with `skyspool catalog build`"):
        IndexedCatalog(tmp_path / "glade.parquet")
    with pa.ipc.new_file(str(tmp_path / "v2.arrow"), old.schema) as writer:
        writer.write_table(old)
    with pytest.raises(ValueError, match="catalog format 2, expected 3: rebuild it with `skyspool catalog build`"):
        IndexedCatalog(tmp_path / "v2.arrow")


def test_numeric_columns_are_read_in_place_without_nulls(synthetic):
    """Missing numbers are NaN, not nulls: every numeric column reads as a plain array, in place."""
    _, indexed_path = synthetic
    table = IndexedCatalog(indexed_path).read()
    for name in table.column_names:
        if name != "name":
            assert table[name].null_count == 0, name
    assert np.isnan(table["stellar_mass_msun"].to_numpy()).mean() == pytest.approx(0.15, abs=0.02)


def test_command_line_synth_then_build(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s.txt"), "--rows", "500", "--seed", "1", "--quiet"]) == 0
    assert len((tmp_path / "s.txt").read_text().splitlines()) == 500
    assert main(["build", str(tmp_path / "s.txt"), str(tmp_path / "s.arrow"), "--quiet"]) == 0
    assert '"n_rows": 500' in capsys.readouterr().out
    assert IndexedCatalog(tmp_path / "s.arrow").n_rows == 500


def test_command_line_table_columns(tmp_path):
    _named_table().write(tmp_path / "t.csv")
    assert main(["build", str(tmp_path / "t.csv"), str(tmp_path / "t.arrow"), "--format", "table",
                 "--column", "ra=RA", "--column", "dec=DEC", "--column", "distance=D",
                 "--column", "stellar_mass=logM", "--stellar-mass-log10", "--quiet"]) == 0
    assert IndexedCatalog(tmp_path / "t.arrow").n_rows == 2
    with pytest.raises(SystemExit):
        main(["build", str(tmp_path / "t.csv"), str(tmp_path / "u.arrow"), "--format", "table",
              "--column", "ra=RA", "--column", "colour=BV"])


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown catalog format"):
        list(catalog.read_source(tmp_path / "x.csv", "sdss"))
