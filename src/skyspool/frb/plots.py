"""Plots: candidates in DM-time and S/N, and the data views of one trigger.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot state), so they are safe in a daemon.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from skyspool.atomic import atomic_path
from skyspool.frb.filterbank import TriggerViews

_LABEL_STYLE = {"astrophysical-new": ("tab:red", "*", 160), "known-source": ("tab:blue", "D", 50),
                "rfi": ("tab:gray", "x", 30), "below-threshold": ("tab:olive", ".", 20)}


def plot_candidates(candidates: pd.DataFrame, clusters: pd.DataFrame, path: str | os.PathLike, *,
                    title: str = "", snr_min: float | None = None) -> None:
    """DM-time (all candidates, coloured by S/N; clusters marked by label) and S/N-DM panels, as PNG.

    ``candidates`` has columns ``time`` (s), ``dm`` (pc cm^-3), ``snr``; ``clusters`` also ``label``.
    """
    fig = Figure(figsize=(11, 7), layout="constrained")
    ax_dt, ax_sd = fig.subplots(2, 1, height_ratios=(2, 1))
    order = np.argsort(candidates["snr"].to_numpy())  # brightest drawn last, on top
    sc = ax_dt.scatter(candidates["time"].to_numpy()[order], candidates["dm"].to_numpy()[order],
                       c=candidates["snr"].to_numpy()[order], s=4, cmap="viridis", rasterized=True)
    fig.colorbar(sc, ax=ax_dt, label="S/N")
    ax_sd.scatter(candidates["dm"], candidates["snr"], s=3, c="0.6", rasterized=True, label="candidates")
    for label, (colour, marker, size) in _LABEL_STYLE.items():
        sel = clusters[clusters["label"] == label] if "label" in clusters else clusters.iloc[:0]
        if len(sel):
            ax_dt.scatter(sel["time"], sel["dm"], s=size, c=colour, marker=marker, label=f"{label} ({len(sel)})")
            ax_sd.scatter(sel["dm"], sel["snr"], s=size, c=colour, marker=marker)
    if snr_min is not None:
        ax_sd.axhline(snr_min, color="k", lw=0.8, ls="--")
    ax_dt.set(xlabel="time since start (s)", ylabel="DM (pc cm$^{-3}$)", title=title or None)
    ax_sd.set(xlabel="DM (pc cm$^{-3}$)", ylabel="S/N")
    if len(clusters):
        ax_dt.legend(loc="upper right", fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def plot_trigger_views(views: TriggerViews, path: str | os.PathLike, *, title: str = "") -> None:
    """Frequency-time (dedispersed), pulse profile and DM-time panels of one trigger, as PNG."""
    fig = Figure(figsize=(7, 9), layout="constrained")
    ax_prof, ax_ft, ax_dmt = fig.subplots(3, 1, sharex=True, height_ratios=(1, 2, 2))
    t = views.times_s
    extent_ft = (t[0], t[-1], views.freqs_mhz[-1], views.freqs_mhz[0])
    ax_prof.plot(t, views.freq_time.sum(axis=0), color="k", lw=0.8)
    ax_prof.set(ylabel="flux (arb.)", title=title or None)
    ax_ft.imshow(views.freq_time, aspect="auto", extent=extent_ft, cmap="viridis", interpolation="nearest")
    ax_ft.set(ylabel="frequency (MHz)")
    ax_dmt.imshow(views.dm_time, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                  extent=(t[0], t[-1], views.dms[0], views.dms[-1]))
    ax_dmt.plot(views.best_time_s, views.best_dm, "r+", ms=12)
    ax_dmt.set(xlabel="time since file start (s)", ylabel="DM (pc cm$^{-3}$)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
