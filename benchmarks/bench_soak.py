"""Soak benchmark of the watch daemon: a steady rate of real alerts for a while (prints figures).

    python benchmarks/bench_soak.py [--minutes 10] [--per-minute 6] [--workdir DIR]

Starts ``skyspool watch`` on a fresh spool (default configuration), then renames one copy of a
real O4 alert (../shared/corpus/gw/alerts/, under a new superevent id) into the inbox every
60/per-minute seconds for ``--minutes``, and waits for the last products. Reports the rate
offered and held (alerts fully built per minute), the daemon's resident memory (itself and
its workers) at the start, at the end of each minute and at the end, by process at the start
and the end, and the medians of received -> notice.json and
received -> every product in the first and the last minute: memory should stay flat and
latency should not drift. Copies go to a temporary directory (or --workdir).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_daemon import drop, renamed_alerts, rss_mb
from skyspool import config, targets
from skyspool.cli import main as skyspool_main
from skyspool.paths import Spool


def latencies(spool: Spool, conf: dict, received: dict[str, float]) -> dict[str, tuple]:
    """event id -> (received, notice latency s, all-products latency s or None)."""
    out = {}
    for event_id, when in received.items():
        entries = spool.entries_of("gw", event_id)
        if not entries:
            continue
        paths = targets.entry_targets(spool, entries[0], conf)
        notice = spool.product(entries[0], "notice.json")
        done = all(p.exists() for p in paths)
        out[event_id] = (when, notice.stat().st_mtime - when if notice.exists() else None,
                         max(p.stat().st_mtime for p in paths) - when if done else None)
    return out


def rss_by_process(pid: int) -> dict[str, float]:
    """Resident memory (MB) of the daemon and of each child, by role (workers in pid order)."""
    import psutil

    daemon = psutil.Process(pid)
    sizes = {"daemon": daemon.memory_info().rss / 2**20}
    for number, child in enumerate(sorted(daemon.children(), key=lambda c: c.pid)):
        with contextlib.suppress(psutil.NoSuchProcess):
            role = "tracker" if "resource_tracker" in " ".join(child.cmdline()) else f"child{number}"
            sizes[role] = child.memory_info().rss / 2**20
    return sizes


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--per-minute", type=float, default=6.0)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="skyspool-soak-"))
    spool = Spool(work / "spool")
    skyspool_main(["init", str(spool.root)])
    conf = config.load(spool)
    count = int(args.minutes * args.per_minute)
    alerts = renamed_alerts(work / "alerts", count, "97")
    with open(work / "watch.log", "w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "watch", str(spool.root)],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        while "watching" not in (work / "watch.log").read_text():
            time.sleep(0.5)
        rss_start, processes_start = rss_mb(daemon.pid), rss_by_process(daemon.pid)
        received, start, step = {}, time.time(), 60 / args.per_minute
        by_minute = []  # RSS (MB) at the end of each minute offered
        for i, alert in enumerate(alerts):
            time.sleep(max(0.0, start + i * step - time.time()))
            if time.time() - start >= 60 * (len(by_minute) + 1):
                by_minute.append(rss_mb(daemon.pid))
            received[alert.name.split("-")[0]] = drop(spool, alert)
        offered_end = time.time()
        deadline = offered_end + 1800
        while time.time() < deadline:
            found = latencies(spool, conf, received)
            if len(found) == count and all(v[2] is not None for v in found.values()):
                break
            time.sleep(2)
        rss_end, processes_end = rss_mb(daemon.pid), rss_by_process(daemon.pid)
        finished = time.time()
        found = latencies(spool, conf, received)
    finally:
        daemon.terminate()  # lets running work finish: the figures are taken already
        try:
            daemon.wait(300)
        except subprocess.TimeoutExpired:
            daemon.kill()
    built = [v for v in found.values() if v[2] is not None]
    first = [v for v in found.values() if v[0] < start + 60]
    last = [v for v in found.values() if v[0] >= offered_end - 60]
    print(f"soak: {args.minutes:g} min at {args.per_minute:g} alerts/min offered ({count} alerts)")
    print(f"  built in full: {len(built)}/{count}; held rate "
          f"{len(built) / ((finished - start) / 60):.2f} alerts/min (figures taken {finished - offered_end:.0f} s "
          f"after the last was offered)")
    print(f"  daemon RSS (with workers): start {rss_start:.0f} MB, end {rss_end:.0f} MB "
          f"(x{rss_end / rss_start:.2f})")
    print("  RSS at the end of each minute (MB): " + " ".join(f"{mb:.0f}" for mb in by_minute))
    print("  by process, start -> end (MB): " + "; ".join(
        f"{name} {processes_start.get(name, 0):.0f} -> {processes_end.get(name, 0):.0f}"
        for name in sorted(processes_start.keys() | processes_end.keys())))
    print(f"  first minute medians: notice {median(v[1] for v in first)} s, all {median(v[2] for v in first)} s")
    print(f"  last minute medians:  notice {median(v[1] for v in last)} s, all {median(v[2] for v in last)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
