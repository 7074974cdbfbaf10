"""The workflow dry-run (`snakemake -n`) on each `.test/<kind>` config with its tiny spool (the
Snakemake catalog's convention): the jobs Snakemake plans, by rule, are written out here."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_spools import tiny_spool

REPO = Path(__file__).resolve().parents[1]

PLANNED = {
    # a preliminary alert with a map, and its retraction (notice files only)
    "gw": {"gw_skymap_multiorder": 1, "gw_skymap_flat": 1, "gw_stats": 1, "gw_contours": 1, "gw_moc": 2,
           "gw_skymap_png": 1, "gw_classification": 1, "gw_coincidences": 1, "gw_notice_json": 2,
           "gw_notice_xml": 2, "gw_circular": 2, "dashboard_thumbnail": 1, "all": 1},
    # an Einstein Probe WXT alert (kind grb)
    "notices": {"notice_json": 1, "notice_skymap": 1, "notice_stats": 1, "notice_contours": 1,
                "notice_moc90": 1, "notice_skymap_png": 1, "notice_coincidences": 1, "dashboard_thumbnail": 1,
                "all": 1},
    # an observation: one chunk of candidates, then the stop file's summary
    "frb": {"frb_chunk": 1, "frb_summary": 1, "all": 1},
    # a pipeline candidate: what is known before its superevent is (the rest follows the decision)
    "gwcand": {"gwcand_bayestar": 1, "gwcand_classification": 1, "gwcand_superevent": 1,
               "all": 1},
}


def _job_stats(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE))
    rows.pop("total")
    return {rule: int(count) for rule, count in rows.items()}


@pytest.mark.parametrize("kind", sorted(PLANNED))
def test_dry_run_plans_the_kinds_jobs(kind, tmp_path):
    spool = tiny_spool(kind, tmp_path / "spool")
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                             "--config", f"spool={spool.root}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _job_stats(result.stdout) == PLANNED[kind]
    assert not any(spool.products.iterdir())  # a dry run builds nothing
