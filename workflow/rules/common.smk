# Helpers shared by the workflow: configuration, the spool, target lists, input functions.

from skyspool import coincidence, contract
from skyspool import config as skyspool_config
from skyspool import targets
from skyspool import dashboard, ids
from skyspool.frb import targets as frb_targets
from skyspool.gw.targets import alert_has_skymap
from skyspool.jobs import run_logged, set_time_limit as set_job_time_limit
from skyspool.formats.skymaps import mission_map_file
from skyspool.notices import read_notice
from skyspool.notices.targets import notice_products as notice_product_names
from skyspool.paths import Spool

if "spool" not in config:
    raise ValueError("say which spool to work on: --config spool=DIR")

SPOOL = Spool(config["spool"])
# config/config.yaml, overlaid by the spool's config.yaml, then by --config; validated
# against workflow/schemas/config.schema.yaml with its defaults (the same loader as the CLI).
config.update(skyspool_config.load(SPOOL, overrides=workflow.config_settings.overwrite_config))
# Every product job is stopped after job_timeout_s (skyspool.jobs: it runs in its own process).
set_job_time_limit(config["job_timeout_s"])

# Which rules run where Snakemake runs (never in a batch queue), and every priority, come from the
# product table (skyspool.contract); this is what a `localrules` directive does.
workflow.localrules(*contract.local_rules())


def all_targets():
    """Every missing product of every spool entry (what `rule all` asks for)."""
    return [str(path.relative_to(SPOOL.root)) for path in targets.missing_targets(SPOOL, SPOOL.entries(), config)]


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


def gw_galaxies_for_notice(wildcards):
    """galaxies.ecsv when notice.json lists the top galaxies (galaxies.top_n > 0) and this
    entry gets one (a catalog is configured, the map has distance)."""
    if not config["galaxies"]["top_n"]:
        return []
    entry = SPOOL.find_entry("gw", wildcards.event, wildcards.entry)
    return (
        ["products/gw/{event}/{entry}/galaxies.ecsv"] if "galaxies.ecsv" in targets.product_names(entry, config) else []
    )


def gw_role(wildcards):
    """VOEvent role: mock (MS...) and test (TS...) superevents are tests."""
    return "test" if wildcards.event[:1] in ("M", "T") else "observation"


def notice_entry(wildcards):
    """Input function: the spool file of the notice entry named by the wildcards."""
    entry = SPOOL.find_entry(wildcards.kind, wildcards.event, wildcards.entry)
    return str(entry.path.relative_to(SPOOL.root))


def notice_mission_map(wildcards):
    """Input function: the mission map file the notice uses (skyspool.formats.skymaps.mission_map_file),
    if any: when it arrives, the notice's products are remade with it."""
    entry = SPOOL.find_entry(wildcards.kind, wildcards.event, wildcards.entry)
    if not read_notice(entry.path).skymap_file:
        return []
    return [str(mission_map_file(entry.path).relative_to(SPOOL.root))]


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


def frb_observation(wildcards):
    """The FRB observation description in force for the entry named by the wildcards."""
    return str(frb_targets.observation_file(SPOOL, wildcards.event, wildcards.entry).relative_to(SPOOL.root))


def frb_source_list(wildcards):
    """The newest known-source list in the spool (none: no known sources)."""
    return [str(p.relative_to(SPOOL.root)) for p in frb_targets.source_list_files(SPOOL)]


def frb_previous_triggers(wildcards):
    """triggers.json of the observation's previous chunk, whose trigger limits a chunk continues."""
    chunks = frb_targets.previous_chunks(SPOOL, wildcards.event, wildcards.entry)
    return [f"products/frb/{wildcards.event}/{chunks[-1].name}/triggers.json"] if chunks else []


def frb_chunks(wildcards):
    """The observation's candidate chunks stored before the entry named by the wildcards."""
    return [
        str(e.path.relative_to(SPOOL.root))
        for e in frb_targets.previous_chunks(SPOOL, wildcards.event, wildcards.entry)
    ]


def frb_chunk_triggers(wildcards):
    """triggers.json of every chunk stored before the entry named by the wildcards."""
    return [
        f"products/frb/{wildcards.event}/{e.name}/triggers.json"
        for e in frb_targets.previous_chunks(SPOOL, wildcards.event, wildcards.entry)
    ]


def frb_filterbank_entry(wildcards):
    """The spool file of the filterbank entry named by the wildcard ``filterbank``."""
    return str(SPOOL.find_entry("frb", wildcards.event, wildcards.filterbank).path.relative_to(SPOOL.root))


def frb_first_input(name):
    """Params function: the first file of the rule's input ``name``, or None when it lists none."""
    return lambda wildcards, input: (getattr(input, name) or [None])[0]


def frb_plot_output(entry_dir):
    """candidates.png among a rule's outputs when FRB plots are configured."""
    return {"plot": f"{entry_dir}/candidates.png"} if config["frb"]["plot"] else {}


def candidate_entry(wildcards):
    """The gwcand spool entry named by the wildcards."""
    return SPOOL.find_entry("gwcand", wildcards.event, wildcards.entry)


def candidate_coincidence_partners(wildcards):
    """Input function: spool files of the external triggers coinciding with a pipeline
    candidate in its superevent (a new one remakes its raven.json)."""
    return coincidence.candidate_partner_paths(SPOOL, candidate_entry(wildcards), config)


def candidate_skymap(wildcards):
    """Input function: a candidate's sky map, BAYESTAR's (CBC) or its pipeline's own (burst)."""
    from skyspool.gwcand import skymap_product

    name = skymap_product(candidate_entry(wildcards).alert_type)
    return f"products/gwcand/{wildcards.event}/{wildcards.entry}/{name}"


def dq_segment_lists(wildcards):
    """Input function: every data-quality segment list in the spool (a new one is a new input)."""
    return [str(entry.path.relative_to(SPOOL.root)) for entry in SPOOL.entries("gwdq")]


# Every kind (the global wildcard constraint leaves out gw, whose rules name it literally).
ANY_KIND = "|".join(ids.KINDS)


def dashboard_event_inputs(wildcards):
    """Input function: the files an event page is made from (those there are now)."""
    return [
        str(path.relative_to(SPOOL.root)) for path in dashboard.event_inputs(SPOOL, wildcards.kind, wildcards.event)
    ]


def dashboard_summaries(wildcards):
    """Input function: event.json of every event in the spool."""
    return [f"products/{kind}/{event}/{dashboard.SUMMARY}" for kind, event in SPOOL.events()]
