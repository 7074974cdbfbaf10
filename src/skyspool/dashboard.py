"""The dashboard: a static web site of a spool, rebuilt as alerts arrive.

::

    products/index.html                          every event, newest first
    products/<kind>/<event_id>/index.html        one page per event: every entry and its products
    products/<kind>/<event_id>/event.json        what the pages show of the event (the index reads it)
    products/<kind>/<event_id>/<entry>/skymap.thumb.png   thumbnail of skymap.png

The page of a superevent the pipeline formed (``gw``), and those of its candidates
(``gwcand``, linking to it), show its labels and ``decisions.jsonl`` (skyspool.superevents);
those files are inputs of the pages, and a refresh also remakes the pages of every event
sharing a superevent with a refreshed one, so a decision shows on all of them.

Pages are plain HTML with inline CSS, no scripts and relative links only, so they work from
``file://`` and from ``skyspool serve DIR`` alike and load nothing from the network. Every
value shown comes from a spool entry or a product and is escaped: event ids and notice
texts come from outside.
"""

from __future__ import annotations

import datetime
import functools
import html
import http.server
import json
import math
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from skyspool import atomic, control, ids, plots, status, superevents, targets, workflow
from skyspool.gwcand import ASSIGNMENT
from skyspool.paths import Spool
from skyspool.times import SECONDS_PER_YEAR

INDEX = "index.html"
SUMMARY = "event.json"
THUMBNAIL = "skymap.thumb.png"
THUMBNAIL_PX = 320  # longest side of a thumbnail (pixels)
# The rule that makes the event pages. A refresh runs only this one (and writes the index
# itself): it reads the products there are and never builds one (nor retries a failed one,
# nor touches one another run is writing).
PAGE_RULE = "dashboard_event"
RECENT_PLOT = "recent.png"  # beside the index: the recent GW events' 90% regions
RECENT_COUNT = 10


# ----- what the pages show, gathered from the spool -----

def _json_object(path: Path) -> dict:
    """A JSON product as a dict; {} when it is absent or not a JSON object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(value) -> float | None:
    """``value`` when it is a finite real number, else None (products hold outside data)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _top_class(classification: dict) -> dict | None:
    """The most probable source class of a ``classification.json``: name and probability."""
    p_astro = classification.get("p_astro")
    if not isinstance(p_astro, dict):
        return None
    numbers = {str(name): _number(p) for name, p in p_astro.items() if _number(p) is not None}
    if not numbers:
        return None
    name = max(numbers, key=numbers.get)
    return {"class": name, "probability": numbers[name]}


def _partner(record) -> dict | None:
    """The other event of one coincidence record (None unless its id is safe) and the joint
    FAR (Hz): space-time when there is one, else temporal."""
    if not isinstance(record, dict):
        return None
    if "gw_event_id" in record:  # the record of an external entry names the GW event
        kind, event_id = "gw", record.get("gw_event_id")
    else:
        kind, event_id = record.get("kind"), record.get("trigger_id")
    try:
        ids.check_kind(kind)
        ids.check_event_id(event_id)
    except (ids.InvalidId, TypeError):
        return None
    joint = _number(record.get("spacetime_far_hz"))
    return {"kind": kind, "event_id": event_id,
            "time_difference_s": _number(record.get("time_difference_s")),
            "joint_far_hz": joint if joint is not None else _number(record.get("temporal_far_hz"))}


def _done(name: str, products: list[dict]) -> bool:
    return any(p["name"] == name and p["state"] == "done" for p in products)


def event_summary(spool: Spool, kind: str, event_id: str, config: dict) -> dict:
    """What the pages show of one event (the content of ``event.json``), entries newest first.

    Each entry has its ``skyspool status`` fields (latencies in s) plus the values of its
    products: ``time`` (event or trigger time, ISO), ``far_hz``, ``significant``,
    ``area50_deg2``, ``area90_deg2``, ``distmean_mpc``, ``diststd_mpc``, ``classification``,
    ``coincidences`` and ``products`` (name, state done/failed/pending, failure reason).
    """
    event = status.event_status(spool, kind, event_id, config)
    for entry, state in zip(spool.entries_of(kind, event_id), event["entries"]):
        stats = _json_object(spool.product(entry, "stats.json"))
        notice = _json_object(spool.product(entry, "notice.json"))
        coincidences = _json_object(spool.product(entry, "coincidences.json")).get("coincidences")
        products = []
        for name in targets.product_names(entry, config):
            product = {"name": name, "state": "pending" if name in state["missing"] else "done"}
            if name in state["failed"]:
                product.update(state="failed", reason=spool.failure_record(entry, name)
                               .read_text(errors="replace").strip())
            products.append(product)
        time = stats.get("event_time") or stats.get("trigger_time") or notice.get("trigger_time")
        significant = stats.get("significant")
        state.update(
            alert_type=entry.alert_type, source=entry.path.name,
            time=time if isinstance(time, str) else None,
            significant=significant if isinstance(significant, bool) else None,
            **{key: _number(stats.get(key)) for key in
               ("far_hz", "area50_deg2", "area90_deg2", "distmean_mpc", "diststd_mpc")},
            classification=_top_class(_json_object(spool.product(entry, "classification.json"))),
            coincidences=[p for p in map(_partner, coincidences if isinstance(coincidences, list) else [])
                          if p is not None],
            products=products, skymap=_done("skymap.png", products),
            thumbnail=_done(THUMBNAIL, products), sends=_sends(spool, entry))
    event["received"] = max((e["received"] for e in event["entries"]), default=0.0)
    event["entries"].reverse()
    event["superevents"] = [superevent_summary(spool, sid) for sid in superevent_ids(spool, kind, event_id)]
    return event


def _sends(spool: Spool, entry) -> list[dict]:
    """What the publishers sent of an entry: sink, kind, items, when (Unix s), from their
    receipts (dry runs left out), first first."""
    folder = spool.publish_receipt(entry, "x").parent
    sends = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        receipt = _json_object(path)
        if path.name.endswith(".dry-run.json") or not isinstance(receipt.get("sent"), list):
            continue
        try:
            when = datetime.datetime.fromisoformat(str(receipt.get("time"))).timestamp()
        except ValueError:
            continue
        sends.append({"sink": str(receipt.get("sink", path.stem)), "kind": str(receipt.get("kind", "")),
                      "items": len(receipt["sent"]), "time": when})
    return sorted(sends, key=lambda send: send["time"])


def event_inputs(spool: Spool, kind: str, event_id: str) -> list[Path]:
    """The files an event page is made from: spool entries, products, failure records.

    Only files that exist: a page shows what there is and never waits for a product (a
    failed one would hold it back for good).
    """
    found = []
    for superevent_id in superevent_ids(spool, kind, event_id):  # its labels and decisions.jsonl
        found += sorted(path for path in spool.superevent_dir(superevent_id).iterdir()
                        if not path.name.startswith(".") and path.is_file())
    for entry in spool.entries_of(kind, event_id):
        found.append(entry.path)
        for folder in (spool.products_dir(entry), spool.failure_record(entry, THUMBNAIL).parent,
                       spool.publish_receipt(entry, "x").parent):  # the timeline's sends
            if folder.is_dir():
                found += sorted(path for path in folder.iterdir()
                                if not path.name.startswith(".") and path.is_file())
    return found


# ----- superevents the pipeline formed: labels and decisions (skyspool.superevents) -----

def superevent_ids(spool: Spool, kind: str, event_id: str) -> list[str]:
    """The superevents an event's page shows: a ``gw`` event's own (when the pipeline formed
    it), those its ``gwcand`` entries joined (their ``superevent.json``)."""
    if kind == "gw":
        found = [event_id]
    elif kind == "gwcand":
        found = [_json_object(spool.product(entry, ASSIGNMENT)).get("superevent_id")
                 for entry in spool.entries_of(kind, event_id)]
    else:
        return []
    return [sid for sid in dict.fromkeys(found)
            if _safe_id(sid) and (spool.superevent_dir(sid) / superevents.STATE_FILE).is_file()]


def _safe_id(value) -> bool:
    try:
        ids.check_event_id(value)
    except ids.InvalidId:
        return False
    return True


def _decision_lines(path: Path) -> list[dict]:
    """The records of ``decisions.jsonl``, oldest first; a line being appended is left out."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _decision(record: dict) -> dict:
    """One decision as a page shows it: texts (None where the record has none)."""
    text = {key: str(record[key]) if record.get(key) is not None else None
            for key in ("candidate_id", "step", "rule", "reason", "outcome")}
    try:
        when = datetime.datetime.fromisoformat(str(record.get("time")).replace("Z", "+00:00"))
        text["time"] = when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        text["time"] = None
    sent = record.get("sent")
    text["sent"] = f"{sent.get('alert_type')} #{sent.get('number')}" if isinstance(sent, dict) else None
    numbers = record.get("numbers") if isinstance(record.get("numbers"), dict) else {}
    far_hz, snr = _number(numbers.get("far_hz")), _number(numbers.get("snr"))
    instruments = numbers.get("instruments")
    shown = [f"FAR {far_hz:.2g} Hz" if far_hz is not None else "", f"SNR {snr:.1f}" if snr is not None else "",
             ",".join(map(str, instruments)) if isinstance(instruments, list) else "",
             str(numbers.get("search") or "")]
    text["numbers"] = " · ".join(filter(None, shown)) or None
    return text


def superevent_summary(spool: Spool, superevent_id: str) -> dict:
    """A superevent's labels, decisions (oldest first) and whether it sent an alert."""
    folder = spool.superevent_dir(superevent_id)
    alerts = _json_object(folder / superevents.STATE_FILE).get("alerts")
    return {"superevent_id": superevent_id, "labels": superevents.labels(spool, superevent_id),
            "decisions": [_decision(r) for r in _decision_lines(folder / superevents.DECISIONS_FILE)],
            "alerts_sent": bool(alerts) if isinstance(alerts, list) else False}


def related_events(spool: Spool, events: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """``events`` and the events sharing a superevent with one of them (its ``gw`` event and
    its candidates' ``gwcand`` events): a decision on one candidate shows on all their pages."""
    found = set(events)
    for kind, event_id in list(found):
        for sid in superevent_ids(spool, kind, event_id):
            members = _json_object(spool.superevent_dir(sid) / superevents.STATE_FILE).get("members")
            entries = [m.get("entry") for m in members.values() if isinstance(m, dict)] \
                if isinstance(members, dict) else []
            related = [("gw", sid)] + [("gwcand", entry.split("/")[0]) for entry in entries
                                       if isinstance(entry, str) and _safe_id(entry.split("/")[0])]
            found.update(pair for pair in related if spool.event_dir(*pair).is_dir())
    return found


# ----- HTML -----

STYLE = """
body { font: 14px/1.4 sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num, td:first-child { white-space: nowrap; }
td.num { text-align: right; }
tr.retracted td { text-decoration: line-through; color: #777; }
tr.failed td { color: #c00; }
span.failed, li.failed { color: #c00; font-weight: bold; }
.pending, .numbers { color: #777; }
ul.products { margin: 0; padding-left: 1.2em; }
img.thumb { display: block; max-width: 200px; height: auto; }
/* Layout: a table wider than the screen scrolls in its own box, never the page; on a laptop
   the index keeps the columns that tell events apart (the rest are on each event's page), on
   a phone fewer still. */
div.scroll { overflow-x: auto; max-width: 100%; }
div.figures { display: flex; flex-wrap: wrap; gap: 1em; }
div.figures figure { margin: 0; flex: 1 1 420px; max-width: 100%; }
div.figures figure:only-child { flex: 0 1 1000px; }
div.figures img { width: 100%; height: auto; }
section.decisions { margin-bottom: 1.5em; }
ol.timeline { font-size: 15px; padding-left: 1.5em; } ol.timeline li { margin: 0.3em 0; }
@media (max-width: 1500px) { .laptop-fold { display: none; } }
@media (max-width: 700px) {
  .phone-fold { display: none; } body { margin: 0.5em; } img.thumb { max-width: 120px; }
}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _href(*parts: str) -> str:
    """A relative link from path segments, each percent-encoded, escaped for an attribute."""
    return _e("/".join(quote(part, safe="") for part in parts))


def _page(title: str, body: str) -> str:
    made = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    # The empty icon spares the browser a request for /favicon.ico (a 404 in the console).
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="icon" href="data:,">\n<title>{_e(title)}</title>\n'
            f'<style>{STYLE}</style>\n</head>\n<body>\n{body}\n'
            f'<p class="pending">made {made} by skyspool</p>\n</body>\n</html>\n')


def _utc(unix_s: float | None) -> str:
    if unix_s is None:
        return "-"
    return datetime.datetime.fromtimestamp(unix_s, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _far(far_hz: float | None, significant: bool | None = None) -> str:
    text = "-" if far_hz is None else f"{far_hz:.2g} Hz"
    if far_hz:
        text += f" (1 per {1 / (far_hz * SECONDS_PER_YEAR):.3g} yr)"
    if significant is not None:
        text += "<br>significant" if significant else "<br>less significant"
    return text


def _areas(entry: dict) -> str:
    if entry["area90_deg2"] is None:
        return "-"
    return f"{_area(entry['area50_deg2'])} / {_area(entry['area90_deg2'])}"


def _area(deg2: float | None) -> str:
    return "-" if deg2 is None else f"{deg2:,.0f}" if deg2 >= 100 else f"{deg2:.3g}"


def _distance(entry: dict) -> str:
    if entry["distmean_mpc"] is None:
        return "-"
    spread = "" if entry["diststd_mpc"] is None else f" ± {entry['diststd_mpc']:.0f}"
    return f"{entry['distmean_mpc']:.0f}{spread}"


def _classification(entry: dict) -> str:
    top = entry["classification"]
    return "-" if top is None else f"{_e(top['class'])} {100 * top['probability']:.0f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _coincidences(partners: list[dict], to_products: str) -> str:
    """Links to the coinciding events' pages; ``to_products``: relative path to products/."""
    items = []
    for partner in partners:
        offset = "" if partner["time_difference_s"] is None else f" Δt {partner['time_difference_s']:+.1f} s"
        far = "" if partner["joint_far_hz"] is None else f", joint FAR {partner['joint_far_hz']:.2g} Hz"
        link = _href(*filter(None, [to_products, partner["kind"], partner["event_id"], INDEX]))
        items.append(f'<a href="{link}">{_e(partner["kind"])} {_e(partner["event_id"])}</a>{offset}{far}')
    return "<br>".join(items) or "-"


def _thumbnail(entry: dict, *folder: str) -> str:
    """The thumbnail linking to the full-size skymap.png (``folder``: the entry's, relative)."""
    if entry["thumbnail"] and entry["skymap"]:
        return (f'<a href="{_href(*folder, "skymap.png")}"><img class="thumb" '
                f'src="{_href(*folder, THUMBNAIL)}" alt="sky map {_e(entry["entry"])}"></a>')
    if entry["skymap"]:
        return f'<a href="{_href(*folder, "skymap.png")}">sky map</a>'
    return ""


def _state(entries: list[dict], retracted: bool) -> str:
    """Failed products (with the entry when an event has several), pending ones, flags."""
    notes = ["retracted"] if retracted else []
    for entry in entries:
        failed = [p["name"] for p in entry["products"] if p["state"] == "failed"]
        if failed:
            notes.append(f'<span class="failed">{_e(entry["entry"])} failed: {_e(", ".join(failed))}</span>')
    pending = sum(p["state"] == "pending" for e in entries for p in e["products"])
    if pending:
        notes.append(f'<span class="pending">{pending} pending</span>')
    flags = {flag for e in entries[:1] for flag in e["flags"] if flag != "retraction"}
    return "<br>".join(notes + sorted(flags)) or "ok"


def _row_class(event: dict, entries: list[dict]) -> str:
    classes = ["retracted"] if event["retracted"] else []
    if any(p["state"] == "failed" for e in entries for p in e["products"]):
        classes.append("failed")
    return f' class="{" ".join(classes)}"' if classes else ""


def _products(entry: dict, kind: str, event_id: str) -> str:
    """Links to every product of an entry (and its received message), failures in red."""
    items = [f'<li><a href="{_href("..", "..", "..", "spool", kind, event_id, entry["source"])}">'
             f'received: {_e(entry["source"])}</a></li>']
    for product in entry["products"]:
        name = _e(product["name"])
        if product["state"] == "done":
            items.append(f'<li><a href="{_href(entry["entry"], product["name"])}">{name}</a></li>')
        elif product["state"] == "failed":
            items.append(f'<li class="failed">{name}: {_e(product["reason"])}</li>')
        else:
            items.append(f'<li class="pending">{name} (pending)</li>')
    return f'<ul class="products">{"".join(items)}</ul>'


def _latest(entries: list[dict], key: str) -> dict:
    """The newest entry with a value for ``key`` (else the newest entry)."""
    return next((e for e in entries if e[key] is not None), entries[0])


# (heading, the class saying where it folds away) of the index's columns.
INDEX_COLUMNS = (("event", ""), ("kind", "phone-fold"), ("latest alert", ""),
                 ("time (UTC)", "phone-fold"), ("received (UTC)", "laptop-fold"),
                 ("FAR / significance", "phone-fold"), ("50% / 90% area (deg²)", ""),
                 ("distance (Mpc)", "phone-fold"), ("classification", "phone-fold"),
                 ("received → notice", "laptop-fold"), ("received → all", "laptop-fold"),
                 ("coincidences", "laptop-fold"), ("sky map", ""), ("state", ""))


def _table(columns, rows: list[str]) -> str:
    """A table in a box of its own that scrolls sideways when it must (not the page)."""
    header = "".join(f'<th class="{fold}">{h}</th>' if fold else f"<th>{h}</th>" for h, fold in columns)
    return f'<div class="scroll"><table>\n<tr>{header}</tr>\n' + "\n".join(rows) + "\n</table></div>"


def index_page(events: list[dict], recent: str | None = None) -> str:
    """``products/index.html``: one row per event (``event_summary`` dicts), newest first,
    under the plot ``recent`` (the recent events' 90% regions) when given.

    Values are the latest known: a retraction keeps the area of the alert before it.
    """
    rows = []
    for event in sorted(events, key=lambda e: (e["received"], e["kind"], e["event_id"]), reverse=True):
        entries = event["entries"]
        if not entries:
            continue
        kind, event_id, newest = event["kind"], event["event_id"], entries[0]
        located = _latest(entries, "area90_deg2")
        shown = next((e for e in entries if e["thumbnail"] or e["skymap"]), None)
        partners = {(p["kind"], p["event_id"]): p for e in reversed(entries) for p in e["coincidences"]}
        rows.append(
            f'<tr{_row_class(event, entries)}>'
            f'<td><a href="{_href(kind, event_id, INDEX)}">{_e(event_id)}</a></td>'
            f'<td class="phone-fold">{_e(kind)}</td><td>{_e(newest["alert_type"])}</td>'
            f'<td class="phone-fold">{_e(_latest(entries, "time")["time"] or "-")}</td>'
            f'<td class="num laptop-fold">{_utc(newest["received"])}</td>'
            f'<td class="num phone-fold">{_far(_latest(entries, "far_hz")["far_hz"], _latest(entries, "significant")["significant"])}</td>'
            f'<td class="num">{_areas(located)}</td>'
            f'<td class="num phone-fold">{_distance(_latest(entries, "distmean_mpc"))}</td>'
            f'<td class="phone-fold">{_classification(_latest(entries, "classification"))}</td>'
            f'<td class="num laptop-fold">{_seconds(newest["notice_latency_s"])}</td>'
            f'<td class="num laptop-fold">{_seconds(newest["all_latency_s"])}</td>'
            f'<td class="laptop-fold">{_coincidences(list(partners.values()), "")}</td>'
            f'<td>{_thumbnail(shown, kind, event_id, shown["entry"]) if shown else ""}</td>'
            f'<td class="state">{_state(entries, event["retracted"])}</td></tr>')
    plot = (f'<div class="figures"><figure><a href="{_href(recent)}"><img src="{_href(recent)}" '
            f'alt="90% regions of the recent GW events"></a></figure></div>\n' if recent else "")
    body = (f'<h1>skyspool: {len(rows)} events</h1>\n'
            '<p><a href="services.html">service health</a> (is the daemon running?)</p>\n'  # skyspool.control
            + plot + _table(INDEX_COLUMNS, rows))
    return _page("skyspool events", body)


def event_page(event: dict) -> str:
    """``products/<kind>/<event_id>/index.html``: every entry of one event, newest first."""
    kind, event_id = event["kind"], event["event_id"]
    rows = []
    for entry in event["entries"]:
        rows.append(
            f'<tr{_row_class({"retracted": False}, [entry])}><td>{_e(entry["entry"])}</td>'
            f'<td>{_e(entry["time"] or "-")}</td><td class="num">{_utc(entry["received"])}</td>'
            f'<td class="num">{_far(entry["far_hz"], entry["significant"])}</td>'
            f'<td class="num">{_areas(entry)}</td><td class="num">{_distance(entry)}</td>'
            f'<td>{_classification(entry)}</td>'
            f'<td class="num">{_seconds(entry["notice_latency_s"])}</td>'
            f'<td class="num">{_seconds(entry["all_latency_s"])}</td>'
            f'<td>{_coincidences(entry["coincidences"], "../..")}</td>'
            f'<td>{_thumbnail(entry, entry["entry"])}</td>'
            f'<td>{_products(entry, kind, event_id)}</td></tr>')
    header = ("entry", "time (UTC)", "received (UTC)", "FAR / significance", "50% / 90% area (deg²)",
              "distance (Mpc)", "classification", "received → notice", "received → all",
              "coincidences", "sky map", "products")
    title = f"<s>{_e(event_id)}</s> (retracted)" if event["retracted"] else _e(event_id)
    body = (f'<p><a href="{_href("..", "..", INDEX)}">all events</a></p>\n'
            f'<h1>{_e(kind)} {title}</h1>\n' + _figures(event["entries"]) + _timeline(event["entries"])
            + "".join(_decisions(found, kind) for found in event.get("superevents", []))
            + _table([(h, "") for h in header], rows))
    return _page(f"{kind} {event_id}", body)


def _timeline(entries: list[dict]) -> str:
    """The event's alerts as a timeline, oldest first: received, notice written, every
    product built, each publisher's send (seconds after the alert was received)."""
    items = []
    for entry in reversed(entries):
        steps = [f"received {_utc(entry['received'])} UTC"]
        if entry["notice_latency_s"] is not None:
            steps.append(f"notice +{entry['notice_latency_s']:.1f} s")
        if entry["all_latency_s"] is not None:
            steps.append(f"all products +{entry['all_latency_s']:.1f} s")
        steps += [f"sent by {_e(send['sink'])} ({_e(send['kind'])}, {send['items']}) "
                  f"+{send['time'] - entry['received']:.1f} s" for send in entry.get("sends", [])]
        items.append(f'<li><b>{_e(entry["entry"])}</b>: {" → ".join(steps)}</li>')
    return f'<h2>timeline</h2>\n<ol class="timeline">{"".join(items)}</ol>\n' if items else ""


DECISION_COLUMNS = ("time (UTC)", "candidate", "step", "rule", "reason", "outcome", "alert sent")


def _decisions(superevent: dict, kind: str) -> str:
    """A superevent's labels and decisions, oldest first (from a candidate's page, linking to
    the superevent's page once it sent an alert); ``superevent``: a ``superevent_summary``."""
    sid = superevent["superevent_id"]
    name = _e(sid)
    if kind != "gw" and superevent["alerts_sent"]:
        name = f'<a href="{_href("..", "..", "gw", sid, INDEX)}">{name}</a>'
    rows = []
    for decision in superevent["decisions"]:
        numbers = f'<br><span class="numbers">{_e(decision["numbers"])}</span>' if decision["numbers"] else ""
        rows.append("<tr>" + "".join(f"<td>{_e(decision[key] or '-')}</td>" for key in
                                     ("time", "candidate_id", "step", "rule"))
                    + f'<td>{_e(decision["reason"] or "-")}{numbers}</td>'
                    + f'<td>{_e(decision["outcome"] or "-")}</td><td>{_e(decision["sent"] or "-")}</td></tr>')
    labels = ", ".join(map(_e, superevent["labels"])) or "none"
    return (f'<section class="decisions">\n<h2>superevent {name}: decisions</h2>\n'
            f'<p class="labels">labels: {labels}</p>\n'
            + _table([(h, "") for h in DECISION_COLUMNS], rows) + "\n</section>\n")


# Images an event page shows at full width, newest entry that has them: (product, caption).
FIGURES = (("skymap.png", "sky map"), ("volume.png", "volume"), ("combined.png", "combined map"))


def _figures(entries: list[dict]) -> str:
    """The event's images large enough to read (the newest entry's that has each)."""
    shown = []
    for product, caption in FIGURES:
        entry = next((e for e in entries if _done(product, e["products"])), None)
        if entry is not None:
            shown.append(f'<figure><a href="{_href(entry["entry"], product)}"><img src="'
                         f'{_href(entry["entry"], product)}" alt="{_e(caption)} {_e(entry["entry"])}"></a>'
                         f'<figcaption>{_e(caption)}: {_e(entry["entry"])}</figcaption></figure>')
    return f'<div class="figures">{"".join(shown)}</div>\n' if shown else ""


# ----- writing the pages (what the rules call) -----

def write_event(spool_root: str, kind: str, event_id: str, config: dict, page: str, summary: str) -> None:
    """Write an event's ``event.json`` and page."""
    event = event_summary(Spool(spool_root), kind, event_id, config)
    atomic.write_json(summary, event)
    atomic.write_text(page, event_page(event))


def write_index(summaries: list[str], output: str) -> None:
    """Write ``products/index.html`` from the events' ``event.json`` files (and the plot of
    the recent events' 90% regions beside it)."""
    events = [_json_object(path) for path in summaries]
    recent = write_recent_regions(events, Path(output).parent)
    atomic.write_text(output, index_page(events, recent=recent))
    control.write_services_page(Path(output).parent.parent)  # the page the index links to (skyspool.control)


def recent_regions(events: list[dict], products: Path, count: int = RECENT_COUNT) -> list[tuple[str, Path]]:
    """``(event_id, contours.geojson)`` of the ``count`` most recent GW events not retracted,
    each from its newest entry that has contours."""
    found = []
    for event in sorted(events, key=lambda e: e.get("received", 0), reverse=True):
        if event.get("kind") != "gw" or event.get("retracted") or len(found) == count:
            continue
        entry = next((e for e in event.get("entries", []) if _done("contours.geojson", e["products"])), None)
        path = None if entry is None else products / "gw" / event["event_id"] / entry["entry"] / "contours.geojson"
        if path is not None and path.is_file():  # event.json may be older than a removal
            found.append((event["event_id"], path))
    return found


def write_recent_regions(events: list[dict], products: Path) -> str | None:
    """``recent.png`` beside the index: the 90% regions of the recent GW events on one
    all-sky map (remade only when they change). Returns its name, None without any."""
    regions = recent_regions(events, products)
    if not regions:
        return None
    output = products / RECENT_PLOT
    # recent.json names what recent.png shows (event, contours, their time), so an unchanged set is not redrawn
    key = json.dumps([[event_id, str(path), path.stat().st_mtime_ns] for event_id, path in regions])
    stamp = output.with_suffix(".json")
    if output.exists() and stamp.exists() and stamp.read_text() == key:
        return RECENT_PLOT
    figure = plots.regions_figure([(event_id, _json_object(path)) for event_id, path in regions],
                                  level_percent=90)
    with atomic.atomic_path(output) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)
    atomic.write_text(stamp, key)
    return RECENT_PLOT


def write_thumbnail(png: str, output: str, size_px: int = THUMBNAIL_PX) -> None:
    """A PNG at most ``size_px`` pixels on its longest side, antialiased (Pillow)."""
    from PIL import Image

    with Image.open(png) as image, atomic.atomic_path(output) as tmp:
        image.thumbnail((size_px, size_px))
        image.save(tmp, format="PNG", optimize=True)


def event_page_path(spool: Spool, kind: str, event_id: str, name: str = INDEX) -> Path:
    """An event's page (or, with ``name=SUMMARY``, its ``event.json``)."""
    return spool.products / kind / event_id / name


def events_of(spool: Spool, products: Iterable[Path]) -> set[tuple[str, str]]:
    """``(kind, event_id)`` of the events that ``products`` (paths of products) belong to."""
    return {tuple(Path(path).relative_to(spool.products).parts[:2]) for path in products}


def events_without_page(spool: Spool) -> set[tuple[str, str]]:
    """``(kind, event_id)`` of the events whose page was never made."""
    return {(kind, event_id) for kind, event_id in spool.events()
            if not event_page_path(spool, kind, event_id).is_file()}


def refresh(spool_root: str | Path, events: Iterable[tuple[str, str]] | None = None) -> bool:
    """Remake the pages of ``events`` (``(kind, event_id)``; every event when None) and of
    the events sharing a superevent with them (``related_events``) whose inputs changed (with
    Snakemake, in this process), then the index from the ``event.json`` of every event.

    Only the event page rule runs (``PAGE_RULE``), so a refresh may run beside product runs: it
    writes nothing else, and writes atomically. The index is written here rather than by
    Snakemake: asked for ``index.html``, Snakemake would check every event's page first
    (listing every product folder), a cost that grows with the spool; the ``event.json``
    files are the pages' cache of what each event shows.
    """
    spool = Spool(spool_root)
    chosen = spool.events() if events is None else sorted(related_events(spool, events))
    pages = [event_page_path(spool, kind, event_id) for kind, event_id in chosen]
    # --nolock ends the list of --allowed-rules (which would swallow the targets).
    ok = not pages or workflow.run_snakemake(spool, pages, cores=1,
                                             extra=["--allowed-rules", PAGE_RULE, "--nolock"])
    summaries = [event_page_path(spool, kind, event_id, SUMMARY) for kind, event_id in spool.events()]
    write_index([str(path) for path in summaries if path.is_file()], str(spool.products / INDEX))
    return ok


# ----- serving -----

class _SpoolFileRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Files of the spool; ``/`` goes to the dashboard."""

    def do_GET(self):
        if self.path == "/":
            self.send_response(302)
            self.send_header("Location", f"/products/{INDEX}")
            self.end_headers()
            return
        super().do_GET()


def serve(spool: Spool, port: int = 8000, bind: str = "127.0.0.1") -> None:
    """Serve the spool directory over HTTP until interrupted (port 0: any free port)."""
    handler = functools.partial(_SpoolFileRequestHandler, directory=str(spool.root))
    with http.server.ThreadingHTTPServer((bind, port), handler) as server:
        host, port = server.server_address[:2]
        print(f"dashboard at http://{host}:{port}/products/{INDEX} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
