"""What a spool holds: events, their entries, products, latencies and failures."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

from skyspool import atomic, superevents, targets, times
from skyspool.frb import targets as frb_targets
from skyspool.paths import Entry, Spool


@dataclasses.dataclass
class EntryStatus:
    kind: str
    event_id: str
    entry: str
    received: float                # Unix time the entry was stored
    products_done: int
    products_expected: int
    missing: list[str]
    failed: list[str]
    notice_latency_s: float | None  # received -> notice.json written
    all_latency_s: float | None     # received -> last expected product written
    flags: list[str]
    failure_reasons: list[str] = dataclasses.field(default_factory=list)  # one line per failed product


def _flags(spool: Spool, entry: Entry) -> list[str]:
    flags = []
    if entry.alert_type == "retraction":
        flags.append("retraction")
    if entry.kind == "gw":  # a superevent the pipeline formed: its labels (DQV, SIGNIF_LOCKED...)
        flags += superevents.labels(spool, entry.event_id)
    for name in ("orchestrator.json", "raven.json"):  # the decision, and a RAVEN re-opening that sent
        decision_path = spool.product(entry, name)
        decision = json.loads(decision_path.read_text()) if decision_path.exists() else None
        if decision is None or (name == "raven.json" and not decision["sent"]):
            continue
        sent = decision["sent"]
        rule = f"[{decision['rule']}] " if "rule" in decision else ""  # decisions.jsonl has them all
        flags.append(f"{decision['superevent_id'] or 'no superevent'}: {rule}"
                     + (f"sent {sent['alert_type']}" if sent else decision["reason"]))
    stats_path = spool.product(entry, "stats.json")
    if stats_path.exists() and json.loads(stats_path.read_text()).get("significant") is False:
        flags.append("less-significant")
    return flags


def entry_status(spool: Spool, entry: Entry, config: dict) -> EntryStatus:
    names = targets.product_names(entry, config)
    received = entry.path.stat().st_mtime
    done_times = {name: spool.product(entry, name).stat().st_mtime for name in names
                  if spool.product(entry, name).exists()}
    missing = [name for name in names if name not in done_times]
    failed = [name for name in missing if spool.failure_record(entry, name).exists()]
    notice_time = done_times.get("notice.json", done_times.get("triggers.json"))  # FRB: the VOEvents
    return EntryStatus(
        entry.kind, entry.event_id, entry.name, received, len(done_times), len(names), missing,
        failed,
        None if notice_time is None else max(0.0, notice_time - received),
        None if missing or not done_times else max(0.0, max(done_times.values()) - received),
        _flags(spool, entry), failure_reasons(spool, entry, failed))


def event_status(spool: Spool, kind: str, event_id: str, config: dict) -> dict:
    """One event: its entries' statuses in arrival order, and whether it stands retracted."""
    entries = [entry_status(spool, entry, config) for entry in spool.entries_of(kind, event_id)]
    # An event stands retracted when its latest alert is a retraction.
    retracted = bool(entries) and "retraction" in entries[-1].flags
    observation = frb_targets.observation_state(spool, event_id) if kind == "frb" else None
    if observation:
        entries[-1].flags.append("observation {state}: {chunks} chunks, {triggers} triggers"
                                 .format(**observation))
    return {"kind": kind, "event_id": event_id, "retracted": retracted,
            "entries": [dataclasses.asdict(e) for e in entries], "observation": observation}


def spool_status(spool: Spool, config: dict) -> list[dict]:
    """One dict per event (see ``event_status``)."""
    return [event_status(spool, kind, event_id, config) for kind, event_id in spool.events()]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def format_table(events: list[dict]) -> str:
    """A plain-text table, one row per entry."""
    header = ("KIND", "EVENT", "ENTRY", "PRODUCTS", "->NOTICE", "->ALL", "STATE")
    rows = [header]
    for event in events:
        for e in event["entries"]:
            state = list(e["flags"])
            if event["retracted"]:
                state.append("EVENT RETRACTED")
            if e["failed"]:
                state.append("FAILED: " + ",".join(e["failed"]))
                state += [f"({reason})" for reason in dict.fromkeys(
                    r.split(" not built after ", 1)[-1] for r in e.get("failure_reasons", []))][:1]
            elif e["missing"]:
                state.append("pending: " + ",".join(e["missing"]))
            rows.append((e["kind"], e["event_id"], e["entry"],
                         f"{e['products_done']}/{e['products_expected']}",
                         _seconds(e["notice_latency_s"]), _seconds(e["all_latency_s"]),
                         " ".join(state) or "ok"))
    if len(rows) == 1:
        return "no events in this spool"
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
                     + "  " + row[-1] for row in rows)


def _failure_reason(spool: Spool, entry: Entry) -> str:
    """The last ``<step>: FAILED ... <error>`` line in the entry's rule logs, or ""."""
    found = []
    for log in spool.logs.joinpath(entry.kind, entry.event_id, entry.name).glob("*.log"):
        with contextlib.suppress(OSError):
            for line in log.read_text(errors="replace").splitlines():
                if ": FAILED after " in line:
                    found.append((log.stat().st_mtime, line.strip()))
    return max(found)[1][:300] if found else ""


def record_failures(spool: Spool, entry: Entry, missing: list[Path], config: dict, attempts: int,
                    snakemake_log: str) -> list[str]:
    """Write a one-line failure record for each product of ``entry`` in ``missing`` (after
    ``attempts`` attempts), with the error its rule logged; clear the records of the others.
    Returns the names of the failed products (what ``skyspool status`` then shows as FAILED)."""
    failed = []
    reason = None
    stamp = times.iso_now()
    for name in targets.product_names(entry, config):
        record = spool.failure_record(entry, name)
        if spool.product(entry, name) in missing:
            if reason is None:
                reason = _failure_reason(spool, entry)
            atomic.write_text(record, f"{name} not built after {attempts} attempts ({stamp})"
                              + (f": {reason}" if reason else "")
                              + f"; see logs/{entry.kind}/{entry.event_id}/{entry.name}/ and "
                              f"logs/{snakemake_log}\n")
            failed.append(name)
        else:
            record.unlink(missing_ok=True)
    return failed


def failure_reasons(spool: Spool, entry: Entry, failed: list[str]) -> list[str]:
    """The recorded one-line reason of each failed product of ``entry``."""
    reasons = []
    for name in failed:
        with contextlib.suppress(OSError):
            reasons.append(spool.failure_record(entry, name).read_text().strip())
    return reasons
