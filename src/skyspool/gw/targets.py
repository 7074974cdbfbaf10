"""What the product table (skyspool.contract) asks about a GW alert entry."""

from __future__ import annotations

import functools
from pathlib import Path

from skyspool import coincidence, contract
from skyspool.formats.gwalert import read_alert
from skyspool.paths import Entry


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


def facts(entry: Entry, config: dict) -> contract.Facts:
    """What the GW rows of the product table ask about an alert entry."""
    return contract.Facts(
        entry,
        retraction=lambda: entry.alert_type == "retraction",
        has_map=lambda: alert_has_skymap(entry.path),
        has_distance=lambda: _map_facts(Path(entry.path))[1],
        # the combined map, when a coinciding external trigger has a sky map
        combined=lambda: "combined.multiorder.fits" in coincidence.gw_products(entry, config))
