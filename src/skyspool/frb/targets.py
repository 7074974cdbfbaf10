"""The products of ``frb`` entries, and which spool files each FRB product is made from.

An FRB observation's entries (``spool/frb/<obs_id>/``): ``NNN-observation.yaml`` (no products),
``NNN-candidates.trigger`` (chunk products: ``clusters.csv``, ``triggers.json``, ``triggers/`` with
the ``trigger-<n>.xml`` VOEvents and ``trigger-<n>.tbb`` LOFAR packets that ``triggers.json`` lists,
``candidates.png``, and per filterbank entry ``MMM-filterbank_cbNN.fil`` of the chunk's compound
beam the folder ``MMM-filterbank_cbNN/`` of trigger views), ``NNN-filterbank_cbNN.fil`` (no products
of its own) and ``NNN-stop.yaml`` (observation products: ``summary.html``, ``clusters.csv``,
``triggers.json``, ``candidates.png``; none when the stop aborts the observation). Known-source lists (``spool/frb/known-sources/``) have no
products. FRB notices (CHIME/FRB VOEvent or JSON) get the notice products.

A filterbank file arriving after the triggers, or triggers after the filterbank: either way the
chunk gets a new missing product, built by ``skyspool process`` or by the daemon, which asks for the
observation's chunks again when a filterbank file arrives (:func:`affected_entries`).
"""

from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path

from skyspool import contract
from skyspool.formats.frb import SOURCE_LIST_EVENT
from skyspool.frb.amber import compound_beam_of
from skyspool.frb.observation import stop_is_abort
from skyspool.notices.targets import notice_facts
from skyspool.paths import Entry, Spool, filterbank_beam

#: The folder of a chunk's per-trigger files (VOEvents, LOFAR packets), a product of its own.
TRIGGER_FILES = "triggers"


def facts(entry: Entry, config: dict) -> contract.Facts:
    """What the FRB rows of the product table ask about an ``frb`` entry (see the module docstring)."""
    notice = entry.path.suffix in (".json", ".xml")  # a CHIME/FRB notice (VOEvent or JSON)
    return contract.Facts(
        entry,
        notice=lambda: notice,
        chunk=lambda: not notice and entry.alert_type == "candidates",
        # an aborted observation: no summary, no e-mail
        summary=lambda: not notice and entry.alert_type == "stop" and not stop_is_abort(entry.path),
        filterbanks=lambda: [f.name for f in filterbanks_of(entry)],
        **notice_facts(entry, config))


def chunk_beam(chunk: Path) -> int:
    """The compound beam of a candidate chunk (from its provenance line)."""
    with open(chunk, "rb") as handle:
        return compound_beam_of(handle.read(4096).decode("ascii", errors="replace"), None)


@functools.lru_cache(maxsize=64)
def _filterbanks(folder: Path, folder_mtime_ns: int) -> tuple[Entry, ...]:
    # Listed once per change of the observation's folder, not once per chunk (status, `all`).
    entries = Spool(folder.parents[2]).entries_of("frb", folder.name)  # <root>/spool/frb/<obs_id>
    return tuple(e for e in entries if filterbank_beam(e.alert_type) is not None)


def filterbanks_of(chunk: Entry) -> list[Entry]:
    """The observation's filterbank entries of a candidate chunk's compound beam, whichever came first."""
    found = _filterbanks(chunk.path.parent, chunk.path.parent.stat().st_mtime_ns)
    if not found:
        return []
    beam = chunk_beam(chunk.path)
    return [e for e in found if filterbank_beam(e.alert_type) == beam]


def affected_entries(spool: Spool, entry: Entry) -> list[Entry]:
    """The entries whose products a newly stored filterbank entry adds to: the observation's
    candidate chunks of its compound beam (none for other entries)."""
    beam = filterbank_beam(entry.alert_type) if entry.kind == "frb" else None
    if beam is None:
        return []
    return [e for e in spool.entries_of("frb", entry.event_id)
            if e.alert_type == "candidates" and chunk_beam(e.path) == beam]


def _before(spool: Spool, event_id: str, entry_name: str, alert_type: str) -> list[Entry]:
    """The event's entries of ``alert_type`` that arrived before the entry ``entry_name``."""
    number = int(entry_name.split("-", 1)[0])
    return [e for e in spool.entries_of("frb", event_id) if e.alert_type == alert_type and e.number < number]


def observation_file(spool: Spool, event_id: str, entry_name: str) -> Path:
    """The observation description in force for an entry: the latest that arrived before it."""
    described = _before(spool, event_id, entry_name, "observation")
    if not described:
        raise FileNotFoundError(f"FRB observation {event_id} has no description before {entry_name}")
    return described[-1].path


def source_list_files(spool: Spool) -> list[Path]:
    """The newest known-source list of the spool, as a list of at most one path."""
    lists = spool.entries_of("frb", SOURCE_LIST_EVENT)
    return [lists[-1].path] if lists else []


def previous_chunks(spool: Spool, event_id: str, entry_name: str) -> list[Entry]:
    """The observation's candidate chunks that arrived before the entry ``entry_name``."""
    return _before(spool, event_id, entry_name, "candidates")


def observation_state(spool: Spool, event_id: str) -> dict | None:
    """``state`` (``following`` or ``ended``), ``chunks`` and ``triggers`` (issued so far) of an FRB
    observation, or None when the event is no observation (a notice, the known-source lists)."""
    entries = spool.entries_of("frb", event_id)
    described = [e for e in entries if e.alert_type == "observation"]
    if not described:
        return None
    ended = any(e.alert_type == "stop" and e.number > described[-1].number for e in entries)
    chunks = [e for e in entries if e.alert_type == "candidates"]
    triggers = 0
    for chunk in chunks:
        with contextlib.suppress(OSError, ValueError):
            triggers += len(json.loads(spool.product(chunk, "triggers.json").read_text())["triggers"])
    return {"state": "ended" if ended else "following", "chunks": len(chunks), "triggers": triggers}
