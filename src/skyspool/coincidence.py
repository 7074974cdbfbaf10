"""GW - external coincidences as RAVEN (ligo-raven 3.3 run as GWCelery 3.0.0 runs it).

The search goes both ways, so the result does not depend on which message arrived first:
a GW alert looks for external notices within the windows around its time, an external
notice looks for GW events. Times are compared as ``t_external - t_gw`` (s) against the
window of the pair (``coincidence.windows_s``): GWCelery's ``raven_coincidence_windows``,
whose windows are the GW time relative to the external one, with the sign turned.
Each notice belongs to one of GWCelery's external searches (:func:`search_of`: GRB, SubGRB
(Fermi GBM sub-threshold), SubGRBTargeted (Swift BAT-GUANO), FRB, HEN, Supernova), which
pairs with the GW groups and searches in ``coincidence.pairs``. A targeted trigger's time is
its central time (trigger time + half its duration), as GWCelery sets it. An IceCube LVK nu
track search is linked to the superevent it names, not by time. Test notices pair only with
test (mock ``M...``/``T...``) GW events, and real with real.

Joint false-alarm rates are ligo-raven's own (:func:`ligo.raven.search.coinc_far`): it is
called with the superevent and external-event facts and the two sky maps that skyspool
supplies from the spool in place of GraceDB (:class:`_SpoolFiles`). Its overlap integral takes,
for each GW pixel, the external pixel nearest to its centre; skyspool hands it both maps on
their common multi-order grid (:func:`common_grid`), where each GW pixel's nearest external
pixel is itself, so that the sum is the exact integral even for an arc-minute external map.

Each trigger is checked for GWCelery's likely-noise vetoes (its NOT_GRB label,
:func:`likely_noise`); the preferred coincidence is ranked as GWCelery's ``raven.keyfunc``
and each one says whether it is publishable (``raven.trigger_raven_alert``) and why.
The combined map is the normalised product of the two maps on their common grid, with the
GW distance layers kept. Rates in Hz, times in s, areas in deg2.
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

from skyspool import atomic, settings
from skyspool.formats.gwalert import GWAlert, read_alert
from skyspool.formats.skymaps import MISSION_MAP_TYPE, mission_map_file
from skyspool.ids import EXTERNAL_KINDS, superevent_role
from skyspool.notices import Notice, maps, read_notice
from skyspool.paths import Entry, Spool
from skyspool.times import SECONDS_PER_YEAR, gps_from_utc, iso_utc

MAX_DEPTH = 29  # HEALPix nested indices at this order index every finer pixel
LVK_SEARCH = "lvk_nu_track_search"
GW_PRODUCTS = ["coincidences.json"]
COMBINED_PRODUCTS = ["combined.multiorder.fits", "combined.png"]
# GWCelery's likely-real threshold (external_triggers.P_ASTRO_THRESH) and Fermi's GRB class.
LIKELY_REAL = 0.5
FERMI_GRB_CLASS = 4


# ----- reading spool entries (cached: spool entries never change) -----

def _notice(path: Path) -> Notice:
    return _read_notice(path, mission_map_file(path) if _names_map_url(path) else None)


@functools.lru_cache(maxsize=8192)
def _names_map_url(path: Path) -> bool:
    """Whether the notice names its map by ``healpix_url`` (only then is a map file looked for)."""
    return read_notice(path).skymap_url is not None


@functools.lru_cache(maxsize=8192)
def _read_notice(path: Path, mission_map: Path | None) -> Notice:
    """Cached by the mission map file too: a map arriving later changes the notice."""
    return read_notice(path)


def _is_notice(entry: Entry) -> bool:
    """Whether a spool entry is a GCN notice (FRB observations and CHIME/FRB VOEvents, which
    skyspool.frb reads, share the frb kind)."""
    from skyspool.formats import Refused

    if entry.path.suffix not in (".json", ".xml"):
        return False
    try:
        _notice(entry.path)
    except Refused:
        return False
    return True


@functools.lru_cache(maxsize=512)
def _alert(path: Path) -> GWAlert:
    """The alert's facts without its sky-map bytes (megabytes each: a long-lived daemon's
    cache of them grew by gigabytes in a burst); :func:`_gw_map` reads the map."""
    return dataclasses.replace(read_alert(path), skymap=None, combined_skymap=None)


def _current(spool: Spool, kind: str, event_id: str) -> Entry | None:
    """The latest entry of an event, or None when it is retracted."""
    entries = [entry for entry in spool.entries_of(kind, event_id) if entry.alert_type != MISSION_MAP_TYPE]
    if not entries or entries[-1].alert_type == "retraction":
        return None
    return entries[-1]


def _best_notice_entry(spool: Spool, kind: str, event_id: str) -> Entry | None:
    """The latest entry of an external trigger that has a position, else its latest entry."""
    current = _current(spool, kind, event_id)
    # FRB observations (AMBER chunks, YAML; skyspool.frb) share the frb kind but are no notices.
    if current is None or not _is_notice(current) or _notice(current.path).retraction:
        return None
    for entry in reversed(spool.entries_of(kind, event_id)):
        if _is_notice(entry) and maps.has_map(_notice(entry.path)):
            return entry
    return current


def search_of(notice: Notice) -> str:
    """GWCelery's external search of a notice (``external_triggers.handle_*``)."""
    if notice.kind == "snews":
        return "Supernova"
    if notice.kind == "frb":
        return "FRB"
    if notice.kind == "neutrino":
        return "HEN"
    if notice.notice_type == "gbm_subthresh":
        return "SubGRB"
    if "guano" in notice.instrument.lower() or "targeted" in notice.instrument.lower():
        return "SubGRBTargeted"
    return "GRB"


@dataclasses.dataclass(frozen=True)
class GWSide:
    """What the search needs of a GW candidate: id, role, GPS time (s), group, search, FAR (Hz)."""

    superevent_id: str
    role: str
    gps_time: float
    group: str
    search: str
    far_hz: float | None

    @classmethod
    def of_alert(cls, alert: GWAlert) -> GWSide:
        event = alert.event
        return cls(alert.superevent_id, superevent_role(alert.superevent_id), gps_from_utc(event["time"]),
                   event["group"], event.get("search") or "AllSky", event.get("far"))


def _pairs(section: settings.CoincidenceSettings, search: str, gw: GWSide) -> bool:
    """Whether this external search pairs with the GW group and search (``coincidence.pairs``)."""
    allowed = section.pairs.get(search, ())
    group, gw_search = gw.group.lower(), gw.search.lower()
    return f"{group}/*" in allowed or f"{group}/{gw_search}" in allowed


def window_key(notice: Notice, gw: GWSide) -> str:
    """The ``coincidence.windows_s`` key of this pair, as GWCelery's ``raven._time_window``:
    a Burst BBH candidate takes the CBC windows, sub-threshold searches their mission's."""
    search = search_of(notice)
    group = "cbc" if gw.group.lower() == "cbc" or gw.search.lower() == "bbh" else "burst"
    if search in ("SubGRB", "SubGRBTargeted"):
        return f"grb_subthreshold_{notice.mission.lower()}"
    return f"{notice.kind}_{group}"


def window(config: dict, notice: Notice, gw: GWSide) -> tuple[float, float] | None:
    """The configured window (s) of ``t_external - t_gw`` for this pair, or None (no pairing)."""
    section = settings.of(config).coincidence
    if not _pairs(section, search_of(notice), gw):
        return None
    pair = section.windows_s.get(window_key(notice, gw))
    return None if pair is None else (float(pair[0]), float(pair[1]))


def external_gps(notice: Notice) -> float:
    """The trigger's time (GPS s); a targeted trigger's central time, as GWCelery uses it."""
    when = gps_from_utc(notice.trigger_time)
    if search_of(notice) == "SubGRBTargeted":
        when += 0.5 * float(notice.facts.get("rate_duration") or notice.facts.get("image_duration") or 0)
    return when


# ----- the search, both ways -----

def _pairs_with(notice: Notice, gw: GWSide, config: dict) -> tuple[float, float] | None:
    """The window if ``notice`` and the GW candidate coincide, else None."""
    if notice.role != gw.role:
        return None
    if notice.notice_type == LVK_SEARCH:
        return (0.0, 0.0) if notice.gw_superevent == gw.superevent_id else None
    limits = window(config, notice, gw)
    if limits is None:
        return None
    offset = external_gps(notice) - gw.gps_time
    return limits if limits[0] <= offset <= limits[1] else None


def _alert_pairs_with(notice: Notice, alert: GWAlert, config: dict) -> tuple[float, float] | None:
    return None if alert.event is None else _pairs_with(notice, GWSide.of_alert(alert), config)


def _external_entries(spool: Spool):
    for kind in EXTERNAL_KINDS:
        for _, event_id in spool.events(kind):
            entry = _best_notice_entry(spool, kind, event_id)
            if entry is not None:
                yield entry


def partners_of_gw(spool: Spool, gw: GWSide, config: dict) -> list[Entry]:
    """Current entries of the external triggers coinciding with a GW candidate."""
    return [entry for entry in _external_entries(spool) if _pairs_with(_notice(entry.path), gw, config)]


def external_partners(spool: Spool, gw_entry: Entry, config: dict) -> list[Entry]:
    """Current entries of the external triggers coinciding with a GW entry."""
    alert = _alert(gw_entry.path)
    if alert.is_retraction or alert.event is None:
        return []
    return partners_of_gw(spool, GWSide.of_alert(alert), config)


def gw_partners(spool: Spool, external_entry: Entry, config: dict) -> list[Entry]:
    """Current entries of the GW events coinciding with an external notice entry."""
    notice = _notice(external_entry.path)
    if notice.retraction:
        return []
    found = []
    for _, superevent_id in spool.events("gw"):
        entry = _current(spool, "gw", superevent_id)
        if entry is not None and _alert_pairs_with(notice, _alert(entry.path), config):
            found.append(entry)
    return found


def _retracted_partners(spool: Spool, retraction: Entry, config: dict) -> list[Entry]:
    """GW entries that the earlier notices of a now retracted trigger paired with."""
    found = []
    for earlier in spool.entries_of(retraction.kind, retraction.event_id):
        if _is_notice(earlier) and not _notice(earlier.path).retraction:
            found += [entry for entry in gw_partners(spool, earlier, config) if entry not in found]
    return found


def partners(spool: Spool, entry: Entry, config: dict) -> list[Entry]:
    """The coinciding entries of the other side, whichever side ``entry`` is on."""
    return external_partners(spool, entry, config) if entry.kind == "gw" else gw_partners(spool, entry, config)


def affected_entries(spool: Spool, entry: Entry, config: dict) -> list[Entry]:
    """GW entries whose coincidence products a newly arrived external entry changes.

    The daemon asks for these entries' targets too, so that a GRB arriving after the GW
    alert updates the GW event's current entry (Snakemake reruns them: their inputs grew).
    """
    if entry.alert_type == MISSION_MAP_TYPE:  # its trigger's notices and their partners
        return _map_affected(spool, entry, config)
    # Only notices pair with GW alerts (not pipeline candidates or DQ segment lists).
    if entry.kind not in EXTERNAL_KINDS or not _is_notice(entry):
        return []
    if _notice(entry.path).retraction:  # the coincidences it was in are rebuilt without it
        return _retracted_partners(spool, entry, config)
    # and pipeline candidates already in a superevent: their raven.json step (a publishable
    # coincidence after the orchestrator decided, skyspool.orchestrator.raven)
    return gw_partners(spool, entry, config) + candidate_partners(spool, entry, config)


def _map_affected(spool: Spool, map_entry: Entry, config: dict) -> list[Entry]:
    """A mission map file's trigger: its notices that use the map (their sky-map products)
    and the GW entries and candidates its current notice pairs with (their coincidences)."""
    users = [entry for entry in spool.entries_of(map_entry.kind, map_entry.event_id)
             if _is_notice(entry) and _notice(entry.path).skymap_file]
    best = _best_notice_entry(spool, map_entry.kind, map_entry.event_id)
    return users + ([] if best is None else affected_entries(spool, best, config))


def _input_paths(spool: Spool, partners: list[Entry]) -> list[str]:
    """Spool files of the partners and of the mission maps they use, relative to the spool
    root (inputs of the rules: a new partner or map remakes the products)."""
    paths = []
    for partner in partners:
        mission_map = _notice(partner.path).skymap_file and mission_map_file(partner.path)
        paths += [partner.path] + ([mission_map] if mission_map else [])
    return [str(path.relative_to(spool.root)) for path in paths]


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


# ----- likely noise -----

def likely_noise(notice: Notice, config: dict) -> str | None:
    """Why GWCelery would label this trigger NOT_GRB (likely noise), or None.

    As ``external_triggers.handle_grb_gcn`` and ``handle_kafka_alert``: a Fermi GBM
    classification other than a GRB or below 50%, a GBM initial alert, Swift's star tracker
    out of lock, an IceCube signalness (p_astro) or CHIME importance below 50%, a CHIME
    repeater (known source), a targeted trigger above its search's FAR threshold.
    """
    params = notice.facts.get("params", {})
    search = search_of(notice)
    if notice.notice_type == "gbm_alert":
        return "Fermi GBM initial alert (unreliable; later notices decide)"
    if "Most_Likely_Index" in params:
        index, prob = int(float(params["Most_Likely_Index"])), float(params.get("Most_Likely_Prob", 0))
        if index != FERMI_GRB_CLASS or prob < 100 * LIKELY_REAL:
            return f"Fermi GBM classification: most likely class {index} at {prob:g}%, not a GRB above 50%"
    classification = notice.facts.get("classification")
    if notice.mission == "Fermi" and search == "GRB" and isinstance(classification, dict):
        grb = classification.get("GRB")
        if grb is None or grb < LIKELY_REAL:
            return f"Fermi GBM classification {classification}: GRB below 50%"
    if str(params.get("StarTrack_Lost_Lock", "")).lower() == "true":
        return "Swift star tracker lost lock"
    for name, value in (("signalness", params.get("signalness")), ("p_astro", notice.facts.get("p_astro")),
                        ("importance", notice.facts.get("importance"))):
        if value is not None and float(value) < LIKELY_REAL:
            return f"{notice.mission} {name} {float(value):.3g} below 0.5"
    if notice.kind == "frb" and notice.facts.get("known_source") is not None:
        return f"CHIME repeater (known source {notice.facts['known_source']})"
    grb_threshold = _settings(config)["targeted_far_thresholds_hz"]["grb"].get(notice.mission)
    if search == "SubGRBTargeted" and notice.far_hz is not None and grb_threshold is not None \
            and notice.far_hz > grb_threshold:
        return f"{notice.mission} FAR {notice.far_hz:.4g} Hz above the targeted search's {grb_threshold:.4g} Hz"
    return None


# ----- joint FARs (ligo-raven) -----

def _settings(config: dict) -> dict:
    return config["coincidence"]


def external_rate_hz(notice: Notice, config: dict) -> float | None:
    """Rate (Hz) of this search's triggers, from ``coincidence.rates_per_year`` (GWCelery's
    ``raven_ext_rates``); None for a targeted search (ligo-raven uses the trigger's FAR)."""
    search = search_of(notice)
    if search in ("SubGRBTargeted", "Supernova"):
        return None
    key = "grb_subthreshold" if search == "SubGRB" else notice.kind
    rate = settings.of(config).coincidence.rates_per_year.get(key)
    return None if rate is None else float(rate) / SECONDS_PER_YEAR


class _SpoolFiles:
    """Answers ligo-raven's GraceDB file reads (``files(id, name, raw=True)``) with sky maps
    skyspool took from the spool: ligo-raven then runs offline on them."""

    def __init__(self, files: dict[str, bytes]):
        self._files = files

    def files(self, graceid: str, filename: str, raw: bool = True) -> io.BytesIO:
        return io.BytesIO(self._files[filename])


def _fits_bytes(uniq: np.ndarray, density: np.ndarray) -> bytes:
    from ligo.skymap.io.fits import write_sky_map

    buffer = io.BytesIO()
    write_sky_map(buffer, Table({"UNIQ": uniq, "PROBDENSITY": density}), moc=True)
    return buffer.getvalue()


def raven_fars(gw: GWSide, notice: Notice, limits: tuple[float, float], config: dict,
               gw_map: Table | None, ext_map: Table | None) -> dict:
    """ligo-raven's ``coinc_far`` of this pair, as GWCelery's ``raven.calculate_coincidence_far``
    calls it: ``temporal_coinc_far``, ``spatiotemporal_coinc_far``, ``skymap_overlap`` (Hz; None
    where not computable), and ``raven_message`` when ligo-raven declined (no GW FAR, no overlap)."""
    from ligo.raven.search import coinc_far

    search = search_of(notice)
    nothing = {"temporal_coinc_far": None, "spatiotemporal_coinc_far": None, "skymap_overlap": None}
    if search == "Supernova" or limits[1] <= limits[0]:
        return nothing
    settings = _settings(config)
    targeted = search == "SubGRBTargeted"
    if targeted and (notice.far_hz is None or notice.mission not in ("Fermi", "Swift")):
        return nothing | {"raven_message": "targeted trigger without a FAR: no joint FAR"}
    files = {}
    if gw_map is not None and ext_map is not None:
        uniq, gw_rows, ext_rows = common_grid(gw_map, ext_map)
        files = {"gw.multiorder.fits": _fits_bytes(uniq, np.asarray(gw_map["PROBDENSITY"])[gw_rows]),
                 "ext.multiorder.fits": _fits_bytes(uniq, np.asarray(ext_map["PROBDENSITY"])[ext_rows])}
    result = coinc_far(
        gw.superevent_id, notice.trigger_id, limits[0], limits[1],
        # GWCelery 3.0.0 runs FRB and HEN searches through ligo-raven's GRB formula.
        grb_search="GRB" if search in ("FRB", "HEN") else search,
        se_fitsfile="gw.multiorder.fits" if files else None,
        ext_fitsfile="ext.multiorder.fits" if files else None, incl_sky=bool(files),
        gracedb=_SpoolFiles(files), far_grb=notice.far_hz, em_rate=external_rate_hz(notice, config),
        far_gw_thresh=settings["targeted_far_thresholds_hz"]["gw"].get(notice.mission) if targeted else None,
        far_grb_thresh=settings["targeted_far_thresholds_hz"]["grb"].get(notice.mission) if targeted else None,
        se_dict={"superevent_id": gw.superevent_id, "preferred_event": gw.superevent_id,
                 "far": gw.far_hz, "t_0": gw.gps_time},
        ext_dict={"graceid": notice.trigger_id, "pipeline": notice.mission, "gpstime": external_gps(notice)},
        se_moc=True, ext_moc=True)
    if isinstance(result, str):
        return nothing | {"raven_message": result}
    return {key: None if result[key] is None else float(result[key]) for key in nothing}


def _trials(config: dict, gw: GWSide) -> float:
    return _settings(config)["publish"]["trials_factor"].get(gw.group.lower(), {}).get(gw.search.lower(), 1)


def publishable(record: dict, gw: GWSide, config: dict) -> tuple[bool, list[str]]:
    """Whether GWCelery would raise RAVEN_ALERT for this coincidence, and every reason.

    As ``raven.trigger_raven_alert``: the joint FAR (space-time if both maps, else temporal)
    x trials x (trials - 1) at most the significant-alert threshold of the GW search (for
    SNEWS: the GW FAR x trials under ``snews_gw_far_hz``), the trigger not sub-threshold nor
    likely noise, both sky maps present, neither side a test event, the FAR not negative.
    """
    publish = _settings(config)["publish"]
    trials = _trials(config, gw)
    reasons = []
    if record["search"] == "Supernova":
        far, threshold, far_type = (gw.far_hz or 0) * trials, publish["snews_gw_far_hz"], "GW"
        missing_skymap = False
    else:
        coinc = record["spacetime_far_hz"]
        missing_skymap = coinc is None
        coinc = record["temporal_far_hz"] if coinc is None else coinc
        far = None if coinc is None else coinc * trials * (trials - 1)
        threshold = publish["far_threshold_hz"].get(gw.group.lower(), {}).get(gw.search.lower(), -math.inf)
        far_type = "joint"
    if far is None:
        reasons.append("no joint FAR")
    elif not far <= threshold:
        reasons.append(f"{far_type} FAR x trials {far:.4g} Hz above the threshold {threshold:.4g} Hz")
    elif far < 0:
        reasons.append(f"{far_type} FAR is negative ({far:.4g})")
    if record["search"] == "SubGRB":
        reasons.append("the trigger is sub-threshold")
    if record["likely_noise"]:
        reasons.append(f"likely noise: {record['noise_reason']}")
    if missing_skymap:
        reasons.append("space-time FAR needs both sky maps")
    if gw.role == "test" or record["role"] == "test":
        reasons.append("a test event")
    if not reasons:
        reasons.append(f"{far_type} FAR x trials {far:.4g} Hz at most {threshold:.4g} Hz, both sky maps, "
                       "a likely real trigger")
        return True, reasons
    return False, reasons


def coincidence_record(gw: GWSide, external_entry: Entry, config: dict, gw_map: Table | None) -> dict:
    """One coincidence: who, when, ligo-raven's joint FARs (Hz), vetoes, publishable and why."""
    notice = _notice(external_entry.path)
    limits = _pairs_with(notice, gw, config)
    offset = external_gps(notice) - gw.gps_time
    ext_map = maps.notice_skymap(notice, regions=False)
    noise = likely_noise(notice, config)
    fars = (raven_fars(gw, notice, limits, config, gw_map, ext_map) if notice.notice_type != LVK_SEARCH
            else {"temporal_coinc_far": None, "spatiotemporal_coinc_far": None, "skymap_overlap": None})
    record = {"kind": notice.kind, "search": search_of(notice), "trigger_id": notice.trigger_id,
              "entry": external_entry.name, "mission": notice.mission, "instrument": notice.instrument,
              "notice_type": notice.notice_type, "role": notice.role,
              "trigger_time": iso_utc(notice.trigger_time), "time_difference_s": offset,
              "window_s": list(limits), "external_rate_hz": external_rate_hz(notice, config),
              "external_far_hz": notice.far_hz, "gw_far_hz": gw.far_hz,
              "temporal_far_hz": fars["temporal_coinc_far"], "skymap_overlap": fars["skymap_overlap"],
              "spacetime_far_hz": fars["spatiotemporal_coinc_far"],
              "has_skymap": ext_map is not None, "skymap_source": maps.skymap_source(notice),
              "likely_noise": noise is not None, "noise_reason": noise}
    if "raven_message" in fars:
        record["raven_message"] = fars["raven_message"]
    if notice.notice_type == LVK_SEARCH:
        record["pval_generic"] = notice.facts.get("pval_generic")
        record["pval_bayesian"] = notice.facts.get("pval_bayesian")
        record["coincident_neutrinos"] = [dict(vars(nu)) for nu in notice.coincident_neutrinos]
    record["publishable"], record["publishable_reasons"] = publishable(record, gw, config)
    return record


def _rank(record: dict, config: dict) -> tuple:
    """GWCelery's ``raven.keyfunc``: likely real, already alerted (publishable), search
    preference, then lower space-time and temporal FARs (larger is preferred)."""
    def inverse(far):
        if far is None:
            return -math.inf
        return math.inf if far == 0 else 1 / far

    preference = settings.of(config).coincidence.search_preference.get(record["search"], -1)
    return (not record["likely_noise"], record["publishable"], preference,
            inverse(record["spacetime_far_hz"]), inverse(record["temporal_far_hz"]))


def _preferred(records: list[dict], config: dict) -> int | None:
    """Index of the preferred coincidence (GWCelery's ranking), None without one."""
    if not records:
        return None
    return max(range(len(records)), key=lambda index: _rank(records[index], config))


def coincidences(spool: Spool, entry: Entry, config: dict) -> dict:
    """The content of ``coincidences.json`` of a GW or external entry."""
    if entry.kind == "gw":
        alert = _alert(entry.path)
        gw_map = _gw_map(entry.path)
        records = ([coincidence_record(GWSide.of_alert(alert), partner, config, gw_map)
                    for partner in external_partners(spool, entry, config)] if alert.event else [])
    else:
        records = []
        for partner in gw_partners(spool, entry, config):
            alert = _alert(partner.path)
            record = coincidence_record(GWSide.of_alert(alert), entry, config, _gw_map(partner.path))
            record.update(gw_event_id=partner.event_id, gw_entry=partner.name)
            records.append(record)
    preferred = _preferred(records, config)
    with_map = [index for index, record in enumerate(records) if record["has_skymap"]]
    best_with_map = _preferred([records[index] for index in with_map], config)
    return {"event_id": entry.event_id, "kind": entry.kind, "entry": entry.name,
            "coincidences": records, "preferred": preferred,
            "publishable": preferred is not None and records[preferred]["publishable"],
            # the combined map's partner: the preferred coincidence among those with a sky map
            "combined_with": None if best_with_map is None else with_map[best_with_map]}


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
    if entry.kind == "gw":  # and the mission maps the external ones use
        return _input_paths(spool, external_partners(spool, entry, config))
    return [str(partner.path.relative_to(spool.root)) for partner in partners(spool, entry, config)]


def write_coincidences(spool_root: str, kind: str, event_id: str, entry_name: str, output: str,
                       config: dict) -> None:
    spool = Spool(spool_root)
    result = coincidences(spool, spool.find_entry(kind, event_id, entry_name), config)
    atomic.write_json(output, result)
    if result["combined_with"] is None:  # its partner retracted: no combined map to keep
        for name in COMBINED_PRODUCTS:
            (Path(output).parent / name).unlink(missing_ok=True)


def write_combined(spool_root: str, event_id: str, entry_name: str, coincidences_path: str,
                   output: str, config: dict) -> None:
    """The GW map times the map of the preferred coincident external trigger."""
    import json

    from ligo.skymap.io import write_sky_map

    spool = Spool(spool_root)
    result = json.loads(Path(coincidences_path).read_text())
    if result["combined_with"] is None:
        raise ValueError(f"{event_id}: no coincident external trigger has a sky map")
    preferred = result["coincidences"][result["combined_with"]]
    notice_entry = spool.find_entry(preferred["kind"], preferred["trigger_id"], preferred["entry"])
    notice = _notice(notice_entry.path)
    gw_map = _gw_map(spool.find_entry("gw", event_id, entry_name).path)
    combined, _ = combine(gw_map, maps.notice_skymap(notice, regions=False))
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
    preferred = result["coincidences"][result["combined_with"]]
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

def _gcn_notice_id(record: dict) -> int | str:
    """The mission's trigger number (GWCelery's ``gcn_notice_id``), from the spool event id."""
    number = record["trigger_id"].removeprefix("test-").rsplit("-", 1)[-1]
    return int(number) if number.isdigit() else number


def external_coinc(record: dict, ivorn: str | None, combined_fits: bytes | None) -> dict:
    """An IGWN alert's ``external_coinc`` for a coincidence record (as GWCelery's
    ``alerts._add_external_coinc_to_alert``; valid against igwn-gwalert-schema)."""
    import base64

    return {"gcn_notice_id": _gcn_notice_id(record), "ivorn": ivorn or "",
            "observatory": record["mission"], "search": record["search"],
            "time_difference": round(record["time_difference_s"], 2),
            "time_coincidence_far": record["temporal_far_hz"],
            "time_sky_position_coincidence_far": record["spacetime_far_hz"],
            "combined_skymap": None if combined_fits is None else base64.b64encode(combined_fits).decode()}


def notice_extra(coincidences_path: str | Path) -> dict:
    """For ``skyspool.gw.notice.notice_dict(extra=...)``: all coincidences and the preferred
    one as an IGWN alert's ``external_coinc`` (its combined map left to combined.multiorder.fits)."""
    import json

    result = json.loads(Path(coincidences_path).read_text())
    if result["preferred"] is None:
        return {"coincidences": []}
    best = result["coincidences"][result["preferred"]]
    return {"coincidences": result["coincidences"], "publishable": result.get("publishable", False),
            "external_coinc": external_coinc(best, best.get("ivorn"), None)}


# ----- the orchestrator's hook: RAVEN_ALERT and external_coinc for a pipeline candidate -----

def _member_side(superevent_id: str, member: dict) -> GWSide:
    """The GW side of an orchestrator member (a pipeline candidate in superevent ``superevent_id``)."""
    return GWSide(superevent_id, superevent_role(superevent_id), float(member["gps_time"]), member["group"],
                  member["search"], member["far_hz"])


def _superevent_members(spool: Spool):
    """(superevent id, member) of every pipeline candidate in a superevent."""
    from skyspool import superevents

    for state in superevents.all_states(spool):
        for member in state["members"].values():
            yield state["superevent_id"], member


def candidate_partners(spool: Spool, external_entry: Entry, config: dict) -> list[Entry]:
    """Entries of the pipeline candidates in a superevent that an external notice coincides with."""
    notice = _notice(external_entry.path)
    if notice.retraction:
        return []
    return [spool.find_entry("gwcand", *member["entry"].split("/"))
            for superevent_id, member in _superevent_members(spool)
            if _pairs_with(notice, _member_side(superevent_id, member), config)]


def candidate_partner_paths(spool: Spool, entry: Entry, config: dict) -> list[str]:
    """Spool files of the external triggers coinciding with the pipeline candidate ``entry``
    in its superevent, relative to the spool root (inputs of its ``raven.json``: a new
    partner is a new input, so Snakemake runs that step again)."""
    key = f"{entry.event_id}/{entry.name}"
    for superevent_id, member in _superevent_members(spool):
        if member["entry"] == key:
            return _input_paths(spool, partners_of_gw(spool, _member_side(superevent_id, member), config))
    return []


def candidate_coincidences(spool: Spool, superevent_id: str, member: dict, skymap: bytes | None,
                           config: dict) -> dict:
    """``coincidences.json``-like result for the orchestrator's preferred candidate ``member``
    (its superevent's facts: GPS time, group, search, FAR) and its sky map bytes."""
    gw = _member_side(superevent_id, member)
    gw_map = None
    if skymap is not None:
        from ligo.skymap.io import read_sky_map

        gw_map = read_sky_map(io.BytesIO(skymap), moc=True)
    partners = partners_of_gw(spool, gw, config)
    records = [coincidence_record(gw, partner, config, gw_map) for partner in partners]
    for record, partner in zip(records, partners):
        record["ivorn"] = _notice(partner.path).facts.get("ivorn")
    preferred = _preferred(records, config)
    return {"superevent_id": superevent_id, "coincidences": records, "preferred": preferred,
            "publishable": preferred is not None and records[preferred]["publishable"],
            "gw_map": gw_map, "partners": partners}


def _member_skymap(spool: Spool, member: dict) -> bytes | None:
    """The sky map bytes of an orchestrator member (``entry`` = ``<event id>/<entry name>``)."""
    from skyspool.gwcand import skymap_product

    event_id, name = member["entry"].split("/")
    entry = spool.find_entry("gwcand", event_id, name)
    path = spool.product(entry, skymap_product(entry.alert_type))
    return path.read_bytes() if path.exists() else None


def raven_alert(spool: Spool, superevent_id: str, member: dict, config: dict) -> str | None:
    """The orchestrator's decision hook: when the candidate's preferred coincidence is
    publishable, label the superevent RAVEN_ALERT and return why (GWCelery then treats the
    candidate as significant, whatever its own FAR); else None."""
    from skyspool import superevents

    result = candidate_coincidences(spool, superevent_id, member, _member_skymap(spool, member), config)
    if not result["publishable"]:
        return None
    best = result["coincidences"][result["preferred"]]
    why = (f"RAVEN: coincidence with {best['mission']} {best['trigger_id']} publishable: "
           f"{'; '.join(best['publishable_reasons'])}")
    superevents.add_label(spool, superevent_id, "RAVEN_ALERT", why)
    return why


def alert_external_coinc(spool: Spool, superevent_id: str, member: dict, skymap: bytes | None,
                         config: dict) -> dict | None:
    """The outgoing alert's hook: ``external_coinc`` of the candidate's preferred publishable
    coincidence, with the combined sky map (GW map times the trigger's), else None."""
    from ligo.skymap.io import write_sky_map

    result = candidate_coincidences(spool, superevent_id, member, skymap, config)
    if not result["publishable"]:
        return None
    best = result["coincidences"][result["preferred"]]
    notice = _notice(result["partners"][result["preferred"]].path)
    combined, _ = combine(result["gw_map"], maps.notice_skymap(notice, regions=False))
    combined.meta.update(objid=superevent_id)
    buffer = io.BytesIO()
    write_sky_map(buffer, combined, moc=True)
    return external_coinc(best, best["ivorn"], buffer.getvalue())


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
