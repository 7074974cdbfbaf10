"""GW - external coincidences, RAVEN-style: time windows, joint FARs and the combined sky map.

The search goes both ways, so the result does not depend on which message arrived first:
a GW alert looks for external notices within the windows around its time, an external
notice looks for GW events. Times are compared as ``t_external - t_gw`` (s) against a
window ``[low, high]`` configured per pair (``coincidence.windows_s``, keys
``<external kind>_<gw group>``: ``grb_cbc``, ``grb_burst``, ``neutrino_cbc``, ...).
An IceCube LVK nu track search is linked to the superevent it names, not by time.
Test notices pair only with test (mock ``M...``/``T...``) GW events, and real with real.

Joint false-alarm rates follow ligo-raven's ``coinc_far`` (untargeted method):
temporal FAR = (high - low) x external rate x GW FAR, and space-time FAR = temporal FAR /
sky-map overlap integral, the overlap being 4 pi * integral of p_gw p_ext (Ashton et al. 2018,
ApJ 860, 6). The combined map is the normalised product of the two maps on their common
multi-order grid, with the GW distance layers kept, as ``ligo-skymap-combine`` does on
flat maps. Rates in Hz, times in s, areas in deg2.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
from pathlib import Path

import numpy as np
from astropy.table import Table
from ligo.skymap import moc

from skyspool import atomic
from skyspool.formats.gwalert import GWAlert, read_alert
from skyspool.notices import Notice, iso_utc, maps, read_notice
from skyspool.paths import Entry, Spool

SECONDS_PER_YEAR = 365.25 * 86400
EXTERNAL_KINDS = ("grb", "neutrino", "snews", "frb")
MAX_DEPTH = 29  # HEALPix nested indices at this order index every finer pixel
LVK_SEARCH = "lvk_nu_track_search"
GW_PRODUCTS = ["coincidences.json"]
COMBINED_PRODUCTS = ["combined.multiorder.fits", "combined.png"]


# ----- reading spool entries (cached: spool entries never change) -----

@functools.lru_cache(maxsize=8192)
def _notice(path: Path) -> Notice:
    return read_notice(path)


@functools.lru_cache(maxsize=512)
def _alert(path: Path) -> GWAlert:
    """The alert's facts without its sky-map bytes (megabytes each: a long-lived daemon's
    cache of them grew by gigabytes in a burst); :func:`_gw_map` reads the map."""
    return dataclasses.replace(read_alert(path), skymap=None, combined_skymap=None)


@functools.lru_cache(maxsize=8192)
def _gps(iso_time: str) -> float:
    from astropy.time import Time

    return float(Time(iso_time.replace("Z", ""), scale="utc").gps)


def _gw_role(superevent_id: str) -> str:
    return "test" if superevent_id[:1] in ("M", "T") else "observation"


def _current(spool: Spool, kind: str, event_id: str) -> Entry | None:
    """The latest entry of an event, or None when it is retracted."""
    entries = spool.entries_of(kind, event_id)
    if not entries or entries[-1].alert_type == "retraction":
        return None
    return entries[-1]


def _best_notice_entry(spool: Spool, kind: str, event_id: str) -> Entry | None:
    """The latest entry of an external trigger that has a position, else its latest entry."""
    current = _current(spool, kind, event_id)
    # FRB observations (AMBER chunks, YAML; skyspool.frb) share the frb kind but are no notices.
    if current is None or current.path.suffix not in (".json", ".xml") or _notice(current.path).retraction:
        return None
    for entry in reversed(spool.entries_of(kind, event_id)):
        if maps.has_map(_notice(entry.path)):
            return entry
    return current


def window(config: dict, external_kind: str, gw_group: str) -> tuple[float, float] | None:
    """The configured window (s) of ``t_external - t_gw`` for this pair, or None."""
    pair = config.get("coincidence", {}).get("windows_s", {}).get(f"{external_kind}_{gw_group.lower()}")
    return None if pair is None else (float(pair[0]), float(pair[1]))


# ----- the search, both ways -----

def _gw_facts(alert: GWAlert) -> tuple[float, str]:
    return _gps(alert.event["time"]), alert.event["group"]


def _pairs_with(notice: Notice, alert: GWAlert, config: dict) -> tuple[float, float] | None:
    """The window if ``notice`` and ``alert`` coincide, else None."""
    if notice.role != _gw_role(alert.superevent_id) or alert.event is None:
        return None
    if notice.notice_type == LVK_SEARCH:
        return (0.0, 0.0) if notice.gw_superevent == alert.superevent_id else None
    gw_time, group = _gw_facts(alert)
    limits = window(config, notice.kind, group)
    if limits is None:
        return None
    offset = _gps(iso_utc(notice.trigger_time)) - gw_time
    return limits if limits[0] <= offset <= limits[1] else None


def external_partners(spool: Spool, gw_entry: Entry, config: dict) -> list[Entry]:
    """Current entries of the external triggers coinciding with a GW entry."""
    alert = _alert(gw_entry.path)
    if alert.is_retraction:
        return []
    found = []
    for kind in EXTERNAL_KINDS:
        for _, event_id in spool.events(kind):
            entry = _best_notice_entry(spool, kind, event_id)
            if entry is not None and _pairs_with(_notice(entry.path), alert, config):
                found.append(entry)
    return found


def gw_partners(spool: Spool, external_entry: Entry, config: dict) -> list[Entry]:
    """Current entries of the GW events coinciding with an external notice entry."""
    notice = _notice(external_entry.path)
    if notice.retraction:
        return []
    found = []
    for _, superevent_id in spool.events("gw"):
        entry = _current(spool, "gw", superevent_id)
        if entry is not None and _pairs_with(notice, _alert(entry.path), config):
            found.append(entry)
    return found


def partners(spool: Spool, entry: Entry, config: dict) -> list[Entry]:
    """The coinciding entries of the other side, whichever side ``entry`` is on."""
    return external_partners(spool, entry, config) if entry.kind == "gw" else gw_partners(spool, entry, config)


def affected_entries(spool: Spool, entry: Entry, config: dict) -> list[Entry]:
    """GW entries whose coincidence products a newly arrived external entry changes.

    The daemon asks for these entries' targets too, so that a GRB arriving after the GW
    alert updates the GW event's current entry (Snakemake reruns them: their inputs grew).
    """
    # Only notices pair with GW alerts (not pipeline candidates or DQ segment lists).
    return gw_partners(spool, entry, config) if entry.kind in EXTERNAL_KINDS else []


# ----- sky maps: common grid, overlap, product -----

def _ranges(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order, ipix = moc.uniq2nest(np.asarray(uniq, dtype=np.int64))
    shift = 2 * (MAX_DEPTH - order.astype(np.int64))
    return ipix << shift, (ipix + 1) << shift


def common_grid(first: Table, second: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UNIQ of the common grid, row in ``first``, row in ``second``) of two full-sky maps.

    Nested HEALPix pixels either contain one another or are disjoint, so the union of
    both maps' pixel boundaries (as index ranges at order 29) cuts the sky into the finer
    of each overlapping pair.
    """
    first_low, _ = _ranges(first["UNIQ"])
    second_low, _ = _ranges(second["UNIQ"])
    first_order, second_order = np.argsort(first_low), np.argsort(second_low)
    low = np.union1d(first_low, second_low)
    high = np.append(low[1:], 12 * 4 ** MAX_DEPTH)
    depth = MAX_DEPTH - np.log2(high - low).astype(np.int64) // 2
    uniq = moc.nest2uniq(depth.astype(np.int8), low >> (2 * (MAX_DEPTH - depth)))
    rows_first = first_order[np.searchsorted(first_low[first_order], low, side="right") - 1]
    rows_second = second_order[np.searchsorted(second_low[second_order], low, side="right") - 1]
    return uniq, rows_first, rows_second


def combine(gw_map: Table, external_map: Table) -> tuple[Table, float]:
    """(combined multi-order map, sky-map overlap integral) of a GW and an external map."""
    from ligo.skymap.distance import parameters_to_marginal_moments

    uniq, gw_rows, ext_rows = common_grid(gw_map, external_map)
    area = moc.uniq2pixarea(uniq)
    gw_density = np.asarray(gw_map["PROBDENSITY"])[gw_rows]
    ext_density = np.asarray(external_map["PROBDENSITY"])[ext_rows]
    gw_density = gw_density / np.sum(gw_density * area)
    ext_density = ext_density / np.sum(ext_density * area)
    product = gw_density * ext_density
    overlap = float(4 * np.pi * np.sum(product * area))
    if overlap == 0:
        raise ValueError("the GW and external sky maps do not overlap")
    combined = Table({"UNIQ": uniq, "PROBDENSITY": product / np.sum(product * area)})
    combined.meta = dict(gw_map.meta)
    if "DISTMU" in gw_map.colnames:
        for column in ("DISTMU", "DISTSIGMA", "DISTNORM"):
            combined[column] = np.asarray(gw_map[column])[gw_rows]
        mean, std = parameters_to_marginal_moments(
            combined["PROBDENSITY"] * area, np.asarray(combined["DISTMU"]), np.asarray(combined["DISTSIGMA"]))
        combined.meta["distmean"], combined.meta["diststd"] = float(mean), float(std)
    return combined, overlap


def _gw_map(alert_path: Path) -> Table | None:
    """The multi-order sky map of the GW alert stored at ``alert_path``, if it has one."""
    skymap = read_alert(alert_path).skymap
    if skymap is None:
        return None
    from ligo.skymap.io import read_sky_map

    return read_sky_map(io.BytesIO(skymap), moc=True)


# ----- joint FARs -----

def external_rate_hz(notice: Notice, config: dict) -> float | None:
    """Rate (Hz) of external triggers like this one, from ``coincidence.rates_per_year``."""
    rates = config.get("coincidence", {}).get("rates_per_year", {})
    key = "grb_subthreshold" if notice.notice_type == "gbm_subthresh" else notice.kind
    rate = rates.get(key)
    return None if rate is None else float(rate) / SECONDS_PER_YEAR


def coincidence_record(alert: GWAlert, external_entry: Entry, config: dict, gw_map: Table | None) -> dict:
    """One coincidence: who, when, temporal and space-time joint FARs (Hz)."""
    notice = _notice(external_entry.path)
    limits = _pairs_with(notice, alert, config)
    offset = _gps(iso_utc(notice.trigger_time)) - _gw_facts(alert)[0]
    rate = external_rate_hz(notice, config)
    gw_far = alert.event.get("far")
    temporal = None
    if rate is not None and gw_far and limits[1] > limits[0]:
        temporal = (limits[1] - limits[0]) * rate * gw_far
    overlap = None
    ext_map = maps.notice_skymap(notice, config["notices"]["gbm_systematics"])
    if gw_map is not None and ext_map is not None:
        overlap = combine(gw_map, ext_map)[1]
    record = {"kind": notice.kind, "trigger_id": notice.trigger_id, "entry": external_entry.name,
              "mission": notice.mission, "instrument": notice.instrument,
              "notice_type": notice.notice_type, "role": notice.role,
              "trigger_time": iso_utc(notice.trigger_time), "time_difference_s": offset,
              "window_s": list(limits), "external_rate_hz": rate, "gw_far_hz": gw_far,
              "temporal_far_hz": temporal, "skymap_overlap": overlap,
              "spacetime_far_hz": None if temporal is None or not overlap else temporal / overlap,
              "has_skymap": ext_map is not None}
    if notice.notice_type == LVK_SEARCH:
        record["pval_generic"] = notice.facts.get("pval_generic")
        record["pval_bayesian"] = notice.facts.get("pval_bayesian")
        record["coincident_neutrinos"] = [dict(vars(nu)) for nu in notice.coincident_neutrinos]
    return record


def _preferred(records: list[dict]) -> int | None:
    """Index of the coincidence with the lowest joint FAR (space-time before temporal)."""
    def rank(item):
        record = item[1]
        far = record["spacetime_far_hz"] if record["spacetime_far_hz"] is not None else record["temporal_far_hz"]
        return (not record["has_skymap"], math.inf if far is None else far)
    return min(enumerate(records), key=rank)[0] if records else None


def coincidences(spool: Spool, entry: Entry, config: dict) -> dict:
    """The content of ``coincidences.json`` of a GW or external entry."""
    if entry.kind == "gw":
        alert = _alert(entry.path)
        gw_map = _gw_map(entry.path)
        records = [coincidence_record(alert, partner, config, gw_map)
                   for partner in external_partners(spool, entry, config)]
    else:
        records = []
        for partner in gw_partners(spool, entry, config):
            alert = _alert(partner.path)
            record = coincidence_record(alert, entry, config, _gw_map(partner.path))
            record.update(gw_event_id=partner.event_id, gw_entry=partner.name)
            records.append(record)
    return {"event_id": entry.event_id, "kind": entry.kind, "entry": entry.name,
            "coincidences": records, "preferred": _preferred(records)}


# ----- products -----

def gw_products(entry: Entry, config: dict) -> list[str]:
    """Coincidence product names of a GW entry (to add to its product list)."""
    if entry.alert_type == "retraction":
        return []
    spool = Spool(entry.path.parents[3])
    names = list(GW_PRODUCTS)
    if any(maps.has_map(_notice(partner.path)) for partner in external_partners(spool, entry, config)):
        names += COMBINED_PRODUCTS
    return names


def partner_paths(spool: Spool, entry: Entry, config: dict) -> list[str]:
    """Spool files of the partners, relative to the spool root (inputs of the rules)."""
    return [str(partner.path.relative_to(spool.root)) for partner in partners(spool, entry, config)]


def write_coincidences(spool_root: str, kind: str, event_id: str, entry_name: str, output: str,
                       config: dict) -> None:
    spool = Spool(spool_root)
    atomic.write_json(output, coincidences(spool, spool.find_entry(kind, event_id, entry_name), config))


def write_combined(spool_root: str, event_id: str, entry_name: str, coincidences_path: str,
                   output: str, config: dict) -> None:
    """The GW map times the map of the preferred coincident external trigger."""
    import json

    from ligo.skymap.io import write_sky_map

    spool = Spool(spool_root)
    result = json.loads(Path(coincidences_path).read_text())
    preferred = result["coincidences"][result["preferred"]]
    if not preferred["has_skymap"]:
        raise ValueError(f"{event_id}: no coincident external trigger has a sky map")
    notice_entry = spool.find_entry(preferred["kind"], preferred["trigger_id"], preferred["entry"])
    notice = _notice(notice_entry.path)
    gw_map = _gw_map(spool.find_entry("gw", event_id, entry_name).path)
    combined, _ = combine(gw_map, maps.notice_skymap(notice, config["notices"]["gbm_systematics"]))
    instruments = sorted(set(combined.meta.get("instruments", [])) | {notice.mission})
    combined.meta.update(instruments=instruments, objid=event_id)
    combined.meta.setdefault("HISTORY", [])
    combined.meta["HISTORY"] = list(combined.meta["HISTORY"]) + [
        "", f"Combined with {notice.mission} {notice.instrument} {notice.trigger_id} {notice.notice_type}"]
    with atomic.atomic_path(output) as tmp:
        write_sky_map(str(tmp), combined, moc=True)


def write_combined_png(combined_path: str, coincidences_path: str, output: str, nside: int) -> None:
    import json

    from skyspool import plots
    from skyspool import skymap as sm

    result = json.loads(Path(coincidences_path).read_text())
    preferred = result["coincidences"][result["preferred"]]
    table = sm.read_multiorder(combined_path)
    area50, area90 = sm.credible_areas_deg2(table)
    annotation = (f"with {preferred['mission']} {preferred['trigger_id']}  dt = "
                  f"{preferred['time_difference_s']:+.2f} s\n50%: {area50:.3g} deg2   90%: {area90:.3g} deg2"
                  f"   space-time FAR {_far_text(preferred['spacetime_far_hz'])}")
    figure = plots.allsky_figure(table, nside=nside, annotation=annotation,
                                 title=f"{result['event_id']} {result['entry']} combined")
    with atomic.atomic_path(output) as tmp:
        figure.savefig(tmp, format="png")


def _far_text(far_hz: float | None) -> str:
    return "n/a" if far_hz is None else f"{far_hz:.2e} Hz"


# ----- what the GW notice and circular include -----

def notice_extra(coincidences_path: str | Path) -> dict:
    """For ``skyspool.gw.notice.notice_dict(extra=...)``: all coincidences and the preferred
    one as an IGWN-alert-style ``external_coinc`` (None without coincidences)."""
    import json

    result = json.loads(Path(coincidences_path).read_text())
    if result["preferred"] is None:
        return {"coincidences": []}
    best = result["coincidences"][result["preferred"]]
    return {"coincidences": result["coincidences"],
            "external_coinc": {"observatory": best["mission"], "search": best["kind"].upper(),
                               "trigger_id": best["trigger_id"],
                               "time_difference": best["time_difference_s"],
                               "time_coincidence_far": best["temporal_far_hz"],
                               "time_sky_position_coincidence_far": best["spacetime_far_hz"]}}


def circular_lines(coincidences_path: str | Path) -> list[str]:
    """Paragraphs for ``skyspool.gw.notice.circular_text(lines_after=...)``."""
    import json

    result = json.loads(Path(coincidences_path).read_text())
    lines = []
    for record in result["coincidences"]:
        relation = "after" if record["time_difference_s"] >= 0 else "before"
        lines += [f"{record['mission']} {record['instrument']} trigger {record['trigger_id']} "
                  f"({record['notice_type']}) occurred {abs(record['time_difference_s']):.2f} s {relation} "
                  f"the GW candidate (window {record['window_s'][0]:+g} to {record['window_s'][1]:+g} s). "
                  f"Joint false alarm rates: temporal {_far_text(record['temporal_far_hz'])}, "
                  f"space-time {_far_text(record['spacetime_far_hz'])}.", ""]
    return lines
