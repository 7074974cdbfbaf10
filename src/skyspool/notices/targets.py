"""The products of a GCN notice entry (kinds grb, neutrino, snews; skyspool.frb.targets uses them
for CHIME/FRB notices)."""

from __future__ import annotations

import functools

from skyspool import settings
from skyspool.notices import maps, read_notice
from skyspool.notices.mission_maps import MAP_TYPE
from skyspool.ids import GCN_NOTICE_KINDS
from skyspool.paths import Entry

BASE_PRODUCTS = ["notice.json", "stats.json"]
SKYMAP_PRODUCTS = ["skymap.multiorder.fits", "moc90.fits", "contours.geojson", "skymap.png"]
FERMI_PRODUCTS = ["earth_moc.fits", "lat_fov_moc.fits"]
COINCIDENCE_PRODUCTS = ["coincidences.json"]


@functools.lru_cache(maxsize=4096)
def _facts(path) -> tuple[bool, bool]:
    """(can have a sky map, is a Fermi notice with the spacecraft position)."""
    notice = read_notice(path)
    return maps.has_map(notice), notice.mission == "Fermi" and maps.spacecraft_direction(notice) is not None


def notice_products(entry: Entry, config: dict) -> list[str]:
    """Product names of a notice entry; coincidences.json when a window names its kind.
    A mission map file stored with the notices has none (they use it)."""
    if entry.alert_type == MAP_TYPE:
        return []
    with_map, fermi_craft = _facts(entry.path)
    names = list(BASE_PRODUCTS)
    if with_map:
        names += SKYMAP_PRODUCTS
    if fermi_craft:
        names += FERMI_PRODUCTS
    windows = settings.of(config).coincidence.windows_s
    if any(key.startswith(f"{entry.kind}_") for key in windows) or entry.alert_type == "lvk_nu_track_search":
        names += COINCIDENCE_PRODUCTS
    return names


# Imported here: skyspool.targets imports skyspool.frb.targets, which needs notice_products.
from skyspool.targets import products_for  # noqa: E402

for _kind in GCN_NOTICE_KINDS:
    products_for(_kind)(notice_products)

