"""Galaxy catalogs indexed by distance shell and HEALPix cell, for fast 3D cross-matches (issue 5).

``build_catalog`` turns a galaxy catalog (the GLADE+ text file, NED-LVS, HECATE, or any CSV/ECSV/FITS
table whose columns are named in a :class:`ColumnMap`) into one uncompressed Arrow IPC file (format
:data:`FORMAT_VERSION`) with a fixed schema (:data:`CATALOG_SCHEMA`), its rows sorted by
``index_key`` = (distance shell, nested HEALPix cell at :data:`INDEX_ORDER`) and then by luminosity
distance. The file is memory-mapped: a column of the rows wanted is a view of the file's bytes,
nothing is decoded or copied (Parquet, format 2, spent ~0.6 s of CPU decoding the rows of a half-sky
volume and ~0.6 s more the few listed rows' other columns, scattered over hundreds of row groups).
The index is the first and last ``index_key`` of each block of 8,192 rows: a reader turns the cells
and distance windows of a credible volume into keys and visits only the blocks holding them
(:class:`IndexedCatalog`).

Why shells first: a GW volume is a large sky area times a narrow distance range. Sorted by cell
alone, reading the cells of a 1000 deg2 region reads every distance there: measured on 22.5 M rows,
5 M rows read and 0.4 s for 8,000 galaxies inside. With shells first the rows read scale with the
volume. Shells are geometric, 25% wide from 10 Mpc (:data:`SHELL_EDGES_MPC`): a distance posterior
(typically +/-30%) spans a few. Why cells of order 8 (nside 256, 0.052 deg2): within a shell,
galaxies of one small sky patch are together, so the blocks visited follow the outline of the
region closely; the key stays an int64 whatever the order.

The build streams: the source is read in batches (never the whole text file in memory), each batch is
scattered to temporary Arrow files by (shell, base HEALPix cell), at most 432 buckets, and each bucket
is then sorted in memory and appended to the catalog file as one record batch, in key order. Peak
memory is about one batch plus one bucket. Missing numbers are NaN (no validity bitmaps), so that
every numeric column is a plain array.

Units: angles in degrees, distances in Mpc (luminosity distance), stellar masses in solar masses,
luminosities in solar luminosities (B and Ks band, from apparent magnitudes and the luminosity
distance, without K-correction).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import healpy as hp
import numba
import numpy as np
import pandas  # noqa: F401  pyarrow converts to NumPy through pandas, imported on first use (~0.6 s)
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from tqdm import tqdm

from skyspool.atomic import atomic_path

INDEX_ORDER = 8
N_CELLS = 12 * 4**INDEX_ORDER
SHELL_EDGES_MPC = 10.0 * 1.25 ** np.arange(35)  # 10 Mpc .. 19.7 Gpc: 36 shells with [0, 10) and beyond
# Rows per block of the index: a small volume's cells are visited with few other rows.
BLOCK_ROWS = 8_192
BATCH_ROWS = 1_000_000
# Blocks processed at once by one thread (262,144 rows): a chunk's arrays stay in the CPU caches
# between steps, and the chunks are spread over threads.
CHUNK_GROUPS = 32
METADATA_KEY = b"skyspool.catalog"
# 3: memory-mapped Arrow IPC file (2: Parquet, refused with a message to rebuild).
FORMAT_VERSION = 3
ARROW_MAGIC = b"ARROW1"
PARQUET_MAGIC = b"PAR1"

# Absolute magnitudes of the Sun (Vega), to turn magnitudes into luminosities in solar units.
SUN_ABS_MAG_B = 5.48
SUN_ABS_MAG_K = 3.27

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("index_key", pa.int64(), nullable=False),  # shell * N_CELLS + cell
        pa.field("name", pa.string()),
        pa.field("ra_deg", pa.float64(), nullable=False),
        pa.field("dec_deg", pa.float64(), nullable=False),
        pa.field("distance_mpc", pa.float64(), nullable=False),
        pa.field("distance_err_mpc", pa.float64()),
        pa.field("stellar_mass_msun", pa.float64()),
        pa.field("lum_b_lsun", pa.float64()),
        pa.field("lum_k_lsun", pa.float64()),
    ]
)
WEIGHT_COLUMNS = ("stellar_mass_msun", "lum_b_lsun", "lum_k_lsun")

# GLADE+ text file (glade.elte.hu, VizieR VII/291): 40 whitespace-separated columns, "null" when
# missing. Column numbers of the ReadMe (1-based).
GLADE_N_COLUMNS = 40
GLADE_COLUMNS = {
    "glade_no": 1,
    "gwgc_name": 3,
    "hyperleda_name": 4,
    "twomass_name": 5,
    "wisexscos_name": 6,
    "sdss_name": 7,
    "ra": 9,
    "dec": 10,
    "b_mag": 11,
    "k_mag": 19,
    "distance": 33,
    "distance_err": 34,
    "stellar_mass_1e10msun": 36,
}
# Names in order of preference for the one `name` column.
GLADE_NAME_COLUMNS = ("hyperleda_name", "gwgc_name", "twomass_name", "wisexscos_name", "sdss_name")


@dataclasses.dataclass(frozen=True)
class ColumnMap:
    """Which source columns hold what, for catalogs read by column name.

    ``ra``/``dec`` in degrees, ``distance`` and ``distance_err`` luminosity distance in Mpc,
    ``b_mag``/``k_mag`` apparent B and Ks magnitudes. ``stellar_mass`` is in units of
    ``stellar_mass_unit_msun`` solar masses, or log10 of that when ``stellar_mass_log10``.
    """

    ra: str
    dec: str
    distance: str
    distance_err: str | None = None
    name: str | None = None
    stellar_mass: str | None = None
    stellar_mass_log10: bool = False
    stellar_mass_unit_msun: float = 1.0
    b_mag: str | None = None
    k_mag: str | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> ColumnMap:
        """Build from a config mapping with the field names as keys (unknown keys refused)."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(mapping) - known
        if unknown:
            raise ValueError(f"unknown catalog column keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**mapping)

    def source_columns(self) -> dict[str, str]:
        """Canonical input key -> source column name, for the columns that are set."""
        keys = ("name", "ra", "dec", "distance", "distance_err", "stellar_mass", "b_mag", "k_mag")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}


# Column names of the public releases: NED-LVS (Cook et al. 2023, FITS; Mstar in solar masses) and
# HECATE v1.1 (Kovlakas et al. 2021, CSV; logM_HEC = log10 solar masses).
PRESETS = {
    "ned-lvs": ColumnMap(ra="ra", dec="dec", distance="DistMpc", distance_err="DistMpc_unc",
                         name="objname", stellar_mass="Mstar", k_mag="m_Ks"),
    "hecate": ColumnMap(ra="RA", dec="DEC", distance="D", distance_err="E_D", name="OBJNAME",
                        stellar_mass="logM_HEC", stellar_mass_log10=True, b_mag="BT", k_mag="K"),
}
FORMATS = ("glade+", *PRESETS, "table")


# --------------------------------------------------------------------------------------------
# Readers: each yields pyarrow tables with canonical input keys (see ColumnMap.source_columns),
# stellar_mass already in solar masses.


@contextlib.contextmanager
def _open_binary(path: Path, progress: bool) -> Iterator:
    """Open ``path`` for reading; with ``progress``, a bar advances with the bytes read."""
    with open(path, "rb") as raw:
        if not progress:
            yield raw
            return
        with tqdm.wrapattr(raw, "read", total=path.stat().st_size, desc=f"reading {path.name}",
                           file=sys.stderr) as stream:
            yield stream


def read_glade_plus(path: str | Path, *, batch_rows: int = BATCH_ROWS,
                    progress: bool = False) -> Iterator[pa.Table]:
    """Stream the GLADE+ text file (40 space-separated columns, ``null`` when missing)."""
    path = Path(path)
    with open(path, "rb") as handle:
        n_fields = len(handle.readline().split())
    if n_fields != GLADE_N_COLUMNS:
        raise ValueError(f"{path}: {n_fields} columns on the first line, GLADE+ has {GLADE_N_COLUMNS}")
    field = {key: f"f{number - 1}" for key, number in GLADE_COLUMNS.items()}
    string_keys = ("gwgc_name", "hyperleda_name", "twomass_name", "wisexscos_name", "sdss_name")
    types = {field[key]: pa.string() if key in string_keys else pa.float64() for key in field}
    types[field["glade_no"]] = pa.int64()
    convert = pa_csv.ConvertOptions(include_columns=list(field.values()), column_types=types,
                                    null_values=["null"], strings_can_be_null=True)
    with _open_binary(path, progress) as stream:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, block_size=8 << 20),
            parse_options=pa_csv.ParseOptions(delimiter=" "),
            convert_options=convert,
        )
        for batch in _rebatch(reader, batch_rows):
            column = {key: batch.column(name) for key, name in field.items()}
            fallback = pc.binary_join_element_wise("GLADE+ ", pc.cast(column["glade_no"], pa.string()), "")
            name = pc.coalesce(*(column[key] for key in GLADE_NAME_COLUMNS), fallback)
            yield pa.table({
                "name": name,
                "ra": column["ra"],
                "dec": column["dec"],
                "distance": column["distance"],
                "distance_err": column["distance_err"],
                "stellar_mass": pc.multiply(column["stellar_mass_1e10msun"], 1e10),
                "b_mag": column["b_mag"],
                "k_mag": column["k_mag"],
            })


def _rebatch(reader, batch_rows: int) -> Iterator[pa.Table]:
    """Group the reader's record batches into tables of about ``batch_rows`` rows."""
    pending, n_pending = [], 0
    for batch in reader:
        pending.append(batch)
        n_pending += batch.num_rows
        if n_pending >= batch_rows:
            yield pa.Table.from_batches(pending)
            pending, n_pending = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def read_table(path: str | Path, columns: ColumnMap, *, batch_rows: int = BATCH_ROWS,
               progress: bool = False) -> Iterator[pa.Table]:
    """Stream a FITS, ECSV or CSV table, keeping the columns named in ``columns``."""
    path = Path(path)
    wanted = columns.source_columns()
    if path.suffix.lower() in (".fits", ".fit", ".fts") or path.name.lower().endswith(".fits.gz"):
        chunks = _read_fits(path, list(wanted.values()), batch_rows)
    else:
        chunks = _read_text_table(path, list(wanted.values()), batch_rows, progress)
    for chunk in chunks:
        table = pa.table({key: chunk.column(source) for key, source in wanted.items()})
        if "stellar_mass" in table.column_names:
            mass = pc.cast(table["stellar_mass"], pa.float64())
            if columns.stellar_mass_log10:
                mass = pc.power(10.0, mass)
            table = table.set_column(table.schema.get_field_index("stellar_mass"), "stellar_mass",
                                     pc.multiply(mass, columns.stellar_mass_unit_msun))
        yield table


def _read_fits(path: Path, names: list[str], batch_rows: int) -> Iterator[pa.Table]:
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdus:
        data = next(hdu for hdu in hdus if isinstance(hdu, fits.BinTableHDU)).data
        for start in range(0, len(data), batch_rows):
            rows = data[start:start + batch_rows]
            yield pa.table({name: _fits_column(rows[name]) for name in names})


def _fits_column(values: np.ndarray) -> pa.Array:
    if values.dtype.kind in "SU":
        return pa.array(np.char.strip(values.astype(str)))
    return pa.array(values.astype(values.dtype.newbyteorder("=")))


def _read_text_table(path: Path, names: list[str], batch_rows: int,
                     progress: bool) -> Iterator[pa.Table]:
    """CSV, or ECSV (its YAML header is skipped; the delimiter is read from it)."""
    header_lines, delimiter = 0, ","
    if path.suffix.lower() == ".ecsv":
        delimiter = " "
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.startswith("#"):
                    break
                header_lines += 1
                if line.strip() == "# delimiter: ','":
                    delimiter = ","
    convert = pa_csv.ConvertOptions(include_columns=names, strings_can_be_null=True,
                                    null_values=["", "null", "NULL", "nan", "NaN"])
    with _open_binary(path, progress) as stream:
        reader = pa_csv.open_csv(stream, read_options=pa_csv.ReadOptions(skip_rows=header_lines),
                                 parse_options=pa_csv.ParseOptions(delimiter=delimiter),
                                 convert_options=convert)
        yield from _rebatch(reader, batch_rows)


def read_source(path: str | Path, fmt: str, columns: ColumnMap | None = None, *,
                batch_rows: int = BATCH_ROWS, progress: bool = False) -> Iterator[pa.Table]:
    """Stream any supported catalog: ``fmt`` is one of :data:`FORMATS`."""
    if fmt == "glade+":
        return read_glade_plus(path, batch_rows=batch_rows, progress=progress)
    if fmt in PRESETS:
        columns = PRESETS[fmt]
    elif fmt != "table":
        raise ValueError(f"unknown catalog format {fmt!r}; known: {', '.join(FORMATS)}")
    if columns is None:
        raise ValueError("format 'table' needs a column map (ra, dec, distance, ...)")
    return read_table(path, columns, batch_rows=batch_rows, progress=progress)


# --------------------------------------------------------------------------------------------
# Build


def _float_column(raw: pa.Table, key: str) -> np.ndarray:
    if key not in raw.column_names:
        return np.full(raw.num_rows, np.nan)
    return pc.cast(raw[key], pa.float64()).to_numpy(zero_copy_only=False)


def luminosity_lsun(apparent_mag: np.ndarray, distance_mpc: np.ndarray, sun_abs_mag: float) -> np.ndarray:
    """Luminosity in solar units from an apparent magnitude and a luminosity distance in Mpc."""
    absolute_mag = apparent_mag - 5 * np.log10(distance_mpc) - 25
    return 10 ** (-0.4 * (absolute_mag - sun_abs_mag))


def distance_shell(distance_mpc: np.ndarray) -> np.ndarray:
    """Index of the distance shell (:data:`SHELL_EDGES_MPC`) of each distance."""
    return np.searchsorted(SHELL_EDGES_MPC, distance_mpc, side="right")


def catalog_batch(raw: pa.Table) -> pa.Table:
    """Canonical rows (:data:`CATALOG_SCHEMA`, unsorted) from a reader's table.

    Rows without a finite position or a positive distance are dropped: they cannot be placed in 3D.
    """
    ra = _float_column(raw, "ra")
    dec = _float_column(raw, "dec")
    distance = _float_column(raw, "distance")
    keep = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90) & (distance > 0)
    ra, dec, distance = np.mod(ra[keep], 360.0), dec[keep], distance[keep]
    cell = hp.ang2pix(hp.order2nside(INDEX_ORDER), ra, dec, nest=True, lonlat=True)
    with np.errstate(invalid="ignore"):
        columns = {
            "index_key": distance_shell(distance) * N_CELLS + cell,
            "name": (raw["name"].filter(pa.array(keep)) if "name" in raw.column_names
                     else pa.nulls(len(ra), pa.string())),
            "ra_deg": ra,
            "dec_deg": dec,
            "distance_mpc": distance,
            "distance_err_mpc": _float_column(raw, "distance_err")[keep],
            "stellar_mass_msun": _float_column(raw, "stellar_mass")[keep],
            "lum_b_lsun": luminosity_lsun(_float_column(raw, "b_mag")[keep], distance, SUN_ABS_MAG_B),
            "lum_k_lsun": luminosity_lsun(_float_column(raw, "k_mag")[keep], distance, SUN_ABS_MAG_K),
        }
    columns["name"] = pc.cast(columns["name"], pa.string())
    return pa.table(columns, schema=CATALOG_SCHEMA)


def build_catalog(source: str | Path, dest: str | Path, *, fmt: str = "glade+",
                  columns: ColumnMap | None = None, batch_rows: int = BATCH_ROWS,
                  progress: bool = False) -> dict:
    """Build the indexed catalog ``dest`` (memory-mapped Arrow IPC file) from ``source``; return its
    metadata summary.

    ``dest`` is written atomically. Memory stays bounded by one batch and one bucket.
    """
    source, dest = Path(source), Path(dest)
    n_rows, max_distance_mpc = 0, 0.0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".catalog-build-", dir=dest.parent) as scratch:
        writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        for raw in read_source(source, fmt, columns, batch_rows=batch_rows, progress=progress):
            batch = catalog_batch(raw)
            if batch.num_rows == 0:
                continue
            n_rows += batch.num_rows
            max_distance_mpc = max(max_distance_mpc, float(np.max(batch["distance_mpc"].to_numpy())))
            # Bucket = (shell, base cell): the key's top bits, in key order.
            buckets = batch["index_key"].to_numpy() // (N_CELLS // 12)
            order = np.argsort(buckets, kind="stable")
            batch, buckets = batch.take(order), buckets[order]
            bounds = np.flatnonzero(np.diff(buckets)) + 1
            for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(buckets)]):
                bucket = int(buckets[start])
                if bucket not in writers:
                    writers[bucket] = pa.ipc.new_file(Path(scratch, f"{bucket:04d}.arrow"), CATALOG_SCHEMA)
                writers[bucket].write_table(batch.slice(start, stop - start))
        for writer in writers.values():
            writer.close()

        summary = {
            "format_version": FORMAT_VERSION,
            "order": INDEX_ORDER,
            "shell_edges_mpc": SHELL_EDGES_MPC.tolist(),
            "n_rows": n_rows,
            "max_distance_mpc": max_distance_mpc,
            "source": source.name,
            "source_format": fmt,
        }
        schema = CATALOG_SCHEMA.with_metadata({METADATA_KEY: json.dumps(summary).encode()})
        with atomic_path(dest) as tmp:
            with pa.ipc.new_file(str(tmp), schema) as catalog_file:
                for bucket in tqdm(sorted(writers), desc="sorting buckets", disable=not progress,
                                   file=sys.stderr):
                    with pa.memory_map(str(Path(scratch, f"{bucket:04d}.arrow"))) as mapped:
                        table = pa.ipc.open_file(mapped).read_all()
                    order = np.lexsort((table["distance_mpc"].to_numpy(), table["index_key"].to_numpy()))
                    # One record batch per bucket: each column of it one contiguous array.
                    catalog_file.write_batch(table.take(order).combine_chunks().to_batches()[0])
    return summary


# --------------------------------------------------------------------------------------------
# Reading


class IndexedCatalog:
    """A catalog written by :func:`build_catalog`, memory-mapped, read by cell and distance window."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            magic = handle.read(len(ARROW_MAGIC))
        if magic != ARROW_MAGIC:
            raise ValueError(f"{self.path}: {self._not_a_catalog(magic)}")
        reader = pa.ipc.open_file(pa.memory_map(str(self.path)))
        raw = (reader.schema.metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise ValueError(f"{self.path}: not a skyspool catalog (build it with `skyspool catalog build`)")
        self.metadata = json.loads(raw)
        if self.metadata["format_version"] != FORMAT_VERSION:
            raise ValueError(f"{self.path}: catalog format {self.metadata['format_version']}, "
                             f"expected {FORMAT_VERSION}: rebuild it with `skyspool catalog build`")
        self.order: int = self.metadata["order"]
        self.n_rows: int = self.metadata["n_rows"]
        self.max_distance_mpc: float = self.metadata["max_distance_mpc"]
        self.shell_edges_mpc = np.array(self.metadata["shell_edges_mpc"])
        # Views of the mapped file: nothing is read until used.
        self._batches = [reader.get_batch(number) for number in range(reader.num_record_batches)]
        self._table = pa.Table.from_batches(self._batches, schema=reader.schema)
        self._arrays: dict[str, list[np.ndarray]] = {}
        # The index: blocks of BLOCK_ROWS rows within each record batch, with their first and last
        # key (rows are sorted by key), record batch, first row in it, and first row in the file.
        batch_rows = np.array([batch.num_rows for batch in self._batches], dtype=np.int64)
        self._batch_offset = np.cumsum(batch_rows) - batch_rows  # first row number of each
        blocks_per_batch = -(-batch_rows // BLOCK_ROWS)
        self.group_batch = np.repeat(np.arange(len(batch_rows)), blocks_per_batch)
        self.group_start = (np.arange(blocks_per_batch.sum())
                            - np.repeat(np.cumsum(blocks_per_batch) - blocks_per_batch, blocks_per_batch)) * BLOCK_ROWS
        self.group_rows = np.minimum(batch_rows[self.group_batch] - self.group_start, BLOCK_ROWS)
        self.group_offset = self._batch_offset[self.group_batch] + self.group_start
        keys = self._column("index_key")
        self.group_first_key = np.array([keys[batch][start] for batch, start
                                         in zip(self.group_batch, self.group_start)], dtype=np.int64)
        self.group_last_key = np.array([keys[batch][start + rows - 1] for batch, start, rows
                                        in zip(self.group_batch, self.group_start, self.group_rows)], dtype=np.int64)

    @staticmethod
    def _not_a_catalog(magic: bytes) -> str:
        if magic[:len(PARQUET_MAGIC)] != PARQUET_MAGIC:
            return "not a skyspool catalog (build it with `skyspool catalog build`)"
        return (f"a Parquet file: skyspool catalog format 2 or a plain table, not a skyspool catalog of "
                f"format {FORMAT_VERSION} (memory-mapped Arrow): rebuild it from its source with "
                f"`skyspool catalog build`")

    def _column(self, name: str) -> list[np.ndarray]:
        """Column ``name`` as one NumPy array per record batch: views of the mapped file."""
        if name not in self._arrays:
            index = CATALOG_SCHEMA.get_field_index(name)
            self._arrays[name] = [batch.column(index).to_numpy() for batch in self._batches]
        return self._arrays[name]

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The whole catalog (for small catalogs and comparisons)."""
        return self._table if columns is None else self._table.select(columns)

    def read_volume(self, cells: np.ndarray, min_distance_mpc: np.ndarray, max_distance_mpc: np.ndarray,
                    columns: list[str]) -> pa.Table:
        """Rows in the given cells (unique, at :attr:`order`) within each cell's distance window."""
        _, row_numbers = self.read_volume_arrays(cells, min_distance_mpc, max_distance_mpc, [])
        return self.read_rows(row_numbers, columns)

    def read_volume_arrays(self, cells: np.ndarray, min_distance_mpc: np.ndarray, max_distance_mpc: np.ndarray,
                           columns: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``columns`` (plus ``index_key`` and ``distance_mpc``) as NumPy arrays (missing: NaN)
        for the rows in the given cells (unique, at :attr:`order`) within each cell's distance
        window, and those rows' numbers in the file (for :meth:`read_rows`)."""
        chunks = self.map_volume(cells, min_distance_mpc, max_distance_mpc, columns,
                                 lambda arrays, inside, row_numbers: ({name: values[inside] for name, values
                                                                       in arrays.items()}, row_numbers(inside)))
        names = sorted(set(columns) | {"index_key", "distance_mpc"}, key=CATALOG_SCHEMA.names.index)
        return ({name: np.concatenate([arrays[name] for arrays, _ in chunks]) for name in names},
                np.concatenate([rows for _, rows in chunks]))

    def map_volume(self, cells: np.ndarray, min_distance_mpc: np.ndarray, max_distance_mpc: np.ndarray,
                   columns: list[str], process, *, threads: int = 2) -> list:
        """``process(arrays, inside, row_numbers)`` applied to the volume chunk by chunk, in file
        order; the list of its results.

        ``arrays``: ``columns`` (plus ``index_key`` and ``distance_mpc``, missing numbers NaN) of
        a chunk's rows, views of the mapped file; ``inside``: the indices of the rows that
        :meth:`read_volume_arrays` gives (in the cells, within their windows);
        ``row_numbers(indices)``: the rows' numbers in the file. A chunk is a run of consecutive
        blocks of one record batch, at most :data:`CHUNK_GROUPS`; chunks are processed by
        ``threads`` threads (NumPy and the compiled filter release the GIL; a chunk's arrays
        stay in the CPU caches between the steps of ``process``). Only the blocks holding the
        (shell, cell) keys of the windows are visited.
        """
        n_cells = 12 * 4**self.order
        first_shell = np.searchsorted(self.shell_edges_mpc, min_distance_mpc, side="right")
        n_shells = np.searchsorted(self.shell_edges_mpc, max_distance_mpc, side="right") - first_shell + 1
        shell = np.repeat(first_shell - (np.cumsum(n_shells) - n_shells), n_shells) + np.arange(n_shells.sum())
        keys = np.sort(shell * n_cells + np.repeat(cells, n_shells))
        # A block is needed when a wanted key lies within its [first, last] key range.
        next_key = np.searchsorted(keys, self.group_first_key)
        needed = next_key < len(keys)
        needed[needed] = keys[next_key[needed]] <= self.group_last_key[needed]
        groups = np.flatnonzero(needed)
        read_columns = sorted(set(columns) | {"index_key", "distance_mpc"}, key=CATALOG_SCHEMA.names.index)
        window_low, window_high = np.full(n_cells, np.inf), np.full(n_cells, -np.inf)
        window_low[cells], window_high[cells] = min_distance_mpc, max_distance_mpc
        arrays = {name: self._column(name) for name in read_columns}

        def chunk(chunk_groups: np.ndarray):
            batch, start = self.group_batch[chunk_groups[0]], self.group_start[chunk_groups[0]]
            stop = self.group_start[chunk_groups[-1]] + self.group_rows[chunk_groups[-1]]
            values = {name: per_batch[batch][start:stop] for name, per_batch in arrays.items()}
            # Keep the rows of the wanted cells within their windows.
            inside = _rows_in_windows(values["index_key"], values["distance_mpc"], n_cells, window_low, window_high)
            first_row = self.group_offset[chunk_groups[0]]
            return process(values, inside, lambda indices: indices + first_row)

        # Chunks: runs of consecutive blocks of one record batch (one view), cut every CHUNK_GROUPS.
        new_run = np.r_[True, (np.diff(groups) != 1) | (np.diff(self.group_batch[groups]) != 0)]
        run_first = np.flatnonzero(new_run)
        in_run = np.arange(len(groups)) - run_first[np.cumsum(new_run) - 1]
        chunks = np.split(groups, np.flatnonzero(new_run | (in_run % CHUNK_GROUPS == 0))[1:])
        chunks = [chunk_groups for chunk_groups in chunks if len(chunk_groups)]
        if not chunks:
            return [process({name: np.empty(0, CATALOG_SCHEMA.field(name).type.to_pandas_dtype())
                             for name in read_columns}, np.empty(0, np.int64), lambda indices: indices)]
        if threads <= 1 or len(chunks) == 1:
            return [chunk(groups) for groups in chunks]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(chunk, chunks))

    def read_rows(self, row_numbers: np.ndarray, columns: list[str]) -> pa.Table:
        """Rows by number (as :meth:`read_volume_arrays` gives them), in that order: taken from
        each record batch holding some (a take from the whole table would first join its batches,
        reading and copying every row)."""
        by_row = np.argsort(row_numbers, kind="stable")
        sorted_rows = row_numbers[by_row]
        batch = np.searchsorted(self._batch_offset, sorted_rows, side="right") - 1
        starts = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]]) if len(batch) else np.empty(0, np.int64)
        pieces = [self._batches[batch[start]].select(columns).take(
                      pa.array(sorted_rows[start:stop] - self._batch_offset[batch[start]]))
                  for start, stop in zip(starts, np.r_[starts[1:], len(batch)])]
        taken = pa.Table.from_batches(pieces, schema=pa.schema([CATALOG_SCHEMA.field(name) for name in columns]))
        return taken.combine_chunks().take(pa.array(np.argsort(by_row)))


@numba.njit(cache=True, nogil=True)
def _rows_in_windows(key: np.ndarray, distance: np.ndarray, n_cells: int, window_low: np.ndarray,
                     window_high: np.ndarray) -> np.ndarray:
    """Indices of the rows whose cell (``key % n_cells``) has a distance window holding them."""
    inside = np.empty(len(key), np.int64)
    n_inside = 0
    for row in range(len(key)):
        cell = key[row] % n_cells
        if window_low[cell] <= distance[row] <= window_high[cell]:
            inside[n_inside] = row
            n_inside += 1
    return inside[:n_inside]


# --------------------------------------------------------------------------------------------
# Synthetic catalog


def _text_column(values: np.ndarray, decimals: int, missing: np.ndarray | None = None) -> pa.Array:
    """Numbers as text rounded to ``decimals``; NaN or ``missing`` become nulls (written ``null``)."""
    return pc.cast(pa.array(np.round(values, decimals), mask=missing, from_pandas=True), pa.string())


def synthesize_glade_plus(dest: str | Path, n_rows: int, *, seed: int = 0, max_distance_mpc: float = 2000.0,
                          batch_rows: int = BATCH_ROWS, progress: bool = False) -> Path:
    """Write a synthetic catalog of ``n_rows`` galaxies in the GLADE+ text format (40 columns).

    Galaxies are uniform in comoving volume (Planck18) out to luminosity distance
    ``max_distance_mpc``, isotropic on the sky, with stellar masses drawn from a Schechter
    function (log10 M* = 10.66, alpha = -1.21, 1e8..1e12.5 Msun; Baldry et al. 2012). B and Ks
    magnitudes follow from the mass with scattered mass-to-light ratios; 70% of distances are
    "photometric" (20% error), 30% "spectroscopic" (2%); 15% of masses and 20% of B magnitudes are
    missing, as in GLADE+. The same ``seed`` and ``n_rows`` give the same file.
    """
    from astropy.cosmology import Planck18

    rng = np.random.default_rng(seed)
    z_grid = np.linspace(0.0, 3.0, 30_001)
    dl_grid = Planck18.luminosity_distance(z_grid).to_value("Mpc")
    dc_grid = Planck18.comoving_distance(z_grid).to_value("Mpc")
    dc_max = np.interp(max_distance_mpc, dl_grid, dc_grid)
    log_mass_grid = np.linspace(8.0, 12.5, 4501)
    x = 10 ** (log_mass_grid - 10.66)
    mass_cdf = np.cumsum(x ** (1 - 1.21) * np.exp(-x))
    mass_cdf /= mass_cdf[-1]

    dest = Path(dest)
    options = pa_csv.WriteOptions(include_header=False, delimiter=" ", null_string="null", quoting_style="none")
    with atomic_path(dest) as tmp, open(tmp, "wb") as out, \
            tqdm(total=n_rows, desc=f"writing {dest.name}", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, n_rows, batch_rows):
            n = min(batch_rows, n_rows - start)
            comoving = dc_max * rng.random(n) ** (1 / 3)
            z = np.interp(comoving, dc_grid, z_grid)
            distance = (1 + z) * comoving
            spectroscopic = rng.random(n) < 0.3
            distance_err = distance * np.where(spectroscopic, 0.02, 0.2)
            log_mass = np.interp(rng.random(n), mass_cdf, log_mass_grid)
            distance_modulus = 5 * np.log10(distance) + 25
            abs_b = SUN_ABS_MAG_B - 2.5 * (log_mass - rng.normal(0.3, 0.15, n))
            abs_k = SUN_ABS_MAG_K - 2.5 * (log_mass - rng.normal(-0.2, 0.1, n))
            b_mag, k_mag = abs_b + distance_modulus, abs_k + distance_modulus
            mass = np.where(rng.random(n) < 0.15, np.nan, 10 ** (log_mass - 10))
            b_missing = rng.random(n) < 0.2
            ra = 360 * rng.random(n)
            dec = np.degrees(np.arcsin(2 * rng.random(n) - 1))

            null = pa.nulls(n, pa.string())
            glade_no = pa.array(np.arange(start + 1, start + n + 1))
            columns = [
                glade_no, null, null, null, null, null, null,                       # 1-7 ids and names
                pa.array(np.full(n, "G")),                                          # 8 object type
                _text_column(ra, 6), _text_column(dec, 6),                                          # 9-10
                _text_column(b_mag, 3, b_missing), _text_column(np.full(n, 0.1), 2, b_missing),     # 11-12 B, B_err
                pa.array(np.zeros(n, np.int8), mask=b_missing), _text_column(abs_b, 3, b_missing),  # 13-14
                null, null, null, null,                                             # 15-18 J, H
                _text_column(k_mag, 3), _text_column(np.full(n, 0.05), 2),                          # 19-20 K, K_err
                _text_column(k_mag + 0.3, 3), _text_column(np.full(n, 0.03), 2),                    # 21-22 W1
                _text_column(k_mag + 0.2, 3), _text_column(np.full(n, 0.05), 2),                    # 23-24 W2
                pa.array(np.zeros(n, np.int8)),                                     # 25 W1 flag
                null, null,                                                         # 26-27 B_J
                _text_column(z, 6), _text_column(z, 6), pa.array(np.ones(n, np.int8)),              # 28-30 z_helio, z_cmb, flag
                _text_column(np.full(n, 0.0005), 4),                                        # 31 v_err
                _text_column(np.where(spectroscopic, 0.0001, 0.015) * (1 + z), 5),          # 32 z_err
                _text_column(distance, 4), _text_column(distance_err, 4),                           # 33-34 d_L, d_L err
                pa.array(np.where(spectroscopic, 3, 1).astype(np.int8)),            # 35 dist flag
                _text_column(mass, 5), _text_column(0.3 * mass, 5),                                 # 36-37 M*, M*_err
                pa.array(np.ones(n, np.int8)),                                      # 38 M* flag
                _text_column(log_mass - 10.5, 3), _text_column(np.full(n, 0.3), 2),                 # 39-40 merger rate
            ]
            assert len(columns) == GLADE_N_COLUMNS
            pa_csv.write_csv(pa.table(columns, names=[f"c{i}" for i in range(GLADE_N_COLUMNS)]), out, options)
            bar.update(n)
    return dest


# --------------------------------------------------------------------------------------------
# Command line: `skyspool catalog build|synth`


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyspool catalog", description="Galaxy catalogs for GW galaxy lists.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="index a galaxy catalog into a memory-mapped Arrow file")
    build.add_argument("source", type=Path, help="catalog file (GLADE+ text, FITS, ECSV or CSV)")
    build.add_argument("dest", type=Path, help="indexed catalog to write (.arrow)")
    build.add_argument("--format", dest="fmt", choices=FORMATS, default="glade+")
    build.add_argument("--column", action="append", default=[], metavar="KEY=NAME",
                       help="for --format table: ra, dec, distance (required), distance_err, name, "
                            "stellar_mass, b_mag, k_mag")
    build.add_argument("--stellar-mass-log10", action="store_true", help="stellar_mass holds log10(M)")
    build.add_argument("--stellar-mass-unit-msun", type=float, default=1.0, help="unit of stellar_mass, in Msun")
    build.add_argument("--batch-rows", type=int, default=BATCH_ROWS)
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    synth = commands.add_parser("synth", help="write a synthetic catalog in the GLADE+ text format")
    synth.add_argument("dest", type=Path)
    synth.add_argument("--rows", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--max-distance-mpc", type=float, default=2000.0)
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``skyspool catalog``; ``argv`` excludes the program and ``catalog`` words."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "synth":
        synthesize_glade_plus(args.dest, args.rows, seed=args.seed, max_distance_mpc=args.max_distance_mpc,
                              progress=not args.quiet)
        return 0
    columns = None
    if args.fmt == "table":
        try:
            mapping = dict(item.split("=", 1) for item in args.column)
            columns = ColumnMap.from_mapping({**mapping, "stellar_mass_log10": args.stellar_mass_log10,
                                              "stellar_mass_unit_msun": args.stellar_mass_unit_msun})
        except (TypeError, ValueError) as error:
            parser.error(f"--column: {error}")
    summary = build_catalog(args.source, args.dest, fmt=args.fmt, columns=columns,
                            batch_rows=args.batch_rows, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
