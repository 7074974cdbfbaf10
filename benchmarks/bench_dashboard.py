"""Benchmark of dashboard refreshes on large spools (prints figures; asserts nothing).

    python benchmarks/bench_dashboard.py [--sizes 10 1000] [--workdir DIR]

For each size N: a spool of N real O4 alerts under new superevent ids (as bench_reprocess),
whose first alerts (one per corpus alert) get their products made by Snakemake and the
others copies of them (the pages show what files there are: building 1,000 alerts' products
takes an hour here, and bench_reprocess measures that). Then the wall and CPU times (s) of
dashboard refreshes (``dashboard.refresh``): of every event, making every page (as
``skyspool process`` does on a new spool), then with nothing changed; of the one event
whose products changed (what the daemon pays after each alert).
Spools go to a temporary directory (or --workdir), never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_daemon import O4_ALERTS  # noqa: E402
from bench_reprocess import dashboard_times, print_dashboard_times, spool_of  # noqa: E402
from skyspool import config, reprocess  # noqa: E402
from skyspool.paths import Spool  # noqa: E402


def built_spool(root: Path, size: int) -> Spool:
    """A spool of ``size`` alerts with every product: made for the first alerts, copied for
    the others (alert i is a renamed copy of alert i mod the number of corpus alerts)."""
    spool = spool_of(root, size)
    entries = reprocess.select_entries(spool)
    made = len(O4_ALERTS)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if not reprocess.reprocess(spool, entries[:made], config.load(spool), extra=["--quiet=all"]):
            raise SystemExit(f"building {spool.root} failed: see its logs/")
    for index, entry in enumerate(entries[made:], start=made):
        shutil.copytree(spool.products_dir(entries[index % made]), spool.products_dir(entry))
    return spool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for size in args.sizes:
            times: dict = {}
            dashboard_times(built_spool(Path(tmp) / f"spool{size}", size), times)
            print(f"{size:5d} events:", flush=True)
            print_dashboard_times(times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
