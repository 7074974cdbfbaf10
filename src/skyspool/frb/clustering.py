"""Clustering of single-pulse candidates in DM and time boxes, vectorised with numpy.

One burst yields many AMBER candidates: neighbouring DM trials, boxcar widths and synthesised
beams all cross the threshold. Candidates are grouped into boxes of a time window and a DM window,
and each box keeps its highest-S/N candidate and the number of its members (many members is a
sign of broadband RFI).

Two kinds of boxes (``boxes``):

- ``darc`` (the default), DARC's rule (``get_triggers`` and ``dm_range`` of its ``tools``): the
  candidates below the S/N cut are dropped first; time windows of ``time_s`` (DARC: 1.0 s) start
  half a window before the earliest candidate; DM boxes run down from 1.1 x the highest DM, each
  ``(1 - f) / (1 + f)`` of the one above (``f`` = ``dm_range_frac``, DARC 0.2; twice ``f`` below
  DM 100; one box from 0 below DM 50), their edges whole numbers. As in DARC, window and box edges
  are open: a candidate exactly on an edge belongs to no box. Each compound beam is clustered on
  its own, and the boxes depend on the candidates clustered together (DARC's batch; here a chunk).
  Each cluster also gets its synthesised-beam periodicity (DARC's ``sb_filter``): the S/N of the
  candidates at exactly the peak's time and within ``sb_dm_halfwidth`` of its DM, laid out over the
  ``n_sb`` synthesised beams (beams beyond are left out), is autocorrelated; the period is the first
  lag whose autocorrelation equals the largest beyond lag 1. A burst seen through Apertif's tied-array
  beams repeats every 10-15 synthesised beams; RFI and noise do not.
- ``fixed``: boxes fixed at the observation start, the same clusters whether candidates arrive in
  one file or in chunks. DM windows follow ``u = log1p(DM / dm_scale) / log1p(dm_frac)`` (window ``k``
  holds ``k <= u < k + 1``); a box whose peak lies within one window (in time and in ``u``) of a
  stronger neighbouring box's peak is merged into that neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns of the cluster frame: the peak candidate's values, its row in the input, and the member count.
CLUSTER_COLUMNS = ("cb", "beam", "time", "dm", "snr", "width", "members", "row", "sb_period")
#: Box kinds of :class:`ClusterWindows`.
BOX_KINDS = ("darc", "fixed")

# Neighbouring boxes (DM window offset, time window offset) checked for a stronger peak.
_NEIGHBOURS = [(ddm, dt) for ddm in (-1, 0, 1) for dt in (-1, 0, 1) if (ddm, dt) != (0, 0)]


@dataclass(frozen=True)
class ClusterWindows:
    """Box settings: ``time_s`` (s, DARC 1.0); ``boxes`` (``darc`` or ``fixed``); ``dm_range_frac``
    (DARC's DM box fraction, 0.2); ``dm_frac`` and ``dm_scale`` (pc cm^-3) for fixed boxes;
    ``sb_dm_halfwidth`` (pc cm^-3, DARC 20) and ``n_sb`` (synthesised beams, Apertif 71) for the
    synthesised-beam periodicity."""

    time_s: float = 1.0
    boxes: str = "darc"
    dm_range_frac: float = 0.2
    dm_frac: float = 0.5
    dm_scale: float = 20.0
    sb_dm_halfwidth: float = 20.0
    n_sb: int = 71

    def __post_init__(self):
        if self.boxes not in BOX_KINDS:
            raise ValueError(f"clustering boxes must be one of {', '.join(BOX_KINDS)}, not {self.boxes!r}")
        for name in ("time_s", "dm_frac", "dm_scale", "dm_range_frac", "sb_dm_halfwidth", "n_sb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0):
                raise ValueError(f"clustering window {name} must be a positive number, not {value!r}")
        if not self.dm_range_frac < 0.5:
            raise ValueError(f"clustering dm_range_frac must be below 0.5, not {self.dm_range_frac!r}")

    def dm_coordinate(self, dm: np.ndarray) -> np.ndarray:
        """Continuous DM-window coordinate ``u`` of DMs (pc cm^-3): window ``k`` is ``k <= u < k + 1``."""
        return np.log1p(np.asarray(dm, dtype=np.float64) / self.dm_scale) / np.log1p(self.dm_frac)


def cluster(candidates: pd.DataFrame, windows: ClusterWindows = ClusterWindows(),
            snr_min: float | None = None) -> pd.DataFrame:
    """Cluster candidates (columns ``cb beam time dm snr width`` as read by
    :func:`skyspool.frb.amber.read_candidates`) into one row per box, sorted by time.

    Candidates with S/N below ``snr_min`` (if given) are dropped first, as DARC does. Each row is
    the box's highest-S/N candidate (ties: the earliest row) with ``members`` (the number of
    candidates in the box; fixed boxes add those of weaker neighbouring boxes merged into it),
    ``row`` (its position in ``candidates``) and ``sb_period`` (the synthesised-beam periodicity,
    ``darc`` boxes; -1 for ``fixed`` boxes).
    """
    keep = np.arange(len(candidates))
    if snr_min is not None:
        keep = np.flatnonzero(candidates["snr"].to_numpy() >= snr_min)
    parts = []
    if len(keep):
        if windows.boxes == "fixed":
            parts.append(_cluster_fixed(candidates, keep, windows))
        else:
            cb = candidates["cb"].to_numpy()[keep]
            for value in np.unique(cb):
                parts.append(_cluster_darc(candidates, keep[cb == value], windows))
    if not parts:
        return pd.DataFrame({name: np.empty(0, dtype=candidates[name].dtype if name in candidates else np.int64)
                             for name in CLUSTER_COLUMNS})
    peak, members, period = (np.concatenate(x) for x in zip(*parts))
    out = candidates.iloc[peak].reset_index(drop=True)[["cb", "beam", "time", "dm", "snr", "width"]]
    out["members"] = members
    out["row"] = peak
    out["sb_period"] = period
    return out.sort_values(["time", "dm"], kind="stable").reset_index(drop=True)


def _box_peaks(key: np.ndarray, snr: np.ndarray):
    """Per distinct ``key`` (ascending): the key, its count, and the first highest-S/N position."""
    n = len(key)
    if int(key.min()) >= 0 and int(key.max()) < 4 * n + (1 << 20):  # dense: the usual case
        counts = np.bincount(key)
        keys = np.flatnonzero(counts)
        box_of_key = np.zeros(len(counts), dtype=np.int64)
        box_of_key[keys] = np.arange(len(keys))
        box = box_of_key[key]
        counts = counts[keys]
    else:
        keys, box = np.unique(key, return_inverse=True)
        counts = np.bincount(box)
    peak_snr = np.full(len(keys), -np.inf)
    np.maximum.at(peak_snr, box, snr)
    rows = np.flatnonzero(snr == peak_snr[box])
    _, first = np.unique(box[rows], return_index=True)
    return keys, counts, rows[first], peak_snr


def darc_dm_boxes(dm_top: float, dm_bottom: float, frac: float = 0.2) -> list[tuple[int, int]]:
    """DARC's DM boxes ``(low, high)`` (pc cm^-3, whole numbers), from ``dm_top`` down past ``dm_bottom``.

    >>> darc_dm_boxes(660.0, 9.0)
    [(440, 660), (293, 440), (195, 293), (130, 195), (86, 130), (36, 86), (0, 36)]
    """
    boxes, ratio = [], (1 - frac) / (1 + frac)
    while dm_top > dm_bottom:
        if dm_top < 100.0:
            ratio = (1 - 2 * frac) / (1 + 2 * frac)
        if dm_top < 50.0:
            ratio = 0.0
        boxes.append((int(ratio * dm_top), int(dm_top)))
        dm_top = int(ratio * dm_top)
    return boxes


def _cluster_darc(candidates: pd.DataFrame, idx: np.ndarray, windows: ClusterWindows):
    time = candidates["time"].to_numpy(np.float64)[idx]
    dm = candidates["dm"].to_numpy(np.float64)[idx]
    snr = candidates["snr"].to_numpy(np.float64)[idx]
    w = windows.time_s
    start = time.min() - 0.5 * w
    # Window i spans (w * i + start, w * (i + 1) + start), computed as DARC does; open edges.
    win = np.floor((time - start) / w).astype(np.int64)
    win -= time <= w * win + start
    win += time >= w * (win + 1) + start
    inside = (time > w * win + start) & (time < w * (win + 1) + start)
    edges = np.array(sorted({e for box in darc_dm_boxes(1.1 * dm.max(), 0.9 * dm.min(), windows.dm_range_frac)
                             for e in box}), dtype=np.float64)
    j = np.searchsorted(edges, dm, side="left")
    inside &= (j > 0) & (j < len(edges))
    j = np.clip(j, 1, len(edges) - 1)
    inside &= (dm > edges[j - 1]) & (dm < edges[j])
    nwin = int(win.max()) + 1
    sel = np.flatnonzero(inside)
    if not len(sel):
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    # Key order is DARC's output order: DM boxes from the top down, then time.
    key = (len(edges) - 1 - j[sel]) * nwin + win[sel]
    _, counts, first, _ = _box_peaks(key, snr[sel])
    peak = sel[first]
    return idx[peak], counts, _sb_periods(candidates, idx, peak, windows)


def _sb_periods(candidates: pd.DataFrame, idx: np.ndarray, peak: np.ndarray, windows: ClusterWindows) -> np.ndarray:
    time = candidates["time"].to_numpy(np.float64)[idx]
    dm = candidates["dm"].to_numpy(np.float64)[idx]
    snr = candidates["snr"].to_numpy(np.float64)[idx]
    beam = candidates["beam"].to_numpy()[idx].astype(np.int64)
    order = np.argsort(time, kind="stable")
    sorted_time = time[order]
    lo = np.searchsorted(sorted_time, time[peak], side="left")
    hi = np.searchsorted(sorted_time, time[peak], side="right")
    n_sb, half = int(windows.n_sb), windows.sb_dm_halfwidth
    periods = np.empty(len(peak), np.int64)
    for k, p in enumerate(peak):
        same = order[lo[k]:hi[k]]  # file order among equal times, so the last of a beam wins
        same = same[(dm[same] <= dm[p] + half) & (dm[same] >= dm[p] - half)
                    & (beam[same] >= 0) & (beam[same] < n_sb)]
        spectrum = np.zeros(n_sb)
        spectrum[beam[same]] = snr[same]
        ac = np.correlate(spectrum, spectrum, mode="full")[n_sb - 1:]
        periods[k] = np.flatnonzero(ac == ac[2:].max())[0]
    return periods


def _cluster_fixed(candidates: pd.DataFrame, idx: np.ndarray, windows: ClusterWindows):
    time = candidates["time"].to_numpy(np.float64)[idx]
    snr = candidates["snr"].to_numpy(np.float64)[idx]
    u = windows.dm_coordinate(candidates["dm"].to_numpy()[idx])
    tbin = (time // windows.time_s).astype(np.int64)
    tbin -= tbin.min()
    span = int(tbin.max()) + 2  # one empty column between DM rows, so time +- 1 never wraps a row
    key = u.astype(np.int64) * span + tbin
    keys, counts, peak, peak_snr = _box_peaks(key, snr)
    nbox = len(keys)

    # Merge each box into its strongest neighbouring box whose peak lies within one window.
    pt, pu = time[peak], u[peak]
    best = np.arange(nbox)
    best_snr = peak_snr.copy()
    for ddm, dt in _NEIGHBOURS:
        pos = np.searchsorted(keys, keys + ddm * span + dt)
        pos[pos == nbox] = 0
        found = keys[pos] == keys + ddm * span + dt
        stronger = (peak_snr[pos] > best_snr) | ((peak_snr[pos] == best_snr) & (pos < best))
        near = (np.abs(pt[pos] - pt) < windows.time_s) & (np.abs(pu[pos] - pu) < 1.0)
        take = found & stronger & near
        best[take] = pos[take]
        best_snr[take] = peak_snr[pos[take]]
    members = counts.copy()
    merged = best != np.arange(nbox)
    np.add.at(members, best[merged], counts[merged])
    keep = ~merged
    return idx[peak[keep]], members[keep], np.full(int(keep.sum()), -1, np.int64)
