# Helpers shared by the rule files: configuration, the spool, and target lists.

from skyspool import config as skyspool_config
from skyspool import targets
from skyspool.jobs import run_logged
from skyspool.paths import Spool

if "spool" not in config:
    raise ValueError("say which spool to work on: --config spool=DIR")

SPOOL = Spool(config["spool"])
# config/config.yaml, overlaid by the spool's config.yaml, then by --config; validated
# against workflow/schemas/config.schema.yaml with its defaults (the same loader as the CLI).
config.update(skyspool_config.load(SPOOL, overrides=workflow.config_settings.overwrite_config))

# Products are written inside the spool; Snakemake's own state (.snakemake/) lives there too,
# so two spools never share locks.
workdir: str(SPOOL.root)


# (Snakemake's wildcard parser does not take {m,n} repeats; lengths are checked at ingest.)
wildcard_constraints:
    event=r"[A-Za-z0-9][A-Za-z0-9_.\-]*",
    entry=r"\d\d\d+-[a-z][a-z0-9_]*",


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
