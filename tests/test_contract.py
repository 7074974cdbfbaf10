"""The product table (skyspool.contract) against the workflow Snakemake loads and the profiles:
every rule's outputs, localrules and priority agree with the table; the profiles' groups are the
table's; the product lists the table gives."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from skyspool import config, contract
from support import make_spool

REPO = config.workflow_root()

# The rules that run where Snakemake runs, never in a batch queue: the notice path, the GW
# pipeline candidates' decision path, FRB chunks (VOEvents, LOFAR triggers), the dashboard.
LOCAL_RULES = {
    "gw_notice_json", "gw_notice_xml", "gw_circular", "gw_skymap_multiorder", "gw_stats",
    "gw_classification", "gw_coincidences",
    "notice_json", "notice_skymap", "notice_stats", "notice_coincidences",
    "frb_chunk",
    "gwcand_bayestar", "gwcand_burst_skymap", "gwcand_classification", "gwcand_superevent",
    "gwcand_settle", "gwcand_orchestrate", "gwcand_raven", "gwcand_second_preliminary",
    "dashboard_thumbnail", "dashboard_event", "dashboard_index",
}
# One cluster job per alert's worth of these products.
GROUPED = {"gw_skymap_flat", "gw_contours", "gw_moc", "gw_skymap_png", "gw_volume_png", "gw_galaxies",
           "gw_combined_skymap", "gw_combined_png", "notice_moc90", "notice_contours",
           "notice_skymap_png", "notice_earth_moc", "notice_lat_fov_moc"}

# Loads the Snakefile through Snakemake's API (in a process of its own: a workflow changes the
# working directory and snakemake.workflow's namespace) and prints what each rule declares.
LOAD_RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(ResourceSettings(), ConfigSettings(config={"spool": sys.argv[2]}),
                            snakefile=Path(sys.argv[1]), workdir=Path(sys.argv[2]))._workflow
    rules = [{"name": r.name, "outputs": [str(o) for o in r.output], "priority": r.priority,
              # what workflow.is_local(r) answers under a cluster executor
              "local": r.name in workflow._localrules} for r in workflow.rules]
print("RULES " + json.dumps(rules))
"""


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory):
    spool = make_spool(tmp_path_factory.mktemp("contract") / "spool")
    done = subprocess.run([sys.executable, "-c", LOAD_RULES, str(REPO / "Snakefile"), str(spool.root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("RULES "))
    return {rule["name"]: rule for rule in json.loads(line[len("RULES "):]) if rule["name"] != "all"}


def _pattern(name: str) -> re.Pattern:
    """A file name with Snakemake wildcards as a regular expression."""
    return re.compile("".join(".+" if part.startswith("{") else re.escape(part)
                              for part in re.split(r"(\{[^}]*\})", name) if part))


def _rows_for(output: str, rule: str) -> list[contract.Product]:
    """The table rows an output of ``rule`` may stand for: an entry's product of its kind's table
    (``products/<kind>/<event>/<entry>/<name>``), otherwise a dashboard page."""
    parts = output.split("/")
    if len(parts) != 5:
        tables = [contract.DASHBOARD]
    elif "{" in parts[1]:
        tables = list(contract.TABLES.values())
    else:
        tables = [contract.TABLES[parts[1]]]
    return [row for table in tables for row in table if row.rule == rule]


def test_every_rule_output_is_a_row_of_the_table(workflow_rules):
    assert len(workflow_rules) >= 38
    for name, rule in workflow_rules.items():
        assert name in contract.rules(), f"rule {name} is missing from the product table"
        for output in rule["outputs"]:
            basename = output.rsplit("/", 1)[-1]
            rows = [row.name for row in _rows_for(output, name)]
            assert any(row == basename or _pattern(basename).fullmatch(row) for row in rows), \
                f"rule {name}: output {output} has no row in the product table ({rows})"


def test_every_row_of_the_table_has_its_rule(workflow_rules):
    for row in contract.rows():
        assert row.rule in workflow_rules, f"{row.name}: the table names rule {row.rule}, which does not exist"
        basenames = [output.rsplit("/", 1)[-1] for output in workflow_rules[row.rule]["outputs"]]
        assert any(row.name == b or _pattern(b).fullmatch(row.name) for b in basenames), \
            f"{row.name}: rule {row.rule} makes only {basenames}"


def test_localrules_and_priorities_are_the_tables(workflow_rules):
    local = {name for name, rule in workflow_rules.items() if rule["local"]}
    assert local == LOCAL_RULES
    assert set(contract.local_rules()) == LOCAL_RULES
    for name, rule in workflow_rules.items():
        assert rule["priority"] == contract.priority(name), name
    # the notice path first, the decision path above it
    assert {name: workflow_rules[name]["priority"] for name in
            ("gw_notice_json", "notice_json", "frb_chunk", "gwcand_superevent", "gw_volume_png")} == \
        {"gw_notice_json": 50, "notice_json": 50, "frb_chunk": 50, "gwcand_superevent": 70, "gw_volume_png": 10}


@pytest.mark.parametrize("profile", ["slurm", "htcondor"])
def test_profiles_group_what_the_table_groups(profile):
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    assert settings["groups"] == contract.groups()
    assert settings["groups"] == dict.fromkeys(GROUPED, "products")
    assert not set(settings["groups"]) & LOCAL_RULES


def test_the_daemon_builds_the_notice_products_first():
    from skyspool import daemon

    assert contract.notice_names() == {"notice.json", "notice.xml", "circular.txt", "triggers.json"}
    assert daemon.NOTICE_PRODUCTS == contract.notice_names()


def _facts(**values):
    return contract.Facts(None, **{name: (lambda v=value: v) for name, value in values.items()})


def test_product_lists_from_the_table():
    gw = dict(has_map=True, has_distance=True, combined=False)
    assert contract.product_names("gw", _facts(retraction=True, **gw), {}, 0.0) == \
        ["notice.json", "notice.xml", "circular.txt"]
    assert contract.product_names("gw", _facts(retraction=False, **gw), {"galaxies": {"catalog": "x"}}, 0.0) == [
        "notice.json", "notice.xml", "circular.txt", "coincidences.json", "skymap.multiorder.fits",
        "skymap.flat.fits.gz", "stats.json", "contours.geojson", "moc50.fits", "moc90.fits", "skymap.png",
        "classification.json", "volume.png", "galaxies.ecsv", "skymap.thumb.png"]
    chunk = _facts(notice=False, chunk=True, summary=False, filterbanks=["004-filterbank_cb03"])
    assert contract.product_names("frb", chunk, {"frb": {"plot": False}}, 0.0) == \
        ["clusters.csv", "triggers.json", "triggers", "effects.json", "004-filterbank_cb03"]
    assert contract.product_names("gwdq", _facts(), {}, 0.0) == []


def test_a_candidates_decision_is_listed_once_due_by_the_callers_clock():
    facts = _facts(burst=False, settle_due_at=100.0, second_preliminary_due_at=None)
    first = ["bayestar.multiorder.fits", "classification.json", "superevent.json"]
    assert contract.product_names("gwcand", facts, {}, now=99.9) == first
    assert contract.product_names("gwcand", facts, {}, now=100.0) == \
        first + ["settled.json", "orchestrator.json", "orchestrator.effects.json", "raven.json",
                 "raven.effects.json"]
    burst = _facts(burst=True, settle_due_at=None, second_preliminary_due_at=None)
    assert contract.product_names("gwcand", burst, {}, now=1e10) == \
        ["skymap.multiorder.fits", "classification.json", "superevent.json"]
