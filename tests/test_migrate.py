"""`skyspool migrate` between a local folder, a moto S3 server on loopback (through s3fs)
and fsspec's in-memory store."""

import io
import logging
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from s3_server import MotoS3
from skyspool import migrate

PRODUCTS = {"skymap.multiorder.fits": 60_000, "skymap.flat.fits.gz": 90_000, "stats.json": 700,
            "contours.geojson": 20_000, "moc90.fits": 9_000, "skymap.png": 40_000,
            "notice.json": 0}


@pytest.fixture(scope="module")
def s3():
    server = MotoS3().start()
    yield server
    server.stop()


def _products(root: Path, events: int = 3) -> dict[str, bytes]:
    """A products tree of ``events`` GW events; returns its files' bytes by relative path."""
    rng = random.Random(7)
    files = {}
    for number in range(events):
        for name, size in PRODUCTS.items():
            rel = f"gw/S2401{number:02d}a/001-preliminary/{name}"
            files[rel] = rng.randbytes(size)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(files[rel])
    return files


def _bucket_url() -> str:
    return f"s3://archive-{uuid.uuid4().hex[:12]}/products"


def _contents(fs, root: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    return {path[len(root) + 1:]: fs.cat_file(path) for path in fs.find(root)}


def test_local_to_s3_copies_everything_then_skips_it(tmp_path, s3):
    files = _products(tmp_path / "products")
    (tmp_path / "products/gw/S240100a/.stats.json.abcd1234.tmp.json").write_text("half")
    url = _bucket_url()  # a bucket not made yet: migrate makes it
    result = migrate.migrate(str(tmp_path / "products"), url, dst_options=s3.options)
    assert sorted(result.copied) == sorted(files) and not result.failed
    fs, root = migrate.open_url(url, s3.options)
    assert _contents(fs, root) == files  # the temporary of an unfinished write stays behind

    again = migrate.migrate(str(tmp_path / "products"), url, dst_options=s3.options)
    assert again.copied == [] and sorted(again.skipped) == sorted(files)

    # Same size, other bytes: the ETag (MD5) against the local file's MD5 tells them apart.
    changed = "gw/S240101a/001-preliminary/stats.json"
    (tmp_path / "products" / changed).write_bytes(bytes(len(files[changed])))
    third = migrate.migrate(str(tmp_path / "products"), url, dst_options=s3.options)
    assert third.copied == [changed]
    assert fs.cat_file(f"{root}/{changed}") == bytes(len(files[changed]))


def test_s3_to_local_is_atomic_and_skips_what_is_there(tmp_path, s3):
    files = _products(tmp_path / "products", events=2)
    url = _bucket_url()
    migrate.migrate(str(tmp_path / "products"), url, dst_options=s3.options)

    result = migrate.migrate(url, str(tmp_path / "copy"), src_options=s3.options, jobs=3)
    assert sorted(result.copied) == sorted(files) and not result.failed
    copied = {str(p.relative_to(tmp_path / "copy")): p.read_bytes()
              for p in (tmp_path / "copy").rglob("*") if p.is_file()}
    assert copied == files  # no temporaries left beside them

    damaged = tmp_path / "copy/gw/S240100a/001-preliminary/moc90.fits"
    damaged.write_bytes(bytes(damaged.stat().st_size))
    again = migrate.migrate(url, str(tmp_path / "copy"), src_options=s3.options)
    assert again.copied == ["gw/S240100a/001-preliminary/moc90.fits"]
    assert len(again.skipped) == len(files) - 1
    assert damaged.read_bytes() == files["gw/S240100a/001-preliminary/moc90.fits"]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "skyspool.cli", "migrate", *args],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))


def test_dry_run_reports_count_and_size_and_copies_nothing(tmp_path, s3):
    files = _products(tmp_path / "products", events=2)
    url = _bucket_url()
    fs, root = migrate.open_url(url, s3.options)
    fs.mkdir(root.split("/")[0])
    fs.pipe_file(f"{root}/gw/S240100a/001-preliminary/stats.json",
                 files["gw/S240100a/001-preliminary/stats.json"])  # already there: not counted
    done = _cli("--dry-run", str(tmp_path / "products"), url, env=s3.env)
    assert done.returncode == 0, done.stderr
    expected = sum(len(data) for data in files.values()) - 700
    assert (f"would copy {len(files) - 1} files, {expected} bytes ({migrate.human(expected)}); "
            "1 already at the destination") in done.stdout
    assert "gw/S240101a/001-preliminary/skymap.png\t40000" in done.stdout
    assert list(_contents(fs, root)) == ["gw/S240100a/001-preliminary/stats.json"]


def test_a_refused_key_is_listed_at_the_end_and_the_rest_copied(tmp_path, s3):
    files = _products(tmp_path / "products", events=2)
    refused = tmp_path / "products/refused/S240199a/stats.json"
    refused.parent.mkdir(parents=True)
    refused.write_text("{}")
    url = _bucket_url()
    done = _cli(str(tmp_path / "products"), url, "--jobs", "4",
                "--dst-option", f"endpoint_url={s3.endpoint}", env=s3.env)
    assert done.returncode == 1
    assert "FAILED refused/S240199a/stats.json: PermissionError: Access Denied" in done.stderr
    assert f"copied {len(files)} files" in done.stdout and "1 failed" in done.stdout
    fs, root = migrate.open_url(url, s3.options)
    assert _contents(fs, root) == files


def test_a_local_destination_in_the_way_fails_alone(tmp_path, s3):
    files = _products(tmp_path / "products", events=1)
    url = _bucket_url()
    migrate.migrate(str(tmp_path / "products"), url, dst_options=s3.options)
    blocked = "gw/S240100a/001-preliminary/skymap.png"
    (tmp_path / "copy" / blocked / "inside").mkdir(parents=True)  # a folder where a file goes
    result = migrate.migrate(url, str(tmp_path / "copy"), src_options=s3.options)
    assert [rel for rel, _ in result.failed] == [blocked]
    assert "IsADirectoryError" in result.failed[0][1]
    assert sorted(result.copied) == sorted(set(files) - {blocked})


def test_other_backends_and_store_to_store(tmp_path, s3):
    files = _products(tmp_path / "products", events=1)
    # fsspec's memory store: a temporary name, then a move.
    memory = f"memory://migrate-{uuid.uuid4().hex[:8]}/products"
    result = migrate.migrate(str(tmp_path / "products"), memory, jobs=2)
    assert sorted(result.copied) == sorted(files)
    assert _contents(*migrate.open_url(memory)) == files
    assert migrate.migrate(str(tmp_path / "products"), memory).copied == []
    # Memory to S3 (streamed), then S3 to another bucket of the same store (server side).
    first, second = _bucket_url(), _bucket_url()
    assert len(migrate.migrate(memory, first, dst_options=s3.options).copied) == len(files)
    assert len(migrate.migrate(first, second, src_options=s3.options,
                               dst_options=s3.options).copied) == len(files)
    assert _contents(*migrate.open_url(second, s3.options)) == files


def test_missing_source_is_an_error(tmp_path):
    done = _cli(str(tmp_path / "nowhere"), str(tmp_path / "copy"))
    assert done.returncode == 2 and "no such source" in done.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_one_line_on_a_terminal_log_lines_otherwise(caplog):
    terminal = _Terminal()
    progress = migrate.Progress(3, 3_000_000, stream=terminal)
    progress.interval = 0
    progress.done(1_000_000, ok=True)
    progress.done(1_000_000, ok=False)
    progress.close()
    lines = terminal.getvalue().split("\r")[1:]
    assert lines[0].startswith("1/3 files, 1.00MB/3.00MB, ") and "/s, ETA " in lines[0]
    assert lines[-1].startswith("2/3 files, 1.00MB/3.00MB") and terminal.getvalue().endswith("\n")

    with caplog.at_level(logging.INFO, logger="skyspool.migrate"):
        logged = migrate.Progress(2, 10, stream=io.StringIO(), interval=0)
        logged.done(5, ok=True)
        logged.close()
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["1/2 files", "1/2 files"]
