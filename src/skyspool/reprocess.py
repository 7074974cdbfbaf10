"""Rebuilding chosen products of chosen spool entries (``skyspool reprocess``), and
Snakemake's HTML report of their products (``skyspool report``).

The spool is the record of what was received; reprocessing rebuilds products from it,
e.g. after a configuration or code change. Each Snakemake run asks for the products of at
most ``batch`` entries, forced with ``--forceall`` (everything of those entries) or
``--forcerun RULE`` (that rule's products and what depends on them), so the cost of one
run does not grow with the spool: Snakemake never lists the spool, and the input
functions look only into the folders of the events they build.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from skyspool import targets, workflow
from skyspool.paths import Entry, Spool

# Entries per Snakemake run: large enough that Snakemake's start-up (~0.1 s in process)
# is small beside the work, small enough that its DAG stays cheap.
BATCH = 50


def select_entries(spool: Spool, *, kind: str | None = None, event: str | None = None,
                   since: float | None = None, until: float | None = None) -> list[Entry]:
    """Entries of ``kind`` and ``event`` (any when None) stored in the spool at or after
    ``since`` and before ``until`` (Unix times, s; the time an entry was stored is its
    spool file's modification time, which the spool never changes)."""
    if event is not None:
        kinds = [kind] if kind else [k for k, e in spool.events() if e == event]
        entries = [entry for k in kinds for entry in spool.entries_of(k, event)]
    else:
        entries = spool.entries(kind)
    if since is None and until is None:
        return entries
    low, high = since or float("-inf"), until or float("inf")
    return [entry for entry in entries if low <= entry.path.stat().st_mtime < high]


def batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def force_args(rule: str | None) -> list[str]:
    """Snakemake's flags forcing every job of the asked targets, or only ``rule``'s jobs
    and the jobs downstream of them."""
    # "--forcerun=RULE" as one token: the option takes a list and would swallow the targets.
    return [f"--forcerun={rule}"] if rule else ["--forceall"]


def reprocess(spool: Spool, entries: list[Entry], config: dict, *, rule: str | None = None,
              cores: int = 2, batch: int = BATCH, extra: list[str] | None = None,
              progress=None) -> bool:
    """Rebuild the products of ``entries`` (only ``rule``'s and those depending on them
    when given), ``batch`` entries per Snakemake run; True when every job succeeded.
    ``progress`` (when given) is called with the number of entries done after each run."""
    ok, done = True, 0
    for chunk in batches(entries, batch):
        paths: list[Path] = [t for entry in chunk for t in targets.entry_targets(spool, entry, config)]
        ok &= workflow.run_snakemake(spool, paths, cores=cores,
                                     extra=[*force_args(rule), *(extra or [])])
        done += len(chunk)
        if progress is not None:
            progress(done)
    return ok


def report(spool: Spool, entries: list[Entry], config: dict, path: Path) -> bool:
    """Write Snakemake's HTML report (``.html``, or ``.zip`` for large ones) of the built
    products of ``entries``, annotated with the captions of workflow/report/, to ``path``."""
    built = [t for entry in entries for t in targets.entry_targets(spool, entry, config)
             if t.exists()]
    return workflow.run_snakemake(spool, built, extra=[f"--report={Path(path).resolve()}"])
