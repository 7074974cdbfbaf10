"""Which products each spool entry gets.

Every kind of message registers a function that lists the product file names of one
entry (``products/<kind>/<event_id>/<NNN>-<type>/<name>``). The Snakefile's ``all`` rule,
``skyspool process``, the daemon and ``skyspool status`` all ask this one place.
"""

from __future__ import annotations

from typing import Callable

from skyspool.paths import Entry, Spool

ProductLister = Callable[[Entry, dict], list[str]]
_LISTERS: dict[str, ProductLister] = {}


def products_for(kind: str) -> Callable[[ProductLister], ProductLister]:
    """Register the function that names the products of an entry of ``kind``."""

    def decorate(lister: ProductLister) -> ProductLister:
        _LISTERS[kind] = lister
        return lister

    return decorate


def product_names(entry: Entry, config: dict) -> list[str]:
    """The product file names of ``entry`` under the given (validated) configuration."""
    lister = _LISTERS.get(entry.kind)
    names = lister(entry, config) if lister else []
    # Every sky-map plot gets the dashboard's thumbnail (skyspool.dashboard).
    return names + ["skymap.thumb.png"] if "skymap.png" in names else names


def entry_targets(spool: Spool, entry: Entry, config: dict) -> list:
    """Absolute paths of the products of ``entry``."""
    return [spool.product(entry, name) for name in product_names(entry, config)]


def missing_targets(spool: Spool, entries: list[Entry], config: dict) -> list:
    """Products of ``entries`` that do not exist yet (cheap: one stat per product)."""
    return [target for entry in entries for target in entry_targets(spool, entry, config)
            if not target.exists()]


# The built-in kinds register their product lists on import.
from skyspool import candidates as _candidates  # noqa: E402,F401
from skyspool.gw import targets as _gw_targets  # noqa: E402,F401
from skyspool.notices import targets as _notice_targets  # noqa: E402,F401
from skyspool.frb import targets as _frb_targets  # noqa: E402,F401
