"""Ranked lists of the galaxies inside the 3D credible volume of a GW sky map (issue 5).

Definitions are those of :func:`ligo.skymap.postprocess.crossmatch.crossmatch` with
``cosmology=False``, so that the same galaxies come out inside the volume with the same credible
levels and densities:

- space is cut into voxels: each multi-order pixel times a radial grid of 999 points
  ``r_k = k * dr`` (k = 1..999), ``dr = max(6 * mean distance, farthest catalog galaxy) / 1000``;
- a voxel's probability is ``PROBDENSITY * DISTNORM * N(r_k; DISTMU, DISTSIGMA) * dV`` with
  ``dV = (r_k**2 + dr**2 / 12) * dr * pixel area``; its density is that over ``dV`` (per Mpc^3,
  Euclidean volume in luminosity distance);
- voxels are sorted by decreasing density, and a galaxy's credible level is the cumulative
  probability up to and including its voxel: the pixel that contains it and the grid point just
  below its distance. It is inside the volume at level ``p`` when that is below ``p``.

What makes it fast: crossmatch evaluates all voxels (~19 million for a BAYESTAR map) and looks up
every catalog galaxy. Here a lower bound of the density threshold is found first from the
closed-form probability above a density (each pixel's density is a Gaussian in r), only the voxels
above it are evaluated and sorted (the ones that matter, exactly as crossmatch computes them), and
only the catalog rows of the cells and distance windows of the volume are read
(:class:`skyspool.catalog.IndexedCatalog`: distance shell, then cell).

Ranking (Arcavi et al. 2017; the Treasure Map): by a score, the galaxy's 3D probability density
times its weight (stellar mass or B/K luminosity) when one is chosen. Distance uncertainty is
folded in by replacing the density at the galaxy's distance with its expectation over the
galaxy's distance, a Gaussian of width ``distance_err_mpc``: the map's density along the line of
sight is a Gaussian of width DISTSIGMA, so the expectation is the density times
``s / sqrt(s**2 + e**2) * exp((r - mu)**2 * e**2 / (2 * s**2 * (s**2 + e**2)))`` (s = DISTSIGMA,
mu = DISTMU, e = distance error, r the grid distance), which is exactly 1 without an error. A
galaxy with an uncertain distance is thus ranked by the density it is likely to have, not by the
density at a distance it may not be at. Membership of the volume does not use the error (as
crossmatch). Galaxies without the chosen weight are ranked after all the others.

Lists a follow-up team can use: each row's probability is its share of the summed score of every
galaxy in the volume, cumulated down the list, which stops at a number of rows or a cumulative
probability; only the best rows are sorted and only their other columns read.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import healpy as hp
import numba
import numpy as np
import pyarrow.compute as pc
from astropy import units as u
from astropy.table import Table
from ligo.skymap import distance, moc
from ligo.skymap.io import read_sky_map

from skyspool.atomic import atomic_path
from skyspool.catalog import CATALOG_SCHEMA, WEIGHT_COLUMNS, IndexedCatalog

N_RADIAL = 1000  # crossmatch's radial grid: N_RADIAL - 1 points
GALAXY_COLUMNS = [name for name in CATALOG_SCHEMA.names if name != "index_key"]
UNITS = {"ra_deg": u.deg, "dec_deg": u.deg, "distance_mpc": u.Mpc, "distance_err_mpc": u.Mpc,
         "stellar_mass_msun": u.Msun, "lum_b_lsun": u.Lsun, "lum_k_lsun": u.Lsun,
         "probdensity_per_mpc3": u.Mpc**-3}
NOTICE_COLUMNS = ("rank", "name", "ra_deg", "dec_deg", "distance_mpc", "credible_level",
                  "probdensity_per_mpc3", "score")


@dataclasses.dataclass
class CredibleVolume:
    """Voxels of a sky map down to a density below its credible volume, as crossmatch defines them.

    Per pixel (sorted as crossmatch sorts them), the evaluated voxels are the grid indices
    ``k_first[i] .. k_first[i] + n_voxels[i] - 1`` (0-based into the grid ``r``), stored from
    ``voxel_offset[i]`` in ``voxel_level`` (cumulative probability) and ``voxel_density`` (per Mpc^3).
    """

    credible_level: float
    order: np.ndarray
    ipix: np.ndarray
    distmu: np.ndarray
    distsigma: np.ndarray
    r: np.ndarray
    k_first: np.ndarray
    n_voxels: np.ndarray
    voxel_offset: np.ndarray
    voxel_level: np.ndarray
    voxel_density: np.ndarray

    @property
    def radial_step_mpc(self) -> float:
        return float(self.r[0])

    def cells(self, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nested cells at ``order`` that meet the volume, each with its distance window in Mpc.

        Returns sorted unique cells and, per cell, the smallest and largest distance a galaxy inside
        the volume can have there (one grid step of margin on each side).
        """
        inside = self.voxel_level < self.credible_level
        # Position of each voxel in its pixel's window; per pixel, the first and last inside.
        position = np.arange(len(inside)) - np.repeat(self.voxel_offset, self.n_voxels)
        pixels = np.flatnonzero(self.n_voxels)
        first = np.minimum.reduceat(np.where(inside, position, N_RADIAL), self.voxel_offset[pixels])
        last = np.maximum.reduceat(np.where(inside, position, -1), self.voxel_offset[pixels])
        met = last >= 0
        if not met.any():
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        pixels = pixels[met]
        step = self.radial_step_mpc
        # Grid point k holds the galaxies at r[k] <= d < r[k + 1], r[k] = (k + 1) * step.
        min_distance = (self.k_first[pixels] + first[met]) * step
        max_distance = (self.k_first[pixels] + last[met] + 3) * step

        pixel_order, pixel_ipix = self.order[pixels], self.ipix[pixels]
        coarser = pixel_order <= order
        n_cells = np.where(coarser, 4 ** np.maximum(order - pixel_order, 0), 1)
        first_cell = np.where(coarser, pixel_ipix << (2 * np.maximum(order - pixel_order, 0)),
                              pixel_ipix >> (2 * np.maximum(pixel_order - order, 0)))
        run_offset = np.cumsum(n_cells) - n_cells
        cells = np.repeat(first_cell - run_offset, n_cells) + np.arange(n_cells.sum())
        min_distance, max_distance = np.repeat(min_distance, n_cells), np.repeat(max_distance, n_cells)
        # Several fine pixels share a cell: the union of their windows.
        sorter = np.argsort(cells, kind="stable")
        cells, min_distance, max_distance = cells[sorter], min_distance[sorter], max_distance[sorter]
        group_start = np.flatnonzero(np.r_[True, np.diff(cells) != 0])
        return (cells[group_start], np.minimum.reduceat(min_distance, group_start),
                np.maximum.reduceat(max_distance, group_start))

    @functools.cached_property
    def distsigma2(self) -> np.ndarray:
        return np.square(self.distsigma)

    @property
    def max_order(self) -> int:
        return int(self.order.max())

    def locate_and_score(self, points: np.ndarray, point: np.ndarray, distance_mpc: np.ndarray,
                         distance_err_mpc: np.ndarray | None, weight: np.ndarray | None, *,
                         modulus: int = 1 << 62, shift: int = 0) -> tuple[np.ndarray, ...]:
        """Which of the ``points`` (indices into the other arrays) are inside the volume: their
        indices, credible level, density (per Mpc^3) and score (the density, times the distance
        error's factor of the module's docstring with ``distance_err_mpc``, times ``weight``).
        A point's nested pixel at :attr:`max_order` is ``(point % modulus) >> shift`` (an index
        key gives it so).

        One compiled pass over the points finds each one's voxel (crossmatch's: its pixel and
        the grid point at or below its distance) and the distance error's factor but its
        exponential, which NumPy takes, so that scores are NumPy's to the last bit.
        """
        sorter, starts, table = self._pixel_lookup
        fold, weighted = distance_err_mpc is not None, weight is not None
        found, level, density, score, exponent, found_weight = _locate_points(
            points, point, modulus, shift, distance_mpc, distance_err_mpc if fold else distance_mpc, fold,
            weight if weighted else distance_mpc, weighted,
            table if table is not None else sorter[:0], sorter, starts, self.r, self.radial_step_mpc,
            self.k_first, self.n_voxels, self.voxel_offset, self.voxel_level, self.voxel_density,
            self.credible_level, self.distmu, self.distsigma2)
        if fold:
            score *= np.exp(exponent, out=exponent)
        if weighted:
            score *= found_weight
        return found, level, density, score

    @functools.cached_property
    def _pixel_lookup(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Pixels sorted by their first nested index at :attr:`max_order` (the sorter and those
        indices) and, up to order 9, the table of every index at max_order (<= 3 M) to its pixel:
        one lookup per point. Built once, for every chunk of catalog rows."""
        max_order = self.max_order
        sorter = np.argsort(self.ipix << (2 * (max_order - self.order)))
        starts = (self.ipix << (2 * (max_order - self.order)))[sorter]
        table = np.repeat(sorter, 1 << (2 * (max_order - self.order[sorter]))) if max_order <= 9 else None
        return sorter, starts, table



@numba.njit(cache=True, nogil=True)
def _locate_points(points, point_code, modulus, shift, distance_mpc, distance_err_mpc, fold, weight, weighted,
                   pixel_table, sorter, starts, r, step, k_first, n_voxels, voxel_offset, voxel_level,
                   voxel_density, credible_level, distmu, distsigma2):
    """:meth:`CredibleVolume.locate_and_score`'s pass: per point inside the volume its index,
    level, density, score without the exponential and the weight, that exponential's argument
    and the weight."""
    n = len(points)
    found, level, density = np.empty(n, np.int64), np.empty(n), np.empty(n)
    score, exponent, found_weight = np.empty(n), np.empty(n if fold else 0), np.empty(n if weighted else 0)
    last = len(r) - 1
    n_found = 0
    for point in points:
        point_ipix = (point_code[point] % modulus) >> shift
        if len(pixel_table):
            pixel = pixel_table[point_ipix]
        else:
            pixel = sorter[np.searchsorted(starts, point_ipix, side="right") - 1]
        # np.digitize(d, r) - 1: the last grid point at or below d (-1 below the first), by
        # arithmetic on the uniform grid, corrected by one step where rounding missed.
        d = distance_mpc[point]
        k = min(max(np.int64(np.floor(d / step)) - 1, -1), last)
        if k >= 0 and r[k] > d:
            k -= 1
        if k < last and r[min(k + 1, last)] <= d:
            k += 1
        if k < 0:  # nearer than the first grid point: crossmatch's index -1 reads the farthest
            k = last
        position = k - k_first[pixel]
        if position < 0 or position >= n_voxels[pixel]:
            continue
        voxel = voxel_offset[pixel] + position
        if not voxel_level[voxel] < credible_level:
            continue
        found[n_found] = point
        level[n_found] = voxel_level[voxel]
        density[n_found] = voxel_density[voxel]
        score[n_found] = voxel_density[voxel]
        if weighted:
            found_weight[n_found] = weight[point]
        if fold:
            # density * sqrt(s2 / (s2 + e2)) * exp((r - mu)**2 * e2 / (2 * s2 * (s2 + e2))):
            # the operations and their order of the NumPy expressions this pass replaced.
            error2 = distance_err_mpc[point] * distance_err_mpc[point]
            if np.isnan(error2):
                error2 = 0.0
            sigma2 = distsigma2[pixel]
            spread = sigma2 + error2
            offset = r[k] - distmu[pixel]
            exponent[n_found] = offset * offset * error2 / (2 * sigma2 * spread)
            score[n_found] *= np.sqrt(sigma2 / spread)
        n_found += 1
    return (found[:n_found], level[:n_found], density[:n_found], score[:n_found],
            exponent[:n_found] if fold else exponent, found_weight[:n_found] if weighted else found_weight)


def _probability_above(threshold: float, peak: np.ndarray, probability: np.ndarray, mu: np.ndarray,
                       sigma: np.ndarray, norm: np.ndarray) -> float:
    """Probability where the (continuous) 3D density exceeds ``threshold``.

    Per pixel the density along r is ``peak * exp(-z**2 / 2)``, z = (r - mu) / sigma, so it exceeds
    the threshold for |z| <= h: the pixel's probability times its conditional distance
    probability between those distances (ligo.skymap's ansatz CDF, accurate in the tails too).
    """
    above = peak > threshold
    half_width = sigma[above] * np.sqrt(2 * np.log(peak[above] / threshold))
    mu, sigma, norm = mu[above], sigma[above], norm[above]
    inside = (distance.conditional_cdf(mu + half_width, mu, sigma, norm)
              - distance.conditional_cdf(np.maximum(mu - half_width, 0.0), mu, sigma, norm))
    return float(np.sum(probability[above] * inside))


def _descending_order(values: np.ndarray) -> np.ndarray:
    """Indices that sort non-negative ``values`` in decreasing order, to 1 part in 1e9.

    np.argsort of millions of float64 is ~5x slower than np.sort here (no SIMD argsort without
    AVX-512), so sort int64 keys: the value's bits (monotonic for non-negative floats) with the
    index in the lowest mantissa bits. Only values equal to 1 part in 1e9 (2**-30) may come out in
    another order than a full argsort would give, which moves a cumulative sum by no more than
    their own probabilities.
    """
    index_bits = max(22, int(len(values)).bit_length())
    keys = (values.view(np.int64) >> index_bits) << index_bits
    keys |= np.arange(len(values), dtype=np.int64)
    keys.sort()
    return (keys[::-1] & ((1 << index_bits) - 1))


def _evaluate_voxels(dr: float, k_first: np.ndarray, n_voxels: np.ndarray, voxel_offset: np.ndarray,
                     area_sr: np.ndarray, mu: np.ndarray, sigma: np.ndarray, peak: np.ndarray,
                     threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Probability and density (per Mpc^3) of each pixel's voxels ``k_first .. k_first + n_voxels
    - 1``, in pixel order; the pixels split in ``threads`` runs of about as many voxels, evaluated
    in threads (NumPy releases the GIL)."""
    total = int(n_voxels.sum())
    dP, density = np.empty(total), np.empty(total)

    def evaluate(pixels: slice) -> None:
        n = n_voxels[pixels]
        if not len(n) or not n.sum():
            return
        start, stop = voxel_offset[pixels][0], voxel_offset[pixels][0] + n.sum()
        k = np.arange(stop - start) - np.repeat(voxel_offset[pixels] - start - k_first[pixels], n)
        # The same expressions as crossmatch, so that values agree to the last bit (only pixels
        # with finite parameters have voxels here: crossmatch's NaN voxels, set to 0, are not).
        r_voxel = dr * (k + 1)
        dV = (np.square(r_voxel) + np.square(dr) / 12) * dr * np.repeat(area_sr[pixels], n)
        z = (r_voxel - np.repeat(mu[pixels], n)) / np.repeat(sigma[pixels], n)
        np.multiply(np.exp(-0.5 * np.square(z)) * np.repeat(peak[pixels], n), dV, out=dP[start:stop])
        np.divide(dP[start:stop], dV, out=density[start:stop])

    bounds = np.searchsorted(voxel_offset, np.linspace(0, total, threads + 1)[1:-1])
    runs = [slice(low, high) for low, high in zip([0, *bounds], [*bounds, len(n_voxels)])]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(evaluate, runs))
    return dP, density


def credible_volume(sky_map: Table, farthest_galaxy_mpc: float, credible_level: float = 0.9,
                    threads: int = 2) -> CredibleVolume:
    """The voxels of ``sky_map`` that decide which galaxies are inside its credible volume.

    ``farthest_galaxy_mpc`` is the largest distance in the catalog: crossmatch stretches its
    radial grid to it, and so must we to give the same answers.
    """
    # crossmatch sorts pixels by decreasing density first; the same order gives the same sums.
    sky_map = np.flipud(np.sort(sky_map.as_array(), order="PROBDENSITY"))
    order, ipix = moc.uniq2nest(sky_map["UNIQ"])
    order = order.astype(np.int64)  # int8 from ligo.skymap: 4**order would overflow
    area_sr = moc.uniq2pixarea(sky_map["UNIQ"])
    dP_dA, mu, sigma, norm = (np.ascontiguousarray(sky_map[name], dtype=np.float64)
                              for name in ("PROBDENSITY", "DISTMU", "DISTSIGMA", "DISTNORM"))
    distmean, _ = distance.parameters_to_marginal_moments(dP_dA * area_sr, mu, sigma)
    max_r = max(6 * distmean, farthest_galaxy_mpc)
    dr = max_r / N_RADIAL
    r = dr * np.arange(1, N_RADIAL)
    peak = dP_dA * norm / (sigma * np.sqrt(2 * np.pi))

    usable = np.isfinite(peak) & (peak > 0) & np.isfinite(mu) & np.isfinite(sigma)
    if not usable.any():
        raise ValueError("no pixel of the sky map has usable distance parameters")
    peak_usable = np.where(usable, peak, 0.0)
    # Bisect (in log) the continuous density threshold of the credible level, to 10%: half of it
    # is a safe lower bound of the grid's threshold, checked below (and lowered if it were not).
    # Some pixels have absurd peaks (DISTMU far behind the observer): bracket by all the peaks.
    log_low, log_high = math.log(peak_usable[usable].min()), math.log(peak_usable.max())
    while log_high - log_low > 0.1:
        log_mid = 0.5 * (log_low + log_high)
        if _probability_above(math.exp(log_mid), peak_usable, dP_dA * area_sr, mu, sigma, norm) >= credible_level:
            log_low = log_mid
        else:
            log_high = log_mid
    for threshold in (0.5 * math.exp(log_low), 0.01 * math.exp(log_low), 0.0):
        with np.errstate(divide="ignore", invalid="ignore"):
            half_width = sigma * np.sqrt(2 * np.log(peak_usable / threshold))
        half_width[~usable | (peak_usable <= threshold)] = np.nan
        # Grid indices k (r[k] = (k + 1) dr) covering mu -/+ half width, one point of margin.
        k_low = np.clip(np.ceil((mu - half_width) / dr) - 2, 0, N_RADIAL - 2)
        k_high = np.clip(np.floor((mu + half_width) / dr), 0, N_RADIAL - 2)
        n_voxels = np.where(np.isnan(half_width), 0, k_high - k_low + 1).astype(np.int64)
        k_first = np.nan_to_num(k_low).astype(np.int64)
        voxel_offset = np.cumsum(n_voxels) - n_voxels
        dP, density = _evaluate_voxels(dr, k_first, n_voxels, voxel_offset, area_sr, mu, sigma, peak,
                                       threads)
        if threshold == 0.0 or dP[density >= threshold].sum() >= credible_level:
            break
    by_density = _descending_order(density)
    cumulative_probability = np.cumsum(dP[by_density])
    level = np.empty_like(cumulative_probability)
    level[by_density] = cumulative_probability
    return CredibleVolume(credible_level=credible_level, order=order, ipix=ipix, distmu=mu,
                          distsigma=sigma, r=r, k_first=k_first, n_voxels=n_voxels,
                          voxel_offset=voxel_offset, voxel_level=level, voxel_density=density)


def galaxy_list(skymap_path: str | Path, catalog_path: str | Path, *, credible_level: float = 0.9,
                weight_column: str | None = None, max_rows: int | None = None,
                max_cumulative_probability: float = 1.0, fold_distance_error: bool = True,
                threads: int = 2) -> Table:
    """Galaxies of the catalog inside the ``credible_level`` 3D volume of a sky map, best first.

    ``skymap_path``: multi-order FITS with distance layers. ``catalog_path``: a catalog built by
    :func:`skyspool.catalog.build_catalog`. ``weight_column``: None or one of
    :data:`skyspool.catalog.WEIGHT_COLUMNS`. The list stops after ``max_rows`` rows (None: no
    limit) and after the row whose cumulative probability reaches ``max_cumulative_probability``
    (1: no such cut). ``threads``: how many threads read and evaluate (the catalog's rows are
    read and scored in chunks; the output does not depend on it).

    Columns: ``rank`` (1 = best), ``name``, ``ra_deg``, ``dec_deg`` (deg), ``distance_mpc``,
    ``distance_err_mpc`` (Mpc), ``stellar_mass_msun``, ``lum_b_lsun``, ``lum_k_lsun``,
    ``credible_level`` (smallest 3D credible level containing the galaxy, as crossmatch's
    ``searched_prob_vol``), ``probdensity_per_mpc3`` (3D probability density at the galaxy, per
    Mpc^3, as crossmatch's ``probdensity_vol``), ``score`` (the ranking value: the density, with
    the distance uncertainty folded in when ``fold_distance_error``, times the weight),
    ``probability`` (the galaxy's share of the summed score of the full selection: the
    probability that it is the host, as the Treasure Map listener normalizes it; 0 without the
    weight) and ``cumulative_probability`` (of this row and all above it).

    ``meta`` (the ECSV header) holds the settings, the radial grid step, how many catalog rows
    were read, the full selection (``galaxies_inside``: every galaxy of the volume;
    ``score_total``: its summed score, of which the probabilities are shares, so its total
    probability is 1) and what is listed (``galaxies_listed``, ``probability_listed``).
    """
    if weight_column is not None and weight_column not in WEIGHT_COLUMNS:
        raise ValueError(f"weight_column {weight_column!r}: use None or one of {', '.join(WEIGHT_COLUMNS)}")
    sky_map = read_sky_map(str(skymap_path), moc=True)
    if "DISTMU" not in sky_map.colnames:
        raise ValueError(f"{skymap_path}: the sky map has no distance layers")
    catalog = _open_catalog(catalog_path)
    volume = credible_volume(sky_map, catalog.max_distance_mpc, credible_level, threads)
    # Only the columns that decide membership and rank are used for every row of the volume's
    # cells; the others only for the rows listed. Where the map's pixels are no finer than the
    # catalog's cells, a galaxy's pixel follows from its index key: no coordinates needed.
    by_key = volume.max_order <= catalog.order
    ranking_columns = ([] if by_key else ["ra_deg", "dec_deg"]) + ["distance_mpc"] \
        + (["distance_err_mpc"] if fold_distance_error else []) + ([weight_column] if weight_column else [])

    def select(values: dict[str, np.ndarray], rows: np.ndarray, row_numbers) -> dict[str, np.ndarray]:
        """One chunk of catalog rows -> its galaxies inside the volume, with their scores."""
        if by_key:
            point, pixel_code = values["index_key"], dict(modulus=12 * 4**catalog.order,
                                                          shift=2 * (catalog.order - volume.max_order))
        else:
            point, pixel_code = hp.ang2pix(hp.order2nside(volume.max_order), values["ra_deg"], values["dec_deg"],
                                           nest=True, lonlat=True), {}
        inside, level, density, score = volume.locate_and_score(
            rows, point, values["distance_mpc"], values["distance_err_mpc"] if fold_distance_error else None,
            values[weight_column] if weight_column else None, **pixel_code)
        return dict(credible_level=level, probdensity_per_mpc3=density, row_number=row_numbers(inside),
                    rows_read=len(rows), score=score, candidates=_candidates(score, max_rows))

    chunks = catalog.map_volume(*volume.cells(catalog.order), columns=ranking_columns, process=select,
                                threads=threads)
    # The whole selection's count and summed score: over every galaxy of the volume, in file order.
    score = np.concatenate([chunk["score"] for chunk in chunks])
    score_total = float(np.nansum(score))
    # The best rows overall are among each chunk's best: only those are ranked.
    sizes = np.array([len(chunk["score"]) for chunk in chunks])
    candidates = np.concatenate([chunk["candidates"] + start for chunk, start in zip(chunks, np.cumsum(sizes) - sizes)])
    ranking = candidates[_ranking(score[candidates], max_rows)]
    probability = np.nan_to_num(score[ranking]) / score_total if score_total > 0 else np.zeros(len(ranking))
    cumulative = np.cumsum(probability)
    if max_cumulative_probability < 1:  # at 1, rounding must not cut the galaxies without weight
        listed = int(np.searchsorted(cumulative, max_cumulative_probability) + 1)
        ranking, probability, cumulative = ranking[:listed], probability[:listed], cumulative[:listed]

    # The listed rows' other columns, taken from the mapped file: only their pages are touched.
    listed = _gather(chunks, ranking, ["credible_level", "probdensity_per_mpc3", "row_number"])
    chosen = catalog.read_rows(listed["row_number"], GALAXY_COLUMNS)
    table = Table()
    table["rank"] = np.arange(1, len(ranking) + 1)
    for name in GALAXY_COLUMNS:
        column = pc.fill_null(chosen[name], "") if name == "name" else chosen[name]
        table[name] = column.to_numpy(zero_copy_only=False)
    table["credible_level"] = listed["credible_level"]
    table["probdensity_per_mpc3"] = listed["probdensity_per_mpc3"]
    table["score"] = score[ranking]
    table["probability"] = probability
    table["cumulative_probability"] = cumulative
    for name, unit in UNITS.items():
        table[name].unit = unit
    table.meta.update({
        "credible_level": credible_level,
        "weight_column": weight_column,
        "fold_distance_error": fold_distance_error,
        "max_rows": max_rows,
        "max_cumulative_probability": max_cumulative_probability,
        "radial_step_mpc": volume.radial_step_mpc,
        "catalog": catalog.path.name,
        "catalog_rows": catalog.n_rows,
        "rows_read": sum(chunk["rows_read"] for chunk in chunks),
        "galaxies_inside": len(score),
        "score_total": score_total,
        "galaxies_listed": len(table),
        "probability_listed": float(cumulative[-1]) if len(cumulative) else 0.0,
    })
    return table


@functools.lru_cache(maxsize=4)
def _open_catalog_at(path: Path, mtime_ns: int, size: int) -> IndexedCatalog:
    return IndexedCatalog(path)


def _open_catalog(path: str | Path) -> IndexedCatalog:
    """The catalog with its index, opened once per file version in a warm process (the daemon):
    the file is mapped and its block index built."""
    path = Path(path).resolve()
    status = path.stat()
    return _open_catalog_at(path, status.st_mtime_ns, status.st_size)


def _gather(chunks: list[dict[str, np.ndarray]], index: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Columns ``names`` of the chunks' rows at ``index`` (into the chunks put end to end)."""
    sizes = np.array([len(chunk["score"]) for chunk in chunks])
    starts = np.cumsum(sizes) - sizes
    chunk_of = np.searchsorted(starts, index, side="right") - 1
    by_chunk = np.argsort(chunk_of, kind="stable")
    bounds = np.searchsorted(chunk_of[by_chunk], np.arange(len(chunks) + 1))
    gathered = {name: np.empty(len(index), chunks[0][name].dtype) for name in names}
    for number, chunk in enumerate(chunks):
        rows = by_chunk[bounds[number]:bounds[number + 1]]
        for name in names:
            gathered[name][rows] = chunk[name][index[rows] - starts[number]]
    return gathered


def _candidates(score: np.ndarray, max_rows: int | None) -> np.ndarray:
    """Indices, in order, of the best ``max_rows`` scores and of every score tied with the last
    of them (NaN scores, no weight, count as the worst): the best of any set of rows holding
    these are among them."""
    if max_rows is None or max_rows >= len(score):
        return np.arange(len(score))
    key = np.where(np.isnan(score), np.inf, -score)
    threshold = np.partition(key, max_rows - 1)[max_rows - 1]
    return np.flatnonzero(key <= threshold)


def _ranking(score: np.ndarray, max_rows: int | None) -> np.ndarray:
    """Indices of the best ``max_rows`` scores, best first; NaN scores (no weight) last; ties
    in catalog order. Only the best are sorted (a partition finds them first)."""
    candidates = _candidates(score, max_rows)
    key = np.where(np.isnan(score[candidates]), np.inf, -score[candidates])
    return candidates[np.argsort(key, kind="stable")][:max_rows]


def write_galaxies_ecsv(table: Table, path: str | Path) -> Path:
    """Write the galaxy list as ECSV (units and meta kept), atomically."""
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return Path(path)


def notice_galaxies(table: Table, top_n: int) -> list[dict]:
    """The best ``top_n`` galaxies as JSON-ready dicts for notice.json (NaN -> None)."""
    entries = []
    for row in table[:top_n]:
        entry = {}
        for name in NOTICE_COLUMNS:
            value = row[name]
            value = value.item() if isinstance(value, np.generic) else value
            entry[name] = None if isinstance(value, float) and math.isnan(value) else value
        entries.append(entry)
    return entries
