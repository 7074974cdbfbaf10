"""The orchestrator: from a candidate's superevent to public alerts, with GWCelery's rules.

For each candidate entry, in order (one Snakemake rule each, see workflow/rules/pipeline.smk):

1. :func:`assign` puts it into its superevent (under the decision lock);
2. :func:`settle` waits ``orchestrator_timeout_s`` after that, so that the other
   pipelines' candidates of the same event arrive and the preferred event is stable;
3. :func:`decide` (under the decision lock; the ``superevent`` Snakemake resource also
   lets one such job run at a time) re-chooses the preferred event, and when this
   candidate is the preferred one, checks it: not offline, data quality (DQ-vetoed or not
   observing: label DQV, no alert), significance (trials factor x FAR against the
   thresholds of its search), then sends an early-warning or preliminary alert (significant,
   or less-significant) unless one was sent already;
4. :func:`second_preliminary`, ``second_preliminary_delay_s`` after a first preliminary,
   sends another if the preferred event changed (or always). Nothing sleeps meanwhile:
   the decision that sent the first sets a timer (:mod:`skyspool.timers`), and the step
   becomes one of the candidate's products only once it is due
   (:func:`second_preliminary_due`), when the daemon wakes the entry up.

Initial, update and retraction alerts are sent when a person asks: :func:`send_by_hand`
(``skyspool send DIR <superevent> initial|update|retraction``).
Each step returns the JSON record of what it decided and why.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

from skyspool import atomic, coincidence, outgoing, superevents, timers
from skyspool.candidates import CLASSIFICATION, skymap_product
from skyspool.formats import dqsegments
from skyspool.formats.coinc import read_candidate
from skyspool.paths import Entry, Spool


def _member(spool: Spool, entry: Entry, thresholds: dict) -> dict:
    facts = read_candidate(entry.path).facts()
    facts["entry"] = f"{entry.event_id}/{entry.name}"
    facts["significance"] = superevents.significance(facts, thresholds)
    return facts


def _entry_of(spool: Spool, member: dict) -> Entry:
    event_id, name = member["entry"].split("/")
    return spool.find_entry("gwcand", event_id, name)


def _complete(spool: Spool, member: dict) -> bool:
    entry = _entry_of(spool, member)
    return all(spool.product(entry, name).exists()
               for name in (skymap_product(entry.alert_type), CLASSIFICATION))


def write_step(step, spool: Spool, entry: Entry, output: str, config: dict) -> None:
    """Run one step (:func:`assign`, :func:`decide`, ...) and write its record as JSON."""
    atomic.write_json(output, step(spool, entry, config))


def write_settled(assignment_path: str, output: str, config: dict) -> None:
    atomic.write_json(output, settle(assignment_path, config))


def assign(spool: Spool, entry: Entry, config: dict) -> dict:
    """Put the candidate into its superevent; the record of ``superevent.json``."""
    settings = config["orchestrator"]
    member = _member(spool, entry, settings["thresholds"])
    now = time.time()
    with superevents.decision_lock(spool):
        member["complete"] = _complete(spool, member)
        state = superevents.add_candidate(spool, member, config["pipeline"]["superevent"]["cbc_window_s"], now)
    return {"candidate_id": member["candidate_id"], "superevent_id": state["superevent_id"],
            "assigned": now, "assigned_utc": superevents.utc_iso(now),
            "preferred_event": state["preferred_event"], "significance": member["significance"]}


def settle(assignment_path: str, config: dict) -> dict:
    """Wait until ``orchestrator_timeout_s`` after the assignment; the record of ``settled.json``."""
    assignment = json.loads(Path(assignment_path).read_text())
    until = assignment["assigned"] + config["orchestrator"]["orchestrator_timeout_s"]
    time.sleep(max(0.0, until - time.time()))
    return {"superevent_id": assignment["superevent_id"], "settled_utc": superevents.utc_iso(time.time())}


def _refresh(spool: Spool, state: dict, now: float) -> None:
    """Mark members complete whose products are made; re-choose the preferred event."""
    for member in state["members"].values():
        if not member.get("complete") and _complete(spool, member):
            member["complete"] = True
            superevents.choose_preferred(state, f"{member['candidate_id']} complete", now)


def _data_quality(spool: Spool, member: dict) -> dict:
    lists = [dqsegments.read_segments(e.path) for e in spool.entries("gwdq")]
    return dqsegments.verdict(lists, member["gps_time"], member["instruments"])


def _send(spool: Spool, state: dict, alert_type: str, member: dict | None, significant: bool,
          config: dict, now: float) -> dict:
    """Send one alert for the superevent, record it and label it; returns the record."""
    classification = skymap = None
    if member is not None:
        entry = _entry_of(spool, member)
        classification = json.loads(spool.product(entry, CLASSIFICATION).read_text())
        skymap_path = spool.product(entry, skymap_product(entry.alert_type))
        skymap = skymap_path.read_bytes() if skymap_path.exists() else None
    record = outgoing.alert_record(state["superevent_id"], alert_type, member=member,
                                   classification=classification, skymap=skymap,
                                   significant=significant,
                                   gracedb_url=config["orchestrator"]["gracedb_url"])
    if member is not None:  # RAVEN hook: the preferred publishable coincidence (skyspool.coincidence)
        record["external_coinc"] = coincidence.alert_external_coinc(spool, state["superevent_id"], member,
                                                                    skymap, config)
    number = len(state["alerts"]) + 1
    where = outgoing.send(spool, record, number)
    sent = {"number": number, "alert_type": alert_type, "time": superevents.utc_iso(now),
            "preferred_event": None if member is None else member["candidate_id"],
            "significant": significant, **where}
    state["alerts"].append(sent)
    return sent


def _sent(state: dict, alert_type: str, significant: bool | None = None) -> list[dict]:
    return [a for a in state["alerts"] if a["alert_type"] == alert_type
            and (significant is None or a["significant"] == significant)]


def _check(spool: Spool, state: dict, member: dict, config: dict) -> tuple[str | None, str]:
    """(alert type to send or None, why) for the preferred ``member``."""
    sid = state["superevent_id"]
    if "RETRACTED" in superevents.labels(spool, sid):
        return None, "superevent retracted"
    if member["offline"]:
        return None, "offline candidate: no public alert"
    dq = _data_quality(spool, member)
    if dq["state"] in ("vetoed", "not_observing"):
        superevents.add_label(spool, sid, "DQV", dq["reason"])
        return None, f"data quality: {dq['reason']}"
    if dq["state"] == "unknown" and config["orchestrator"]["require_dq"]:
        return None, "data quality unknown (no segment list covers the time) and require_dq is set"
    if dq["state"] == "ok":
        superevents.add_label(spool, sid, "DQOK", dq["reason"])
    if member["significance"] == "none":
        return None, f"FAR {member['far_hz']:.3g} Hz above every alert threshold"
    alert_type = "early_warning" if member["search"] == "EarlyWarning" else "preliminary"
    significant = member["significance"] == "significant"
    if _sent(state, alert_type, True) or (not significant and _sent(state, alert_type)):
        return None, f"{alert_type} already sent; the next goes by hand or as second preliminary"
    return alert_type, f"{member['significance']} {alert_type}, data quality {dq['state']}"


def decide(spool: Spool, entry: Entry, config: dict) -> dict:
    """The orchestrator's decision for this candidate's superevent; the record of ``orchestrator.json``."""
    candidate_id = read_candidate(entry.path).candidate_id
    assignment = json.loads(spool.product(entry, "superevent.json").read_text())
    sid = assignment["superevent_id"]
    with superevents.decision_lock(spool):
        now = time.time()
        state = superevents.load(spool, sid)
        _refresh(spool, state, now)
        preferred = state["members"][state["preferred_event"]]
        decision = {"candidate_id": candidate_id, "superevent_id": sid,
                    "preferred_event": preferred["candidate_id"], "time": superevents.utc_iso(now),
                    "sent": None}
        if preferred["candidate_id"] != candidate_id:
            decision["reason"] = f"not the preferred event ({preferred['candidate_id']} is)"
        else:
            # RAVEN hook (skyspool.coincidence): a publishable coincidence makes the candidate significant.
            if preferred["significance"] != "significant" and coincidence.raven_alert(spool, sid, preferred, config):
                preferred["significance"] = "significant"
            alert_type, decision["reason"] = _check(spool, state, preferred, config)
            if alert_type:
                significant = preferred["significance"] == "significant"
                decision["sent"] = _send(spool, state, alert_type, preferred, significant, config, now)
                _label_sent(spool, sid, alert_type, significant)
                if alert_type == "preliminary":
                    timers.set_timer(spool, entry, now + config["orchestrator"]["second_preliminary_delay_s"],
                                     "second preliminary alert")
        for label, made in (("SKYMAP_READY", skymap_product(entry.alert_type)),
                            ("EM_READY", CLASSIFICATION)):
            if spool.product(entry, made).exists() and candidate_id == preferred["candidate_id"]:
                superevents.add_label(spool, sid, label, candidate_id)
        superevents.save(spool, state)
    return decision


def _label_sent(spool: Spool, sid: str, alert_type: str, significant: bool) -> None:
    if alert_type == "early_warning":
        superevents.add_label(spool, sid, "EARLY_WARNING")
    elif significant:
        superevents.add_label(spool, sid, "SIGNIF_LOCKED")
        superevents.add_label(spool, sid, "GCN_PRELIM_SENT")
        superevents.add_label(spool, sid, "ADVREQ", "significant preliminary: advocates asked")
    else:
        superevents.add_label(spool, sid, "LOW_SIGNIF_LOCKED")
        superevents.add_label(spool, sid, "LOW_SIGNIF_PRELIM_SENT")


def _second_preliminary_due_at(spool: Spool, entry: Entry, config: dict) -> float | None:
    """Unix time the second preliminary of this candidate's first one is due; None when
    its decision sent no preliminary (or is not made yet)."""
    decision_path = spool.product(entry, "orchestrator.json")
    if not decision_path.exists():
        return None
    sent = json.loads(decision_path.read_text()).get("sent")
    if not sent or sent["alert_type"] != "preliminary":
        return None
    return _unix(sent["time"]) + config["orchestrator"]["second_preliminary_delay_s"]


def second_preliminary_due(entry: Entry, config: dict) -> bool:
    """True once this candidate's second-preliminary step is due (then it is a product)."""
    due = _second_preliminary_due_at(Spool(entry.path.parents[3]), entry, config)
    return due is not None and time.time() >= due


def second_preliminary(spool: Spool, entry: Entry, config: dict) -> dict:
    """Once due, after a first preliminary sent by this candidate's decision: send a second
    one if the preferred event changed (or always); the record of ``second_preliminary.json``."""
    due = _second_preliminary_due_at(spool, entry, config)
    if due is None or time.time() < due:
        raise ValueError("the second preliminary of this candidate is not due (see DIR/timers/)")
    settings = config["orchestrator"]
    decision = json.loads(spool.product(entry, "orchestrator.json").read_text())
    result = {"superevent_id": decision["superevent_id"], "sent": None}
    with superevents.decision_lock(spool):
        now = time.time()
        state = superevents.load(spool, decision["superevent_id"])
        _refresh(spool, state, now)
        preferred = state["members"][state["preferred_event"]]
        previous = _sent(state, "preliminary")
        changed = previous[-1]["preferred_event"] != preferred["candidate_id"]
        if "RETRACTED" in superevents.labels(spool, state["superevent_id"]):
            result["reason"] = "superevent retracted"
        elif len(previous) >= 2:
            result["reason"] = "second preliminary already sent"
        elif not (changed or settings["second_preliminary"] == "always"):
            result["reason"] = "preferred event unchanged"
        elif not _complete(spool, preferred):
            result["reason"] = f"new preferred event {preferred['candidate_id']} not complete"
        else:
            significant = preferred["significance"] == "significant"
            result["sent"] = _send(spool, state, "preliminary", preferred, significant, config, now)
            result["reason"] = "preferred event changed" if changed else "always sent"
        superevents.save(spool, state)
    return result


def _unix(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def send_by_hand(spool: Spool, superevent_id: str, alert_type: str, config: dict) -> dict:
    """Send an initial, update or retraction alert for a superevent (a person decided)."""
    if alert_type not in ("initial", "update", "retraction"):
        raise ValueError(f"alert type must be initial, update or retraction, not {alert_type}")
    with superevents.decision_lock(spool):
        now = time.time()
        state = superevents.load(spool, superevent_id)
        if "RETRACTED" in superevents.labels(spool, superevent_id):
            raise ValueError(f"{superevent_id} is retracted")
        if alert_type == "retraction":
            sent = _send(spool, state, "retraction", None, False, config, now)
            superevents.add_label(spool, superevent_id, "RETRACTED", "retraction sent by hand")
        else:
            _refresh(spool, state, now)
            preferred = state["members"][state["preferred_event"]]
            if not _complete(spool, preferred):
                raise ValueError(f"preferred event {preferred['candidate_id']} has no sky map or "
                                 "classification yet")
            sent = _send(spool, state, alert_type, preferred, True, config, now)
        superevents.save(spool, state)
    return sent
