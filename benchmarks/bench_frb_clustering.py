"""FRB clustering speed: a synthetic AMBER file of 10 million candidates, read and clustered.

Prints candidates per CPU second, on one core, for reading (skyspool.frb.amber.read_candidates)
against what a user would pick instead (pandas' C parser, pyarrow's CSV reader, single-threaded)
and for clustering (skyspool.frb.clustering.cluster with DARC's boxes and with fixed boxes)
against a pandas groupby of the same fixed boxes (idxmax + size) and DARC's loop over DM and time
windows (tools.get_triggers, re-stated here; run on a slice, it is quadratic).

    python benchmarks/bench_frb_clustering.py [--rows 10000000] [--file /tmp/amber10M.trigger]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Test fixtures (sample data makers) live in tests/, outside the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from frb_synthetic import Burst, amber_text, synthetic_candidates  # noqa: E402
from skyspool.frb.amber import read_candidates  # noqa: E402
from skyspool.frb.clustering import ClusterWindows, cluster  # noqa: E402


def pandas_groupby(frame: pd.DataFrame, windows: ClusterWindows) -> pd.DataFrame:
    """The straightforward pandas version of the same boxes (no edge merging)."""
    boxes = frame.assign(tbin=(frame["time"] // windows.time_s).astype(np.int64),
                         dbin=windows.dm_coordinate(frame["dm"]).astype(np.int64))
    grouped = boxes.groupby(["dbin", "tbin"])["snr"]
    out = frame.loc[grouped.idxmax().to_numpy()].copy()
    out["members"] = grouped.size().to_numpy()
    return out


def darc_loop(frame: pd.DataFrame, t_window: float = 0.5, frac: float = 0.2) -> int:
    """DARC's get_triggers: for every DM window and time window, the highest-S/N candidate."""
    dm, tt, sig = frame["dm"].to_numpy(), frame["time"].to_numpy(), frame["snr"].to_numpy()
    dm_list, dm_max, dm_min = [], 1.1 * dm.max(), 0.9 * dm.min()
    while dm_max > dm_min:  # DARC's dm_range
        prefac = (1 - frac) / (1 + frac) if dm_max >= 100 else (1 - 2 * frac) / (1 + 2 * frac) if dm_max >= 50 else 0
        dm_list.append((int(prefac * dm_max), int(dm_max)))
        dm_max = int(prefac * dm_max)
    ntime = int((tt.max() - tt.min()) / t_window)
    t_start = tt.min() - 0.5 * t_window
    kept = 0
    for lo, hi in dm_list:
        for ii in range(ntime + 2):
            t0, t1 = t_window * ii + t_start, t_window * (ii + 1) + t_start
            ind = np.where((dm < hi) & (dm > lo) & (tt < t1) & (tt > t0))[0]
            if len(ind):
                kept += 1
                _ = ind[np.argmax(sig[ind])]
    return kept


def pyarrow_read(path: str):
    """pyarrow's CSV reader on one thread, every column as float64 (the header line skipped)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "rb") as handle:
        names = handle.readline()[1:].split()
    names = [name.decode() for name in names]
    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
                          parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False),
                          convert_options=pacsv.ConvertOptions(column_types={n: pa.float64() for n in names}))


REPEAT = 3


def timed(func, *args, **kwargs):
    """The result and the least CPU time (s) of ``REPEAT`` runs: every step runs on one core, and
    the least CPU time is what a shared, loaded machine distorts least (wall time printed beside)."""
    spent, walls = [], []
    for _ in range(REPEAT):
        start, wall = time.process_time(), time.perf_counter()
        result = func(*args, **kwargs)
        spent.append(time.process_time() - start)
        walls.append(time.perf_counter() - wall)
    print(f"  ({func.__name__}: {min(spent):.2f} s CPU, {min(walls):.2f} s wall, best of {REPEAT})")
    return result, min(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="noise candidates (plus bursts and RFI)")
    parser.add_argument("--file", help="AMBER file to use or create (default: a temporary file)")
    parser.add_argument("--darc-rows", type=int, default=200_000, help="slice for DARC's loop")
    args = parser.parse_args()

    path = args.file or os.path.join(tempfile.gettempdir(), f"skyspool-bench-{args.rows}.trigger")
    if not os.path.exists(path):
        duration = max(600.0, args.rows / 3000)  # ~3000 candidates/s, a busy RFI-rich observation
        bursts = [Burst(t, dm, 20.0) for t, dm in zip(np.linspace(30, duration - 30, 50), np.linspace(100, 2500, 50))]
        started = time.perf_counter()
        frame = synthetic_candidates(bursts, duration_s=duration, n_noise=args.rows, n_rfi=200)
        spent = time.perf_counter() - started
        with open(path, "wb") as handle:
            handle.write(amber_text(frame))
        print(f"wrote {len(frame):,} candidates to {path} ({os.path.getsize(path) / 1e6:.0f} MB) in {spent:.1f} s")

    read_candidates(b"# integration_step time DM SNR\n1 1 1 1\n")  # warm-up (loads the compiled reader)
    candidates, t_read = timed(read_candidates, path)
    n = len(candidates)
    print(f"read      {n:,} candidates in {t_read:6.2f} s: {n / t_read / 1e6:6.2f} M candidates/s")
    _, t_pandas_read = timed(pd.read_csv, path, sep=" ", comment="#", header=None, dtype=np.float64)
    print(f"pandas read_csv (C parser)    {t_pandas_read:6.2f} s: {n / t_pandas_read / 1e6:6.2f} M candidates/s; "
          f"skyspool is {t_pandas_read / t_read:.1f}x faster")
    _, t_arrow = timed(pyarrow_read, path)
    print(f"pyarrow read_csv (1 thread)   {t_arrow:6.2f} s: {n / t_arrow / 1e6:6.2f} M candidates/s; "
          f"skyspool is {t_arrow / t_read:.1f}x faster")
    snr_min = 10.0
    cluster(candidates.iloc[:1000], ClusterWindows(), snr_min)  # warm-up
    clusters, t_cluster = timed(cluster, candidates, ClusterWindows(), snr_min)
    print(f"cluster (DARC's boxes, S/N >= {snr_min:g} first) {t_cluster:6.2f} s: {n / t_cluster / 1e6:6.2f} M "
          f"candidates/s -> {len(clusters):,} clusters")
    print(f"read + cluster {n:,} candidates: {t_read + t_cluster:6.2f} s")
    windows = ClusterWindows(boxes="fixed", time_s=0.5)
    clusters, t_cluster = timed(cluster, candidates, windows)
    print(f"cluster (fixed boxes, all)    {t_cluster:6.2f} s: {n / t_cluster / 1e6:6.2f} M candidates/s "
          f"-> {len(clusters):,} clusters")
    grouped, t_pandas = timed(pandas_groupby, candidates, windows)
    print(f"pandas groupby (same boxes)   {t_pandas:6.2f} s: {n / t_pandas / 1e6:6.2f} M candidates/s "
          f"-> {len(grouped):,} boxes; skyspool is {t_pandas / t_cluster:.1f}x faster")
    part = candidates.iloc[:args.darc_rows]
    _, t_darc = timed(darc_loop, part)
    rate_darc = len(part) / t_darc
    print(f"DARC loop on {len(part):,} candidates {t_darc:6.2f} s: {rate_darc / 1e6:6.3f} M candidates/s; "
          f"skyspool is {n / t_cluster / rate_darc:.0f}x faster (and DARC's loop grows quadratically)")


if __name__ == "__main__":
    main()
