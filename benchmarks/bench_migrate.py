"""Benchmark of `skyspool migrate` from a local products tree to S3 (prints figures; asserts
nothing).

    python benchmarks/bench_migrate.py [--events 40] [--jobs 8] [--workdir DIR]

A products tree of ``--events`` GW events (ten files each, 1 kB to 1.5 MB, random bytes:
about 3.5 MB per event) is copied to a moto S3 server running in its own process on
loopback, through s3fs, three ways, each into a fresh bucket:
``skyspool migrate`` (``--jobs`` threads); the plain serial fsspec loop a user would write
(``fs.put_file`` per file); and fsspec's own batched ``fs.put(..., recursive=True)`` (s3fs
runs its puts concurrently, without skipping, progress or a list of failures). Then
``skyspool migrate`` again onto its own copy, where everything is skipped. Reported: files/s
and MB/s of each, and migrate's speed-up over the serial loop. The tree goes to a temporary
directory (or --workdir), never into the repository.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from s3_server import MotoS3  # noqa: E402
from skyspool import migrate  # noqa: E402

SIZES = {"skymap.multiorder.fits": 400_000, "skymap.flat.fits.gz": 1_500_000,
         "skymap.png": 250_000, "volume.png": 300_000, "contours.geojson": 60_000,
         "moc50.fits": 20_000, "moc90.fits": 40_000, "stats.json": 1_000,
         "notice.json": 2_000, "notice.xml": 5_000}


def products(root: Path, events: int) -> tuple[int, int]:
    """Write the tree; return (files, bytes)."""
    rng = random.Random(1)
    total = 0
    for number in range(events):
        folder = root / f"gw/S24{number:04d}a/001-preliminary"
        folder.mkdir(parents=True)
        for name, size in SIZES.items():
            (folder / name).write_bytes(rng.randbytes(size))
            total += size
    return events * len(SIZES), total


def timed(label: str, run, files: int, nbytes: int) -> float:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    print(f"{label:<38} {elapsed:6.2f} s  {files / elapsed:7.1f} files/s  "
          f"{nbytes / elapsed / 1e6:6.1f} MB/s")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        tree = Path(work) / "products"
        files, nbytes = products(tree, args.events)
        print(f"{files} files, {migrate.human(nbytes)} local -> moto S3 on loopback")
        server = MotoS3().start()
        try:
            fs, _ = migrate.open_url("s3://any", server.options)
            local = sorted(str(p) for p in tree.rglob("*") if p.is_file())

            def serial_loop():
                bucket = f"serial-{uuid.uuid4().hex[:8]}"
                fs.mkdir(bucket)
                for path in local:
                    fs.put_file(path, f"{bucket}/products/{Path(path).relative_to(tree)}")

            def fsspec_put():
                bucket = f"batch-{uuid.uuid4().hex[:8]}"
                fs.mkdir(bucket)
                fs.put(str(tree) + "/", f"{bucket}/products/", recursive=True)

            url = f"s3://migrate-{uuid.uuid4().hex[:8]}/products"

            def skyspool_migrate():
                result = migrate.migrate(str(tree), url, jobs=args.jobs,
                                         dst_options=server.options)
                assert not result.failed, result.failed

            serial = timed("serial fsspec put_file loop", serial_loop, files, nbytes)
            batch = timed("fsspec put(recursive=True)", fsspec_put, files, nbytes)
            ours = timed(f"skyspool migrate --jobs {args.jobs}", skyspool_migrate, files, nbytes)
            timed("skyspool migrate again (all skipped)", skyspool_migrate, files, nbytes)
        finally:
            server.stop()
    print(f"skyspool migrate vs serial loop: {serial / ours:.2f}x faster; "
          f"vs fsspec put: {batch / ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
