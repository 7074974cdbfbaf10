"""The cluster profiles: a spool built on a real one-node SLURM cluster gives the products
of a local run; the daemon with ``cluster_profile: slurm`` builds the notice path itself and
hands the other products to SLURM; the HTCondor profile plans the right jobs (no HTCondor
pool can run here).

CI starts the cluster (.ci/run runs ../shared/recipes/slurm-single-node/start.sh)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from skyspool import config
from support import FAST_CONFIG, GW_ALERTS, make_spool
from test_daemon import Watch, all_built, drop, wait_for

REPO = config.workflow_root()
# Three events, one preliminary alert each, as the session's local run stored them.
EVENTS = ("S230520ae", "S230522a", "S230525a")
# Stamped with the time they were written: equal once the stamp is left out.
STAMPED = {"notice.json": lambda text: {k: v for k, v in json.loads(text).items()
                                        if k != "time_issued"},
           "notice.xml": lambda text: [line for line in text.decode().splitlines()
                                       if "<Date>" not in line]}


def slurm_is_up() -> bool:
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "idle" in states or "mix" in states or "alloc" in states


@pytest.fixture(scope="module")
def slurm():
    if not slurm_is_up():
        message = ("no SLURM cluster answers sinfo: start one with "
                   "../shared/recipes/slurm-single-node/start.sh (as .ci/run does)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def copy_events(source, target, events):
    """A new spool holding the spool entries (not the products) of ``events``."""
    for event in events:
        shutil.copytree(source.spool / "gw" / event, target.spool / "gw" / event)


def same_product(name, local, remote) -> bool:
    """Byte-identical, except the issue time of notices."""
    if name in STAMPED:
        return STAMPED[name](local.read_bytes()) == STAMPED[name](remote.read_bytes())
    return local.read_bytes() == remote.read_bytes()


def test_slurm_profile_builds_the_products_of_a_local_run(slurm, processed_gw_spool, tmp_path):
    local = processed_gw_spool
    spool = make_spool(tmp_path / "spool", FAST_CONFIG)
    copy_events(local, spool, EVENTS)
    # This test cluster keeps no accounting (no sacct): job states come from squeue.
    run = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm",
                          "--slurm-status-command", "squeue", "--config", f"spool={spool.root}"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    # The heavy products went through SLURM (one group job per alert's products), the
    # notice path ran locally.
    assert "has been submitted with SLURM jobid" in run.stderr
    assert "localrule gw_notice_json" in run.stderr
    compared = 0
    for entry in spool.entries():
        built = sorted(p.name for p in spool.products_dir(entry).iterdir())
        expected = sorted(p.name for p in local.products_dir(entry).iterdir())
        assert built == expected
        for name in built:
            assert same_product(name, local.product(entry, name), spool.product(entry, name)), name
            compared += 1
    assert compared >= 3 * 12


def _slurm_profile(tmp_path):
    """profiles/slurm as it is, but for this accounting-less cluster (status from squeue) and
    keeping the SLURM logs of successful jobs, which show what ran there."""
    settings = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    settings.update({"slurm-status-command": "squeue", "slurm-keep-successful-logs": True})
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))
    return profile


def test_daemon_hands_the_heavy_products_to_slurm(slurm, tmp_path):
    spool = make_spool(tmp_path / "spool", {**FAST_CONFIG, "cluster_profile": str(_slurm_profile(tmp_path))})
    watch = Watch(spool)
    try:
        for event in EVENTS[:2]:
            (alert,) = GW_ALERTS.glob(f"{event}-*")
            drop(spool, alert)
        wait_for(lambda: all_built(spool, 2), "every product of 2 alerts")
    finally:
        assert watch.stop() == 0, watch.text()
    # One SLURM job per alert made the heavy products (the "products" group, its log folder
    # named after the group and its rules); the notice path and the dashboard never went there.
    jobs = list((spool.root / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(jobs) == 2 and all(log.parent.name.startswith("group_products_") for log in jobs), jobs
    for rule in ("gw_skymap_flat", "gw_contours", "gw_moc", "gw_skymap_png"):
        assert all(f"rule {rule}:" in log.read_text() for log in jobs), rule
    assert not any("notice" in log.read_text() or "dashboard" in log.read_text() for log in jobs)
    for entry in spool.entries():
        assert spool.product(entry, "notice.json").is_file()


# The GW pipeline candidates' decision path and FRB chunks (VOEvents, LOFAR triggers) must never
# wait in the batch queue: each rule, and a product it makes.
LOCAL_DECISION_PATH = {
    "gwcand_burst_skymap": "skymap.multiorder.fits", "gwcand_classification": "classification.json",
    "gwcand_superevent": "superevent.json", "gwcand_settle": "settled.json",
    "gwcand_orchestrate": "orchestrator.json", "gwcand_raven": "raven.json", "frb_chunk": "triggers.json"}
GBM_NOTICE = GW_ALERTS.parents[1] / "notices" / "voevent" / "finkmm_fermi_voevent_number_2750.xml"


def test_decision_path_and_frb_chunks_stay_local_under_slurm(slurm, tmp_path):
    import gwcand_samples as samples
    from frb_synthetic import Burst, amber_text, sample_observation, synthetic_candidates, write_observation
    from skyspool.frb.amber import make_chunk

    # A burst candidate (its own sky map: no BAYESTAR) that settles after 1 s, with the data-quality
    # segments of its time; FAR in its superevent, above every alert threshold (no alert, so no
    # second preliminary to wait for). An FRB observation with one chunk. A Fermi GBM notice
    # with a sky map, whose plots and contours (a batch group) go to SLURM.
    gps = 1128679800.5
    spool = make_spool(tmp_path / "spool", {**FAST_CONFIG, "orchestrator": {"orchestrator_timeout_s": 1}})
    (spool.inbox / "cwb.tar").write_bytes(samples.burst_bundle(gps_time=gps, duration_s=0.3, far_hz=1e-4))
    (spool.inbox / "dq.json").write_text(json.dumps({
        "dq_segments": "test", "span": [gps - 100, gps + 100],
        "observing": {"H1": [[gps - 100, gps + 100]], "L1": [[gps - 100, gps + 100]]}, "vetoed": []}))
    shutil.copy(GBM_NOTICE, spool.inbox / GBM_NOTICE.name)
    observation = spool.entry_path("frb", "20240101-0001", 1, "observation", "yaml")
    observation.parent.mkdir(parents=True)
    write_observation(observation, sample_observation())
    amber = tmp_path / "CB00_step1.trigger"
    amber.write_bytes(amber_text(synthetic_candidates([Burst(100.0, 700.0, 15.0)], n_noise=300, n_rfi=1)))
    spool.entry_path("frb", "20240101-0001", 2, "candidates", "trigger").write_bytes(make_chunk(amber, 0)[0])

    run = subprocess.run([sys.executable, "-c", "import sys; from skyspool.cli import main; sys.exit(main())",
                          "process", str(spool.root), "--profile", str(_slurm_profile(tmp_path))],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    (candidate,) = spool.entries("gwcand")
    chunk = spool.find_entry("frb", "20240101-0001", "002-candidates")
    for rule, product in LOCAL_DECISION_PATH.items():
        assert spool.product(chunk if rule == "frb_chunk" else candidate, product).is_file(), rule
    # Every SLURM job keeps its log (slurm-keep-successful-logs): none ran any of those rules,
    # and the notice's plots still went there.
    jobs = [log.read_text() for log in (spool.root / ".snakemake" / "slurm_logs").rglob("*.log")]
    assert len(jobs) == 1 and "rule notice_skymap_png:" in jobs[0], jobs
    assert not any(rule in job for job in jobs for rule in LOCAL_DECISION_PATH)
    (grb,) = spool.entries("grb")
    assert spool.product(grb, "skymap.png").is_file()


def test_htcondor_profile_loads_and_plans_every_product(processed_gw_spool, tmp_path):
    spool = make_spool(tmp_path / "spool", FAST_CONFIG)
    copy_events(processed_gw_spool, spool, EVENTS[:2])
    run = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/htcondor",
                          "--dry-run", "--config", f"spool={spool.root}"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout + run.stderr
    assert "Using profiles profiles/htcondor" in out
    counts = {}
    for line in out.split("Job stats:")[1].splitlines()[3:]:
        if not line.strip() or line.startswith("total"):
            break
        rule, count = line.split()
        counts[rule] = int(count)
    assert counts == {"gw_skymap_multiorder": 2, "gw_stats": 2, "gw_classification": 2,
                      "gw_coincidences": 2, "gw_notice_json": 2, "gw_notice_xml": 2,
                      "gw_circular": 2, "gw_skymap_flat": 2, "gw_contours": 2, "gw_moc": 4,
                      "gw_skymap_png": 2, "gw_volume_png": 2, "dashboard_thumbnail": 2,
                      "all": 1}
