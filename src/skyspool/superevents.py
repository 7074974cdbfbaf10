"""Superevents: pipeline candidates grouped in time, with a preferred event (as GWCelery).

A candidate's segment is its time +- ``cbc_window_s`` (CBC) or the burst's own extent,
from its start time for its duration (bursts). A candidate joins the superevent whose segment overlaps its own, and the
superevent's segment grows to hold it; otherwise it starts a new superevent. Production,
test and MDC candidates never share a superevent (ids ``S``, ``TS``, ``MS`` + YYMMDD +
letters).

The preferred event is the best by, in order: complete (sky map and classification made),
significant, CBC over burst, more detectors, then the highest SNR (CBC) or lowest FAR
(bursts). Every change of the preferred event is appended to the superevent's history.

State lives in ``DIR/superevents/<superevent_id>/superevent.json``; labels (GWCelery's
SKYMAP_READY, EM_READY, DQV, SIGNIF_LOCKED, ...) are empty files beside it, so ``ls``
shows them. Everything that changes a superevent holds :func:`decision_lock`.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import itertools
import json
import string

from skyspool import atomic
from skyspool.paths import Spool

PREFIXES = {"production": "S", "test": "TS", "mdc": "MS"}
STATE_FILE = "superevent.json"


@contextlib.contextmanager
def decision_lock(spool: Spool):
    """One superevent decision at a time, across every process working on the spool."""
    spool.superevents.mkdir(parents=True, exist_ok=True)
    with open(spool.superevents / ".decision.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def utc_iso(unix_time: float) -> str:
    return datetime.datetime.fromtimestamp(unix_time, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def significance(facts: dict, thresholds: dict) -> str:
    """``significant``, ``less-significant`` or ``none`` by trials factor x FAR (Hz).

    ``thresholds`` is ``orchestrator.thresholds``; the search's own entry (``cbc_allsky``,
    ``cbc_early_warning``, ``burst_allsky``) applies.
    """
    limits = thresholds[search_key(facts)]
    far = facts["far_hz"]
    if limits["trials_factor"] * far < limits["significant_far_hz"]:
        return "significant"
    less = limits.get("less_significant_far_hz")
    if less is not None and limits["less_significant_trials_factor"] * far < less:
        return "less-significant"
    return "none"


def search_key(facts: dict) -> str:
    group = "cbc" if facts["group"] == "CBC" else "burst"
    return "cbc_early_warning" if group == "cbc" and facts["search"] == "EarlyWarning" else f"{group}_allsky"


def segment(facts: dict, cbc_window_s: float) -> tuple[float, float]:
    """The candidate's time segment (GPS s)."""
    if facts["group"] == "CBC":
        return facts["gps_time"] - cbc_window_s, facts["gps_time"] + cbc_window_s
    duration = facts.get("duration_s") or 0.0
    start = facts.get("start_time")
    start = facts["gps_time"] - duration / 2 if start is None else start
    return start, start + duration


def preferred_key(member: dict) -> tuple:
    """GWCelery's order: complete, significant, CBC, more detectors, SNR (CBC) / -FAR (burst)."""
    cbc = member["group"] == "CBC"
    return (member.get("complete", False), member.get("significance") == "significant", cbc,
            len(member["instruments"]), member["snr"] if cbc else -member["far_hz"])


def state_path(spool: Spool, superevent_id: str):
    return spool.superevent_dir(superevent_id) / STATE_FILE


def load(spool: Spool, superevent_id: str) -> dict:
    return json.loads(state_path(spool, superevent_id).read_text())


def save(spool: Spool, state: dict) -> None:
    atomic.write_json(state_path(spool, state["superevent_id"]), state)


def all_states(spool: Spool) -> list[dict]:
    if not spool.superevents.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(spool.superevents.glob(f"*/{STATE_FILE}"))]


def _letters():
    """a, b, ..., z, aa, ab, ... (GraceDB's suffixes)."""
    for size in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase, repeat=size):
            yield "".join(letters)


def new_id(spool: Spool, category: str, gps_time: float) -> str:
    """The next free superevent id of that day (also free among received alerts)."""
    from astropy.time import Time

    day = Time(gps_time, format="gps").utc.datetime.strftime("%y%m%d")
    prefix = PREFIXES[category] + day
    taken = {p.name for p in spool.superevents.glob(prefix + "*")}
    taken |= {p.name for p in (spool.spool / "gw").glob(prefix + "*")}
    return next(prefix + s for s in _letters() if prefix + s not in taken)


def choose_preferred(state: dict, reason: str, now: float) -> bool:
    """Set the preferred event by :func:`preferred_key`; True (and history) when it changed."""
    best = max(state["members"].values(), key=preferred_key)["candidate_id"]
    if best == state.get("preferred_event"):
        return False
    state["history"].append({"time": utc_iso(now), "preferred_event": best,
                             "previous": state.get("preferred_event"), "reason": reason})
    state["preferred_event"] = best
    return True


def add_candidate(spool: Spool, member: dict, cbc_window_s: float, now: float) -> dict:
    """Put the candidate (``member``: its facts, entry and significance) into its superevent.

    Call with :func:`decision_lock` held. Returns the saved state.
    """
    start, end = segment(member, cbc_window_s)
    candidates = [s for s in all_states(spool) if s["category"] == member["category"]
                  and s["t_start"] <= end and start <= s["t_end"]]
    if candidates:
        state = min(candidates, key=lambda s: s["t_start"])
        state["t_start"], state["t_end"] = min(state["t_start"], start), max(state["t_end"], end)
        reason = f"{member['candidate_id']} added"
    else:
        sid = new_id(spool, member["category"], member["gps_time"])
        state = {"superevent_id": sid, "category": member["category"], "created": now,
                 "t_start": start, "t_0": member["gps_time"], "t_end": end,
                 "members": {}, "preferred_event": None, "history": [], "alerts": []}
        reason = f"superevent created by {member['candidate_id']}"
    state["members"][member["candidate_id"]] = member
    choose_preferred(state, reason, now)
    state["t_0"] = state["members"][state["preferred_event"]]["gps_time"]
    save(spool, state)
    return state


def add_label(spool: Spool, superevent_id: str, label: str, why: str = "") -> None:
    """Set a label: an empty-ish file named ``label`` (its text says why)."""
    atomic.write_text(spool.superevent_dir(superevent_id) / label, why + "\n" if why else "")


def labels(spool: Spool, superevent_id: str) -> list[str]:
    folder = spool.superevent_dir(superevent_id)
    return sorted(p.name for p in folder.iterdir() if p.name.isupper()) if folder.is_dir() else []
