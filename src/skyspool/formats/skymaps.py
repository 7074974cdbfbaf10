"""Checks of the sky maps that arrive inside alerts and notices, at ingest.

A sky map that cannot give a credible region is refused with the alert that carries it
(a person reads why in quarantine), rather than accepted and failing in every product.
Accepted: a FITS HEALPix map (multi-order NUNIQ, or flat NESTED/RING when ``flat_ok``)
whose pixels tile the sphere exactly once and whose probability densities (per sr) are
finite, non-negative and hold a total probability of 1 within :data:`NORM_TOLERANCE`.
"""

from __future__ import annotations

import io
import math
import zlib
from pathlib import Path

import numpy as np

from skyspool.formats.registry import Refused

# Maps are written in float32/float64 and rounded by their producers; 1% is far beyond
# rounding and far below any real error (BAYESTAR's maps sum to 1 within 1e-6).
NORM_TOLERANCE = 0.01
MAX_ORDER = 29  # HEALPix's deepest order: UNIQ values fit in 64 bits up to it

# A mission's own map stored beside its trigger's notices (skyspool.notices.mission_maps).
MISSION_MAP_TYPE = "mission_map"
GZIP_MAGIC = b"\x1f\x8b"
FITS_MAGIC = b"SIMPLE  ="
# A decompressed map larger than this is refused (an IceCube nside-1024 map is 100 MB).
MAX_MAP_BYTES = 1 << 30


def _fits_table(data: bytes, what: str):
    """(header, columns) of the first binary table, or Refused."""
    from astropy.io import fits  # deferred: only files with maps pay for it

    if data[:2] == b"\x1f\x8b":  # not decompressed here: a small file can expand enormously
        raise Refused(f"{what} is gzip-compressed data, not a FITS file "
                      "(sky maps are carried as uncompressed FITS)")
    try:
        with fits.open(io.BytesIO(data)) as hdus:
            if len(hdus) < 2 or not isinstance(hdus[1], fits.BinTableHDU):
                raise Refused(f"{what} is FITS but has no binary table: not a sky map")
            hdus[1].data  # noqa: B018 (reads the table: a truncated file fails here)
            return hdus[1].header.copy(), set(hdus[1].columns.names)
    except Refused:
        raise
    except Exception as exc:  # astropy (and gzip, zlib) raise many kinds for garbage
        first = str(exc).split(". ")[0]  # astropy's advice after it is not for senders
        raise Refused(f"{what} is not a readable FITS file ({type(exc).__name__}: {first})"[:200]) from None


def _check_tiling(uniq: np.ndarray, what: str) -> None:
    """Refuse UNIQ values that are invalid or do not cover the sphere exactly once."""
    if uniq.size == 0 or not np.issubdtype(uniq.dtype, np.integer) or uniq.min() < 4:
        raise Refused(f"{what} has invalid UNIQ pixel indices (HEALPix order or nside wrong)")
    uniq = uniq.astype(np.int64)
    order = (np.log2(uniq).astype(np.int64) - 2) // 2
    if order.max() > MAX_ORDER:
        raise Refused(f"{what} has UNIQ pixel indices beyond HEALPix order {MAX_ORDER}")
    ipix = uniq - 4 * np.left_shift(np.int64(1), 2 * order)
    shift = 2 * (MAX_ORDER - order)
    start = np.left_shift(ipix, shift)
    stop = np.left_shift(ipix + 1, shift)
    index = np.argsort(start)
    start, stop = start[index], stop[index]
    if start[0] != 0 or stop[-1] != 12 * 4 ** MAX_ORDER or np.any(start[1:] != stop[:-1]):
        raise Refused(f"{what}: its pixels do not cover the sky exactly once "
                      "(missing, overlapping or wrongly ordered HEALPix pixels)")


def check_skymap(data: bytes, what: str, *, flat_ok: bool = False) -> None:
    """Refuse ``data`` unless it is a usable HEALPix sky map (see the module's docstring).

    ``what`` names the map in the reason (``event.skymap``, ``healpix_file``).
    """
    header, columns = _fits_table(data, what)
    ordering = str(header.get("ORDERING", "")).upper()
    if ordering == "NUNIQ":
        if not {"UNIQ", "PROBDENSITY"} <= columns:
            raise Refused(f"{what} is a multi-order map without UNIQ and PROBDENSITY columns")
    elif not (flat_ok and ordering in ("NESTED", "RING")):
        kind, wanted = ("a HEALPix sky map", "NUNIQ, NESTED or RING") if flat_ok else \
            ("a multi-order HEALPix sky map", "NUNIQ")
        raise Refused(f"{what} is not {kind} (ORDERING is {ordering or 'missing'}, expected {wanted})")
    from ligo.skymap.io import read_sky_map

    try:
        table = read_sky_map(io.BytesIO(data), moc=True)
    except Exception as exc:  # a flat map of an impossible size, a wrong nside, ...
        raise Refused(f"{what} is not a readable HEALPix map ({type(exc).__name__}: {exc})"[:200]) from None
    _check_tiling(np.asarray(table["UNIQ"]), what)
    density = np.asarray(table["PROBDENSITY"], dtype=np.float64)
    if not np.isfinite(density).all():
        raise Refused(f"{what} has NaN or infinite probabilities")
    if (density < 0).any():
        raise Refused(f"{what} has negative probabilities")
    order = (np.log2(np.asarray(table["UNIQ"], dtype=np.int64)).astype(np.int64) - 2) // 2
    total = float(np.sum(density * (math.pi / 3) / 4.0 ** order))  # pixel area, sr
    if abs(total - 1) > NORM_TOLERANCE:
        raise Refused(f"{what} is not normalised: its probabilities sum to {total:.4g}, not 1")


def fits_bytes(data: bytes) -> bytes:
    """The FITS bytes of a map file, gzip-compressed or not; refuses more than
    :data:`MAX_MAP_BYTES` decompressed."""
    if not data.startswith(GZIP_MAGIC):
        return data
    inflate = zlib.decompressobj(wbits=31)
    try:
        fits = inflate.decompress(data, MAX_MAP_BYTES)
    except zlib.error as exc:
        raise Refused(f"a gzip-compressed file that cannot be decompressed ({exc})") from None
    if inflate.unconsumed_tail:
        raise Refused(f"a gzip-compressed map larger than {MAX_MAP_BYTES} bytes decompressed")
    return fits


def mission_map_file(notice_path: str | Path) -> Path | None:
    """The latest mission map stored with the notice's trigger (beside it), if any."""
    found = sorted(Path(notice_path).parent.glob(f"*-{MISSION_MAP_TYPE}.fits*"),
                   key=lambda path: int(path.name.split("-", 1)[0]))
    return found[-1] if found else None
