# skyspool: every product of every message in a spool, as dependent targets.
#
#   snakemake --config spool=DIR --cores 2               everything missing in DIR
#   snakemake --config spool=DIR --cores 2 <product>    one product (path relative to DIR)
#   snakemake --profile profiles/slurm --config spool=DIR
#
# The daemon and `skyspool process` ask for the targets of new spool entries only.

from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"


# `snakemake --report` (or `skyspool report`): products annotated with workflow/report/ captions.
report: "workflow/report/workflow.rst"


# Products are written inside the spool; Snakemake's own state (.snakemake/) lives there too,
# so two spools never share locks.
workdir: str(SPOOL.root)


# (Snakemake's wildcard parser does not take {m,n} repeats; lengths are checked at ingest.)
wildcard_constraints:
    kind=r"grb|neutrino|snews|frb",  # GW rules name products/gw/ literally
    event=r"[A-Za-z0-9][A-Za-z0-9_.\-]*",
    entry=r"\d\d\d+-[a-z][a-z0-9_]*",


include: "workflow/rules/gw.smk"
include: "workflow/rules/notices.smk"
include: "workflow/rules/frb.smk"
include: "workflow/rules/gwcand.smk"
include: "workflow/rules/dashboard.smk"


rule all:
    input:
        # A function, so that only a run asking for `all` lists every missing product (one
        # stat per product, and each entry's alert read once per process): the daemon's runs
        # ask for a few targets each, and would pay for the whole spool every time.
        lambda wildcards: all_targets(),
    default_target: True
