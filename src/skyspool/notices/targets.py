"""What the product table (skyspool.contract) asks about a GCN notice entry (kinds grb, neutrino,
snews; skyspool.frb.targets uses it for CHIME/FRB notices)."""

from __future__ import annotations

import functools
import time

from skyspool import contract, settings
from skyspool.formats.skymaps import MISSION_MAP_TYPE
from skyspool.notices import maps, read_notice
from skyspool.paths import Entry


@functools.lru_cache(maxsize=4096)
def _facts(path) -> tuple[bool, bool]:
    """(can have a sky map, is a Fermi notice with the spacecraft position)."""
    notice = read_notice(path)
    return maps.has_map(notice), notice.mission == "Fermi" and maps.spacecraft_direction(notice) is not None


def notice_facts(entry: Entry, config: dict) -> dict:
    """The providers of the facts of a notice entry (for :class:`skyspool.contract.Facts`)."""
    windows = settings.of(config).coincidence.windows_s
    return {
        # a mission map file stored with the notices has no products (they use it)
        "map_file": lambda: entry.alert_type == MISSION_MAP_TYPE,
        "has_map": lambda: _facts(entry.path)[0],
        "fermi_craft": lambda: _facts(entry.path)[1],
        # coincidences.json when a window names the kind
        "coincidence": lambda: (any(key.startswith(f"{entry.kind}_") for key in windows)
                                or entry.alert_type == "lvk_nu_track_search"),
    }


def facts(entry: Entry, config: dict) -> contract.Facts:
    """What the notice rows of the product table ask about a notice entry."""
    return contract.Facts(entry, **notice_facts(entry, config))


def notice_products(entry: Entry, config: dict, now: float | None = None) -> list[str]:
    """Product names of a notice entry but the dashboard's (the notice rows of the table)."""
    return contract.select(contract.NOTICE, facts(entry, config), config,
                           time.time() if now is None else now, stages=("notice", "rest"))
