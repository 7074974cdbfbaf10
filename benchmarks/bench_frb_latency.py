"""Benchmark: a candidate line appended to a followed AMBER file -> its FRB VOEvent written, with the
watch daemon running (prints figures; asserts nothing).

    python benchmarks/bench_frb_latency.py [--bursts 10] [--gap 2.0] [--workdir DIR]

1. A ``skyspool watch`` daemon on a fresh spool with the default configuration (plots on) follows
   one AMBER file named by an observation description; each round appends a little noise and a
   bright burst (new DM, 100 s of AMBER time after the previous one, so each gets a data dump) and
   measures, from the moment the lines are written and flushed: the chunk stored in the spool, and
   the burst's ``triggers/trigger-<n>.xml`` written. The target is <= 2 s.
2. The alternative without a daemon: the same chunk's products made by the Snakemake command line
   in a new process per chunk (what a cron job or ``skyspool process`` after each append would
   pay), timed for the same chunks after the daemon stopped; and the product function alone in a
   warm process. The ratio of the command line to the daemon is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# Test fixtures (sample data makers) live in tests/, outside the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from frb_synthetic import Burst, amber_text, sample_observation, synthetic_candidates  # noqa: E402
from skyspool import config  # noqa: E402
from skyspool.cli import main as skyspool_main  # noqa: E402
from skyspool.frb.products import process_chunk  # noqa: E402
from skyspool.paths import Spool  # noqa: E402
from skyspool.workflow import snakemake_argv  # noqa: E402

OBS_ID = "20240301-0001"
REPO = Path(__file__).resolve().parents[1]


def wait(condition, what: str, timeout: float = 120.0, step: float = 0.002):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(step)
    return result


def voevents(spool: Spool) -> set[Path]:
    return set((spool.products / "frb" / OBS_ID).glob("*-candidates/triggers/trigger-*.xml"))


def chunks(spool: Spool) -> list:
    return [e for e in spool.entries_of("frb", OBS_ID) if e.alert_type == "candidates"]


def run(workdir: Path, n_bursts: int, gap_s: float) -> None:
    root = workdir / "spool"
    skyspool_main(["init", str(root)])
    spool = Spool(root)
    spool.config_file.write_text(yaml.safe_dump({"frb": {"follow": {"timeout_s": 3600}}}))
    amber = workdir / "amber" / "CB00_step1.trigger"
    amber.parent.mkdir()
    noise = synthetic_candidates([], duration_s=100.0 * (n_bursts + 1), n_noise=50 * (n_bursts + 1), n_rfi=0)
    amber.write_bytes(amber_text(noise.iloc[:50]))
    doc = sample_observation(OBS_ID)  # Milky Way DM from YMW16
    doc["candidate_files"] = [str(amber)]
    (workdir / "obs.yaml").write_text(yaml.safe_dump(doc))

    log = open(workdir / "watch.log", "w")
    started = time.time()
    daemon = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "watch", str(root)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait(lambda: "watching" in (workdir / "watch.log").read_text(), "the daemon", 300, 0.1)
        print(f"daemon start-up: {time.time() - started:.1f} s")
        shutil.copy(workdir / "obs.yaml", spool.inbox / ".obs.yaml.part")
        os.replace(spool.inbox / ".obs.yaml.part", spool.inbox / "obs.yaml")
        wait(lambda: chunks(spool) and spool.product(chunks(spool)[0], "triggers.json").exists(),
             "the first chunk", 120, 0.05)

        to_chunk, to_voevent = [], []
        with open(amber, "ab") as handle:
            for i in range(n_bursts):
                seen, stored = voevents(spool), len(chunks(spool))
                # S/N 30: bright enough for a LOFAR trigger, which DARC's policy needs for a VOEvent
                burst = synthetic_candidates([Burst(100.0 * (i + 1), 400.0 + 50 * i, 30.0)], duration_s=0,
                                             n_noise=0, n_rfi=0, seed=i)
                lines = amber_text(noise.iloc[50 * (i + 1):50 * (i + 2)], header=False) + \
                    amber_text(burst, header=False)
                handle.write(lines)
                handle.flush()
                appended = time.time()
                entry = wait(lambda: len(chunks(spool)) > stored and chunks(spool)[-1], "the chunk")
                new = wait(lambda: voevents(spool) - seen, "the VOEvent")
                to_chunk.append(entry.path.stat().st_mtime - appended)
                to_voevent.append(max(p.stat().st_mtime for p in new) - appended)
                print(f"  burst {i + 1}: {len(lines.splitlines())} lines -> chunk {to_chunk[-1]:.3f} s, "
                      f"VOEvent {to_voevent[-1]:.3f} s")
                time.sleep(gap_s)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
        log.close()

    median = statistics.median(to_voevent)
    print(f"\nappended -> chunk stored: median {statistics.median(to_chunk):.3f} s")
    print(f"appended -> VOEvent written: median {median:.3f} s, max {max(to_voevent):.3f} s "
          f"(target <= 2 s: {'met' if median <= 2 else 'NOT met'})")

    # The alternative: a new Snakemake process per chunk, for the burst chunks just made.
    burst_chunks = chunks(spool)[1:][:min(5, n_bursts)]
    settings = config.load(spool)
    cli_times, warm_times = [], []
    for entry in burst_chunks:
        target = spool.product(entry, "triggers.json")
        began = time.time()
        subprocess.run([sys.executable, "-m", "snakemake",
                        *snakemake_argv(spool, [target], cores=1, extra=["--force"])],
                       cwd=root, check=True, capture_output=True)
        cli_times.append(time.time() - began)
        previous = spool.product(chunks(spool)[chunks(spool).index(entry) - 1], "triggers.json")
        began = time.perf_counter()
        process_chunk(entry.path, spool.entries_of("frb", OBS_ID)[0].path, None, workdir / "warm" / entry.name,
                      settings["frb"], previous_triggers=previous)
        warm_times.append(time.perf_counter() - began)
    cli = statistics.median(cli_times)
    print(f"snakemake command line, one new process per chunk: median {cli:.3f} s "
          f"({cli / median:.1f} x the daemon's append -> VOEvent)")
    print(f"process_chunk alone in a warm process (clusters, classification, VOEvents, plot): "
          f"median {statistics.median(warm_times):.3f} s")
    stats = json.loads(spool.product(burst_chunks[0], "triggers.json").read_text())
    print(f"(a burst chunk: {stats['candidates']} candidates, {stats['clusters']} clusters)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--workdir", type=Path, help="where the spool goes (default: a temporary folder)")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args.workdir, args.bursts, args.gap)
    else:
        with tempfile.TemporaryDirectory() as folder:
            run(Path(folder), args.bursts, args.gap)


if __name__ == "__main__":
    main()
