"""Sky-map algorithms on multi-order HEALPix maps (UNIQ/PROBDENSITY[/DISTMU/DISTSIGMA/DISTNORM]).

Functions here take an :class:`astropy.table.Table` as returned by
``ligo.skymap.io.read_sky_map(..., moc=True)`` and return values; reading and writing
files is left to the callers (:mod:`skyspool.gw.products`). Units: areas in deg2,
probability densities per steradian, angles in degrees, distances in Mpc.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from astropy.table import Table
from ligo.skymap import distance, moc
from ligo.skymap.io import read_sky_map

DEG2_PER_SR = (180 / math.pi) ** 2


def read_multiorder(source: str | Path | bytes) -> Table:
    """Read a multi-order sky map from a path or from the bytes of a FITS file."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    return read_sky_map(source, moc=True)


def has_distance(source: str | Path | bytes) -> bool:
    """True when the map carries the DISTMU/DISTSIGMA/DISTNORM distance layers."""
    from astropy.io import fits

    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    with fits.open(handle) as hdus:
        return "DISTMU" in hdus[1].columns.names


def pixel_probabilities(skymap: Table) -> np.ndarray:
    """Probability contained in each multi-order pixel (sums to 1)."""
    return np.asarray(skymap["PROBDENSITY"]) * moc.uniq2pixarea(skymap["UNIQ"])


def credible_areas_deg2(skymap: Table, levels=(0.5, 0.9)) -> list[float]:
    """Areas of the smallest regions holding each credible level (0-1), in deg2.

    Pixels are taken in order of decreasing probability density, as
    ``ligo.skymap.postprocess.crossmatch`` does, and the area interpolated at each level.
    """
    order = np.argsort(-np.asarray(skymap["PROBDENSITY"]), kind="stable")
    area_sr = moc.uniq2pixarea(skymap["UNIQ"])[order]
    cumulative_prob = np.cumsum(np.asarray(skymap["PROBDENSITY"])[order] * area_sr)
    cumulative_area = np.cumsum(area_sr)
    return [float(np.interp(level, cumulative_prob, cumulative_area) * DEG2_PER_SR)
            for level in levels]


def most_probable_position_deg(skymap: Table) -> tuple[float, float]:
    """(RA, Dec) in degrees of the centre of the pixel of highest probability density."""
    import healpy as hp

    best = int(np.argmax(skymap["PROBDENSITY"]))
    order, ipix = moc.uniq2nest(np.asarray(skymap["UNIQ"][best : best + 1]))
    ra_deg, dec_deg = hp.pix2ang(1 << int(order[0]), int(ipix[0]), nest=True, lonlat=True)
    return float(ra_deg), float(dec_deg)


def distance_moments_mpc(skymap: Table) -> tuple[float | None, float | None]:
    """(mean, standard deviation) of the luminosity distance in Mpc, or (None, None).

    The map's DISTMEAN/DISTSTD header values are used where present, as the sky map's
    producer computed them; otherwise they are computed from the distance layers.
    """
    if "DISTMU" not in skymap.colnames:
        return None, None
    if "distmean" in skymap.meta and "diststd" in skymap.meta:
        return float(skymap.meta["distmean"]), float(skymap.meta["diststd"])
    mean, std = distance.parameters_to_marginal_moments(
        pixel_probabilities(skymap), np.asarray(skymap["DISTMU"]), np.asarray(skymap["DISTSIGMA"]))
    return float(mean), float(std)


def summary(skymap: Table, levels=(0.5, 0.9)) -> dict:
    """Areas, most probable position and distance of a sky map, as a flat dict."""
    area50_deg2, area90_deg2 = credible_areas_deg2(skymap, levels)
    ra_deg, dec_deg = most_probable_position_deg(skymap)
    distmean_mpc, diststd_mpc = distance_moments_mpc(skymap)
    return {"area50_deg2": area50_deg2, "area90_deg2": area90_deg2,
            "ra_deg": ra_deg, "dec_deg": dec_deg,
            "distmean_mpc": distmean_mpc, "diststd_mpc": diststd_mpc}


def flatten(skymap: Table, nside: int) -> Table:
    """Resample to a single-resolution NESTED map at ``nside`` (probability per pixel)."""
    from ligo.skymap.bayestar import rasterize

    order = int(round(math.log2(nside)))
    if 2 ** order != nside:
        raise ValueError(f"nside must be a power of 2, not {nside}")
    flat = rasterize(skymap, order)
    flat.meta = dict(skymap.meta)
    return flat


def flat_probabilities(skymap: Table, nside: int) -> np.ndarray:
    """Probability per pixel of the map resampled at ``nside`` (NESTED)."""
    from ligo.skymap.bayestar import rasterize

    flat = rasterize(skymap[["UNIQ", "PROBDENSITY"]], int(round(math.log2(nside))))
    return np.asarray(flat["PROB"])


def credible_levels(prob: np.ndarray) -> np.ndarray:
    """Credible level (0-1) of each pixel of a flat map: the greedy cumulative probability."""
    from ligo.skymap.postprocess import find_greedy_credible_levels

    return find_greedy_credible_levels(prob)


def contour_nside(skymap: Table, max_nside: int, min_pixels: int, level: float = 0.9) -> int:
    """The nside at which to trace contours: the coarsest (from 64 up to ``max_nside``) at
    which the ``level`` credible region covers at least ``min_pixels`` pixels.

    Tracing time grows with the number of pixels along the boundary, so a fixed nside is
    either slow for all-sky maps or coarse for well-localized ones; a resolution relative to
    the region's size gives every map the same detail. ``max_nside`` bounds the cost.
    """
    (area_deg2,) = credible_areas_deg2(skymap, (level,))
    nside = 64
    while nside < max_nside and area_deg2 / (4 * math.pi * DEG2_PER_SR / (12 * nside**2)) < min_pixels:
        nside *= 2
    return nside


def contours_geojson(skymap: Table, levels_percent=(50, 90), max_nside: int = 256,
                     min_pixels: int = 1000) -> dict:
    """Credible-region contours as a GeoJSON FeatureCollection (lon = RA, lat = Dec, deg).

    Traced at :func:`contour_nside`; each feature records that nside as ``healpix_nside``.
    """
    from ligo.skymap.postprocess import contour

    nside = contour_nside(skymap, max_nside, min_pixels)
    cls_percent = 100 * credible_levels(flat_probabilities(skymap, nside))
    paths = contour(cls_percent, list(levels_percent), nest=True, degrees=True, simplify=True)
    features = [{"type": "Feature",
                 "properties": {"credible_level": level, "healpix_nside": nside},
                 "geometry": {"type": "MultiLineString",
                              "coordinates": [[[float(lon), float(lat)] for lon, lat in path]
                                              for path in level_paths]}}
                for level, level_paths in zip(levels_percent, paths)]
    return {"type": "FeatureCollection", "features": features}


def credible_moc(skymap: Table, level: float):
    """The IVOA MOC (mocpy) of the smallest region holding ``level`` (0-1) of the probability."""
    from mocpy import MOC

    max_depth = int(moc.uniq2order(np.asarray(skymap["UNIQ"])).max())
    return MOC.from_valued_healpix_cells(np.asarray(skymap["UNIQ"], dtype=np.uint64), pixel_probabilities(skymap).astype(np.float64),
                                         max_depth=max_depth, cumul_to=level)
