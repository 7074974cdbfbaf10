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
from astropy import units as u
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


def _nside_order(nside: int) -> int:
    order = int(round(math.log2(nside)))
    if 2**order != nside:
        raise ValueError(f"nside must be a power of 2, not {nside}")
    return order


def flatten(skymap: Table, nside: int) -> Table:
    """Resample to a single-resolution NESTED map at ``nside`` (probability per pixel).

    The same table, to the last bit, as ``ligo.skymap.bayestar.rasterize(skymap, order)``, at a
    cost set by the map's pixels rather than the output's: pixels finer than ``nside`` are
    averaged as rasterize does (their values times 4**-depth, summed in the same order by
    ``np.add.reduceat``); every per-pixel conversion rasterize applies to the output (distance
    moments back to parameters, density to probability) is applied to the ~20,000 coarse values
    instead, and only then repeated to the output pixels. For a map whose pixels go to order 11
    (MS181101ab) rasterize's grouping takes seconds; here it is the copy of the output.
    """
    order = _nside_order(nside)
    columns = [name for name in skymap.colnames if name != "UNIQ"]
    pixel_order, pixel_ipix = moc.uniq2nest(np.asarray(skymap["UNIQ"]))
    pixel_order = pixel_order.astype(np.int64)
    values = {name: np.array(skymap[name], dtype=float) for name in columns}
    downsampling = bool((pixel_order > order).any()) and "DISTMU" in values
    if downsampling:
        # rasterize averages probability-weighted distance moments, not parameters.
        distmu, distsigma = values.pop("DISTMU"), values.pop("DISTSIGMA")
        bad = ~(np.isfinite(distmu) & np.isfinite(distsigma))
        distmean, diststd, _ = distance.parameters_to_moments(distmu, distsigma)
        distmean[bad] = np.nan
        diststd[bad] = np.nan
        values["DISTMEAN"] = values["PROBDENSITY"] * distmean
        values["DISTVAR"] = values["PROBDENSITY"] * (np.square(diststd) + np.square(distmean))
    finer = pixel_order > order
    if finer.any():
        # rasterize: weights 4**-depth, then groups by parent (stable sort) summed by reduceat.
        depth = pixel_order[finer] - order
        parent = pixel_ipix[finer] >> (2 * depth)
        sorter = np.argsort(parent, kind="stable")
        group_start = np.flatnonzero(np.r_[True, np.diff(parent[sorter]) != 0])
        summed = {name: np.add.reduceat((column[finer] * (1.0 / (1 << (2 * depth))))[sorter], group_start)
                  for name, column in values.items()}
        values = {name: np.concatenate([column[~finer], summed[name]]) for name, column in values.items()}
        pixel_ipix = np.concatenate([pixel_ipix[~finer], parent[sorter][group_start]])
        pixel_order = np.concatenate([pixel_order[~finer], np.full(len(group_start), order)])
    if downsampling:
        distmean = values.pop("DISTMEAN") / values["PROBDENSITY"]
        diststd = np.sqrt(values.pop("DISTVAR") / values["PROBDENSITY"] - np.square(distmean))
        distmu, distsigma, values["DISTNORM"] = distance.moments_to_parameters(distmean, diststd)
        values["DISTMU"], values["DISTSIGMA"] = distmu, distsigma
    npix = 12 * 4**order
    values["PROBDENSITY"] = values["PROBDENSITY"] * (4 * np.pi / npix)
    # Each (now coarse or equal) pixel covers 4**(order - its order) output pixels, in order.
    sorter = np.argsort(pixel_ipix << (2 * (order - pixel_order)))
    repeats = (1 << (2 * (order - pixel_order)))[sorter]
    if repeats.sum() != npix:
        raise ValueError("the multi-order map does not cover the sky exactly once")
    flat = Table({("PROB" if name == "PROBDENSITY" else name): np.repeat(column[sorter], repeats)
                  for name, column in values.items()}, meta=dict(skymap.meta), copy=False)
    flat["PROB"].unit = u.pixel**-1  # rasterize's only unit
    return flat


def flat_probabilities(skymap: Table, nside: int) -> np.ndarray:
    """Probability per pixel of the map resampled at ``nside`` (NESTED)."""
    return np.asarray(flatten(skymap[["UNIQ", "PROBDENSITY"]], nside)["PROB"])


def credible_levels(prob: np.ndarray) -> np.ndarray:
    """Credible level (0-1) of each pixel of a flat map: the greedy cumulative probability."""
    from ligo.skymap.postprocess import find_greedy_credible_levels

    return find_greedy_credible_levels(prob)


def credible_region_cells(skymap: Table, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(order, nested index) of the cells of the ``level`` (0-1) credible region, coarsest
    cells merged: the pixels of :func:`credible_moc`."""
    return moc.uniq2nest(credible_moc(skymap, level).uniq_hpx.astype(np.int64))


def contour_order(region_order: np.ndarray, area_deg2: float, max_nside: int, min_pixels: int) -> int:
    """The HEALPix order at which to trace a credible region's boundary.

    The region's own finest cells (so the traced outline is the region's, pixel for pixel), but
    at least fine enough for ``min_pixels`` pixels over the region (coarse cells' curved edges
    get intermediate vertices) and at most ``max_nside`` (a bound on the outline's length).
    """
    order = int(region_order.max())
    while order < 29 and area_deg2 / hp_pixel_area_deg2(order) < min_pixels:
        order += 1
    return min(order, int(round(math.log2(max_nside))))


def hp_pixel_area_deg2(order: int) -> float:
    return 4 * math.pi * DEG2_PER_SR / (12 * 4**order)


def _border_offsets(depth: int) -> np.ndarray:
    """Nested offsets, within a cell, of its sub-cells ``depth`` orders finer along its edges."""
    import healpy as hp

    side = 1 << depth
    x, y = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    on_edge = (x == 0) | (y == 0) | (x == side - 1) | (y == side - 1)
    # A cell of face 0 at depth ``depth`` has the nested index of its (x, y) bits interleaved.
    return np.sort(hp.xyf2pix(side, x[on_edge], y[on_edge], 0, nest=True)).astype(np.int64)


# Edge neighbours in healpy's get_all_neighbours order (SW, W, NW, N, NE, E, SE, S) and the
# corners (hp.boundaries order N, W, S, E) of the edge each one shares, in counter-clockwise
# order seen from outside the sphere: the region is on the left of every traced edge.
_EDGE_NEIGHBOURS = (0, 2, 4, 6)
_EDGE_CORNERS = ((1, 2), (0, 1), (3, 0), (2, 3))


def boundary_rings(cell_order: np.ndarray, cell_ipix: np.ndarray, order: int) -> list[np.ndarray]:
    """Outline of a region given as multi-order cells, traced along the cell edges at ``order``.

    Cells finer than ``order`` count as their whole parent cell. Returns closed rings of unit
    vectors (N x 3, last vertex not repeated), the region on the left seen from outside the
    sphere; holes are rings of their own.
    """
    import healpy as hp

    nside = 1 << order
    depth = order - np.minimum(cell_order.astype(np.int64), order)
    ipix = cell_ipix.astype(np.int64) >> (2 * np.maximum(cell_order.astype(np.int64) - order, 0))
    # The region as sorted, disjoint ranges of nested indices at ``order``.
    starts, ends = ipix << (2 * depth), (ipix + 1) << (2 * depth)
    sorter = np.argsort(starts, kind="stable")
    starts, ends = starts[sorter], ends[sorter]

    def inside(cells):
        found = np.searchsorted(starts, cells, side="right") - 1
        return (found >= 0) & (cells < ends[np.maximum(found, 0)])

    # Only the sub-cells along each cell's edges can be on the outline.
    candidates = np.unique(np.concatenate(
        [(starts[depth[sorter] == d][:, None] + _border_offsets(d)[None, :]).ravel()
         for d in np.unique(depth)]))
    neighbours = hp.get_all_neighbours(nside, candidates, nest=True)[list(_EDGE_NEIGHBOURS)]
    open_edge = ~inside(neighbours.ravel()).reshape(neighbours.shape)  # (4, n candidates)
    on_outline = open_edge.any(axis=0)
    candidates, open_edge = candidates[on_outline], open_edge[:, on_outline]
    if len(candidates) == 0:
        return []
    corners = np.moveaxis(hp.boundaries(nside, candidates, step=1, nest=True), 1, 2)  # (n, 4, 3)
    direction, cell = np.nonzero(open_edge)
    corner_pairs = np.array(_EDGE_CORNERS)[direction]
    edge_start = corners[cell, corner_pairs[:, 0]]
    edge_end = corners[cell, corner_pairs[:, 1]]
    # Corners shared by neighbouring cells are computed once per cell: identify them by their
    # coordinates rounded well below the cell size.
    quantum = 1e-6 / nside
    keys = np.round(np.concatenate([edge_start, edge_end]) / quantum).astype(np.int64)
    _, vertex_id = np.unique(keys, axis=0, return_inverse=True)
    vertex_id = vertex_id.ravel()
    start_id, end_id = vertex_id[: len(cell)], vertex_id[len(cell):]
    # Each edge continues with an edge leaving its end vertex; where two cells of the region
    # touch only at a corner, two edges leave it: pair incoming and outgoing ones in order.
    by_start = np.argsort(start_id, kind="stable")
    by_end = np.argsort(end_id, kind="stable")
    first_leaving = np.searchsorted(start_id[by_start], end_id)
    rank_arriving = np.empty(len(cell), np.int64)
    rank_arriving[by_end] = np.arange(len(cell)) - np.searchsorted(end_id[by_end], end_id[by_end])
    successor = by_start[first_leaving + rank_arriving]

    vertices = np.zeros((vertex_id.max() + 1, 3))
    vertices[start_id] = edge_start
    visited = np.zeros(len(cell), bool)
    rings = []
    for first in range(len(cell)):
        if visited[first]:
            continue
        ring = []
        edge = first
        while not visited[edge]:
            visited[edge] = True
            ring.append(start_id[edge])
            edge = successor[edge]
        rings.append(vertices[ring])
    return rings


def _triangle_area(a, b, c) -> float:
    """Area (sr, flat approximation) of the triangle of unit vectors a, b, c (Python floats:
    one triangle at a time, where NumPy's per-call cost would dominate)."""
    ab = (b[0] - a[0], b[1] - a[1], b[2] - a[2])
    cb = (b[0] - c[0], b[1] - c[1], b[2] - c[2])
    return 0.5 * math.sqrt((ab[1] * cb[2] - ab[2] * cb[1]) ** 2 + (ab[2] * cb[0] - ab[0] * cb[2]) ** 2
                           + (ab[0] * cb[1] - ab[1] * cb[0]) ** 2)


def simplify_rings(rings: list[np.ndarray], max_vertices: int, max_area_change_sr: float
                   ) -> tuple[list[np.ndarray], float]:
    """Visvalingam-Whyatt simplification of rings (unit vectors) to ``max_vertices`` in all.

    The vertex whose triangle with its two neighbours is smallest goes first; removal stops at
    ``max_vertices``, or before the summed areas of the removed triangles would exceed
    ``max_area_change_sr``: the outline moves by no more than that area, however many vertices
    that leaves. A ring keeps at least 3 vertices. Returns the rings and the area moved (sr).
    """
    import heapq

    points = [ring.tolist() for ring in rings]
    previous = [[(i - 1) % len(ring) for i in range(len(ring))] for ring in points]
    following = [[(i + 1) % len(ring) for i in range(len(ring))] for ring in points]
    removed = [np.zeros(len(ring), bool) for ring in points]
    left = [len(ring) for ring in points]
    version = [[0] * len(ring) for ring in points]

    def area(r, i):
        return _triangle_area(points[r][previous[r][i]], points[r][i], points[r][following[r][i]])

    heap = [(area(r, i), r, i, 0) for r in range(len(points)) for i in range(len(points[r]))]
    heapq.heapify(heap)
    total, moved_sr = sum(left), 0.0
    while heap and total > max_vertices:
        triangle, r, i, seen = heapq.heappop(heap)
        if removed[r][i] or seen != version[r][i] or left[r] <= 3:
            continue
        if moved_sr + triangle > max_area_change_sr:
            break
        moved_sr += triangle
        removed[r][i] = True
        left[r] -= 1
        total -= 1
        before, after = previous[r][i], following[r][i]
        following[r][before], previous[r][after] = after, before
        for j in (before, after):
            version[r][j] += 1
            heapq.heappush(heap, (area(r, j), r, j, version[r][j]))
    return [ring[~gone] for ring, gone in zip(rings, removed)], moved_sr


def _lonlat_deg(vectors: np.ndarray) -> list[list[float]]:
    lon = np.rad2deg(np.arctan2(vectors[:, 1], vectors[:, 0])) % 360
    lat = np.rad2deg(np.arcsin(np.clip(vectors[:, 2], -1, 1)))
    return [[float(a), float(b)] for a, b in zip(lon, lat)]


def contours_geojson(skymap: Table, levels_percent=(50, 90), max_nside: int = 2048,
                     min_pixels: int = 1000, max_vertices: int = 2000,
                     max_area_change: float = 0.005) -> dict:
    """Credible-region contours as a GeoJSON FeatureCollection (lon = RA, lat = Dec, deg).

    Each level's region (the pixels of :func:`credible_moc`) is outlined along its own cells, at
    :func:`contour_order`, then simplified (:func:`simplify_rings`) towards ``max_vertices`` while
    the outline moves by less than ``max_area_change`` of the region's area. Each ring is a line
    of the MultiLineString with the region on its left, seen from outside the sphere (last vertex
    not repeated). Properties: ``credible_level`` (percent), ``healpix_nside`` (of the tracing),
    ``area_deg2`` (of the region) and ``area_moved_deg2`` (by the simplification).
    """
    features = []
    for level in levels_percent:
        region_order, region_ipix = credible_region_cells(skymap, level / 100)
        area_sr = float(np.sum(moc.uniq2pixarea(moc.nest2uniq(region_order, region_ipix))))
        order = contour_order(region_order, area_sr * DEG2_PER_SR, max_nside, min_pixels)
        rings, moved_sr = simplify_rings(boundary_rings(region_order, region_ipix, order),
                                         max_vertices, max_area_change * area_sr)
        features.append({"type": "Feature",
                         "properties": {"credible_level": level, "healpix_nside": 1 << order,
                                        "area_deg2": area_sr * DEG2_PER_SR,
                                        "area_moved_deg2": moved_sr * DEG2_PER_SR},
                         "geometry": {"type": "MultiLineString",
                                      "coordinates": [_lonlat_deg(ring) for ring in rings]}})
    return {"type": "FeatureCollection", "features": features}


def credible_moc(skymap: Table, level: float):
    """The IVOA MOC (mocpy) of the smallest region holding ``level`` (0-1) of the probability."""
    from mocpy import MOC

    max_depth = int(moc.uniq2order(np.asarray(skymap["UNIQ"])).max())
    return MOC.from_valued_healpix_cells(np.asarray(skymap["UNIQ"], dtype=np.uint64), pixel_probabilities(skymap).astype(np.float64),
                                         max_depth=max_depth, cumul_to=level)
