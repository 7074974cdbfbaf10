"""The watch daemon as a real process: real files in the inbox, real signals.

Each test starts ``python -m skyspool.cli watch DIR`` on a fresh spool whose config makes
products cheap (nside 64), drops corpus alerts (read in place), and waits, with generous
timeouts, for the products, the quarantine entries and the daemon's exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyspool import config, status
from skyspool.cli import main as skyspool_main
from skyspool.paths import Spool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ALERTS = CORPUS / "gw" / "alerts"
O4_ALERT = ALERTS / "S230520ae-Preliminary_alert.json"
MOCK_ALERT = ALERTS / "MS181101ab-preliminary.json"
RETRACTION = ALERTS / "MS181101ab-retraction.json"
TIMEOUT_S = 240  # a loaded 2-core CI machine; the daemon takes seconds

pytestmark = pytest.mark.skipif(not ALERTS.is_dir(), reason="corpus not found at " + str(CORPUS))

CHEAP = {"skymap": {"flat_nside": 64, "contour_nside": 64, "plot_nside": 64}, "retries": 1}


@pytest.fixture
def spool(tmp_path) -> Spool:
    root = tmp_path / "spool"
    assert skyspool_main(["init", str(root)]) == 0
    (root / "config.yaml").write_text(json.dumps(CHEAP))  # JSON is YAML
    return Spool(root)


class Watch:
    """A ``skyspool watch`` subprocess and its log."""

    def __init__(self, spool: Spool, *args: str, env: dict | None = None):
        self.spool = spool
        self.log = spool.root.parent / f"watch-{time.monotonic_ns()}.log"
        with open(self.log, "w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "skyspool.cli", "watch", str(spool.root), "--workers", "2",
                 *args], stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        wait_for(lambda: "watching" in self.text() or self.process.poll() is not None,
                 "daemon start")
        assert self.process.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(TIMEOUT_S)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(TIMEOUT_S)


def wait_for(condition, what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def entries_status(spool: Spool) -> list[dict]:
    return [e for event in status.spool_status(spool, config.load(spool)) for e in event["entries"]]


def all_built(spool: Spool, count: int) -> bool:
    entries = entries_status(spool)
    return len(entries) == count and all(not e["missing"] for e in entries)


def drop(spool: Spool, source: Path, name: str | None = None) -> Path:
    """Write a file in place in the inbox (open, write, close): the close makes it complete."""
    target = spool.inbox / (name or source.name)
    target.write_bytes(source.read_bytes())
    return target


def visible_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


def hidden_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


def test_alerts_get_their_products_and_sigterm_exits_zero(spool, tmp_path):
    watch = Watch(spool, "--log-format", "json")
    assert skyspool_main(["ingest", str(spool.root), str(O4_ALERT)]) == 0  # renamed in
    drop(spool, MOCK_ALERT)                                                # written in place
    wait_for(lambda: all_built(spool, 2), "products of two alerts")
    assert watch.stop() == 0

    lines = [json.loads(line) for line in watch.text().splitlines() if line.startswith("{")]
    steps = [line["step"] for line in lines]
    assert {"watching", "stored", "notice", "done", "stopped"} <= set(steps)
    for entry in entries_status(spool):
        assert entry["notice_latency_s"] is not None and entry["all_latency_s"] is not None
        assert entry["failed"] == []
    assert visible_files(spool.inbox) == [] and visible_files(spool.quarantine) == []
    assert hidden_files(spool.products) == []  # no temporary file left behind
    assert not list((spool.root / ".snakemake" / "locks").glob("*"))


def test_a_burst_gets_every_product_and_each_alert_one_notice(spool):
    """A burst of alerts: every alert gets its products and exactly one notice, whoever
    built it (the notice run, or an idle worker that took the alert whole: which one depends
    on timing, so the policy itself is tested in tests/test_scheduler.py, e.g.
    test_idle_workers_steal_the_newest_entries_from_a_running_notice_run)."""
    document = json.loads(O4_ALERT.read_text())
    superevents = [f"S2305{i:02d}zz" for i in range(24)]
    watch = Watch(spool, "--log-format", "json")
    for superevent in superevents:  # renamed in, as a listener writes them
        document["superevent_id"] = superevent
        partial = spool.inbox / f".{superevent}.part"
        partial.write_text(json.dumps(document))
        partial.rename(spool.inbox / f"{superevent}-preliminary.json")
    wait_for(lambda: all_built(spool, len(superevents)), "products of the burst", timeout=3 * TIMEOUT_S)
    assert watch.stop() == 0

    lines = [json.loads(line) for line in watch.text().splitlines() if line.startswith("{")]
    notices = [line for line in lines if line["step"] == "notice"]
    assert sorted(line["entry"].split("/")[1] for line in notices) == superevents
    assert {line["built_by"] for line in notices} <= {"notice", "rest"}
    assert visible_files(spool.quarantine) == [] and hidden_files(spool.products) == []


def test_warm_up_loads_the_product_libraries_and_leaves_the_spool_alone(spool):
    """Each process of the daemon first builds a sample alert's products in a scratch spool,
    so the first real alert finds every library loaded; it starts in the spool."""
    libraries = ("matplotlib.pyplot", "mocpy", "ligo.skymap.postprocess.contour")
    code = ("import sys; from skyspool import runner; runner.warm_up(); "
            f"print([name for name in {libraries!r} if name not in sys.modules])")
    before = sorted(spool.root.rglob("*"))
    result = subprocess.run([sys.executable, "-c", code], cwd=spool.root, capture_output=True,
                            text=True, timeout=TIMEOUT_S)
    assert result.stdout.splitlines()[-1] == "[]", result.stdout + result.stderr
    assert "warm-up-failed" not in result.stderr
    assert sorted(spool.root.rglob("*")) == before


def test_a_second_daemon_on_the_same_spool_is_refused(spool):
    watch = Watch(spool)
    second = subprocess.run([sys.executable, "-m", "skyspool.cli", "watch", str(spool.root)],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert second.returncode != 0
    assert "skyspool watch (pid " in second.stderr and "is building products" in second.stderr
    assert watch.stop() == 0


def test_kill_9_mid_run_then_restart_builds_everything_once(spool):
    sources = [O4_ALERT, MOCK_ALERT, ALERTS / "S230522a-Preliminary_alert.json"]
    watch = Watch(spool)
    for source in sources:
        drop(spool, source)
    # Kill while products are being built: the first notice is out, the rest is not.
    wait_for(lambda: any(spool.products.rglob("notice.json")), "a first notice")
    watch.kill()
    assert not all_built(spool, len(sources)), "killed too late to test anything"
    # Whatever is visible is complete: products are written atomically.
    for path in visible_files(spool.products):
        if path.suffix == ".json":
            json.loads(path.read_text())

    watch = Watch(spool)
    wait_for(lambda: all_built(spool, len(sources)), "products after the restart")
    assert watch.stop() == 0
    assert len(spool.entries()) == len(sources)  # none twice
    assert visible_files(spool.inbox) == [] and visible_files(spool.quarantine) == []
    assert hidden_files(spool.products) == []
    assert not list((spool.root / ".snakemake" / "locks").glob("*"))


def test_files_waiting_before_start_are_caught_up(spool):
    drop(spool, O4_ALERT)
    drop(spool, RETRACTION)
    watch = Watch(spool)
    wait_for(lambda: all_built(spool, 2), "products of the waiting files")
    assert watch.stop() == 0


def test_a_partial_file_waits_until_it_is_complete(spool):
    watch = Watch(spool)
    data = O4_ALERT.read_bytes()
    partial = spool.inbox / O4_ALERT.name
    with open(partial, "wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(8)  # longer than the daemon's rescan interval and settling time
        assert partial.exists() and not spool.entries()
        assert visible_files(spool.quarantine) == []
        handle.write(data[len(data) // 2:])
    wait_for(lambda: all_built(spool, 1), "products of the completed file")
    assert watch.stop() == 0
    assert visible_files(spool.quarantine) == []


def test_the_same_alert_three_times_is_stored_once(spool):
    watch = Watch(spool)
    for copy in range(3):
        drop(spool, O4_ALERT, f"copy{copy}-{O4_ALERT.name}")
    wait_for(lambda: all_built(spool, 1) and not visible_files(spool.inbox), "one entry")
    assert watch.stop() == 0
    assert len(spool.entries()) == 1
    assert visible_files(spool.quarantine) == []
    assert watch.text().count("duplicate ") == 2


BROKEN = {
    "empty.json": b"",
    "truncated.json": O4_ALERT.read_bytes()[:5000] if O4_ALERT.exists() else b"{",
    "not-json.json": b"this is not an alert\n",
    "binary.bin": bytes(range(256)) * 4,
    "list.json": b"[1, 2, 3]",
    "wrong-fields.json": b'{"hello": "world"}',
    "bad-id.json": b'{"superevent_id": "../../etc", "alert_type": "PRELIMINARY"}',
    "null.json": b"null",
    "number.json": b"42",
    "xml.xml": b"<?xml version='1.0'?><nothing/>",
    "bad-xml.xml": b"<voe:VOEvent",
    "avro.avro": b"Obj\x01garbage",
    "text.txt": b"GCN circular\n",
    "huge-number.json": b'{"superevent_id": 1e999}',
    "nested.json": b"[" * 10000 + b"]" * 10000,
    "utf16.json": '{"superevent_id": "S230520ae"}'.encode("utf-16"),
    "zeros.fits": bytes(2880),
    "gzip.gz": b"\x1f\x8b\x08\x00garbage",
    "retraction-no-id.json": b'{"alert_type": "RETRACTION"}',
    "alert-no-map.json": b'{"superevent_id": "S230520ae", "alert_type": "BOGUS"}',
}


def test_broken_files_are_quarantined_and_good_ones_built(spool):
    assert len(BROKEN) == 20
    watch = Watch(spool)
    drop(spool, O4_ALERT)
    for name, data in BROKEN.items():
        (spool.inbox / name).write_bytes(data)
    drop(spool, RETRACTION)
    wait_for(lambda: all_built(spool, 2) and not visible_files(spool.inbox), "good products")
    assert watch.stop() == 0
    quarantined = visible_files(spool.quarantine)
    reasons = [p for p in quarantined if p.name.endswith(".reason.txt")]
    assert len(reasons) == 20 and len(quarantined) == 40
    for name in BROKEN:
        # quarantine names are <12-hex content hash>-<name>
        assert sum(p.name[13:] == f"{name}.reason.txt" for p in reasons) == 1, name
    for reason in reasons:
        assert len(reason.read_text().splitlines()) == 1


def failing_volume_png_env(folder: Path) -> dict:
    """Fault injection from outside: every Python started with this environment (a daemon
    and its workers) imports a sitecustomize from ``folder`` that makes volume.png fail."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import skyspool.gw.products as products\n"
        "def _fail(*args, **kwargs):\n"
        "    raise RuntimeError('injected failure')\n"
        "products.write_volume_png = _fail\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}


def test_a_failing_product_is_retried_then_reported_and_the_rest_goes_on(spool, tmp_path):
    watch = Watch(spool, env=failing_volume_png_env(tmp_path / "inject"))
    drop(spool, O4_ALERT)
    drop(spool, RETRACTION)

    def reported() -> bool:
        entries = entries_status(spool)
        return len(entries) == 2 and all(set(e["missing"]) == set(e["failed"]) for e in entries)

    wait_for(reported, "the failure record")
    assert watch.stop() == 0
    by_event = {e["event_id"]: e for e in entries_status(spool)}
    assert by_event["S230520ae"]["failed"] == by_event["S230520ae"]["missing"] == ["volume.png"]
    assert by_event["MS181101ab"]["missing"] == []
    entry = spool.find_entry("gw", "S230520ae", "001-preliminary")
    assert "after 2 attempts" in spool.failure_record(entry, "volume.png").read_text()
    # retries: 1 -> two attempts, each leaving its traceback in Snakemake's log
    snakemake_log = (spool.logs / "watch-snakemake.log").read_text()
    assert snakemake_log.count("in __rule_gw_volume_png") == 2
    assert "failed" in watch.text() and "volume.png" in watch.text()
    table = subprocess.run([sys.executable, "-m", "skyspool.cli", "status", str(spool.root)],
                           capture_output=True, text=True, check=True).stdout
    assert "FAILED: volume.png" in table


def test_process_and_reprocess_refuse_a_spool_being_built(tmp_path, capsys):
    """While one skyspool process holds a spool's build lock (here: as a daemon would), a
    `skyspool process` or `reprocess` says who holds it and builds nothing."""
    from skyspool.daemon import hold_spool

    skyspool_main(["init", str(tmp_path / "spool")])
    spool = Spool(tmp_path / "spool")
    with hold_spool(spool, "skyspool watch"):
        for command in (["process"], ["reprocess"]):
            with pytest.raises(SystemExit, match=rf"skyspool watch \(pid {os.getpid()}\) is building"):
                skyspool_main([*command, str(spool.root)])
    assert not list(spool.products.iterdir())
    assert skyspool_main(["process", str(spool.root)]) == 0  # free again
