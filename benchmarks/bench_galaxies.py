"""Benchmark: galaxy lists on a GLADE+-sized catalog, against ligo.skymap's crossmatch.

    python benchmarks/bench_galaxies.py                 # 22.5 M galaxies (GLADE+ size)
    python benchmarks/bench_galaxies.py --rows 1000000  # quick

The synthetic catalog (GLADE+ text form, seeded) is cached in $SKYSPOOL_BENCH_CACHE (default
/tmp/skyspool-bench) and reused; the indexed catalog (memory-mapped Arrow, `.arrow`) is rebuilt and
timed unless --reuse-catalog. Each measured step runs in its own Python process, so that peak memory (ru_maxrss)
belongs to that step alone: `catalog build`, `galaxy_list`, and `crossmatch` (which needs the whole
catalog in memory as a SkyCoord: its loading is timed apart). Both cross-matches use the same map
(S230518h, O4, from the alert corpus) and the same catalog; their 90% galaxy sets are compared.
The half-sky map (S230525a) is listed capped (10,000 rows, 99%) with 2 threads and with 1, in the
same run, and its time compared with issue 21's floor: <= 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CORPUS_ALERTS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gw" / "alerts"
CORPUS_ALERT = CORPUS_ALERTS / "S230518h-Preliminary_alert.json"
HALF_SKY_ALERT = CORPUS_ALERTS / "S230525a-preliminary.json"
HALF_SKY_FLOOR_S = 2.0  # issue 21: a half-sky map's galaxy list on a GLADE+-sized catalog, 2 cores


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_build(text: str, catalog_path: str) -> dict:
    from skyspool.catalog import build_catalog

    start = time.perf_counter()
    summary = build_catalog(text, catalog_path)
    return {"seconds": time.perf_counter() - start, "rows": summary["n_rows"]}


def worker_galaxies(skymap: str, catalog_path: str, repeat: str, names_out: str, caps: str = "{}") -> dict:
    from skyspool.galaxies import galaxy_list

    import_rss_mb = peak_rss_mb()
    times = []
    cpu = []
    for _ in range(int(repeat)):
        start, start_cpu = time.perf_counter(), time.process_time()
        table = galaxy_list(skymap, catalog_path, weight_column="stellar_mass_msun", **json.loads(caps))
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    Path(names_out).write_text("\n".join(table["name"]))
    return {"seconds_first": times[0], "seconds_best": min(times), "cpu_seconds_best": min(cpu),
            "after_imports_rss_mb": import_rss_mb, "inside": table.meta["galaxies_inside"],
            "listed": len(table), "rows_read": table.meta["rows_read"]}


def worker_crossmatch(skymap: str, catalog_path: str, names_out: str) -> dict:
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from ligo.skymap.io import read_sky_map
    from ligo.skymap.postprocess.crossmatch import crossmatch

    from skyspool.catalog import IndexedCatalog

    import_rss_mb = peak_rss_mb()
    start = time.perf_counter()
    table = IndexedCatalog(catalog_path).read(columns=["name", "ra_deg", "dec_deg", "distance_mpc"])
    coordinates = SkyCoord(table["ra_deg"].to_numpy() * u.deg, table["dec_deg"].to_numpy() * u.deg,
                           table["distance_mpc"].to_numpy() * u.Mpc)
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = crossmatch(read_sky_map(skymap, moc=True), coordinates, cosmology=False)
    seconds = time.perf_counter() - start
    inside = np.flatnonzero(result.searched_prob_vol < 0.9)
    Path(names_out).write_text("\n".join(table["name"].take(inside).to_pylist()))
    return {"seconds": seconds, "load_seconds": load_seconds, "after_imports_rss_mb": import_rss_mb,
            "inside": len(inside)}


def run_worker(*args: str) -> dict:
    """Run one step in a fresh interpreter; return its JSON report with its peak RSS."""
    out = subprocess.run([sys.executable, __file__, "--worker", *args], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=22_500_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-distance-mpc", type=float, default=2000.0)
    parser.add_argument("--repeat", type=int, default=3, help="galaxy_list calls in its process")
    parser.add_argument("--reuse-catalog", action="store_true", help="do not rebuild the Parquet catalog")
    parser.add_argument("--skip-crossmatch", action="store_true")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        name, *rest = args.worker
        report = {"build": worker_build, "galaxies": worker_galaxies, "crossmatch": worker_crossmatch}[name](*rest)
        print(json.dumps({**report, "peak_rss_mb": peak_rss_mb()}))
        return

    cache = Path(os.environ.get("SKYSPOOL_BENCH_CACHE", "/tmp/skyspool-bench"))
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"glade-synth-{args.rows}-seed{args.seed}"
    text, catalog_path = cache / f"{stem}.txt", cache / f"{stem}.arrow"
    skymap = cache / "S230518h-Preliminary.multiorder.fits"
    skymap.write_bytes(base64.b64decode(json.loads(CORPUS_ALERT.read_text())["event"]["skymap"]))

    if not text.exists():
        from skyspool.catalog import synthesize_glade_plus

        start = time.perf_counter()
        synthesize_glade_plus(text, args.rows, seed=args.seed, max_distance_mpc=args.max_distance_mpc,
                              progress=True)
        print(f"synthetic GLADE+ text: {args.rows:,} rows, {text.stat().st_size / 1e9:.2f} GB "
              f"in {time.perf_counter() - start:.0f} s")
    print(f"catalog: {text} ({text.stat().st_size / 1e9:.2f} GB)")
    if not (args.reuse_catalog and catalog_path.exists()):
        build = run_worker("build", str(text), str(catalog_path))
        print(f"catalog build: {build['rows']:,} rows in {build['seconds']:.1f} s, "
              f"peak RSS {build['peak_rss_mb']:.0f} MB, catalog file {catalog_path.stat().st_size / 1e9:.2f} GB")

    half_sky = cache / "S230525a-preliminary.multiorder.fits"
    half_sky.write_bytes(base64.b64decode(json.loads(HALF_SKY_ALERT.read_text())["event"]["skymap"]))
    capped = json.dumps({"max_rows": 10_000, "max_cumulative_probability": 0.99})
    half = run_worker("galaxies", str(half_sky), str(catalog_path), str(args.repeat), str(cache / "half-sky.names"), capped)
    print(f"galaxy_list, half-sky map: {half['seconds_first']:.3f} s first call, {half['seconds_best']:.3f} s best "
          f"of {args.repeat} ({half['cpu_seconds_best']:.3f} s CPU); peak RSS {half['peak_rss_mb']:.0f} MB; "
          f"{half['inside']:,} galaxies inside the 90% volume, {half['listed']:,} listed, "
          f"{half['rows_read']:,} catalog rows read; best {half['seconds_best'] / HALF_SKY_FLOOR_S:.2f} of "
          f"the {HALF_SKY_FLOOR_S:.0f} s floor (issue 21)")
    one_thread = run_worker("galaxies", str(half_sky), str(catalog_path), str(args.repeat),
                            str(cache / "half-sky-1-thread.names"), json.dumps({**json.loads(capped), "threads": 1}))
    same = (cache / "half-sky.names").read_text() == (cache / "half-sky-1-thread.names").read_text()
    print(f"galaxy_list, half-sky map, 1 thread: {one_thread['seconds_best']:.3f} s best of {args.repeat} "
          f"({one_thread['cpu_seconds_best']:.3f} s CPU); 2 threads x{one_thread['seconds_best'] / half['seconds_best']:.2f} "
          f"faster; same list: {same}")
    galaxies = run_worker("galaxies", str(skymap), str(catalog_path), str(args.repeat), str(cache / "galaxies.names"))
    print(f"galaxy_list: {galaxies['seconds_first']:.3f} s first call, {galaxies['seconds_best']:.3f} s best "
          f"of {args.repeat} ({galaxies['cpu_seconds_best']:.3f} s CPU); peak RSS {galaxies['peak_rss_mb']:.0f} MB "
          f"({galaxies['after_imports_rss_mb']:.0f} MB after imports); {galaxies['inside']:,} galaxies inside "
          f"the 90% volume, {galaxies['rows_read']:,} catalog rows read")
    if args.skip_crossmatch:
        return
    reference = run_worker("crossmatch", str(skymap), str(catalog_path), str(cache / "crossmatch.names"))
    print(f"crossmatch:  {reference['seconds']:.3f} s (+{reference['load_seconds']:.1f} s to load the catalog "
          f"as a SkyCoord); peak RSS {reference['peak_rss_mb']:.0f} MB "
          f"({reference['after_imports_rss_mb']:.0f} MB after imports); {reference['inside']:,} inside")
    mine = set((cache / "galaxies.names").read_text().splitlines())
    theirs = set((cache / "crossmatch.names").read_text().splitlines())
    print(f"agreement: {len(mine ^ theirs)} galaxies differ out of {len(theirs):,}")
    print(f"speed-up: {reference['seconds'] / galaxies['seconds_first']:.0f}x (first call), "
          f"{reference['seconds'] / galaxies['seconds_best']:.0f}x (best); "
          f"peak memory {reference['peak_rss_mb'] / galaxies['peak_rss_mb']:.1f}x lower")


if __name__ == "__main__":
    main()
