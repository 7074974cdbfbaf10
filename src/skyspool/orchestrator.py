"""The orchestrator: from a candidate's superevent to public alerts, with GWCelery's rules.

For each candidate entry, in order (one Snakemake rule each, see workflow/rules/gwcand.smk):

1. :func:`assign` puts it into its superevent (under the decision lock), unless its FAR is
   above ``superevent_far_threshold_hz``, and sets a timer for when the superevent has
   settled (``orchestrator_timeout_s`` after it was created);
2. :func:`settle` / :func:`decide` become its products only once that is due (nothing
   sleeps: :mod:`skyspool.timers` wakes the entry up). :func:`decide` (under the decision
   lock; the ``superevent`` Snakemake resource also lets one such job run at a time)
   re-checks data quality, re-chooses the preferred event of the whole superevent by
   GWCelery's ``keyfunc`` and applies :func:`first_alert`: early-warning, significant or
   less-significant preliminary, or why none;
3. :func:`raven`, after the decision and again whenever the external triggers coinciding
   with the candidate change: a publishable coincidence (RAVEN_ALERT) that came after a
   "no alert" re-opens the decision (GW170817's case);
4. :func:`second_preliminary`, ``second_preliminary_delay_s`` after a first preliminary
   (a timer again), applies :func:`second_alert`: GWCelery sends it unless a person acted.

Every step appends its record (time, candidate, rule, numbers, outcome) to
``DIR/superevents/<id>/decisions.jsonl``.
The alerts a step decides on are not sent by the step (a Snakemake job): it writes them as its
intent product ``<product>.effects.json``, and the ``outgoing`` effect handler
(:mod:`skyspool.publish.effects`) sends them after the run.
Initial, update and retraction alerts are sent when a person asks: :func:`send_by_hand`
(``skyspool send DIR <superevent> initial|update|retraction``).
Each step returns the JSON record of what it decided and why. Every function takes the time
now from ``clock`` (a zero-argument callable returning Unix s, ``time.time`` by default) or
``now``: none reads the wall clock itself.
"""

from __future__ import annotations

import json
import time

from skyspool import atomic, coincidence, outgoing, superevents, timers, times
from skyspool.effects import write_intents
from skyspool.formats import dqsegments
from skyspool.formats.coinc import read_candidate
from skyspool.gwcand import CLASSIFICATION, skymap_product
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


def write_step(step, spool: Spool, entry: Entry, output: str, config: dict,
               effects: str | None = None, *, clock=time.time) -> None:
    """Run one step (:func:`assign`, :func:`decide`, ...) and write its record as JSON, and
    the alerts it decided to send as the intent file ``effects`` (:mod:`skyspool.effects`;
    sent after the run by :mod:`skyspool.publish.effects`). ``clock``: the time now (Unix s)."""
    record = step(spool, entry, config, clock=clock)
    intents = record.pop("effects", [])
    atomic.write_json(output, record)
    if effects is not None:
        write_intents(effects, intents)


def _numbers(member: dict, thresholds: dict) -> dict:
    """What a rule looked at, for ``decisions.jsonl``: FAR (Hz), SNR, detectors, the search's
    entry of ``orchestrator.thresholds`` and the trials-factor-weighted FARs."""
    key = superevents.search_key(member)
    limits = thresholds.get(key) or {}
    weighted = {f"{name} x far_hz": limits[name] * member["far_hz"]
                for name in ("trials_factor", "less_significant_trials_factor") if limits.get(name)}
    return {"far_hz": member["far_hz"], "snr": member["snr"], "instruments": sorted(member["instruments"]),
            "search": key, "thresholds": limits, **weighted, "complete": member.get("complete", False),
            "data_quality": member.get("dq")}


def assign(spool: Spool, entry: Entry, config: dict, *, clock=time.time) -> dict:
    """Put the candidate into its superevent, or none when its FAR is above
    ``superevent_far_threshold_hz``; the record of ``superevent.json``. Sets the timer that
    wakes the candidate up ``orchestrator_timeout_s`` after its superevent was created."""
    settings = config["orchestrator"]
    member = _member(spool, entry, settings["thresholds"])
    now = clock()
    record = {"candidate_id": member["candidate_id"], "assigned": now,
              "assigned_utc": times.iso_from_unix(now, "milliseconds"),
              "significance": member["significance"]}
    if member["far_hz"] > settings["superevent_far_threshold_hz"]:
        timers.set_timer(spool, entry, now, "no superevent: orchestrator record")
        return record | {"superevent_id": None, "preferred_event": None, "settle_due": now,
                         "reason": f"FAR {member['far_hz']:.3g} Hz above superevent_far_threshold_hz "
                                   f"{settings['superevent_far_threshold_hz']:.3g} Hz: no superevent"}
    with superevents.decision_lock(spool):
        member["complete"] = _complete(spool, member)
        state = superevents.add_candidate(spool, member, config["gwcand"]["superevent"]["cbc_window_s"], now,
                                          settings["thresholds"])
        due = state["created"] + settings["orchestrator_timeout_s"]
        superevents.log_decision(spool, state["superevent_id"], {
            "time": times.iso_from_unix(now, "milliseconds"), "candidate_id": member["candidate_id"], "step": "assign",
            "rule": "superevent", "numbers": _numbers(member, settings["thresholds"]),
            "outcome": f"joined; preferred event {state['preferred_event']}"})
    # Also when already due: the decision was not among the targets of this build.
    timers.set_timer(spool, entry, max(due, now), "superevent settled: orchestrator decision")
    return record | {"superevent_id": state["superevent_id"], "preferred_event": state["preferred_event"],
                     "settle_due": due}


def _settle_due_at(spool: Spool, entry: Entry, config: dict) -> float | None:
    """Unix time the candidate's decision is due (its superevent's creation +
    ``orchestrator_timeout_s``); None while it has no superevent record."""
    if config["orchestrator"]["orchestrator_timeout_s"] <= 0:
        return 0.0
    path = spool.product(entry, "superevent.json")
    return json.loads(path.read_text())["settle_due"] if path.exists() else None


def settle_due(entry: Entry, config: dict, now: float | None = None) -> bool:
    """True at ``now`` (Unix s; None: the wall clock) once the candidate's superevent has
    settled (then its decision is a product)."""
    due = _settle_due_at(Spool(entry.path.parents[3]), entry, config)
    return due is not None and (time.time() if now is None else now) >= due


def settle(spool: Spool, entry: Entry, config: dict, *, clock=time.time) -> dict:
    """The record of ``settled.json``: made only once due (a timer wakes the entry up), never
    by a job that sleeps."""
    due, now = _settle_due_at(spool, entry, config), clock()
    if due is None or now < due:
        raise ValueError("the superevent of this candidate has not settled yet (see DIR/timers/)")
    assignment = json.loads(spool.product(entry, "superevent.json").read_text())
    return {"superevent_id": assignment["superevent_id"], "settled_utc": times.iso_from_unix(now, "milliseconds")}


def _coincident(spool: Spool, state: dict, config: dict) -> frozenset:
    """Ids of the superevent's candidates that have a publishable external coincidence
    (GWCelery's RAVEN_ALERT, labelled by :func:`coincidence.raven_alert`): they pass the FAR
    criteria of :func:`superevents.publishable`."""
    return frozenset(candidate_id for candidate_id, member in state["members"].items()
                     if coincidence.raven_alert(spool, state["superevent_id"], member, config))


def _refresh(spool: Spool, state: dict, now: float, settings: dict, coincident: frozenset) -> dict:
    """Mark members complete whose products are made, check their data quality over the
    superevent's interval, re-choose the preferred event; returns it."""
    lists = [dqsegments.read_segments(e.path) for e in spool.entries("gwdq")]
    for member in state["members"].values():
        if not member.get("complete") and _complete(spool, member):
            member["complete"] = True
        member["dq"] = _data_quality(lists, state, member, settings["dq_padding_s"])
        member["injection"] = member["dq"]["state"] == "injection"
    superevents.choose_preferred(state, "re-ranked at decision", now, settings["thresholds"], coincident)
    return state["members"][state["preferred_event"]]


def _data_quality(lists: list[dict], state: dict, member: dict, padding_s: dict) -> dict:
    """Data quality of the candidate's detectors over the superevent's interval, padded as
    GWCelery's ``check_vector_prepost`` (``dq_padding_s``); MDC candidates are not checked."""
    if member["search"] == "MDC":
        return {"state": "unknown", "reason": "MDC candidate: data quality not checked"}
    pad = padding_s["cbc" if member["group"] == "CBC" else "burst"]
    return dqsegments.verdict(lists, state["t_start"] - pad, member["instruments"], state["t_end"] + pad)


def _vetted(member: dict, settings: dict) -> tuple[str, str] | None:
    """(rule, why) when the candidate may not become public whatever its FAR: offline, an
    injection, data quality, MDC-only mode."""
    dq = member.get("dq") or {"state": "unknown", "reason": "not checked"}
    if member["offline"]:
        return "offline", "offline candidate: no public alert"
    if dq["state"] == "injection":
        return "injection", f"injection: {dq['reason']}"
    if dq["state"] in ("vetoed", "not_observing"):
        return "dq_veto", f"data quality: {dq['reason']}"
    if dq["state"] == "unknown" and settings["require_dq"]:
        return "dq_unknown", f"data quality unknown ({dq['reason']}) and require_dq is set"
    if settings["only_alert_for_mdc"] and member["search"] != "MDC":
        return "only_alert_for_mdc", "only_alert_for_mdc is set and this is not an MDC candidate"
    return None


def _verdict(rule: str, reason: str, alert_type: str | None = None, significant: bool = False) -> dict:
    return {"rule": rule, "reason": reason, "alert_type": alert_type, "significant": significant}


def first_alert(member: dict, labels: set, settings: dict, coincidence: bool = False) -> dict:
    """GWCelery's first automatic alert for the superevent whose preferred event is ``member``.

    ``labels``: the superevent's labels (what was sent and what people decided);
    ``coincidence``: the candidate has a publishable external coincidence. Returns
    ``{"rule", "reason", "alert_type" (early_warning, preliminary or None), "significant"}``.
    """
    if labels & {"RETRACTED", "ADVNO", "ADVOK"}:
        return _verdict("person_decided", "a person decided (" + ",".join(sorted(
            labels & {"RETRACTED", "ADVNO", "ADVOK"})) + "): no automatic alert")
    if not member.get("complete"):
        return _verdict("incomplete", f"preferred event {member['candidate_id']} has no sky map or "
                        "classification yet")
    vetted = _vetted(member, settings)
    if vetted:
        return _verdict(*vetted)
    thresholds = settings["thresholds"]
    if all(superevents.publishable(member, thresholds, True, coincidence)):
        if member["search"] == "EarlyWarning":
            if "SIGNIF_LOCKED" in labels:
                return _verdict("early_warning_superseded", "a significant preliminary was sent already")
            if "EARLY_WARNING" in labels:
                return _verdict("already_sent", "early-warning alert sent already")
            return _verdict("significant", "significant early warning", "early_warning", True)
        if "SIGNIF_LOCKED" in labels:
            return _verdict("already_sent", "significant preliminary sent already; the next is the second "
                            "preliminary or goes by hand")
        return _verdict("significant", "significant", "preliminary", True)
    if all(superevents.publishable(member, thresholds, False, coincidence)):
        if labels & {"EARLY_WARNING", "SIGNIF_LOCKED"}:
            return _verdict("less_significant_blocked", "an early-warning or significant alert was sent already")
        if "LOW_SIGNIF_PRELIM_SENT" in labels:
            return _verdict("already_sent", "less-significant preliminary sent already")
        return _verdict("less_significant", "less-significant", "preliminary", False)
    return _verdict("below_thresholds", f"FAR {member['far_hz']:.3g} Hz: above every alert threshold of "
                    f"its search ({superevents.search_key(member)})")


def second_alert(member: dict, labels: set, settings: dict, first_significant: bool, changed: bool,
                 coincidence: bool = False) -> dict:
    """GWCelery's second preliminary (``superevent_clean_up_timeout`` after the first), for the
    preferred event ``member`` then: after a significant first, sent unless a person acted
    (ADVOK, ADVNO, retraction) if the preferred event passes the significant criteria; after
    a less-significant first, also blocked once advocates were asked or a significant or
    early-warning alert went out."""
    blocking = {"RETRACTED", "ADVNO", "ADVOK"} | (set() if first_significant else
                                                  {"ADVREQ", "SIGNIF_LOCKED", "EARLY_WARNING"})
    if labels & blocking:
        return _verdict("person_decided" if labels & {"RETRACTED", "ADVNO", "ADVOK"} else "blocked",
                        "blocked by " + ",".join(sorted(labels & blocking)))
    if settings["second_preliminary"] == "if_changed" and not changed:
        return _verdict("unchanged", "preferred event unchanged and second_preliminary is if_changed")
    if not member.get("complete"):
        return _verdict("incomplete", f"preferred event {member['candidate_id']} not complete")
    vetted = _vetted(member, settings)
    if vetted:
        return _verdict(*vetted)
    if all(superevents.publishable(member, settings["thresholds"], first_significant, coincidence)):
        return _verdict("second_preliminary", "preferred event " + ("changed" if changed else "unchanged"),
                        "preliminary", first_significant)
    return _verdict("below_thresholds", f"preferred event {member['candidate_id']} does not pass the "
                    + ("significant" if first_significant else "less-significant") + " threshold")


def _send(spool: Spool, state: dict, alert_type: str, member: dict | None, significant: bool,
          config: dict, now: float, intents: list[dict] | None = None) -> dict:
    """Send one alert for the superevent and record it; returns the record. With ``intents``
    (a rule's step) the alert is appended there and sent after the run (an effect); without
    (a person's command), now."""
    classification = skymap = None
    if member is not None:
        entry = _entry_of(spool, member)
        classification = json.loads(spool.product(entry, CLASSIFICATION).read_text())
        skymap_path = spool.product(entry, skymap_product(entry.alert_type))
        skymap = skymap_path.read_bytes() if skymap_path.exists() else None
    record = outgoing.alert_record(state["superevent_id"], alert_type, member=member,
                                   classification=classification, skymap=skymap,
                                   significant=significant,
                                   gracedb_url=config["orchestrator"]["gracedb_url"], created=now)
    if member is not None:  # RAVEN hook: the preferred publishable coincidence (skyspool.coincidence)
        record["external_coinc"] = coincidence.alert_external_coinc(spool, state["superevent_id"], member,
                                                                    skymap, config)
    number = len(state["alerts"]) + 1
    if intents is None:
        where = outgoing.send(spool, record, number)
    else:
        intents.append(outgoing.intent(spool, record, number))
        where = outgoing.destinations(spool, record, number)
    sent = {"number": number, "alert_type": alert_type, "time": times.iso_from_unix(now, "milliseconds"),
            "preferred_event": None if member is None else member["candidate_id"],
            "significant": significant, **where}
    state["alerts"].append(sent)
    return sent


def _label_data_quality(spool: Spool, sid: str, member: dict) -> None:
    dq = member["dq"]
    label = {"ok": "DQOK", "vetoed": "DQV", "not_observing": "DQV", "injection": "INJ"}.get(dq["state"])
    if label:  # the latest check stands, as GWCelery replaces DQOK by DQV and back
        for other in {"DQOK", "DQV"} - {label}:
            (spool.superevent_dir(sid) / other).unlink(missing_ok=True)
        superevents.add_label(spool, sid, label, dq["reason"])


def _record(spool: Spool, sid: str, candidate_id: str, step: str, member: dict, verdict: dict,
            sent: dict | None, settings: dict, now: float) -> dict:
    """The step's record: logged to ``decisions.jsonl`` and returned."""
    record = {"time": times.iso_from_unix(now, "milliseconds"), "candidate_id": candidate_id, "superevent_id": sid,
              "step": step, "preferred_event": member["candidate_id"], "rule": verdict["rule"],
              "reason": verdict["reason"], "numbers": _numbers(member, settings["thresholds"]),
              "outcome": f"sent {sent['alert_type']} #{sent['number']}" if sent else "no alert", "sent": sent}
    superevents.log_decision(spool, sid, record)
    return record


def decide(spool: Spool, entry: Entry, config: dict, *, clock=time.time) -> dict:
    """The orchestrator's decision for this candidate's superevent, made on the whole superevent
    as it stands (so the same set of candidates gets the same answer in any arrival order);
    the record of ``orchestrator.json``."""
    candidate_id = read_candidate(entry.path).candidate_id
    assignment = json.loads(spool.product(entry, "superevent.json").read_text())
    now = clock()
    if assignment["superevent_id"] is None:
        return {"time": times.iso_from_unix(now, "milliseconds"), "candidate_id": candidate_id, "superevent_id": None,
                "step": "decide", "preferred_event": None, "rule": "superevent_far_threshold",
                "reason": assignment["reason"], "outcome": "no alert", "sent": None}
    return _first_alert_step(spool, entry, assignment["superevent_id"], candidate_id, "decide", config, now)


def raven(spool: Spool, entry: Entry, config: dict, *, clock=time.time) -> dict:
    """After the decision, whenever the external triggers coinciding with this candidate change
    (a GRB notice arriving after a "no alert", GW170817's case): when the preferred event of
    its superevent now has a publishable coincidence (RAVEN_ALERT), the first-alert rules are
    applied again with it, as GWCelery re-checks ``_should_publish`` when RAVEN adds that label;
    an alert already sent is never sent again. Logged to ``decisions.jsonl`` (step ``raven``)
    only when there is such a coincidence; the record of ``raven.json``."""
    decision = json.loads(spool.product(entry, "orchestrator.json").read_text())
    now = clock()
    if decision["superevent_id"] is None:
        return decision | {"time": times.iso_from_unix(now, "milliseconds"), "step": "raven"}
    return _first_alert_step(spool, entry, decision["superevent_id"], decision["candidate_id"], "raven",
                             config, now)


def _first_alert_step(spool: Spool, entry: Entry, sid: str, candidate_id: str, step: str, config: dict,
                      now: float) -> dict:
    """:func:`first_alert` for the superevent as it stands, under the decision lock: send,
    label, set the second preliminary's timer and log the record. Step ``raven`` does so only
    for a preferred event with a publishable coincidence."""
    settings = config["orchestrator"]
    with superevents.decision_lock(spool):
        state = superevents.load(spool, sid)
        coincident = _coincident(spool, state, config)
        preferred = _refresh(spool, state, now, settings, coincident)
        if step == "raven" and preferred["candidate_id"] not in coincident:
            return {"time": times.iso_from_unix(now, "milliseconds"), "candidate_id": candidate_id,
                    "superevent_id": sid,
                    "step": step, "preferred_event": preferred["candidate_id"], "rule": "no_raven_alert",
                    "reason": "no publishable external coincidence for the preferred event",
                    "outcome": "no alert", "sent": None}
        verdict = first_alert(preferred, set(superevents.labels(spool, sid)), settings,
                              preferred["candidate_id"] in coincident)
        if step == "raven":  # why RAVEN_ALERT (skyspool.coincidence.raven_alert)
            verdict["reason"] += "; " + (spool.superevent_dir(sid) / "RAVEN_ALERT").read_text().strip()
        _label_data_quality(spool, sid, preferred)
        sent, intents = None, []
        if verdict["alert_type"]:
            sent = _send(spool, state, verdict["alert_type"], preferred, verdict["significant"], config, now,
                         intents)
            _label_sent(spool, sid, verdict["alert_type"], verdict["significant"])
            if verdict["alert_type"] == "preliminary" and settings["second_preliminary"] != "never":
                timers.set_timer(spool, entry, now + settings["second_preliminary_delay_s"],
                                 "second preliminary alert")
        for label, made in (("SKYMAP_READY", skymap_product(entry.alert_type)),
                            ("EM_READY", CLASSIFICATION)):
            if spool.product(entry, made).exists() and candidate_id == preferred["candidate_id"]:
                superevents.add_label(spool, sid, label, candidate_id)
        record = _record(spool, sid, candidate_id, step, preferred, verdict, sent, settings, now)
        superevents.save(spool, state)
    return record | {"effects": intents}


def _label_sent(spool: Spool, sid: str, alert_type: str, significant: bool) -> None:
    if alert_type == "early_warning":
        superevents.add_label(spool, sid, "EARLY_WARNING")
        superevents.add_label(spool, sid, "ADVREQ", "significant early warning: advocates asked")
    elif significant:
        superevents.add_label(spool, sid, "SIGNIF_LOCKED")
        superevents.add_label(spool, sid, "GCN_PRELIM_SENT")
        superevents.add_label(spool, sid, "ADVREQ", "significant preliminary: advocates asked")
    else:
        superevents.add_label(spool, sid, "LOW_SIGNIF_LOCKED")
        superevents.add_label(spool, sid, "LOW_SIGNIF_PRELIM_SENT")


def _first_preliminary(spool: Spool, entry: Entry) -> dict | None:
    """The record of the step of this candidate that sent a first preliminary: its decision
    (``orchestrator.json``) or, after a later publishable coincidence, ``raven.json`` (the
    newer, when both did); None when neither did (or neither is made yet)."""
    found = None
    for name in ("orchestrator.json", "raven.json"):
        path = spool.product(entry, name)
        record = json.loads(path.read_text()) if path.exists() else {}
        if (record.get("sent") or {}).get("alert_type") == "preliminary":
            found = record
    return found


def _second_preliminary_due_at(spool: Spool, entry: Entry, config: dict) -> float | None:
    """Unix time the second preliminary of this candidate's first one is due; None when
    it sent no preliminary."""
    first = _first_preliminary(spool, entry)
    if first is None or config["orchestrator"]["second_preliminary"] == "never":
        return None
    return times.unix_from_iso(first["sent"]["time"]) + config["orchestrator"]["second_preliminary_delay_s"]


def second_preliminary_due(entry: Entry, config: dict, now: float | None = None) -> bool:
    """True at ``now`` (Unix s; None: the wall clock) once this candidate's
    second-preliminary step is due (then it is a product)."""
    due = _second_preliminary_due_at(Spool(entry.path.parents[3]), entry, config)
    return due is not None and (time.time() if now is None else now) >= due


def second_preliminary(spool: Spool, entry: Entry, config: dict, *, clock=time.time) -> dict:
    """Once due, after a first preliminary sent by this candidate's decision: the second
    preliminary as GWCelery sends it (:func:`second_alert`); the record of
    ``second_preliminary.json``."""
    due = _second_preliminary_due_at(spool, entry, config)
    if due is None or clock() < due:
        raise ValueError("the second preliminary of this candidate is not due (see DIR/timers/)")
    settings = config["orchestrator"]
    decision = _first_preliminary(spool, entry)
    sid = decision["superevent_id"]
    with superevents.decision_lock(spool):
        now = clock()
        state = superevents.load(spool, sid)
        coincident = _coincident(spool, state, config)
        preferred = _refresh(spool, state, now, settings, coincident)
        # the track of this candidate's first preliminary: significant or less-significant
        significant = decision["sent"]["significant"]
        previous = [a for a in _sent(state, "preliminary") if a["significant"] == significant]
        if len(previous) >= 2:
            verdict = _verdict("already_sent", "second preliminary already sent")
        else:
            verdict = second_alert(preferred, set(superevents.labels(spool, sid)), settings, significant,
                                   previous[-1]["preferred_event"] != preferred["candidate_id"],
                                   preferred["candidate_id"] in coincident)
        sent, intents = None, []
        if verdict["alert_type"]:
            sent = _send(spool, state, "preliminary", preferred, verdict["significant"], config, now, intents)
        record = _record(spool, sid, read_candidate(entry.path).candidate_id, "second_preliminary", preferred,
                         verdict, sent, settings, now)
        superevents.save(spool, state)
    return record | {"effects": intents}


def _sent(state: dict, alert_type: str) -> list[dict]:
    return [a for a in state["alerts"] if a["alert_type"] == alert_type]


def send_by_hand(spool: Spool, superevent_id: str, alert_type: str, config: dict, *,
                 clock=time.time) -> dict:
    """Send an initial, update or retraction alert for a superevent (a person decided)."""
    if alert_type not in ("initial", "update", "retraction"):
        raise ValueError(f"alert type must be initial, update or retraction, not {alert_type}")
    with superevents.decision_lock(spool):
        now = clock()
        state = superevents.load(spool, superevent_id)
        if "RETRACTED" in superevents.labels(spool, superevent_id):
            raise ValueError(f"{superevent_id} is retracted")
        if alert_type == "retraction":
            sent = _send(spool, state, "retraction", None, False, config, now)
            superevents.add_label(spool, superevent_id, "ADVNO", "retraction sent by hand")
            superevents.add_label(spool, superevent_id, "RETRACTED", "retraction sent by hand")
        else:
            settings = config["orchestrator"]
            preferred = _refresh(spool, state, now, settings, _coincident(spool, state, config))
            if not _complete(spool, preferred):
                raise ValueError(f"preferred event {preferred['candidate_id']} has no sky map or "
                                 "classification yet")
            sent = _send(spool, state, alert_type, preferred, True, config, now)
            superevents.add_label(spool, superevent_id, "ADVOK", f"{alert_type} sent by hand")
        superevents.log_decision(spool, superevent_id, {
            "time": times.iso_from_unix(now, "milliseconds"), "candidate_id": sent["preferred_event"],
            "step": "by_hand",
            "rule": "person_decided", "outcome": f"sent {alert_type} #{sent['number']}", "sent": sent})
        superevents.save(spool, state)
    return sent
