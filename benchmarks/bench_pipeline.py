"""Benchmark: a pipeline candidate dropped in the inbox -> the preliminary notice.json
(prints figures; asserts nothing).

    python benchmarks/bench_pipeline.py [--timeout-s 1] [--workdir DIR]

A `skyspool watch` daemon runs on a fresh spool (orchestrator_timeout_s from --timeout-s);
ligo.skymap's bundled candidate G197392 (with a design-sensitivity model PSD) is renamed into
the inbox. Reported: drop -> products/gw/<superevent>/001-preliminary/notice.json, and
BAYESTAR's share of it (its job time from the rule log), the settling wait, and the rest
(ingest, superevent decision, outgoing alert, its products), then when the second-preliminary
step ran (its timer). For comparison, the same
BAYESTAR localization run alone in a fresh Python (what a user would run by hand,
`bayestar-localize-coincs`-like: imports + localize + write).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# Test fixtures (sample data makers) live in tests/, outside the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import gwcand_samples as samples  # noqa: E402
from skyspool.cli import main as skyspool_main  # noqa: E402
from skyspool.paths import Spool  # noqa: E402

SECOND_DELAY_S = 5


def _wait_for(pattern: str, root: Path, limit_s: float, log: Path, daemon) -> Path:
    deadline = time.time() + limit_s
    while time.time() < deadline:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited ({daemon.returncode}); its log is {log}")
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {pattern}; the daemon's log is {log}")


def _job_seconds(log: Path) -> float:
    return float(re.findall(r"done in ([0-9.]+) s", log.read_text())[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=1.0, help="orchestrator_timeout_s")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-pipeline-"))
    spool = Spool(workdir / "spool")
    skyspool_main(["init", str(spool.root)])
    spool.config_file.write_text(yaml.safe_dump({"orchestrator": {
        "orchestrator_timeout_s": args.timeout_s, "second_preliminary_delay_s": SECOND_DELAY_S}}))
    bundle = samples.candidate_bundle(samples.candidate_files()[0].read_bytes(), samples.model_psd())
    daemon_log = open(workdir / "watch.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "watch", str(spool.root)],
                              stderr=daemon_log)
    try:
        # Start-up and warm-up: dropped earlier, the file would wait for them (~15-40 s).
        while "INFO watching" not in (workdir / "watch.log").read_text():
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited; its log is {workdir / 'watch.log'}")
            time.sleep(0.1)
        staging = spool.inbox / ".G197392.tar.part"
        staging.write_bytes(bundle)
        dropped = time.time()
        os.replace(staging, spool.inbox / "G197392.tar")
        notice = _wait_for("products/gw/*/001-preliminary/notice.json", spool.root, 1800,
                           workdir / "watch.log", daemon)
        latency = notice.stat().st_mtime - dropped
        # The second-preliminary step, woken up by its timer file (skyspool.timers).
        second = _wait_for("products/gwcand/*/*/second_preliminary.json", spool.root, 600,
                           workdir / "watch.log", daemon)
        second_after = second.stat().st_mtime - (second.parent / "orchestrator.json").stat().st_mtime
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=600)
        daemon_log.close()
    bayestar = _job_seconds(next(spool.logs.glob("gwcand/*/*/bayestar.log")))
    alone_input = workdir / "G197392.tar"
    alone_input.write_bytes(bundle)
    started = time.time()
    subprocess.run([sys.executable, "-c", "import sys; from skyspool.gwcand import products; "
                    "products.write_bayestar(sys.argv[1], sys.argv[1] + '.fits', "
                    "{'waveform': 'TaylorF2threePointFivePN', 'f_low_hz': 30}, 2)",
                    str(alone_input)], check=True, stderr=subprocess.DEVNULL)
    alone = time.time() - started
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"drop -> preliminary notice.json: {latency:.1f} s")
    print(f"  BAYESTAR job: {bayestar:.1f} s ({100 * bayestar / latency:.0f}% of it)")
    print(f"  settling wait (orchestrator_timeout_s): {args.timeout_s:.1f} s")
    print(f"  everything else: {latency - bayestar - args.timeout_s:.1f} s")
    print(f"second-preliminary step ran {second_after:.1f} s after the decision "
          f"(second_preliminary_delay_s {SECOND_DELAY_S} s, a timer file; no job waited)")
    print(f"BAYESTAR alone in a fresh Python (imports included): {alone:.1f} s; "
          f"pipeline latency / that = {latency / alone:.2f}")


if __name__ == "__main__":
    main()
