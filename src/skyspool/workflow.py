"""Asking Snakemake for targets, in this process (no new interpreter, warm imports)."""

from __future__ import annotations

import logging
from pathlib import Path

from skyspool.config import workflow_root
from skyspool.paths import Spool

log = logging.getLogger(__name__)


def snakemake_argv(spool: Spool, targets: list[Path], *, cores: int = 2,
                   extra: list[str] | None = None) -> list[str]:
    """The snakemake command line that builds ``targets`` of ``spool``."""
    relative = [str(Path(t).relative_to(spool.root)) for t in targets]
    # --quiet takes a list: it goes first so that it cannot swallow the targets. The default
    # profile is named explicitly (Snakemake finds it by itself only from the repository),
    # so that a --profile among ``extra`` still overrides it.
    return ["--quiet", "rules", "--profile", str(workflow_root() / "profiles" / "default"),
            "--snakefile", str(workflow_root() / "Snakefile"),
            "--rerun-incomplete", "--keep-going", "--config", f"spool={spool.root}",
            "--cores", str(cores), *(extra or []), *relative]


def profile_args(profile: str | None) -> list[str]:
    """``--profile`` for a Snakemake profile given by name (a folder of ``profiles/``, e.g.
    ``slurm``) or by path; nothing for None."""
    if not profile:
        return []
    named = workflow_root() / "profiles" / profile
    return ["--profile", str(named if named.is_dir() else Path(profile).expanduser().resolve())]


def run_snakemake(spool: Spool, targets: list[Path], *, cores: int = 2,
                  extra: list[str] | None = None) -> bool:
    """Build ``targets`` (or, with none, nothing); True when every job succeeded."""
    from snakemake.cli import main as snakemake_main

    if not targets and not extra:
        return True
    argv = snakemake_argv(spool, targets, cores=cores, extra=extra)
    log.info("snakemake %d targets", len(targets))
    try:
        snakemake_main(argv)
    except SystemExit as exit_:
        return exit_.code in (0, None)
    return True
