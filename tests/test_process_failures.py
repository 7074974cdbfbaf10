"""``skyspool process`` on an IGWN alert of the first (2022) schema, its times without a zone:
stored and built (times taken as UTC); a product that fails is recorded as the daemon records
it, and ``skyspool status`` says FAILED with the reason, never "pending"."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support import FAST_CONFIG, GW_ALERTS, make_spool


def test_a_2022_alert_without_zones_is_built_and_a_failing_product_is_reported(tmp_path):
    alert = json.loads((GW_ALERTS / "S230520ae-Preliminary_alert.json").read_bytes())
    assert alert["event"].pop("significant") is True  # the 2022 schema had no such field
    alert["time_created"] = alert["time_created"].rstrip("Z")
    alert["event"]["time"] = alert["event"]["time"].rstrip("Z")
    assert alert["event"]["time"][-1].isdigit()
    spool = make_spool(tmp_path / "spool", FAST_CONFIG)
    (spool.inbox / "S230520ae-2022.json").write_text(json.dumps(alert))
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import skyspool.gw.products as products\n"
        "def _fail(*args, **kwargs):\n"
        "    raise RuntimeError('injected failure')\n"
        "products.write_volume_png = _fail\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-m", "skyspool.cli", "process", str(spool.root)],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 1, run.stdout + run.stderr
    entry = spool.find_entry("gw", "S230520ae", "001-preliminary")
    products = {p.name for p in spool.products_dir(entry).iterdir()}
    assert {"notice.xml", "notice.json", "stats.json", "skymap.png"} <= products
    assert "volume.png" not in products
    stats = json.loads(spool.product(entry, "stats.json").read_text())
    assert stats["significant"] is True  # FAR 3.1e-9 Hz x trials 7 < 1/30 days: significant
    record = spool.failure_record(entry, "volume.png").read_text()
    assert record.startswith("volume.png not built after 1 attempts") and "RuntimeError: injected failure" in record
    table = subprocess.run([sys.executable, "-m", "skyspool.cli", "status", str(spool.root)],
                           capture_output=True, text=True, check=True).stdout
    line = next(row for row in table.splitlines() if "001-preliminary" in row)
    assert "FAILED: volume.png" in line and "injected failure" in line and "pending" not in line
