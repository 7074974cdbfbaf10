"""The product contract: one declarative table per kind of spool entry.

Each row names one product file (or folder) of an entry, ``products/<kind>/<event>/<NNN>-<type>/<name>``
(DESIGN.md), with the rule that makes it, its stage (``notice``: what an outside reader waits for
first, built before anything else; ``rest``; ``dashboard``), where it runs (``local``: where
Snakemake runs, never in a batch queue; otherwise a cluster job under ``profiles/slurm`` or
``profiles/htcondor``), its Snakemake priority, its group in the cluster profiles, and the condition
under which the entry has it. Everything else is derived from here: the product lists
(:mod:`skyspool.targets`), the daemon's notice set (:func:`notice_names`), the ``localrules`` and
``priority:`` of ``workflow/rules/*.smk`` (:func:`local_rules`, :func:`priority`) and the profiles'
``groups:`` (:func:`groups`; tests/test_contract.py checks the rules and the profiles against it).

A condition is a plain function ``(facts, config, now) -> bool``: ``facts`` are what the kind's glue
module (``skyspool.gw.targets.facts`` etc.) knows about the entry, computed on first use; ``config``
the validated configuration; ``now`` the caller's clock (UNIX s): conditions never read the clock.
This module is a leaf: it imports nothing of skyspool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

STAGES = ("notice", "rest", "dashboard")


class Facts(Mapping):
    """What is known about one entry, each fact computed by its provider on first use (reading an
    alert or listing partners costs time, and a retraction needs none of it)."""

    def __init__(self, entry: Any, **providers: Callable[[], Any]):
        self.entry = entry
        self._providers = providers
        self._known: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._known:
            self._known[name] = self._providers[name]()
        return self._known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)


Condition = Callable[[Facts, dict, float], bool]


def always(facts: Facts, config: dict, now: float) -> bool:
    return True


def fact(name: str) -> Condition:
    """The condition that the fact ``name`` holds."""
    return lambda facts, config, now: bool(facts[name])


def every(*conditions: Condition) -> Condition:
    return lambda facts, config, now: all(c(facts, config, now) for c in conditions)


def negate(condition: Condition) -> Condition:
    return lambda facts, config, now: not condition(facts, config, now)


def due(name: str) -> Condition:
    """The condition that the time given by the fact ``name`` (UNIX s, or None: never) has come."""
    return lambda facts, config, now: facts[name] is not None and now >= facts[name]


def configured(section: str, key: str, default: Any = None) -> Condition:
    """The condition that ``config[section][key]`` is set (true, non-empty)."""
    return lambda facts, config, now: bool(config.get(section, {}).get(key, default))


@dataclass(frozen=True)
class Product:
    """One row of a product table."""

    name: str  # file or folder name in the entry's product folder
    rule: str  # the Snakemake rule that makes it
    stage: str  # one of STAGES
    local: bool  # runs where Snakemake runs (localrules), never in a batch queue
    priority: int = 0  # Snakemake priority of the rule
    group: str | None = None  # group of the rule's jobs in the cluster profiles
    when: Condition = always
    # a fact listing names: one product per name, named so (``name`` is then a pattern)
    each: str | None = None

    def also(self, condition: Condition) -> Product:
        """The same row, under ``condition`` as well."""
        return Product(self.name, self.rule, self.stage, self.local, self.priority, self.group,
                       every(condition, self.when), self.each)


# --- GW alerts (products/gw/): facts retraction, has_map, has_distance, combined ------------------

_gw_alert = negate(fact("retraction"))
_gw_map = every(_gw_alert, fact("has_map"))
_gw_distance = every(_gw_map, fact("has_distance"))

GW = (
    Product("notice.json", "gw_notice_json", "notice", True, 50),
    Product("notice.xml", "gw_notice_xml", "notice", True, 45),
    Product("circular.txt", "gw_circular", "notice", True, 45),
    Product("coincidences.json", "gw_coincidences", "rest", True, 45, when=_gw_alert),
    # the combined map, when a coinciding external trigger has a sky map
    Product("combined.multiorder.fits", "gw_combined_skymap", "rest", False, 40, "products",
            every(_gw_alert, fact("combined"))),
    Product("combined.png", "gw_combined_png", "rest", False, 0, "products",
            every(_gw_alert, fact("combined"))),
    Product("skymap.multiorder.fits", "gw_skymap_multiorder", "rest", True, 40, when=_gw_map),
    Product("skymap.flat.fits.gz", "gw_skymap_flat", "rest", False, 0, "products", _gw_map),
    Product("stats.json", "gw_stats", "rest", True, 40, when=_gw_map),
    Product("contours.geojson", "gw_contours", "rest", False, 0, "products", _gw_map),
    Product("moc50.fits", "gw_moc", "rest", False, 0, "products", _gw_map),
    Product("moc90.fits", "gw_moc", "rest", False, 0, "products", _gw_map),
    Product("skymap.png", "gw_skymap_png", "rest", False, 0, "products", _gw_map),
    Product("classification.json", "gw_classification", "rest", True, 30, when=_gw_alert),
    # Fermi GBM Earth occultation and LAT field of view (skyspool.fermi)
    Product("fermi_occultation.moc.fits", "gw_fermi_mocs", "rest", False, 0,
            when=every(_gw_map, configured("fermi", "enabled"))),
    Product("lat_fov.moc.fits", "gw_fermi_mocs", "rest", False, 0,
            when=every(_gw_map, configured("fermi", "enabled"))),
    Product("volume.png", "gw_volume_png", "rest", False, 10, "products", _gw_distance),
    Product("galaxies.ecsv", "gw_galaxies", "rest", False, 20, "products",
            every(_gw_distance, configured("galaxies", "catalog"))),
    Product("skymap.thumb.png", "dashboard_thumbnail", "dashboard", True, when=_gw_map),
)

# --- GCN notices (grb, neutrino, snews; FRB notices): facts map_file (a mission map stored with ---
# --- the notices: no products), has_map, fermi_craft, coincidence (a window names the kind) -------

_notice = negate(fact("map_file"))
_notice_map = every(_notice, fact("has_map"))
_notice_fermi = every(_notice, fact("fermi_craft"))

NOTICE = (
    Product("notice.json", "notice_json", "notice", True, 50, when=_notice),
    Product("stats.json", "notice_stats", "rest", True, 40, when=_notice),
    Product("skymap.multiorder.fits", "notice_skymap", "rest", True, 40, when=_notice_map),
    Product("moc90.fits", "notice_moc90", "rest", False, 0, "products", _notice_map),
    Product("contours.geojson", "notice_contours", "rest", False, 0, "products", _notice_map),
    Product("skymap.png", "notice_skymap_png", "rest", False, 0, "products", _notice_map),
    Product("earth_moc.fits", "notice_earth_moc", "rest", False, 0, "products", _notice_fermi),
    Product("lat_fov_moc.fits", "notice_lat_fov_moc", "rest", False, 0, "products", _notice_fermi),
    Product("coincidences.json", "notice_coincidences", "rest", True, 45,
            when=every(_notice, fact("coincidence"))),
    Product("skymap.thumb.png", "dashboard_thumbnail", "dashboard", True, when=_notice_map),
)

# --- FRB observations and notices (products/frb/): facts notice (a CHIME/FRB notice), chunk ------
# --- (a candidate chunk), summary (a stop that does not abort), filterbanks (the names of the ------
# --- chunk's compound beam's filterbank entries) ---------------------------------------------------

_chunk = fact("chunk")
_summary = fact("summary")
_frb_plot = configured("frb", "plot", True)

FRB = tuple(row.also(fact("notice")) for row in NOTICE) + (
    Product("summary.html", "frb_summary", "rest", False, 40, when=_summary),
    # frb_chunk writes the VOEvents and sends LOFAR triggers: the notice path, never queued
    Product("clusters.csv", "frb_chunk", "rest", True, 50, when=_chunk),
    Product("clusters.csv", "frb_summary", "rest", False, 40, when=_summary),
    Product("triggers.json", "frb_chunk", "notice", True, 50, when=_chunk),
    Product("triggers.json", "frb_summary", "notice", False, 40, when=_summary),
    Product("triggers", "frb_chunk", "rest", True, 50, when=_chunk),
    # what goes out (LOFAR packets, e-mails), sent after the run by skyspool.publish.effects
    Product("effects.json", "frb_chunk", "rest", True, 50, when=_chunk),
    Product("effects.json", "frb_summary", "rest", False, 40, when=_summary),
    Product("candidates.png", "frb_chunk", "rest", True, 50, when=every(_chunk, _frb_plot)),
    Product("candidates.png", "frb_summary", "rest", False, 40, when=every(_summary, _frb_plot)),
    Product("{filterbank}", "frb_filterbank_views", "rest", False, 30, when=_chunk, each="filterbanks"),
)

# --- GW pipeline candidates (products/gwcand/): facts burst, settle_due_at, -----------------------
# --- second_preliminary_due_at (UNIX s or None). The whole decision path runs locally: it holds ---
# --- the superevent lock and must never wait in a batch queue. -----------------------------------

_settled = due("settle_due_at")

GWCAND = (
    Product("bayestar.multiorder.fits", "gwcand_bayestar", "rest", True, 60, when=negate(fact("burst"))),
    Product("skymap.multiorder.fits", "gwcand_burst_skymap", "rest", True, 60, when=fact("burst")),
    Product("classification.json", "gwcand_classification", "rest", True, 60),
    Product("superevent.json", "gwcand_superevent", "rest", True, 70),
    Product("settled.json", "gwcand_settle", "rest", True, 70, when=_settled),
    # each step's record, and the alerts it decided on (<step>.effects.json: put in the inbox
    # after the run by skyspool.publish.effects)
    Product("orchestrator.json", "gwcand_orchestrate", "rest", True, 70, when=_settled),
    Product("orchestrator.effects.json", "gwcand_orchestrate", "rest", True, 70, when=_settled),
    # the decision re-opened by a publishable coincidence
    Product("raven.json", "gwcand_raven", "rest", True, 70, when=_settled),
    Product("raven.effects.json", "gwcand_raven", "rest", True, 70, when=_settled),
    Product("second_preliminary.json", "gwcand_second_preliminary", "rest", True, 0,
            when=due("second_preliminary_due_at")),
    Product("second_preliminary.effects.json", "gwcand_second_preliminary", "rest", True, 0,
            when=due("second_preliminary_due_at")),
)

# --- the dashboard: pages per event (products/<kind>/<event>/) and the index (products/); the ----
# --- entries' thumbnails are rows of their kinds' tables ------------------------------------------

DASHBOARD = (
    Product("index.html", "dashboard_event", "dashboard", True),
    Product("event.json", "dashboard_event", "dashboard", True),
    Product("index.html", "dashboard_index", "dashboard", True),
)

#: The table of each kind of spool entry (``gwdq`` segment lists: read by the orchestrator, no products).
TABLES: dict[str, tuple[Product, ...]] = {
    "gw": GW, "grb": NOTICE, "neutrino": NOTICE, "snews": NOTICE, "frb": FRB, "gwcand": GWCAND,
    "gwdq": (),
}


def rows() -> list[Product]:
    """Every row of every table (the dashboard's included), once."""
    seen: dict[Product, None] = {}
    for table in (*TABLES.values(), DASHBOARD):
        seen.update(dict.fromkeys(table))
    return list(seen)


def product_names(kind: str, facts: Facts, config: dict, now: float,
                  stages: tuple[str, ...] = STAGES) -> list[str]:
    """The product names of the entry of ``kind`` that ``facts`` describe, in table order, each once."""
    return select(TABLES.get(kind, ()), facts, config, now, stages)


def select(table: tuple[Product, ...], facts: Facts, config: dict, now: float,
           stages: tuple[str, ...] = STAGES) -> list[str]:
    """The names of the rows of ``table`` whose conditions hold, in table order, each once."""
    names: list[str] = []
    for row in table:
        if row.stage in stages and row.when(facts, config, now):
            for name in facts[row.each] if row.each else [row.name]:
                if name not in names:
                    names.append(name)
    return names


def notice_names() -> frozenset[str]:
    """Names of the notice-stage products, which the daemon builds before anything else."""
    return frozenset(row.name for row in rows() if row.stage == "notice")


def _by_rule() -> dict[str, list[Product]]:
    found: dict[str, list[Product]] = {}
    for row in rows():
        found.setdefault(row.rule, []).append(row)
    return found


def _one(rule: str, column: str) -> Any:
    """A rule's value of ``column``, which its rows must agree on."""
    values = {getattr(row, column) for row in _by_rule()[rule]}
    if len(values) != 1:
        raise ValueError(f"the product table gives rule {rule} several values of {column}: "
                         f"{sorted(map(str, values))}")
    return values.pop()


def rules() -> list[str]:
    """Every rule the tables name."""
    return list(_by_rule())


def local_rules() -> list[str]:
    """The rules that run where Snakemake runs (``localrules``)."""
    return [rule for rule in _by_rule() if _one(rule, "local")]


def priority(rule: str) -> int:
    """The Snakemake priority of ``rule``."""
    return _one(rule, "priority")


def groups() -> dict[str, str]:
    """``{rule: group}`` of the grouped rules: the cluster profiles' ``groups:``."""
    return {rule: _one(rule, "group") for rule in _by_rule() if _one(rule, "group")}
