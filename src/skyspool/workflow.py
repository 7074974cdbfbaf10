"""Asking Snakemake for targets, in this process (no new interpreter, warm imports)."""

from __future__ import annotations

import ctypes
import functools
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
    """Build ``targets`` (or, with none, nothing); True when every job succeeded.

    As ``snakemake.cli.main`` does, except that a local run has no job rate limit. The
    command line always sets one (100 jobs/s), and Snakemake 9's scheduler then starts a
    1 s re-evaluation timer on every pass, each of which starts another: passes grow with
    the jobs finished so far, each one stat()s every ready job's inputs, and a run of a few
    hundred jobs spent most of its CPU there (snakemake/snakemake#3744). Cluster executors
    keep their limit: it protects the batch system.
    """
    from snakemake.cli import args_to_api, parse_args
    from snakemake.exceptions import print_exception

    if not targets and not extra:
        return True
    _snakemake_namespace()  # seen before the first run
    argv = snakemake_argv(spool, targets, cores=cores, extra=extra)
    log.info("snakemake %d targets", len(targets))
    try:
        parser, args = parse_args(argv)
        if args.executor in (None, "local"):
            args.max_jobs_per_timespan = None
        return bool(args_to_api(args, parser))
    except SystemExit as exit_:
        return exit_.code in (0, None)
    except Exception as error:  # what snakemake.cli.main reports before exiting 1
        print_exception(error)
        return False
    finally:
        _forget_finished_run()


@functools.cache
def _snakemake_namespace() -> dict:
    """The namespace of ``snakemake.workflow`` as first seen, before a Snakefile ran in it."""
    import snakemake.api  # noqa: F401 (imports snakemake.workflow without an import cycle)
    import snakemake.workflow

    return dict(vars(snakemake.workflow))


def _forget_finished_run() -> None:
    """Let the finished run's workflow go, in a process that runs Snakemake again and again
    (one run at a time: the daemon and each of its workers).

    A Snakefile runs in ``snakemake.workflow``'s own namespace, and each new workflow keeps a
    copy of that namespace, with the previous run's ``rules`` in it: every workflow so far
    stayed alive, about 1 MB a run. And the persistence layer's class-level ``lru_cache``s,
    keyed by the run's own objects, keep up to 128 past runs alive. Then the heap's free pages
    go back to the system: glibc keeps them, and the fragments that large sky-map arrays leave
    would add up."""
    import snakemake.workflow
    from snakemake.persistence import PersistenceBase

    namespace, pristine = vars(snakemake.workflow), _snakemake_namespace()
    for name in namespace.keys() - pristine.keys():
        del namespace[name]
    namespace.update(pristine)

    classes = [PersistenceBase]
    for cls in classes:
        classes.extend(cls.__subclasses__())  # the file and database back ends
        for attribute in vars(cls).values():
            function = attribute.fget if isinstance(attribute, property) else attribute
            if hasattr(function, "cache_clear"):
                function.cache_clear()
    ctypes.CDLL(None).malloc_trim(0)
