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
include: "workflow/rules/gw.smk"
include: "workflow/rules/notices.smk"


rule all:
    input:
        all_targets(),
    default_target: True
