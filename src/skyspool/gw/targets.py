"""The products of a GW alert entry (the contract in DESIGN.md)."""

from __future__ import annotations

import functools

from pathlib import Path

from skyspool import coincidence, settings
from skyspool.formats.gwalert import read_alert
from skyspool.paths import Entry
from skyspool.targets import products_for

NOTICE_PRODUCTS = ["notice.json", "notice.xml", "circular.txt"]
SKYMAP_PRODUCTS = ["skymap.multiorder.fits", "skymap.flat.fits.gz", "stats.json",
                   "contours.geojson", "moc50.fits", "moc90.fits", "skymap.png",
                   "classification.json"]
# Fermi GBM Earth occultation and LAT field of view (skyspool.fermi), when fermi.enabled.
FERMI_PRODUCTS = ["fermi_occultation.moc.fits", "lat_fov.moc.fits"]


@functools.lru_cache(maxsize=4096)
def _map_facts(path: Path) -> tuple[bool, bool]:
    """(has a sky map, the map has distance) for a spooled alert; spool entries never change."""
    from skyspool.skymap import has_distance  # deferred: FITS reading

    alert = read_alert(path)
    if alert.skymap is None:
        return False, False
    return True, has_distance(alert.skymap)


def alert_has_skymap(path: Path) -> bool:
    """True when the spooled alert at ``path`` carries a sky map."""
    return _map_facts(Path(path))[0]


@products_for("gw")
def gw_products(entry: Entry, config: dict) -> list[str]:
    if entry.alert_type == "retraction":
        return list(NOTICE_PRODUCTS)
    with_map, with_distance = _map_facts(Path(entry.path))
    names = list(NOTICE_PRODUCTS)
    names += coincidence.gw_products(entry, config)
    if with_map:
        names += SKYMAP_PRODUCTS
        if settings.of(config).fermi.enabled:
            names += FERMI_PRODUCTS
        if with_distance:
            names.append("volume.png")
            if settings.of(config).galaxies.catalog:
                names.append("galaxies.ecsv")
    else:
        names.append("classification.json")
    return names
