"""Faults: product jobs that crash or hang, kill -9 of the daemon in a burst, a full disk.

Jobs are real functions failing for real reasons (a crash of the interpreter, a catalog
that never delivers its bytes), run by the real daemon process; nothing of ours is mocked.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from skyspool import atomic, jobs
from skyspool.cli import main as skyspool_main
from support import GW_ALERTS, make_spool
from test_daemon import Watch, all_built, drop, entries_status, hidden_files, visible_files, wait_for

# Seconds a job may take in the unit tests: enough for a child to import this module.
UNIT_LIMIT_S = 10


@pytest.fixture
def time_limit():
    jobs.set_time_limit(UNIT_LIMIT_S)
    yield
    jobs.set_time_limit(None)


# Jobs run in another process: they are module-level functions (picklable).
def _write_then_hang(path):
    with atomic.atomic_path(path) as tmp:
        tmp.write_text("half")
        time.sleep(3600)


def _spherical_harmonics_sum(nside: int) -> float:
    """Sum of the spherical-harmonic coefficients of a random map: healpy runs it on an
    OpenMP thread pool."""
    import healpy as hp
    import numpy as np

    sky = np.random.default_rng(9).random(hp.nside2npix(nside))
    return float(np.abs(hp.map2alm(sky, lmax=2 * nside)).sum())


def test_a_job_that_hangs_is_stopped_at_its_limit_and_cleans_up(tmp_path, time_limit):
    out = tmp_path / "product.json"
    started = time.monotonic()
    with pytest.raises(jobs.JobFailed,
                       match=rf"no result after {UNIT_LIMIT_S} s \(job_timeout_s\): stopped"):
        jobs.run_logged(tmp_path / "job.log", "hang", _write_then_hang, out)
    assert time.monotonic() - started < UNIT_LIMIT_S + jobs.TERM_GRACE_S + 30  # not an hour
    assert list(tmp_path.iterdir()) == [tmp_path / "job.log"]  # no product, no temporary file
    assert "hang: FAILED after" in (tmp_path / "job.log").read_text()


def test_a_job_that_crashes_the_interpreter_takes_only_its_own_process(tmp_path, time_limit):
    with pytest.raises(jobs.JobFailed, match=r"the job's process died \(killed by SIGABRT\)"):
        jobs.run_logged(tmp_path / "job.log", "crash", os.abort)
    with pytest.raises(jobs.JobFailed, match=r"the job's process died \(killed by SIGSEGV\)"):
        jobs.run_logged(tmp_path / "job.log", "segfault", signal.raise_signal, signal.SIGSEGV)
    with pytest.raises(jobs.JobFailed, match=r"killed by SIGKILL"):
        jobs.run_logged(tmp_path / "job.log", "oom", signal.raise_signal, signal.SIGKILL)


def test_a_limited_job_returns_its_result_and_raises_its_errors(tmp_path, time_limit):
    assert jobs.run_logged(tmp_path / "job.log", "sum", sum, [1, 2, 3]) == 6
    with pytest.raises(jobs.JobFailed, match=r"ZeroDivisionError: division by zero") as failure:
        jobs.run_logged(tmp_path / "job.log", "divide", operator.truediv, 1, 0)
    assert "in the job's process" in "".join(failure.value.__notes__)
    assert "ZeroDivisionError" in (tmp_path / "job.log").read_text()
    with pytest.raises(jobs.JobFailed, match=r"cannot send the job to its process"):
        jobs.run_logged(tmp_path / "job.log", "local", lambda: 1)


def test_a_limited_job_after_openmp_ran_in_this_process_completes(tmp_path, time_limit):
    # A child forked from a process whose OpenMP pool has run hangs in its first parallel
    # region (libgomp is not fork-safe): what the daemon's warm workers were.
    here = _spherical_harmonics_sum(32)
    assert jobs.run_logged(tmp_path / "job.log", "omp", _spherical_harmonics_sum, 32) == here


# ----- the real daemon -----

CHEAP = {"skymap": {"flat_nside": 64, "contour_nside": 64, "plot_nside": 64}, "retries": 1}
MAP_ALERTS = ("MS181101ab-earlywarning.json", "MS181101ab-preliminary.json",
              "MS181101ab-initial.json", "MS181101ab-update.json")


@pytest.fixture
def daemons():
    """Start ``skyspool watch`` daemons (``Watch``) that are killed after the test if still
    running (a failed assertion must not leave one behind)."""
    started = []

    def start(spool, *args):
        started.append(Watch(spool, *args))
        return started[-1]

    yield start
    for watch in started:
        if watch.process.poll() is None:
            watch.kill()


def burst(folder: Path, count: int, with_map: int) -> list[Path]:
    """``count`` real alerts under new superevent ids: ``with_map`` of them carry a sky map
    (every alert type in turn), the others are retractions (three notice products each)."""
    folder.mkdir()
    made = []
    for i in range(count):
        name = MAP_ALERTS[i % len(MAP_ALERTS)] if i < with_map else "MS181101ab-retraction.json"
        record = json.loads((GW_ALERTS / name).read_bytes())
        record["superevent_id"] = f"MS9{i:05d}" + chr(97 + i % 26)
        made.append(folder / f"{record['superevent_id']}-{name.split('-')[1]}")
        made[-1].write_text(json.dumps(record))
    return made


def _processes() -> dict[int, tuple[int, str]]:
    """Every live process (zombies left out): pid -> (parent pid, command line)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):  # ended meanwhile
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                found[int(stat.parent.name)] = (int(parent), (stat.parent / "cmdline").read_text())
    return found


def descendants(pid: int) -> dict[int, tuple[int, str]]:
    """The live descendants of ``pid``: its workers, their fork servers, the jobs' processes."""
    processes, found, frontier = _processes(), {}, {pid}
    while frontier:
        frontier = {child for child, (parent, _) in processes.items() if parent in frontier}
        found.update((child, processes[child]) for child in frontier)
    return found


def job_processes(processes: dict[int, tuple[int, str]]) -> list[int]:
    """The processes among ``processes`` forked by a fork server: product jobs."""
    return [pid for pid, (parent, _) in processes.items()
            if "forkserver" in processes.get(parent, (0, ""))[1]]


def test_kill_9_of_the_daemon_leaves_no_worker_fork_server_or_job_behind(tmp_path, daemons):
    # The galaxy catalog is a named pipe that nobody writes: its job hangs, in its process
    # (a time limit is set).
    catalog = tmp_path / "catalog.parquet"
    os.mkfifo(catalog)
    spool = make_spool(tmp_path / "spool", {**CHEAP, "job_timeout_s": 600,
                                            "galaxies": {"catalog": str(catalog)}})
    watch = daemons(spool, "--workers", "1")
    drop(spool, GW_ALERTS / "S230520ae-Preliminary_alert.json")
    log = spool.logs / "gw" / "S230520ae" / "001-preliminary" / "galaxies.log"
    snapshot = {}

    def hanging():
        snapshot.clear()
        snapshot.update(descendants(watch.process.pid))
        return log.exists() and "started" in log.read_text() and job_processes(snapshot)

    wait_for(hanging, "the galaxy list's job to run")
    watch.kill()
    wait_for(lambda: not set(snapshot) & set(_processes()), "the killed daemon's processes to end")


def test_twenty_kill_9_during_a_burst_lose_nothing_and_duplicate_nothing(tmp_path, daemons):
    spool = make_spool(tmp_path / "spool", CHEAP)
    alerts = burst(tmp_path / "burst", 100, with_map=12)
    rng = random.Random(9)
    # One worker until the last restart: a quicker start, so more of the time goes to building.
    watch = daemons(spool, "--workers", "1")
    for alert in alerts:  # renamed in, as a sender would
        os.replace(alert, spool.inbox / alert.name)
    kills = 0
    while kills < 20:
        time.sleep(rng.uniform(0.0, 3.0))
        left = descendants(watch.process.pid)
        watch.kill()
        kills += 1
        wait_for(lambda: not set(left) & set(_processes()), "the killed daemon's processes to end")
        # Whatever a reader can see is complete (products are written atomically).
        for product in visible_files(spool.products):
            if product.suffix == ".json":
                json.loads(product.read_text())
        watch = daemons(spool, *(("--workers", "1") if kills < 20 else ()))
    wait_for(lambda: all_built(spool, len(alerts)) and not os.listdir(spool.inbox),
             "every product of every alert", timeout=1800)
    assert watch.stop() == 0

    entries = spool.entries()
    events = {(e.kind, e.event_id) for e in entries}
    print(f"\nkill -9: {kills}, alerts: {len(alerts)}, spool entries: {len(entries)}, "
          f"lost: {len(alerts) - len(events)}, duplicates: {len(entries) - len(events)}")
    assert len(entries) == len(events) == len(alerts)  # none lost, none twice
    assert all(e.number == 1 for e in entries)
    for entry in entries_status(spool):
        assert entry["missing"] == [] and entry["failed"] == [], entry
    assert visible_files(spool.quarantine) == []
    assert hidden_files(spool.products) == []  # no temporary file left by a killed writer
    assert not list((spool.root / "logs" / "failures").rglob("*.txt"))


# Most seconds a product job may take in the daemon test: far more than any job of a
# CHEAP spool needs, even in the niced workers of a loaded machine.
LIMIT_S = 60


def _serve_junk(fifo: Path, stop: threading.Event) -> None:
    """Give every reader of ``fifo`` a few junk bytes (a cut catalog file) until ``stop``."""
    while not stop.is_set():
        try:
            pipe = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody reads at the moment
            time.sleep(0.05)
            continue
        with contextlib.suppress(OSError):  # the reader gave up first (EPIPE)
            os.write(pipe, b"PAR1" + bytes(1000))
        os.close(pipe)


def test_a_hanging_then_crashing_job_is_stopped_retried_reported_and_the_rest_goes_on(
        tmp_path, daemons, capsys):
    # The galaxy catalog is a named pipe that nobody writes: reading it blocks forever, as
    # on a stalled network file system.
    catalog = tmp_path / "catalog.parquet"
    os.mkfifo(catalog)
    spool = make_spool(tmp_path / "spool", {**CHEAP, "job_timeout_s": LIMIT_S,
                                            "galaxies": {"catalog": str(catalog)}})
    watch = daemons(spool)
    drop(spool, GW_ALERTS / "S230520ae-Preliminary_alert.json")
    drop(spool, GW_ALERTS / "MS181101ab-retraction.json")
    # Snakemake's own log keeps every attempt (a job's log holds only its last one).
    snakemake_log = spool.logs / "watch-snakemake.log"
    stopped = f"no result after {LIMIT_S} s (job_timeout_s): stopped"

    def notice_out():
        try:
            entry = spool.find_entry("gw", "S230520ae", "001-preliminary")
        except FileNotFoundError:  # not stored yet
            return False
        return spool.product(entry, "notice.json").exists()

    # The notice does not wait for the galaxy list (galaxies.top_n is 0 by default): it is
    # out while the galaxy job still hangs.
    wait_for(notice_out, "the notice")
    assert stopped not in snakemake_log.read_text()
    wait_for(lambda: stopped in snakemake_log.read_text(), "the hanging job to be stopped",
             timeout=LIMIT_S + 300)
    # Then the catalog comes back cut short: the retry, waiting on the pipe, and any later
    # attempt fail at once.
    stop = threading.Event()
    server = threading.Thread(target=_serve_junk, args=(catalog, stop))
    server.start()
    try:
        wait_for(lambda: "done-with-failures entry=gw/S230520ae" in watch.text()
                 and "done entry=gw/MS181101ab" in watch.text(), "the failure report")
    finally:
        stop.set()
        server.join()
    assert watch.stop() == 0

    by_event = {e["event_id"]: e for e in entries_status(spool)}
    assert by_event["MS181101ab"]["missing"] == []
    failed = by_event["S230520ae"]
    assert set(failed["missing"]) == set(failed["failed"]) == {"galaxies.ecsv"}
    entry = spool.find_entry("gw", "S230520ae", "001-preliminary")
    built = {p.name for p in spool.products_dir(entry).iterdir()}
    assert {"skymap.png", "volume.png", "contours.geojson", "notice.json", "notice.xml",
            "circular.txt"} <= built
    assert "galaxies.ecsv not built" in spool.failure_record(entry, "galaxies.ecsv").read_text()
    attempts = snakemake_log.read_text()
    assert attempts.count(stopped) == 1  # stopped at its limit, then retried ...
    # ... and failing at once on a cut file (its first bytes say Parquet: refused as a catalog
    # of the former format, whose reader failed here with "OSError: lseek failed")
    assert "ValueError: " in attempts and "a Parquet file: skyspool catalog format 2" in attempts
    log = spool.logs / "gw" / "S230520ae" / "001-preliminary" / "galaxies.log"
    assert "gw_galaxies: FAILED" in log.read_text()
    assert hidden_files(spool.products) == []

    assert skyspool_main(["status", str(spool.root)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "S230520ae" in line)
    assert "FAILED: galaxies.ecsv" in row, row


@pytest.fixture
def small_filesystem(tmp_path):
    """A 6 MB tmpfs mounted for the test (CI runs as root); unmounted afterwards."""
    mount = tmp_path / "spool"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail("DISK-FULL TEST CANNOT RUN: mounting a small tmpfs needs root "
                    f"(mount said: {made.stderr.strip()}); run the suite as root, as CI does")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _complete(path: Path) -> None:
    """Raise unless the product at ``path`` reads in full."""
    if path.suffix == ".json" or path.suffix == ".geojson":
        json.loads(path.read_text())
    elif path.name.endswith((".fits", ".fits.gz")):
        from astropy.io import fits

        with fits.open(path) as hdus:
            hdus.verify("exception")
            for hdu in hdus:
                hdu.data  # noqa: B018 (reads it: a cut file fails)
    elif path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as image:
            image.load()


def test_a_full_disk_fails_cleanly_and_processing_resumes_with_room(small_filesystem, daemons):
    spool = make_spool(small_filesystem, CHEAP)
    watch = daemons(spool)
    # Leave about 2.3 MB: room for the 1 MB alert in the inbox and its spool copy, not for
    # its products.
    free = os.statvfs(spool.root).f_bavail * os.statvfs(spool.root).f_frsize
    filler = spool.root / "filler"
    filler.write_bytes(bytes(free - 2_300_000))
    first = GW_ALERTS / "MS181101ab-preliminary.json"
    drop(spool, first)

    def reported(count: int) -> bool:
        entries = entries_status(spool)
        return len(entries) == count and all(set(e["missing"]) <= set(e["failed"]) for e in entries)

    wait_for(lambda: len(entries_status(spool)) == 1 and not os.listdir(spool.inbox)
             and "done-with-failures" in watch.text(), "the products to fail for lack of room")
    assert watch.process.poll() is None, "the daemon died of a full disk"
    assert entries_status(spool)[0]["missing"], "the disk was not full enough to test anything"
    logs = "".join(p.read_text(errors="replace") for p in spool.logs.rglob("*.log"))
    assert "No space left on device" in logs + watch.text()
    for product in visible_files(spool.products):  # no corrupt product left behind
        _complete(product)
    # No temporary file left behind: a dashboard refresh still running may hold one for a moment.
    wait_for(lambda: hidden_files(spool.products) == [], "the temporary files of failed writes to be removed")

    filler.unlink()  # room again: new alerts go through, and the failed ones are rebuilt
    drop(spool, GW_ALERTS / "MS181101ab-retraction.json")
    wait_for(lambda: reported(2) and not os.listdir(spool.inbox), "the next alert")
    assert watch.stop() == 0
    assert skyspool_main(["process", str(spool.root)]) == 0
    for entry in entries_status(spool):
        assert entry["missing"] == [] and entry["failed"] == [], entry
    for product in visible_files(spool.products):
        _complete(product)
    assert hidden_files(spool.products) == []
