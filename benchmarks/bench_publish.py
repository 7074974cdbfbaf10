"""Benchmark: does publishing delay the notice? (prints figures; asserts nothing)

    python benchmarks/bench_publish.py [--alerts 5] [--workdir DIR]

Runs `skyspool watch` three times on fresh spools with the default configuration, dropping
``--alerts`` copies of real O4 alerts one at a time (each under a new superevent id, the next
when the previous one's products are all built):

- publishing off (no sinks);
- publishing on, backends up: S3 (moto server on loopback, through s3fs) for notice.json,
  stats.json and skymap.png, and a JSON API post per alert (local HTTP server);
- publishing on, backends down (S3 port closed, the API answering 503).

Prints, per run, the median received -> notice.json latency and, with backends up, received ->
uploaded (notice stage) and received -> posted (after all products), and the ratios to "off".
"""

from __future__ import annotations

import argparse
import datetime
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_daemon import drop, entry_of, product_times, renamed_alerts, wait
from skyspool import config
from skyspool.cli import main as skyspool_main
from skyspool.paths import Spool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from publish_backends import BUCKET, ApiServer, S3Server  # noqa: E402


def run(workdir: Path, name: str, alerts: list[Path], sinks: dict) -> dict:
    spool = Spool(workdir / name)
    skyspool_main(["init", str(spool.root)])
    spool.config_file.write_text(json.dumps({"publish": {
        "retry": {"backoff_s": 0.5, "max_backoff_s": 2.0}, "sinks": sinks}}))
    settings = config.load(spool)
    log = open(workdir / f"{name}.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "watch", str(spool.root)],
                              stdout=log, stderr=subprocess.STDOUT)
    wait(lambda: "watching" in (workdir / f"{name}.log").read_text(), 600, "daemon start")
    notice, uploaded, posted = [], [], []
    for source in alerts:
        received = drop(spool, source)
        entry = wait(lambda: entry_of(spool, source), 600, "stored")
        wait(lambda: product_times(spool, entry, settings), 900, "all products")
        notice.append(spool.product(entry, "notice.json").stat().st_mtime - received)
        if "archive" in sinks and "down" not in name:
            for sink, product, times in (("archive", "notice.json", uploaded), ("tm", None, posted)):
                receipt = spool.publish_receipt(entry, sink)
                wait(receipt.exists, 300, f"{sink} receipt")
                item = next(i for i in json.loads(receipt.read_text())["sent"]
                            if product in (None, i.get("product")))
                times.append(datetime.datetime.fromisoformat(item["time"]).timestamp() - received)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(300)
    log.close()
    return {"notice": notice, "uploaded": uploaded, "posted": posted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-publish-"))
    s3, api = S3Server(), ApiServer()
    sinks = {"archive": {"kind": "storage", "url": f"s3://{BUCKET}/bench",
                         "products": ["notice.json", "stats.json", "skymap.png"],
                         "storage_options": s3.storage_options()},
             "tm": {"kind": "http", "url": api.url}}
    results = {}
    for i, (name, with_sinks) in enumerate((("off", {}), ("on-up", sinks), ("on-down", sinks))):
        if name == "on-down":
            s3.stop()
            api.down = True
        alerts = renamed_alerts(workdir / f"alerts-{name}", args.alerts, f"9{i}")
        results[name] = run(workdir, name, alerts, with_sinks)
    api.close()
    base = statistics.median(results["off"]["notice"])
    print(f"{args.alerts} alerts per run, default configuration; work in {workdir}")
    for name, figures in results.items():
        median = statistics.median(figures["notice"])
        line = f"{name:8s} received -> notice.json median {median:6.2f} s (x{median / base:.2f} of off)"
        if figures["uploaded"]:
            line += (f"; -> uploaded {statistics.median(figures['uploaded']):.2f} s"
                     f"; -> posted {statistics.median(figures['posted']):.2f} s")
        print(line)


if __name__ == "__main__":
    main()
