"""Benchmark of `skyspool reprocess` over a whole spool (prints figures; asserts nothing).

    python benchmarks/bench_reprocess.py [--sizes 10 1000] [--cores 2] [--workdir DIR]

For each size N: a fresh spool of N real O4 alerts from ../shared/corpus/gw/alerts/, each
copied under a new superevent id (bench_daemon.renamed_alerts) and ingested, then every
product of every entry rebuilt (``reprocess.reprocess``, no selection: --forceall in
batches of ``reprocess.BATCH`` entries), locally on ``--cores``. Small nsides (flat 128,
contours 128, plot 64) keep it quick: the figures are about the pipeline, not about
flattening at nside 512. Reported: alerts per minute; Snakemake's own share of the wall
time (a dry run of the same forced batches: DAG building, input functions, scheduling);
and time per alert at the largest size over the smallest (the aim: at most 1.2).
Spools go to a temporary directory (or --workdir), never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_daemon import renamed_alerts  # noqa: E402

from skyspool import config, ingest, reprocess  # noqa: E402
from skyspool.cli import main as skyspool  # noqa: E402
from skyspool.paths import Spool  # noqa: E402

FAST = "skymap: {flat_nside: 128, contour_nside: 128, plot_nside: 64}\n"


def spool_of(root: Path, count: int) -> Spool:
    with contextlib.redirect_stdout(io.StringIO()):
        skyspool(["init", str(root)])
    spool = Spool(root)
    spool.config_file.write_text(FAST)
    for path in renamed_alerts(root / "alerts", count, "2401"):
        path.rename(spool.inbox / path.name)
    ingest.take_inbox(spool)
    return spool


def timed(spool: Spool, cores: int, extra: list[str]) -> float:
    entries = reprocess.select_entries(spool)
    settings = config.load(spool)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        ok = reprocess.reprocess(spool, entries, settings, cores=cores, extra=extra)
    elapsed = time.perf_counter() - started
    if not ok:
        raise SystemExit(f"reprocessing {spool.root} failed: see its logs/")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    per_alert = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for size in args.sizes:
            spool = spool_of(Path(tmp) / f"spool{size}", size)
            wall = timed(spool, args.cores, ["--quiet=all"])
            planning = timed(spool, args.cores, ["--quiet=all", "--dry-run"])
            per_alert[size] = wall / size
            print(f"{size:5d} alerts: {wall:7.1f} s, {60 * size / wall:6.1f} alerts/min, "
                  f"{wall / size:5.2f} s/alert; Snakemake's own share (dry run of the same "
                  f"batches): {planning:5.1f} s = {100 * planning / wall:4.1f}%", flush=True)
    small, large = min(per_alert), max(per_alert)
    if large != small:
        print(f"time per alert at {large} / at {small}: "
              f"{per_alert[large] / per_alert[small]:.2f} (aim: <= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
