"""Benchmark of `skyspool reprocess` over a whole spool (prints figures; asserts nothing).

    python benchmarks/bench_reprocess.py [--sizes 10 1000 10] [--cores 2] [--workdir DIR]

For each size N (a size may come twice, e.g. before and after the large one, to show how
noisy the machine is): a fresh spool of N real O4 alerts from ../shared/corpus/gw/alerts/, each
copied under a new superevent id (bench_daemon.renamed_alerts) and ingested, then every
product of every entry rebuilt (``reprocess.reprocess``, no selection: --forceall in
batches of ``reprocess.BATCH`` entries), locally on ``--cores``. Small nsides (flat 128,
contours 128, plot 64) keep it quick: the figures are about the pipeline, not about
flattening at nside 512. Reported: alerts per minute; wall time and CPU time per alert
(CPU: this process and its children, user + system, so that other load on a shared
machine counts less); Snakemake's own share of the wall time (a dry run of the same forced
batches: DAG building, input functions, scheduling); the times of dashboard refreshes
(``dashboard.refresh``, see ``dashboard_times``); and, per alert, the largest size over the
smallest, for wall and CPU time (the aim: at most 1.2).
Spools go to a temporary directory (or --workdir), never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_daemon import renamed_alerts  # noqa: E402
from skyspool import config, dashboard, ingest, reprocess  # noqa: E402
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


def cpu_s() -> float:
    """CPU time (s, user + system) of this process and of its children waited for."""
    return sum(usage.ru_utime + usage.ru_stime for usage in
               (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


@contextlib.contextmanager
def clock(times: dict, name: str):
    """Put the wall and CPU times (s) of the block in ``times[name]``, as (wall, cpu)."""
    wall, cpu = time.perf_counter(), cpu_s()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
    times[name] = (time.perf_counter() - wall, cpu_s() - cpu)


def progress_printer(size: int):
    """A ``progress`` callback printing, after each batch, its wall and CPU time per alert
    (to the real stderr: a long run shows its trend before it ends)."""
    last = {"done": 0, "wall": time.perf_counter(), "cpu": cpu_s()}

    def show(done: int) -> None:
        wall, cpu, count = time.perf_counter(), cpu_s(), done - last["done"]
        print(f"  [{size} alerts: {done} done; this batch {(wall - last['wall']) / count:.2f} s wall, "
              f"{(cpu - last['cpu']) / count:.2f} s CPU per alert]", file=sys.__stderr__, flush=True)
        last.update(done=done, wall=wall, cpu=cpu)

    return show


def run(spool: Spool, cores: int, extra: list[str], progress=None) -> None:
    entries = reprocess.select_entries(spool)
    if not reprocess.reprocess(spool, entries, config.load(spool), cores=cores, extra=extra,
                               progress=progress):
        raise SystemExit(f"reprocessing {spool.root} failed: see its logs/")


def refresh(spool: Spool, events: list[tuple[str, str]] | None = None) -> None:
    if not dashboard.refresh(spool.root, events):
        raise SystemExit(f"the dashboard of {spool.root} failed: see its logs/")


def dashboard_times(spool: Spool, times: dict) -> None:
    """Put in ``times`` the wall and CPU times (s) of dashboard refreshes: of every event
    (as ``skyspool process`` does) making every page, then with nothing changed; then of
    one event whose products changed (as the daemon does after its new alert)."""
    with clock(times, "dashboard, every event, every page made"):
        refresh(spool)
    with clock(times, "dashboard, every event, nothing changed"):
        refresh(spool)
    changed = reprocess.select_entries(spool)[-1]
    spool.product(changed, "stats.json").touch()
    with clock(times, "dashboard, one changed event (the daemon's refresh)"):
        refresh(spool, [(changed.kind, changed.event_id)])


def print_dashboard_times(times: dict) -> None:
    for name, (wall, cpu) in times.items():
        if name.startswith("dashboard"):
            print(f"       {name}: {wall:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)


def measure(spool: Spool, size: int, cores: int) -> dict:
    """Wall and CPU times (s) of reprocessing, its dry run and dashboard refreshes."""
    times: dict = {}
    with clock(times, "reprocess"):
        run(spool, cores, ["--quiet=all"], progress_printer(size))
    with clock(times, "dry run"):
        run(spool, cores, ["--quiet=all", "--dry-run"])
    dashboard_times(spool, times)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    per_alert: dict[int, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for run_number, size in enumerate(args.sizes):
            spool = spool_of(Path(tmp) / f"spool{run_number}-{size}", size)
            times = measure(spool, size, args.cores)
            wall, cpu = times["reprocess"]
            planning = times["dry run"][0]
            per_alert.setdefault(size, []).append((wall / size, cpu / size))
            print(f"{size:5d} alerts: {wall:7.1f} s wall, {cpu:7.1f} s CPU; "
                  f"{60 * size / wall:6.1f} alerts/min; per alert {wall / size:5.2f} s wall, "
                  f"{cpu / size:5.2f} s CPU; Snakemake's own share (dry run of the same batches): "
                  f"{planning:5.1f} s = {100 * planning / wall:4.1f}% of the wall time", flush=True)
            print_dashboard_times(times)
    small, large = min(per_alert), max(per_alert)
    if large != small:
        for index, what in enumerate(("wall", "CPU")):
            low = statistics.mean(run[index] for run in per_alert[small])
            spread = ", ".join(f"{run[index]:.2f}" for run in per_alert[small])
            print(f"{what} time per alert at {large} / at {small} (mean of {spread} s): "
                  f"{statistics.mean(run[index] for run in per_alert[large]) / low:.2f} (aim: <= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
