"""Clustering of single-pulse candidates in DM and time windows, vectorised with numpy.

One burst yields many AMBER candidates: neighbouring DM trials, boxcar widths and synthesised
beams all cross the threshold. As in DARC, candidates are grouped into boxes of a fixed time window
and a DM window, and each box keeps its highest-S/N candidate and the number of its members
(many members is a sign of broadband RFI).

Unlike DARC's data-dependent boxes, the boxes here are fixed: time windows start at the observation
start and DM windows follow ``u = log1p(DM / dm_scale) / log1p(dm_frac)`` (window ``k`` holds
``k <= u < k + 1``): about ``dm_scale * dm_frac`` wide at low DM and a constant fraction wide at high
DM. Fixed boxes give the same clusters whether candidates arrive in one file or in chunks. A burst
that straddles a box edge would yield two clusters; a box whose peak lies within one window (in time
and in ``u``) of a stronger neighbouring box's peak is therefore merged into that neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns of the cluster frame: the peak candidate's values, its row in the input, and the member count.
CLUSTER_COLUMNS = ("cb", "beam", "time", "dm", "snr", "width", "members", "row")

# Neighbouring boxes (DM window offset, time window offset) checked for a stronger peak.
_NEIGHBOURS = [(ddm, dt) for ddm in (-1, 0, 1) for dt in (-1, 0, 1) if (ddm, dt) != (0, 0)]


@dataclass(frozen=True)
class ClusterWindows:
    """Box sizes: ``time_s`` (s); ``dm_frac`` (fractional DM window width at high DM; 0.5 gives window
    edges in ratio 1.5, as DARC above DM 100); ``dm_scale`` (pc cm^-3; below it windows are about
    ``dm_scale * dm_frac`` wide)."""

    time_s: float = 0.5
    dm_frac: float = 0.5
    dm_scale: float = 20.0

    def __post_init__(self):
        for name in ("time_s", "dm_frac", "dm_scale"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"clustering window {name} must be a positive number, not {value!r}")

    def dm_coordinate(self, dm: np.ndarray) -> np.ndarray:
        """Continuous DM-window coordinate ``u`` of DMs (pc cm^-3): window ``k`` is ``k <= u < k + 1``."""
        return np.log1p(np.asarray(dm, dtype=np.float64) / self.dm_scale) / np.log1p(self.dm_frac)


def cluster(candidates: pd.DataFrame, windows: ClusterWindows = ClusterWindows()) -> pd.DataFrame:
    """Cluster candidates (columns ``cb beam time dm snr width`` as read by
    :func:`skyspool.frb.amber.read_candidates`) into one row per box, sorted by time.

    Each row is the box's highest-S/N candidate (ties: the earliest row) with ``members`` (the number
    of candidates in the box, plus those of weaker neighbouring boxes merged into it) and ``row`` (its
    position in ``candidates``).
    """
    n = len(candidates)
    if n == 0:
        return pd.DataFrame({name: np.empty(0, dtype=candidates[name].dtype if name in candidates else np.int64)
                             for name in CLUSTER_COLUMNS})
    time = candidates["time"].to_numpy(np.float64)
    snr = candidates["snr"].to_numpy(np.float64)
    u = windows.dm_coordinate(candidates["dm"].to_numpy())
    tbin = (time // windows.time_s).astype(np.int64)
    tbin -= tbin.min()
    span = int(tbin.max()) + 2  # one empty column between DM rows, so time +- 1 never wraps a row
    key = u.astype(np.int64) * span + tbin

    # Box of every candidate: dense when the key range is small (the usual case), else compacted.
    if int(key.max()) < 4 * n + (1 << 20):
        counts = np.bincount(key)
        keys = np.flatnonzero(counts)
        box_of_key = np.zeros(len(counts), dtype=np.int64)
        box_of_key[keys] = np.arange(len(keys))
        box = box_of_key[key]
        counts = counts[keys]
    else:
        keys, box = np.unique(key, return_inverse=True)
        counts = np.bincount(box)
    nbox = len(keys)
    peak_snr = np.full(nbox, -np.inf)
    np.maximum.at(peak_snr, box, snr)
    rows = np.flatnonzero(snr == peak_snr[box])
    _, first = np.unique(box[rows], return_index=True)
    peak = rows[first]  # the earliest highest-S/N row of each box, boxes in key order

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

    out = candidates.iloc[peak[keep]].reset_index(drop=True)[["cb", "beam", "time", "dm", "snr", "width"]]
    out["members"] = members[keep]
    out["row"] = peak[keep]
    return out.sort_values(["time", "dm"], kind="stable").reset_index(drop=True)
