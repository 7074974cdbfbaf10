"""Superevents: pipeline candidates grouped in time, with a preferred event (as GWCelery).

Candidates with a FAR above ``orchestrator.superevent_far_threshold_hz`` (1/hour) join no
superevent (GWCelery ignores them). A candidate's segment is its time +- ``cbc_window_s``
(CBC, and cWB's BBH search) or the burst's own extent, from its start time for its duration. A candidate joins the superevent whose segment overlaps its own, and the
superevent's segment grows to hold it; otherwise it starts a new superevent. Production,
test and MDC candidates never share a superevent (ids ``S``, ``TS``, ``MS`` + YYMMDD +
letters).

The preferred event is the best by GWCelery 3.0's ``keyfunc`` (:func:`preferred_key`), in
order: complete (sky map and classification made), passes the significant criteria (online,
no injection; trials factor x FAR within the search's threshold), passes the less-significant
ones, the search's rank (``orchestrator.thresholds.<search>.rank``: CBC all-sky 2 > early
warning, SSM, CBC MDC 1 > burst 0), number of detectors (CBC only), then the highest SNR (CBC)
or lowest FAR (bursts); ties go to the first candidate id. Every change of the preferred event
is appended to the superevent's history, every decision to ``decisions.jsonl``.

State lives in ``DIR/superevents/<superevent_id>/superevent.json``; labels (GWCelery's
SKYMAP_READY, EM_READY, DQV, SIGNIF_LOCKED, ...) are empty files beside it, so ``ls``
shows them. Everything that changes a superevent holds :func:`decision_lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import string

from skyspool import atomic, times
from skyspool.ids import SUPEREVENT_PREFIXES
from skyspool.paths import Spool

STATE_FILE = "superevent.json"
DECISIONS_FILE = "decisions.jsonl"


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


def search_key(facts: dict) -> str:
    """The entry of ``orchestrator.thresholds`` for the candidate's group and search:
    ``cbc_allsky``, ``cbc_early_warning``, ``cbc_ssm``, ``cbc_mdc``, ``burst_allsky``,
    ``burst_bbh`` (cWB's BBH search), ``burst_mdc``; other searches have none (never public)."""
    search = facts["search"].lower()
    return f"{facts['group'].lower()}_" + ("early_warning" if search == "earlywarning" else search)


def is_cbc_like(facts: dict) -> bool:
    """CBC, or cWB's BBH search, which GWCelery handles as CBC (window, p_astro, em-bright)."""
    return facts["group"] == "CBC" or (facts["pipeline"].lower() == "cwb" and facts["search"].lower() == "bbh")


def publishable(facts: dict, thresholds: dict, significant: bool, coincidence: bool = False) -> tuple[bool, bool]:
    """GWCelery's two public-alert criteria for one candidate: (online and not an injection,
    FAR within the search's threshold or a publishable coincidence).

    With ``significant`` the significant threshold applies (``trials_factor`` x FAR <=
    ``significant_far_hz``); otherwise a candidate passing that passes, else the
    less-significant one. A null threshold (or a search without an entry) never passes.
    """
    limits = thresholds.get(search_key(facts)) or {}
    far = facts["far_hz"]
    passes_significant = _within(far, limits.get("trials_factor"), limits.get("significant_far_hz"))
    if significant or passes_significant:
        far_ok = passes_significant
    else:
        far_ok = _within(far, limits.get("less_significant_trials_factor"), limits.get("less_significant_far_hz"))
    return (not facts["offline"] and not facts.get("injection", False), far_ok or coincidence)


def _within(far_hz: float, trials_factor: float | None, threshold_hz: float | None) -> bool:
    return threshold_hz is not None and trials_factor is not None and trials_factor * far_hz <= threshold_hz


def significance(facts: dict, thresholds: dict) -> str:
    """``significant``, ``less-significant`` or ``none``: which FAR threshold the candidate's
    search lets it pass (``orchestrator.thresholds``)."""
    if publishable(facts, thresholds, True)[1]:
        return "significant"
    return "less-significant" if publishable(facts, thresholds, False)[1] else "none"


def segment(facts: dict, cbc_window_s: float) -> tuple[float, float]:
    """The candidate's time segment (GPS s)."""
    if is_cbc_like(facts):
        return facts["gps_time"] - cbc_window_s, facts["gps_time"] + cbc_window_s
    duration = facts.get("duration_s") or 0.0
    start = facts.get("start_time")
    start = facts["gps_time"] - duration / 2 if start is None else start
    return start, start + duration


def preferred_key(member: dict, thresholds: dict, coincidence: bool = False) -> tuple:
    """GWCelery's ``keyfunc``: complete; the significant criteria; the less-significant
    criteria; the search's ``rank``; number of detectors (CBC only); SNR (CBC) or -FAR."""
    cbc = member["group"] == "CBC"
    rank = (thresholds.get(search_key(member)) or {}).get("rank", -1)
    return (member.get("complete", False), *publishable(member, thresholds, True, coincidence),
            *publishable(member, thresholds, False, coincidence), rank,
            len(member["instruments"]) if cbc else -1, member["snr"] if cbc else -member["far_hz"])


def best_member(members: list[dict], thresholds: dict, coincident=frozenset()) -> dict:
    """The preferred event among ``members``: the highest :func:`preferred_key`; a tie goes
    to the first candidate id in sort order, so the answer never depends on arrival order.
    ``coincident``: ids of candidates with a publishable external coincidence."""
    ordered = sorted(members, key=lambda m: m["candidate_id"])
    return max(ordered, key=lambda m: preferred_key(m, thresholds, m["candidate_id"] in coincident))


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
    prefix = SUPEREVENT_PREFIXES[category] + day
    taken = {p.name for p in spool.superevents.glob(prefix + "*")}
    taken |= {p.name for p in (spool.spool / "gw").glob(prefix + "*")}
    return next(prefix + s for s in _letters() if prefix + s not in taken)


def choose_preferred(state: dict, reason: str, now: float, thresholds: dict, coincident=frozenset()) -> bool:
    """Set the preferred event by :func:`best_member`; True (and history) when it changed."""
    best = best_member(list(state["members"].values()), thresholds, coincident)["candidate_id"]
    if best == state.get("preferred_event"):
        return False
    state["history"].append({"time": times.iso_from_unix(now, "milliseconds"), "preferred_event": best,
                             "previous": state.get("preferred_event"), "reason": reason})
    state["preferred_event"] = best
    return True


def add_candidate(spool: Spool, member: dict, cbc_window_s: float, now: float, thresholds: dict) -> dict:
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
    choose_preferred(state, reason, now, thresholds)
    state["t_0"] = state["members"][state["preferred_event"]]["gps_time"]
    save(spool, state)
    return state


def add_label(spool: Spool, superevent_id: str, label: str, why: str = "") -> None:
    """Set a label: an empty-ish file named ``label`` (its text says why)."""
    atomic.write_text(spool.superevent_dir(superevent_id) / label, why + "\n" if why else "")


def labels(spool: Spool, superevent_id: str) -> list[str]:
    folder = spool.superevent_dir(superevent_id)
    return sorted(p.name for p in folder.iterdir() if p.name.isupper()) if folder.is_dir() else []


def log_decision(spool: Spool, superevent_id: str, record: dict) -> None:
    """Append one decision (time, candidate, rule, numbers, outcome) to the superevent's
    ``decisions.jsonl``; call with :func:`decision_lock` held."""
    path = spool.superevent_dir(superevent_id) / DECISIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def decisions(spool: Spool, superevent_id: str) -> list[dict]:
    path = spool.superevent_dir(superevent_id) / DECISIONS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []
