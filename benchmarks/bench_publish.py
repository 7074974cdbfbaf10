"""Benchmark: does publishing delay the notice? (prints figures; asserts nothing)

    python benchmarks/bench_publish.py [--alerts 5] [--workdir DIR]

Runs `skyspool watch` three times on fresh spools with the default configuration, dropping
``--alerts`` copies of real O4 alerts one at a time (each under a new superevent id, the next
when the previous one's products are all built):

- publishing off (no sinks);
- publishing on, backends up: S3 (moto server on loopback, through s3fs) for notice.json,
  stats.json and skymap.png, a JSON API post per alert (local HTTP server), notice.xml over
  VTP through a Comet broker (``twistd comet`` on loopback) to a subscriber (skyspool's VTP
  listener, in this process, writing into another spool's inbox), and the Treasure Map posts
  (gwtm-api against the loopback Treasure Map API of the tests);
- publishing on, backends down (S3 port closed, the APIs answering 503, the broker stopped).

Prints, per run, the median received -> notice.json latency and, with backends up, received ->
uploaded (notice stage), -> posted (after all products), -> VOEvent at the subscriber and ->
Treasure Map post accepted, and the ratios to "off". Then, for the VTP hop alone: the floor
(one warm process sending notice.xml through the broker to the subscriber) and what a user
would pick instead (Comet's own ``comet-sendvo``, one process per event).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_daemon import drop, entry_of, product_times, renamed_alerts, wait
from skyspool import config, listen
from skyspool.cli import main as skyspool_main
from skyspool.paths import Spool
from skyspool.publish import voevent as vtp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from publish_backends import BUCKET, ApiServer, S3Server, TreasureMapApi  # noqa: E402
from vtp_broker import CometBroker  # noqa: E402

TOKEN = "bench-token"


def _sent_time(spool: Spool, entry, sink: str, product: str | None = None) -> float:
    """When ``sink``'s receipt says it sent (``product`` of) ``entry`` (Unix s)."""
    receipt = spool.publish_receipt(entry, sink)
    wait(receipt.exists, 300, f"{sink} receipt")
    item = next(i for i in json.loads(receipt.read_text())["sent"] if product in (None, i.get("product")))
    return datetime.datetime.fromisoformat(item["time"]).timestamp()


def subscriber_time(subscriber: Spool, ivorn: str) -> float:
    """When the subscriber wrote the VOEvent ``ivorn`` into its inbox (Unix s)."""
    record = subscriber.received_record(listen.vtp_inbox_name(ivorn))
    wait(record.exists, 300, f"{ivorn} at the subscriber")
    return datetime.datetime.fromisoformat(json.loads(record.read_text())["received"]).timestamp()


def run(workdir: Path, name: str, alerts: list[Path], sinks: dict, subscriber: Spool | None) -> dict:
    spool = Spool(workdir / name)
    skyspool_main(["init", str(spool.root)])
    spool.config_file.write_text(json.dumps({"publish": {
        "retry": {"backoff_s": 0.5, "max_backoff_s": 2.0}, "sinks": sinks}}))
    settings = config.load(spool)
    log = open(workdir / f"{name}.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "watch", str(spool.root)],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GWTM_API_TOKEN": TOKEN})
    wait(lambda: "watching" in (workdir / f"{name}.log").read_text(), 600, "daemon start")
    figures = {"notice": [], "uploaded": [], "posted": [], "voevent": [], "treasuremap": []}
    for source in alerts:
        received = drop(spool, source)
        entry = wait(lambda: entry_of(spool, source), 600, "stored")
        wait(lambda: product_times(spool, entry, settings), 900, "all products")
        figures["notice"].append(spool.product(entry, "notice.json").stat().st_mtime - received)
        if sinks and "down" not in name:
            figures["uploaded"].append(_sent_time(spool, entry, "archive", "notice.json") - received)
            figures["posted"].append(_sent_time(spool, entry, "tm") - received)
            receipt = spool.publish_receipt(entry, "vtp")
            wait(receipt.exists, 300, "vtp receipt")
            ivorn = json.loads(receipt.read_text())["sent"][0]["ivorn"]
            figures["voevent"].append(subscriber_time(subscriber, ivorn) - received)
            figures["treasuremap"].append(_sent_time(spool, entry, "treasuremap") - received)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(300)
    log.close()
    return figures


def vtp_hop(broker: CometBroker, subscriber: Spool, notice: bytes, sends: int) -> dict:
    """notice.xml (under fresh IVORNs) through the broker to the subscriber: the floor (this
    warm process sends) and comet-sendvo (a process per event), seconds per event."""
    floor, sendvo = [], []
    comet_sendvo = Path(sys.executable).parent / "comet-sendvo"
    host, port = vtp.parse_host_port(broker.receive)
    for i in range(2 * sends):
        ivorn = f"ivo://skyspool.invalid/bench#hop-{time.time_ns()}-{i}"
        event = notice.replace(notice[notice.index(b'ivorn="') + 7:notice.index(b'"', notice.index(b'ivorn="') + 7)],
                               ivorn.encode(), 1)
        started = time.time()
        if i % 2 == 0:
            vtp.author_send(broker.receive, event, 10.0)
        else:
            subprocess.run([str(comet_sendvo), f"--host={host}", f"--port={port}"], input=event,
                           check=True, capture_output=True)
        (floor if i % 2 == 0 else sendvo).append(subscriber_time(subscriber, ivorn) - started)
    return {"floor": floor, "comet-sendvo": sendvo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-publish-"))
    s3, api, tm = S3Server(), ApiServer(), TreasureMapApi(TOKEN)
    broker = CometBroker(workdir / "comet")
    subscriber = Spool(workdir / "subscriber")
    skyspool_main(["init", str(subscriber.root)])
    stop = threading.Event()
    listener = threading.Thread(target=listen.VtpListener(subscriber, config.load(subscriber),
                                                          broker.broadcast).run, args=(stop,))
    listener.start()
    wait(lambda: broker.subscribers() == 1, 60, "the subscriber")
    sinks = {"archive": {"kind": "storage", "url": f"s3://{BUCKET}/bench",
                         "products": ["notice.json", "stats.json", "skymap.png"],
                         "storage_options": s3.storage_options()},
             "tm": {"kind": "http", "url": api.url},
             "vtp": {"kind": "voevent", "brokers": [broker.receive]},
             "treasuremap": {"kind": "treasuremap", "url": tm.url}}
    results = {}
    for i, (name, with_sinks) in enumerate((("off", {}), ("on-up", sinks), ("on-down", sinks))):
        if name == "on-down":
            s3.stop()
            api.down = tm.down = True
            broker.stop()
        alerts = renamed_alerts(workdir / f"alerts-{name}", args.alerts, f"9{i}")
        results[name] = run(workdir, name, alerts, with_sinks, subscriber)
    broker.start()
    wait(lambda: broker.subscribers() == 1, 60, "the subscriber back")
    notice = next((workdir / "on-up" / "products").rglob("notice.xml")).read_bytes()
    hop = vtp_hop(broker, subscriber, notice, args.alerts)
    stop.set()
    listener.join(10)
    broker.stop()
    api.close()
    tm.close()
    base = statistics.median(results["off"]["notice"])
    print(f"{args.alerts} alerts per run, default configuration; work in {workdir}")
    for name, figures in results.items():
        median = statistics.median(figures["notice"])
        line = f"{name:8s} received -> notice.json median {median:6.2f} s (x{median / base:.2f} of off)"
        if figures["uploaded"]:
            line += "".join(f"; -> {what} {statistics.median(figures[what]):.2f} s"
                            for what in ("uploaded", "posted", "voevent", "treasuremap"))
        print(line)
    floor = statistics.median(hop["floor"])
    print(f"VTP hop (notice.xml -> broker -> subscriber's inbox), median of {args.alerts}: floor "
          f"(warm process) {floor:.3f} s; comet-sendvo {statistics.median(hop['comet-sendvo']):.3f} s "
          f"(x{statistics.median(hop['comet-sendvo']) / floor:.1f})")


if __name__ == "__main__":
    main()
