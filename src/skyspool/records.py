"""What the watch daemon records: its log (one line per event and step), the failures of
products that failed for good, and the checkpoint (the last moment everything stored was
built or reported, where a restart's catch-up begins)."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from pathlib import Path

from skyspool import atomic, status, targets
from skyspool.frb import targets as frb_targets
from skyspool.paths import Entry, Spool

log = logging.getLogger("skyspool.watch")

# Snakemake's own output (job tables, tracebacks of failed jobs) goes here, not to our log.
SNAKEMAKE_LOG = "watch-snakemake.log"
# Entries stored up to this long (s) before the last checkpoint are re-examined anyway:
# covers clock steps and entries stored while the checkpoint was being written.
CHECKPOINT_MARGIN_S = 60.0


# ----- logging: one line per event and step -----

class JsonFormatter(logging.Formatter):
    """JSON lines: time (ISO 8601 UTC), level, step, message and the step's fields (a
    library's own warning has its logger's name as its step)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line = {"time": stamp.isoformat(timespec="milliseconds"), "level": record.levelname,
                "step": record.name, "message": record.getMessage(),
                **getattr(record, "fields", {})}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: str = "human", stream=None) -> None:
    """Send skyspool's log to ``stream`` (stderr) as plain lines or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # The libraries' own INFO lines would repeat the daemon's steps: warnings only.
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    log.setLevel(logging.INFO)
    logging.getLogger("snakemake").propagate = False  # it has its own log (SNAKEMAKE_LOG)


def note(step: str, level: int = logging.INFO, **fields) -> None:
    """Log one step: ``step key=value ...`` for people, the same fields in JSON."""
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    log.log(level, f"{step} {text}".strip(), extra={"fields": {"step": step, **fields}})


def entry_name(entry: Entry) -> str:
    return f"{entry.kind}/{entry.event_id}/{entry.name}"


# ----- an entry's outcome -----

def report(spool: Spool, entry: Entry, missing: list[Path], config: dict, attempts: int,
           received: float) -> str | None:
    """Log the entry's outcome; record products that failed for good (after ``attempts``),
    clear others. Returns the last error line, or None when nothing failed for good."""
    error = None
    for name in status.record_failures(spool, entry, missing, config, attempts, SNAKEMAKE_LOG):
        note("failed", logging.ERROR, entry=entry_name(entry), product=name)
        error = f"{entry_name(entry)}: {name} not built"
    done = [p.stat().st_mtime for p in targets.entry_targets(spool, entry, config) if p.exists()]
    note("done" if not missing else "done-with-failures", entry=entry_name(entry),
         products=len(done), failed=len(missing),
         seconds=round(max(done, default=received) - received, 3))
    return error


# ----- the checkpoint and the catch-up after a restart -----

class Checkpoint:
    """``.skyspool-watch.checkpoint``: UNIX time when everything stored was built or reported.
    ``dirty``: entries were queued since it was written."""

    def __init__(self, spool: Spool):
        self.path = spool.root / ".skyspool-watch.checkpoint"
        self.dirty = False

    def since(self) -> float:
        """Where the catch-up begins (0 without a checkpoint)."""
        try:
            return float(self.path.read_text()) - CHECKPOINT_MARGIN_S
        except (OSError, ValueError):
            return 0.0

    def write(self, now: float) -> None:
        """Everything stored so far is built or reported: a restart may skip it."""
        atomic.write_text(self.path, f"{now:.3f}\n")
        self.dirty = False


def catch_up(spool: Spool, config: dict, since: float) -> tuple[list[Entry], list[Entry]]:
    """Entries stored since ``since`` (UNIX s), with older FRB chunks that get views of
    filterbank files stored since; and those of them that lack products (their temporary
    files of runs killed mid-write removed)."""
    recent = [e for e in spool.entries() if e.path.stat().st_mtime >= since]
    recent = list(dict.fromkeys(recent + [c for e in recent for c in frb_targets.affected_entries(spool, e)]))
    pending = [e for e in recent if targets.missing_targets(spool, [e], config)]
    for entry in pending:
        # Temporary files of runs killed mid-write (invisible dot-files): rebuilt anyway.
        for leftover in spool.products_dir(entry).glob(".*.tmp*"):
            leftover.unlink(missing_ok=True)
    return recent, pending


class Progress:
    """The catch-up's progress bar on a terminal (none otherwise)."""

    def __init__(self):
        self.bar = None

    def start(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="catch-up", unit="entry",
                        file=sys.__stderr__)  # sys.stderr is Snakemake's log now

    def update(self) -> None:
        """One entry reported."""
        if self.bar is not None:
            self.bar.update(1)

    def close_if(self, idle: bool) -> None:
        if self.bar is not None and idle:
            self.bar.close()
            self.bar = None
