# Helpers shared by the workflow: configuration, the spool, target lists, input functions.

from skyspool import coincidence
from skyspool import config as skyspool_config
from skyspool import targets
from skyspool import dashboard, ids
from skyspool.gw.targets import alert_has_skymap
from skyspool.jobs import run_logged
from skyspool.notices.targets import notice_products as notice_product_names
from skyspool.paths import Spool

if "spool" not in config:
    raise ValueError("say which spool to work on: --config spool=DIR")

SPOOL = Spool(config["spool"])
# config/config.yaml, overlaid by the spool's config.yaml, then by --config; validated
# against workflow/schemas/config.schema.yaml with its defaults (the same loader as the CLI).
config.update(skyspool_config.load(SPOOL, overrides=workflow.config_settings.overwrite_config))


def all_targets():
    """Every missing product of every spool entry (what `rule all` asks for)."""
    return [str(path.relative_to(SPOOL.root)) for path in
            targets.missing_targets(SPOOL, SPOOL.entries(), config)]


def spool_entry(kind):
    """Input function: the spool file of the entry named by the wildcards."""

    def entry_path(wildcards):
        entry = SPOOL.find_entry(kind, wildcards.event, wildcards.entry)
        return str(entry.path.relative_to(SPOOL.root))

    return entry_path


def sequence(wildcards):
    """The arrival number NNN of the entry named by the wildcards."""
    return int(wildcards.entry.split("-", 1)[0])


def gw_stats_if_map(wildcards):
    """stats.json when the alert has a sky map (not for retractions)."""
    alert_path = SPOOL.root / spool_entry("gw")(wildcards)
    return ["products/gw/{event}/{entry}/stats.json"] if alert_has_skymap(alert_path) else []


def gw_coincidences_unless_retraction(wildcards):
    """coincidences.json, which every alert but a retraction has."""
    return [] if wildcards.entry.endswith("-retraction") else ["products/gw/{event}/{entry}/coincidences.json"]


def gw_galaxies_if_listed(wildcards):
    """galaxies.ecsv when this entry gets one (a catalog is configured, the map has distance)."""
    entry = SPOOL.find_entry("gw", wildcards.event, wildcards.entry)
    return (["products/gw/{event}/{entry}/galaxies.ecsv"]
            if "galaxies.ecsv" in targets.product_names(entry, config) else [])


def gw_role(wildcards):
    """VOEvent role: mock (MS...) and test (TS...) superevents are tests."""
    return "test" if wildcards.event[:1] in ("M", "T") else "observation"


def notice_entry(wildcards):
    """Input function: the spool file of the notice entry named by the wildcards."""
    entry = SPOOL.find_entry(wildcards.kind, wildcards.event, wildcards.entry)
    return str(entry.path.relative_to(SPOOL.root))


def coincidence_partners(wildcards):
    """Input function: spool files of the other side's coinciding entries (a new partner
    is a new input, so Snakemake remakes the coincidence products)."""
    entry = SPOOL.find_entry(getattr(wildcards, "kind", "gw"), wildcards.event, wildcards.entry)
    return coincidence.partner_paths(SPOOL, entry, config)


def notice_skymap_if_any(wildcards):
    """skymap.multiorder.fits when the notice can have one."""
    entry = SPOOL.find_entry(wildcards.kind, wildcards.event, wildcards.entry)
    if "skymap.multiorder.fits" not in notice_product_names(entry, config):
        return []
    return [f"products/{wildcards.kind}/{wildcards.event}/{wildcards.entry}/skymap.multiorder.fits"]


# Every kind (the global wildcard constraint leaves out gw, whose rules name it literally).
ANY_KIND = "|".join(ids.KINDS)


def dashboard_event_inputs(wildcards):
    """Input function: the files an event page is made from (those there are now)."""
    return [str(path.relative_to(SPOOL.root))
            for path in dashboard.event_inputs(SPOOL, wildcards.kind, wildcards.event)]


def dashboard_summaries(wildcards):
    """Input function: event.json of every event in the spool."""
    return [f"products/{kind}/{event}/{dashboard.SUMMARY}" for kind, event in SPOOL.events()]
