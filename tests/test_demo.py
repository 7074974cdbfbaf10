"""`make demo`'s output: one progress line per alert, the status table, where the products are, and on
the last line the log holding Snakemake's own output (run on a tiny alert and its retraction)."""

import json
import re
import subprocess
import sys

from skyspool import samples

GPS = 1128678900.4


def test_demo_prints_a_line_per_alert_and_the_status_table(tmp_path):
    facts = {"gps_time": GPS, "instruments": ["H1", "L1"], "far_hz": 1e-9}
    alerts = [tmp_path / "S151012a-preliminary.json", tmp_path / "S151012a-retraction.json"]
    alerts[0].write_text(json.dumps(samples.igwn_alert(
        "S151012a", "PRELIMINARY", skymap=samples.gaussian_skymap(120.0, -30.0, 5.0, nside=32), **facts)))
    alerts[1].write_text(json.dumps(samples.igwn_alert("S151012a", "RETRACTION", skymap=None, **facts)))
    demo = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "skyspool.demo", str(demo), *map(str, alerts)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    spool = demo / "spool"
    assert re.fullmatch(r"\[1/2\] S151012a-preliminary\.json: ok in \d+ s -> "
                        r"products/gw/S151012a/001-preliminary/ \(13 files\)", lines[0]), lines[0]
    assert re.fullmatch(r"\[2/2\] S151012a-retraction\.json: ok in \d+ s -> "
                        r"products/gw/S151012a/002-retraction/ \(3 files\)", lines[1]), lines[1]
    assert lines[2] == ""
    assert lines[3].split() == ["KIND", "EVENT", "ENTRY", "PRODUCTS", "->NOTICE", "->ALL", "STATE"]
    assert lines[4].split()[:4] == ["gw", "S151012a", "001-preliminary", "13/13"]
    assert lines[5].split()[:4] == ["gw", "S151012a", "002-retraction", "3/3"]
    assert f"products: {spool / 'products'}" in lines
    assert f"  sky map picture: {spool / 'products/gw/S151012a/001-preliminary/skymap.png'}" in lines
    assert lines[-1] == f"Snakemake's output: {spool / 'logs' / 'demo.log'}"
    assert len(lines) <= 12 and "Finished jobid" not in result.stdout and result.stderr == ""
    log = (spool / "logs" / "demo.log").read_text()
    assert "===== S151012a-preliminary.json" in log and "Finished jobid" in log and "(Rule: gw_notice_json)" in log
