"""Benchmark: each GW sky-map product on a small-area, a typical and a half-sky O4 map.

    python benchmarks/bench_products.py [--repeat 3] [--catalog glade.arrow] [--skip-reference]

Maps (../shared/corpus/gw/alerts): MS181101ab (31 deg2 at 90%, pixels to order 11),
S230518h (1,000 deg2) and S230525a (24,000 deg2, one detector: over half the sky).

Per product and map, three figures:
- ``cold``: a fresh Python process making that one product (imports included), as a
  Snakemake job without the daemon's warm process would;
- ``warm``: the best of --repeat calls in one process that has made it before: the floor
  (wall and CPU time; the ratios use CPU time, steadier on a shared machine);
- ``ligo.skymap``: what a user would pick instead, warm in one process: rasterize +
  write_sky_map (flat map), postprocess.contour at nside 512 (contours), crossmatch's
  credible areas (stats), and the galaxy list's crossmatch (with --catalog; needs the whole
  catalog in memory as a SkyCoord, loading not counted).
Settings are the defaults of config/config.yaml. Outputs go to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gw" / "alerts"
MAPS = {"small-area": "MS181101ab-preliminary.json", "typical": "S230518h-Preliminary_alert.json",
        "half-sky": "S230525a-preliminary.json"}
PRODUCTS = ("skymap.flat.fits.gz", "stats.json", "contours.geojson", "moc90.fits", "skymap.png",
            "volume.png", "galaxies.ecsv")


def make_product(name: str, alert: str, multiorder: str, out: Path, catalog: str | None) -> None:
    """Make product ``name`` of one alert into ``out``, with the default settings."""
    import yaml

    from skyspool.gw import products as gw

    settings = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    skymap = settings["skymap"]
    stats = out / "stats.json"
    if not stats.exists():
        gw.write_stats(alert, multiorder, str(stats))
    calls = {
        "skymap.flat.fits.gz": lambda path: gw.write_flat(multiorder, path, skymap["flat_nside"]),
        "stats.json": lambda path: gw.write_stats(alert, multiorder, path),
        "contours.geojson": lambda path: gw.write_contours(multiorder, path, skymap["credible_levels"],
                                                           skymap["contour_nside"], skymap["contour_min_pixels"]),
        "moc90.fits": lambda path: gw.write_moc(multiorder, path, 90),
        "skymap.png": lambda path: gw.write_skymap_png(multiorder, str(stats), path, skymap["plot_nside"]),
        "volume.png": lambda path: gw.write_volume_png(multiorder, str(stats), path),
        "galaxies.ecsv": lambda path: gw.write_galaxies(multiorder, path, {**settings["galaxies"], "catalog": catalog}),
    }
    calls[name](str(out / name))


def reference(name: str, multiorder: str, out: Path, catalog: str | None) -> None:
    """ligo.skymap's way to the same product, in this process."""
    from ligo.skymap.io import read_sky_map

    skymap = read_sky_map(multiorder, moc=True)
    if name == "skymap.flat.fits.gz":
        from ligo.skymap.bayestar import rasterize
        from ligo.skymap.io import write_sky_map

        write_sky_map(str(out / "reference.fits.gz"), rasterize(skymap, 9), nest=True)
    elif name == "stats.json":
        from ligo.skymap.postprocess import crossmatch

        crossmatch(skymap, contours=(0.5, 0.9))
    elif name == "contours.geojson":
        from ligo.skymap.bayestar import rasterize
        from ligo.skymap.postprocess import contour, find_greedy_credible_levels

        levels = 100 * find_greedy_credible_levels(rasterize(skymap[["UNIQ", "PROBDENSITY"]], 9)["PROB"])
        contour(levels, [50, 90], nest=True, degrees=True, simplify=True)
    elif name == "galaxies.ecsv" and catalog:
        global _catalog_coordinates
        import astropy.units as u
        from astropy.coordinates import SkyCoord
        from ligo.skymap.postprocess.crossmatch import crossmatch

        if _catalog_coordinates is None:
            from skyspool.catalog import IndexedCatalog

            table = IndexedCatalog(catalog).read(columns=["ra_deg", "dec_deg", "distance_mpc"])
            _catalog_coordinates = SkyCoord(table["ra_deg"].to_numpy() * u.deg, table["dec_deg"].to_numpy() * u.deg,
                                            table["distance_mpc"].to_numpy() * u.Mpc)
        crossmatch(skymap, _catalog_coordinates, cosmology=False)
    else:
        raise KeyError(name)


_catalog_coordinates = None
REFERENCE_PRODUCTS = ("skymap.flat.fits.gz", "stats.json", "contours.geojson", "galaxies.ecsv")


def best_time(function, repeat: int) -> tuple[float, float]:
    """Best wall and best CPU time (s) of ``repeat`` calls after a first one (caches, imports):
    on a shared machine the CPU time is the steadier figure."""
    function()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--catalog", help="indexed galaxy catalog (skyspool catalog build); none: no galaxies.ecsv")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, alert, multiorder, out, catalog = args.worker
        make_product(name, alert, multiorder, Path(out), catalog or None)
        return

    from skyspool.formats.gwalert import read_alert

    products = [name for name in PRODUCTS if name != "galaxies.ecsv" or args.catalog]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-products-") as scratch:
        for kind, alert_name in MAPS.items():
            out = Path(scratch, kind)
            out.mkdir()
            alert = str(CORPUS / alert_name)
            multiorder = out / "skymap.multiorder.fits"
            multiorder.write_bytes(read_alert(alert).skymap)
            for name in products:
                start = time.perf_counter()
                subprocess.run([sys.executable, __file__, "--worker", name, alert, str(multiorder), str(out),
                                args.catalog or ""], check=True)
                cold = time.perf_counter() - start
                warm, warm_cpu = best_time(lambda: make_product(name, alert, str(multiorder), out, args.catalog),
                                           args.repeat)
                ligo, ligo_cpu = (best_time(lambda: reference(name, str(multiorder), out, args.catalog), args.repeat)
                                  if name in REFERENCE_PRODUCTS and not args.skip_reference else (None, None))
                rows.append({"map": kind, "product": name, "cold_s": cold, "warm_s": warm, "warm_cpu_s": warm_cpu,
                             "ligo_skymap_s": ligo, "ligo_skymap_cpu_s": ligo_cpu})
                print(f"{kind:10s} {name:20s} cold {cold:6.2f} s   warm {warm:6.3f} s ({warm_cpu:6.3f} s CPU)"
                      + (f"   ligo.skymap {ligo:6.3f} s ({ligo_cpu:6.3f} s CPU, {ligo_cpu / warm_cpu:.1f}x)"
                         if ligo else ""), flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
