"""Benchmark of the watch daemon on real O4 alerts (prints figures; asserts nothing).

    python benchmarks/bench_daemon.py [--alerts 10] [--burst 200] [--ways N] [--job-timeout-s S] [--workdir DIR]

With a daemon already running on a spool with the default configuration:

1. latency: alerts dropped one at a time (renamed into the inbox), each a copy of a real O4
   alert from ../shared/corpus/gw/alerts/ under a new superevent id; received (the rename)
   -> notice.json written, and -> every product (the foundation set, and all products);
2. the ligo.skymap command-line tools making the same sky-map products from the same alert,
   one after another (ligo-skymap-stats, -contour, -contour-moc, -flatten --nside 512,
   -plot), and the ratio to the daemon's received -> all;
3. a burst of alerts dropped at once (none with --burst 0): time until every product of
   every one exists, as alerts per minute; none may be lost.

4. with --ways N: N alerts by each way a file reaches the inbox (renamed within it, moved in from
   outside, hard-linked, copied, rsync's temporary renamed): received -> notice.json and -> every
   product, beside the floor: the same products by the same functions in one warm process.

Then where the time goes: daemon start-up, per-product job times (from the rule logs),
Snakemake runs' overhead, and the daemon's memory before and after the burst.
Copies go to a temporary directory (or --workdir), never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from skyspool import config, targets
from skyspool.cli import main as skyspool_main
from skyspool.paths import Spool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gw" / "alerts"
O4_ALERTS = sorted(p for p in CORPUS.glob("S2305*.json"))
FOUNDATION = {"skymap.multiorder.fits", "skymap.flat.fits.gz", "stats.json", "contours.geojson",
              "moc50.fits", "moc90.fits", "skymap.png", "classification.json", "notice.json",
              "notice.xml", "circular.txt"}


def renamed_alerts(folder: Path, count: int, prefix: str) -> list[Path]:
    """``count`` copies of the O4 alerts (in turn), each under a new superevent id."""
    folder.mkdir(parents=True, exist_ok=True)
    documents = [json.loads(path.read_text()) for path in O4_ALERTS]
    made = []
    for i in range(count):
        document = documents[i % len(documents)]
        # S + 6 digits + letters, as IGWN superevent ids
        superevent = f"S{prefix}{i // 676:02d}" + chr(97 + i // 26 % 26) + chr(97 + i % 26)
        document["superevent_id"] = superevent
        path = folder / f"{superevent}-{document['alert_type'].lower()}.json"
        path.write_text(json.dumps(document))
        made.append(path)
    return made


def drop(spool: Spool, source: Path) -> float:
    """Rename ``source`` into the inbox, as a complete file; the Unix time it appeared."""
    temporary = spool.inbox / f".{source.name}.part"
    shutil.copyfile(source, temporary)
    received = time.time()
    os.replace(temporary, spool.inbox / source.name)
    return received


def _written(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def _from_outside(link):
    """Written in a folder beside the spool, then ``link(outside_path, inbox_path)`` (mv, ln)."""
    def put(spool: Spool, source: Path) -> float:
        outside = spool.root.parent / "outside"
        outside.mkdir(exist_ok=True)
        _written(outside / source.name, source.read_bytes())
        received = time.time()
        link(outside / source.name, spool.inbox / source.name)
        return received
    return put


def _copied(spool: Spool, source: Path) -> float:
    shutil.copyfile(source, spool.inbox / source.name)
    return time.time()  # the close


def _rsync_renamed(spool: Spool, source: Path) -> float:
    temporary = spool.inbox / f".{source.name}.Qx81zT"
    _written(temporary, source.read_bytes())
    received = time.time()
    os.replace(temporary, spool.inbox / source.name)
    return received


#: Every way a complete file appears in the inbox (README: arrival), by what a writer does.
ARRIVAL_WAYS = {"renamed from .x.part in the inbox": drop, "moved in from outside (mv)": _from_outside(os.rename),
                "hard-linked in (ln)": _from_outside(os.link), "copied in (cp: written, closed)": _copied,
                "rsync temporary renamed": _rsync_renamed}


def entry_of(spool: Spool, source: Path):
    event_id = source.name.split("-")[0]
    entries = spool.entries_of("gw", event_id)
    return entries[0] if entries else None


def product_times(spool: Spool, entry, settings: dict) -> dict[str, float] | None:
    """Product name -> mtime, once every product of ``entry`` exists; else None."""
    names = targets.product_names(entry, settings)
    paths = {name: spool.product(entry, name) for name in names}
    if not all(path.exists() for path in paths.values()):
        return None
    return {name: path.stat().st_mtime for name, path in paths.items()}


def wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of ``pid`` and its children."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for each in [pid, *map(int, children.split())]:
        with contextlib.suppress(FileNotFoundError):  # a child that ended meanwhile
            status = Path(f"/proc/{each}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total / 1024


def cpu_s(pid: int) -> float:
    """CPU time (user + system, s) of ``pid`` and its live descendants and reaped children.

    Unlike wall clock, this hardly depends on what else the machine runs, so the burst's
    CPU per alert says what an idle machine would sustain."""
    import psutil

    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:4])  # user, system, children_user, children_system
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(child.cpu_times()[:4])
    return total


def cli_chain(multiorder: Path, workdir: Path) -> tuple[float, dict[str, float]]:
    """The ligo.skymap tools, one after another, on one map: (total s, s per tool)."""
    bin_dir = Path(sys.executable).parent
    commands = {
        "stats": ["ligo-skymap-stats", "-o", "stats.tsv", str(multiorder), "-p", "50", "90"],
        "contour": ["ligo-skymap-contour", "--contour", "50", "90", "-o", "contours.geojson",
                    str(multiorder)],
        "contour-moc": ["ligo-skymap-contour-moc", "-c", "90", "-o", "moc90.fits",
                        str(multiorder)],
        "flatten": ["ligo-skymap-flatten", "--nside", "512", str(multiorder), "flat.fits.gz"],
        "plot": ["ligo-skymap-plot", str(multiorder), "-o", "skymap.png", "--annotate",
                 "--contour", "50", "90"],
    }
    times = {}
    cpu_before = _children_cpu_s()
    for name, command in commands.items():
        started = time.perf_counter()
        subprocess.run([str(bin_dir / command[0]), *command[1:]], cwd=workdir, check=True,
                       capture_output=True)
        times[name] = time.perf_counter() - started
    times["cpu"] = _children_cpu_s() - cpu_before
    return sum(t for name, t in times.items() if name != "cpu"), times


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rule_times(spool: Spool) -> dict[str, list[float]]:
    """Rule -> durations (s) of its successful jobs, from the rule logs."""
    found = defaultdict(list)
    for log in spool.logs.glob("gw/*/*/*.log"):
        for match in re.finditer(r"^(\w+): done in ([\d.]+) s", log.read_text(), re.M):
            found[match[1]].append(float(match[2]))
    return found


def daemon_steps(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10, help="alerts for the latency figures")
    parser.add_argument("--burst", type=int, default=200, help="alerts dropped at once")
    parser.add_argument("--job-timeout-s", type=float,
                        help="the spool's job_timeout_s (default: the configuration's default; "
                             "0: null, jobs run in the workers without a limit)")
    parser.add_argument("--workdir", help="where the spool and copies go (default: a temp dir)")
    parser.add_argument("--ways", type=int, default=0,
                        help="alerts per arrival way (received -> notice.json, -> every product, "
                             "beside the warm single-process floor); 0: none")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-daemon-"))
    spool = Spool(workdir / "spool")
    skyspool_main(["init", str(spool.root)])
    if args.job_timeout_s is not None:
        spool.config_file.write_text(f"job_timeout_s: {args.job_timeout_s or 'null'}\n")
    settings = config.load(spool)
    log = workdir / "watch.log"
    print(f"workdir {workdir}; cores {os.cpu_count()}; load {os.getloadavg()[0]:.1f}; "
          f"job_timeout_s {settings['job_timeout_s']}")

    started = time.time()
    with open(log, "w") as output:
        daemon = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "watch", str(spool.root),
                                   "--log-format", "json"], stdout=output, stderr=output)
    try:
        wait(lambda: any(s["step"] == "watching" for s in daemon_steps(log)), 300, "daemon start")
        print(f"daemon start-up (spawn, imports, warm-up): {time.time() - started:.1f} s")
        measure(args, spool, settings, workdir, daemon, log)
    finally:
        daemon.send_signal(signal.SIGTERM)
        print(f"daemon exit code after SIGTERM: {daemon.wait(600)}")
    if not args.workdir:
        shutil.rmtree(workdir)
    return 0


def measure(args, spool: Spool, settings: dict, workdir: Path, daemon, log: Path) -> None:
    """Print the figures (the daemon is running)."""

    # 1. latency, one alert at a time
    notice_s, foundation_s, all_s = [], [], []
    cpu_before = cpu_s(daemon.pid)
    for source in renamed_alerts(workdir / "latency", args.alerts, "9901"):
        received = drop(spool, source)
        times = wait(lambda: (e := entry_of(spool, source)) and product_times(spool, e, settings),
                     600, f"products of {source.name}")
        notice_s.append(times["notice.json"] - received)
        foundation_s.append(max(t for n, t in times.items() if n in FOUNDATION) - received)
        all_s.append(max(times.values()) - received)
    print(f"\nreceived -> notice.json, median of {args.alerts}: {statistics.median(notice_s):.2f} s "
          f"(min {min(notice_s):.2f}, max {max(notice_s):.2f})")
    print(f"received -> every foundation product, median: {statistics.median(foundation_s):.2f} s "
          f"(min {min(foundation_s):.2f}, max {max(foundation_s):.2f})")
    print(f"received -> every product (with volume.png, coincidences.json), median: "
          f"{statistics.median(all_s):.2f} s")
    print(f"CPU per alert, one at a time (daemon, workers, job processes): "
          f"{(cpu_s(daemon.pid) - cpu_before) / args.alerts:.2f} s")

    # 2. the command-line tools on the same alert's map
    multiorder = spool.product(entry_of(spool, source), "skymap.multiorder.fits")
    chain_dir = workdir / "cli"
    chain_dir.mkdir()
    chain_s, per_tool = cli_chain(multiorder, chain_dir)
    print(f"\nligo-skymap-* tools one after another: {chain_s:.1f} s ("
          + ", ".join(f"{k} {v:.1f}" for k, v in per_tool.items() if k != "cpu")
          + f"; {per_tool['cpu']:.1f} s CPU)")
    print(f"speed-up of the daemon (received -> foundation products): "
          f"{chain_s / statistics.median(foundation_s):.1f}x")

    if args.ways:
        measure_ways(args, spool, settings, workdir)
    if args.burst:
        measure_burst(args, spool, settings, workdir, daemon, log, per_tool)
    steps = daemon_steps(log)
    notices = [s for s in steps if s["step"] == "notice"]
    print(f"daemon: {sum(s['step'] == 'notice-started' for s in steps)} notice runs, "
          f"{sum(s['step'] == 'rest-started' for s in steps)} product runs, "
          f"{sum(s['step'] == 'dashboard-started' for s in steps)} dashboard refreshes; "
          f"notice latency median over all {len(notices)} entries "
          f"{statistics.median(s['seconds'] for s in notices):.2f} s "
          f"({sum(s['built_by'] != 'notice' for s in notices)} notices made by workers)")


def measure_ways(args, spool: Spool, settings: dict, workdir: Path) -> None:
    """4. each arrival way: received -> notice.json and -> every product (medians), and the floor:
    the same alerts' products made by the same functions (Snakemake in-process, notices first)
    in one warm Python process, with no daemon."""
    print(f"\narrival ways, {args.ways} alerts each (median s): way | -> notice.json | -> all")
    for number, (way, put) in enumerate(ARRIVAL_WAYS.items()):
        notice_s, all_s = [], []
        for source in renamed_alerts(workdir / f"way{number}", args.ways, f"99{10 + number}"):
            received = put(spool, source)
            times = wait(lambda: (e := entry_of(spool, source)) and product_times(spool, e, settings),
                         600, f"products of {source.name}")
            notice_s.append(times["notice.json"] - received)
            all_s.append(max(times.values()) - received)
        print(f"  {way:36s} {statistics.median(notice_s):6.2f} {statistics.median(all_s):8.2f}")
    floor_notice, floor_all = warm_floor(workdir, args.ways + 1)
    print(f"  {'floor: one warm process, no daemon':36s} {floor_notice:6.2f} {floor_all:8.2f}")


def warm_floor(workdir: Path, count: int) -> tuple[float, float]:
    """Median (s) of stored -> notice.json and -> every product for ``count - 1`` alerts built
    one after another in this process (the first only warms it up)."""
    from skyspool import daemon, ingest, workflow

    spool = Spool(workdir / "floor")
    skyspool_main(["init", str(spool.root)])
    settings = config.load(spool)
    notice_s, all_s = [], []
    # Snakemake's own output goes to a log, as the daemon's does.
    with contextlib.chdir(spool.root), open(workdir / "floor-snakemake.log", "w") as output, \
            contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        for source in renamed_alerts(workdir / "floor-alerts", count, "9930"):
            received = time.time()
            outcome = ingest.ingest_file(spool, ingest.put_in_inbox(spool, source))
            wanted = targets.entry_targets(spool, outcome.entry, settings)
            notices = [t for t in wanted if t.name in daemon.NOTICE_PRODUCTS]
            workflow.run_snakemake(spool, notices, cores=2, extra=["--nolock"])
            notice_done = time.time()
            workflow.run_snakemake(spool, wanted, cores=2, extra=["--nolock"])
            notice_s.append(notice_done - received)
            all_s.append(time.time() - received)
    return statistics.median(notice_s[1:]), statistics.median(all_s[1:])


def measure_burst(args, spool: Spool, settings: dict, workdir: Path, daemon, log: Path,
                  per_tool: dict[str, float]) -> None:
    """3. a burst of alerts dropped at once, and where the time goes."""
    burst = renamed_alerts(workdir / "burst", args.burst, "9902")
    memory_before = rss_mb(daemon.pid)
    cpu_before = cpu_s(daemon.pid)
    first = time.time()
    for source in burst:
        drop(spool, source)
    dropped = time.time() - first

    def all_done():
        done = 0
        for source in burst:
            entry = entry_of(spool, source)
            done += bool(entry and product_times(spool, entry, settings))
        return done == len(burst)

    wait(all_done, 7200, "the burst")
    cpu_per_alert = (cpu_s(daemon.pid) - cpu_before) / len(burst)
    elapsed = max(max(product_times(spool, entry_of(spool, s), settings).values())
                  for s in burst) - first
    lost = len(burst) - sum(entry_of(spool, s) is not None for s in burst)
    print(f"\nburst of {len(burst)} alerts (dropped in {dropped:.1f} s): all products in "
          f"{elapsed:.0f} s = {len(burst) / elapsed * 60:.1f} alerts/minute; lost {lost}; "
          f"quarantined {len(list(spool.quarantine.glob('*.reason.txt')))}")
    cores = os.cpu_count()
    print(f"CPU per alert (daemon and workers): {cpu_per_alert:.2f} s, so {cores} idle cores "
          f"sustain {cores * 60 / cpu_per_alert:.0f} alerts/minute; the ligo-skymap-* chain "
          f"used {per_tool['cpu']:.1f} s of CPU for one alert "
          f"({per_tool['cpu'] / cpu_per_alert:.1f}x); load average now {os.getloadavg()[0]:.1f}")
    print(f"daemon memory (with workers): {memory_before:.0f} MB before the burst, "
          f"{rss_mb(daemon.pid):.0f} MB after")

    # where the time goes
    print("\nproduct jobs (median s, from the rule logs):")
    for rule, values in sorted(rule_times(spool).items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {rule:24s} {statistics.median(values):6.2f}  (n={len(values)})")
    busy = worker_occupancy(daemon_steps(log), first, first + elapsed)
    print("share of the burst with 0, 1, 2, ... worker runs going: "
          + ", ".join(f"{share:.0%}" for share in busy))


def worker_occupancy(steps: list[dict], start: float, end: float) -> list[float]:
    """Share of [start, end] (Unix s) with 0, 1, 2, ... worker runs going (product and
    dashboard runs, from their -finished log lines): idle workers mean lost throughput."""
    changes = []
    for step in steps:
        if step["step"] in ("rest-finished", "dashboard-finished"):
            finished = datetime.datetime.fromisoformat(step["time"]).timestamp()
            changes += [(finished - step["seconds"], 1), (finished, -1)]
    shares, running, previous = defaultdict(float), 0, start
    for when, change in sorted(changes):
        if start < when <= end:
            shares[running] += when - previous
            previous = when
        running += change
    shares[running] += max(0.0, end - previous)
    return [shares[n] / (end - start) for n in range(max(shares) + 1)]


if __name__ == "__main__":
    sys.exit(main())
