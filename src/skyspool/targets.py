"""Which products each spool entry gets: the product table (:mod:`skyspool.contract`) asked with
the facts of the entry's kind.

The Snakefile's ``all`` rule, ``skyspool process``, the daemon and ``skyspool status`` all ask
this one place. Conditions that depend on time (a candidate's decision once its superevent has
settled) compare with ``now`` (UNIX s): the caller's clock, the wall clock when not given.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from skyspool import contract
from skyspool.frb import targets as frb_targets
from skyspool.gw import targets as gw_targets
from skyspool.gwcand import targets as gwcand_targets
from skyspool.notices import targets as notice_targets
from skyspool.paths import Entry, Spool

#: The facts of an entry of each kind that has products.
FACTS: dict[str, Callable[[Entry, dict], contract.Facts]] = {
    "gw": gw_targets.facts, "grb": notice_targets.facts, "neutrino": notice_targets.facts,
    "snews": notice_targets.facts, "frb": frb_targets.facts, "gwcand": gwcand_targets.facts,
}


def product_names(entry: Entry, config: dict, now: float | None = None) -> list[str]:
    """The product file names of ``entry`` under the given (validated) configuration."""
    facts = FACTS.get(entry.kind)
    if facts is None:
        return []  # segment lists, known-source lists: read by other products, none of their own
    return contract.product_names(entry.kind, facts(entry, config), config,
                                  time.time() if now is None else now)


def entry_targets(spool: Spool, entry: Entry, config: dict, now: float | None = None) -> list:
    """Absolute paths of the products of ``entry``."""
    return [spool.product(entry, name) for name in product_names(entry, config, now)]


def missing_targets(spool: Spool, entries: list[Entry], config: dict, now: float | None = None) -> list:
    """Products of ``entries`` that do not exist yet (cheap: one stat per product)."""
    return [target for entry in entries for target in entry_targets(spool, entry, config, now)
            if not target.exists()]
