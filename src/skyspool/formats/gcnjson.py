"""GCN JSON notices (https://gcn.nasa.gov/docs/notices/schema), recognised by ``$schema``.

Read: Fermi GBM trigger, Swift BAT-GUANO (with its base64 ``healpix_file`` sky map),
IceCube gold/bronze tracks, IceCube LVK nu track search (current schema with
``localization`` and the older one with ``ra``/``dec`` in each coincident event),
CHIME/FRB, Einstein Probe WXT and SNEWS 2.0. A test notice has ``alert_tense: test``
(and an IceCube LVK search refers to a mock ``M...`` or test ``T...`` superevent).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import logging
import re

from skyspool import ids
from skyspool.formats import gcn_notice, gcnschema, skymaps
from skyspool.formats.registry import Message, Refused, load_json_object, looks_like_json_object, register

log = logging.getLogger(__name__)

SCHEMA_PREFIX = "https://gcn.nasa.gov/schema/"
# The part after /schema/ names a branch (main) or a version (v7.2.3): any is read.
SCHEMA_PATH = re.compile(r"https?://gcn\.nasa\.gov/schema/(?P<version>[^/]+)/gcn/notices/(?P<family>.+)\.schema\.json")
# Subtypes of the Fermi GBM trigger notice, named as their GCN Classic packets.
GBM_SUBTYPES = {"INITIAL_ALERT": "gbm_alert", "FLIGHT_POSITION": "gbm_flt_pos",
                "GROUND_POSITION": "gbm_gnd_pos", "FINAL_POSITION": "gbm_fin_pos",
                "SUBTHRESHOLD": "gbm_subthresh"}


def _first_id(record: dict) -> str:
    value = record.get("id")
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, (str, int)) or str(value) == "":
        raise Refused("GCN JSON notice without an id")
    return str(value)


def _role(record: dict) -> str:
    return "test" if record.get("alert_tense") == "test" else "observation"


def _alert_type(record: dict, default: str = "initial") -> str:
    return str(record.get("alert_type") or default).lower()


def _localization(holder: dict) -> dict:
    """The notice's position and error region as :class:`Notice` fields, or {}.

    Shapes (GCN core Localization schema): ``ra_dec_error`` a number (circle of that
    radius), or a list [semi-axis along the position angle, other semi-axis, position angle
    from north through east] (ellipse; the larger semi-axis is the error radius, the circle
    that bounds it); ``rectangular_error_corners`` (four [ra, dec] corners, MAXI); none.
    """
    if holder.get("ra") is None or holder.get("dec") is None:
        return {}
    error = holder.get("ra_dec_error")
    ellipse = None
    if isinstance(error, list):
        axes = [gcn_notice.finite(value, "ra_dec_error", 0, 180) for value in error[:2]]
        if len(axes) == 2 and axes[0] != axes[1] or len(error) == 3 and axes:
            angle = gcn_notice.finite(error[2], "ra_dec_error angle", -360, 360) if len(error) == 3 else 0.0
            ellipse = (axes[0], axes[-1], angle)
        error = max(axes) if axes else None
    if error is None and isinstance(holder.get("ra_uncertainty"), list):
        error = holder["ra_uncertainty"][0]
    rectangle = None
    corners = holder.get("rectangular_error_corners")
    if corners is not None:
        if not (isinstance(corners, list) and len(corners) == 4
                and all(isinstance(c, list) and len(c) == 2 for c in corners)):
            raise Refused("rectangular_error_corners is not four [ra, dec] corners")
        rectangle = tuple((gcn_notice.finite(ra, "corner ra", -360, 360) % 360,
                           gcn_notice.finite(dec, "corner dec", -90, 90)) for ra, dec in corners)
    return {"ra_deg": gcn_notice.finite(holder["ra"], "ra", -360, 360) % 360,
            "dec_deg": gcn_notice.finite(holder["dec"], "dec", -90, 90),
            "error_radius_deg": None if error is None else gcn_notice.finite(error, "ra_dec_error", 0, 180),
            "error_containment": gcn_notice.finite(
                holder.get("containment_probability", gcn_notice.DEFAULT_CONTAINMENT),
                "containment_probability", 0.01, 0.9999),
            "systematic_included": holder.get("systematic_included"),
            "error_ellipse": ellipse, "error_rectangle": rectangle}


def _far_hz(record: dict) -> float | None:
    return None if record.get("far") is None else gcn_notice.finite(record["far"], "far", 0)


def _fermi_gbm(record: dict, role: str) -> gcn_notice.Notice:
    subtype = str(record.get("subtype") or "")
    # The targeted search (for GW and neutrino triggers) names itself in its subtype.
    notice_type = GBM_SUBTYPES.get(subtype) or ("gbm_targeted" if "TARGETED" in subtype.upper()
                                                else _alert_type(record))
    spacecraft = None
    if record.get("latitude") is not None and record.get("longitude") is not None:
        spacecraft = {"lat_deg": gcn_notice.finite(record["latitude"], "latitude", -90, 90),
                      "lon_deg": gcn_notice.finite(record["longitude"], "longitude", -360, 360)}
    return gcn_notice.Notice(kind="grb", trigger_id=gcn_notice.event_id("Fermi", _first_id(record), role),
                  notice_type=notice_type, role=role, mission="Fermi", instrument="GBM",
                  source_format="gcn_json", trigger_time=gcn_notice.parse_utc(record["trigger_time"]),
                  far_hz=_far_hz(record), retraction=notice_type == "retraction",
                  skymap_url=record.get("healpix_url"), spacecraft=spacecraft,
                  facts=_facts(record, ("rate_snr", "rate_duration", "duration_class", "classification",
                                        "in_lat_fov", "instrument_phi", "instrument_theta")),
                  **_localization(record))


def _decode_skymap(record: dict) -> bytes | None:
    encoded = record.get("healpix_file")
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise Refused("healpix_file is not valid base64") from None


def _swift_guano(record: dict, role: str) -> gcn_notice.Notice:
    return gcn_notice.Notice(kind="grb", trigger_id=gcn_notice.event_id("Swift-GUANO", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="Swift", instrument="BAT-GUANO",
                  source_format="gcn_json", trigger_time=gcn_notice.parse_utc(record["trigger_time"]),
                  far_hz=_far_hz(record), retraction=_alert_type(record) == "retraction",
                  facts=_facts(record, ("rate_snr", "rate_duration", "classification",
                                        "follow_up_event", "follow_up_type", "data_archive_page")),
                  **_localization(record))


def _icecube_track(record: dict, role: str) -> gcn_notice.Notice:
    return gcn_notice.Notice(kind="neutrino", trigger_id=gcn_notice.event_id("IceCube", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="IceCube",
                  instrument=str(record.get("instrument", "IC86")), source_format="gcn_json",
                  trigger_time=gcn_notice.parse_utc(record["trigger_time"]), far_hz=_far_hz(record),
                  retraction=_alert_type(record) == "retraction", skymap_url=record.get("healpix_url"),
                  facts=_facts(record, ("pipeline", "event_name", "nu_energy", "p_astro", "alert_topology")),
                  **_localization(record))


def _coincident_neutrino(event: dict) -> gcn_notice.CoincidentNeutrino:
    place = _localization(event.get("localization") or event)
    if not place or place["error_radius_deg"] is None:
        raise Refused("IceCube coincident event without a position and error")
    neutrino_ids = event.get("id")
    return gcn_notice.CoincidentNeutrino(
        neutrino_id=neutrino_ids[0] if isinstance(neutrino_ids, list) and neutrino_ids else None,
        ra_deg=place["ra_deg"], dec_deg=place["dec_deg"], error_radius_deg=place["error_radius_deg"],
        error_containment=place["error_containment"],
        time_difference_s=gcn_notice.finite(event.get("event_dt"), "event_dt"),
        pval_generic=event.get("event_pval_generic"), pval_bayesian=event.get("event_pval_bayesian"))


def _icecube_lvk(record: dict, role: str) -> gcn_notice.Notice:
    superevent = record.get("ref_ID")
    if not isinstance(superevent, str):
        raise Refused("IceCube LVK nu track search without ref_ID (the GW superevent)")
    if ids.superevent_role(superevent) == "test":  # mock and test superevents, as for GW alerts
        role = "test"
    events = tuple(_coincident_neutrino(event) for event in record.get("coincident_events") or ())
    if len(events) != int(record.get("n_events_coincident", len(events))):
        raise Refused(f"n_events_coincident is {record.get('n_events_coincident')} "
                      f"but {len(events)} coincident events are listed")
    direction = record.get("most_probable_direction") or {}
    return gcn_notice.Notice(kind="neutrino", trigger_id=gcn_notice.event_id("IceCube-LVK", superevent, role),
                  notice_type="lvk_nu_track_search", role=role, mission="IceCube", instrument="IC86",
                  source_format="gcn_json", trigger_time=gcn_notice.parse_utc(record["trigger_time"]),
                  ra_deg=direction.get("ra"), dec_deg=direction.get("dec"),
                  gw_superevent=superevent, coincident_neutrinos=events,
                  facts=_facts(record, ("pval_generic", "pval_bayesian", "n_events_coincident",
                                        "observation_start", "observation_stop", "observation_livetime",
                                        "reference", "neutrino_flux_sensitivity_range")))


def _chime_frb(record: dict, role: str) -> gcn_notice.Notice:
    notice_type = _alert_type(record)
    place = _localization(record)
    if place:  # CHIME/FRB errors are 1-sigma (68%)
        place["error_containment"] = 0.68
    return gcn_notice.Notice(kind="frb", trigger_id=gcn_notice.event_id("CHIME", _first_id(record), role),
                  notice_type=notice_type, role=role, mission="CHIME", instrument="CHIME/FRB",
                  source_format="gcn_json", trigger_time=gcn_notice.parse_utc(record["trigger_time"]),
                  retraction=notice_type == "retraction",
                  facts=_facts(record, ("dm", "dm_error", "dm_gal_ne_2001_max", "snr", "known_source",
                                        "association_probability", "update_message", "importance")),
                  **place)


def _einstein_probe(record: dict, role: str) -> gcn_notice.Notice:
    return gcn_notice.Notice(kind="grb", trigger_id=gcn_notice.event_id("EP", _trigger_name(record), role),
                  notice_type=_alert_type(record), role=role, mission="Einstein Probe",
                  instrument=str(record.get("instrument", "WXT")), source_format="gcn_json",
                  trigger_time=gcn_notice.parse_utc(record["trigger_time"]),
                  facts=_facts(record, ("net_count_rate", "image_snr", "image_energy_range")),
                  **_localization(record))


def _snews(record: dict, role: str) -> gcn_notice.Notice:
    return gcn_notice.Notice(kind="snews", trigger_id=gcn_notice.event_id("SNEWS", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="SNEWS", instrument="SNEWS 2.0",
                  source_format="gcn_json", trigger_time=gcn_notice.parse_utc(record["trigger_time"]),
                  far_hz=_far_hz(record), skymap_url=record.get("healpix_url"),
                  retraction=_alert_type(record) == "retraction",
                  facts=_facts(record, ("snews2_tier", "detector_status", "event_times_utc", "tier_data")))


def _facts(record: dict, names: tuple[str, ...]) -> dict:
    return {name: record[name] for name in names if name in record}


def _trigger_name(record: dict) -> str:
    """The notice's id; else its event name; else its trigger time (notices published
    without an id, such as early Einstein Probe ones)."""
    with contextlib.suppress(Refused):
        return _first_id(record)
    name = record.get("event_name")
    if isinstance(name, list):
        name = name[0] if name else None
    if isinstance(name, str) and name.strip():
        return name
    when = record.get("trigger_time") or record.get("observation_start") or record.get("alert_datetime")
    if when is None:
        raise Refused("GCN JSON notice without an id, an event name or a time")
    return gcn_notice.parse_utc(when).strftime("%Y%m%dT%H%M%S")


@dataclasses.dataclass(frozen=True)
class Stream:
    """How a GCN JSON stream that follows the common core schema (Alert, Event,
    Localization) is read: the kind and the mission prefix of its event ids."""

    kind: str
    mission: str
    instrument: str = ""
    containment: float | None = None        # of ra_dec_error, when the stream fixes it
    time_field: str = "trigger_time"
    facts: tuple[str, ...] = ()


def _core_notice(stream: Stream, record: dict, role: str) -> gcn_notice.Notice:
    """A notice of a stream that follows the core schema; a retraction has no position."""
    notice_type = _alert_type(record)
    when = record.get(stream.time_field) or record.get("trigger_time") or record.get("alert_datetime")
    if when is None:
        raise Refused(f"{stream.mission} notice without {stream.time_field}")
    place = _localization(record)
    if place and stream.containment is not None and "containment_probability" not in record:
        place["error_containment"] = stream.containment
    mission = str(record.get("mission") or stream.mission)
    return gcn_notice.Notice(
        kind=stream.kind, trigger_id=gcn_notice.event_id(stream.mission, _trigger_name(record), role),
        notice_type=notice_type, role=role, mission=mission,
        instrument=str(record.get("instrument") or stream.instrument), source_format="gcn_json",
        trigger_time=gcn_notice.parse_utc(when), far_hz=_far_hz(record),
        retraction=notice_type == "retraction",
        skymap_url=record.get("healpix_url"),
        facts=_facts(record, ("event_name", "record_number", "alert_tense", "alert_datetime",
                              "classification", "data_archive_page") + stream.facts),
        **place)


def _boom(record: dict, role: str) -> gcn_notice.Notice:
    """A BOOM broker alert: optical transients crossmatched with GCN events; the entry is
    the first target (the others are kept in its facts)."""
    targets = (record.get("data") or {}).get("targets") or []
    if not targets:
        raise Refused("BOOM alert without targets")
    first = targets[0]
    return gcn_notice.Notice(
        kind="grb", trigger_id=gcn_notice.event_id("BOOM", str(first["event_name"]), role),
        notice_type=_alert_type(record), role=role, mission="BOOM",
        instrument=str(record.get("instrument", "BOOM")), source_format="gcn_json",
        trigger_time=gcn_notice.parse_utc(record["alert_datetime"]),
        facts={"targets": targets}, **_localization(first))


def _heasarc_archive(record: dict, role: str) -> gcn_notice.Notice:
    """A HEASARC archive alert: new data of an observation (no position in the notice)."""
    trigger = f"{record.get('facility_name', 'archive')}-{record['obs_id']}"
    return gcn_notice.Notice(
        kind="grb", trigger_id=gcn_notice.event_id("HEASARC", trigger, role),
        notice_type=_alert_type(record), role=role, mission="HEASARC",
        instrument=str(record.get("facility_name", "")), source_format="gcn_json",
        trigger_time=gcn_notice.parse_utc(record.get("observation_start") or record["alert_datetime"]),
        facts=_facts(record, ("target_name", "obs_id", "data_archive_page", "mission_page",
                              "alert_tense")))


def _fermi_lat_flare(record: dict, role: str) -> gcn_notice.Notice:
    """A Fermi-LAT flare: a source's flux over an interval; named by source and start day."""
    start = gcn_notice.parse_utc(record.get("observation_start") or record["alert_datetime"])
    return gcn_notice.Notice(
        kind="grb", trigger_id=gcn_notice.event_id(
            "Fermi-LAT", f"{record.get('event_name', 'flare')}-{start:%Y%m%d}", role),
        notice_type="flare", role=role, mission="Fermi", instrument="LAT",
        source_format="gcn_json", trigger_time=start,
        facts=_facts(record, ("event_name", "observation_stop", "flux", "flux_error", "flux_unit",
                              "alpha", "alpha_error", "TS", "flux_ratio", "reference_catalog")),
        **_localization(record))


STREAMS = {
    "burstcube/alert": Stream("grb", "BurstCube", "BurstCube", facts=("rate_snr", "rate_duration", "t90")),
    "burstcube/test": Stream("grb", "BurstCube", "BurstCube", facts=("rate_snr", "rate_duration", "t90")),
    "glowbug/Alert": Stream("grb", "Glowbug", "Glowbug", facts=("rate_snr", "rate_duration", "p_astro")),
    "km3net/alert": Stream("neutrino", "KM3NeT", facts=("pipeline", "alert_topology", "number_of_events",
                                                        "event_details", "src_error_50")),
    "maxi/gsc.known": Stream("grb", "MAXI", "GSC", facts=("flux", "flux_error", "detection_timescale")),
    "maxi/gsc.unknown": Stream("grb", "MAXI", "GSC", facts=("flux", "flux_error", "detection_timescale")),
    "superk/sn_alert": Stream("snews", "SuperK", "Super-Kamiokande",
                              facts=("n_events", "n_ibd_events", "luminosity_distance", "pipeline")),
    "svom/trigger": Stream("grb", "SVOM", "ECLAIRs", facts=("slew_status", "trigger_type", "image_snr",
                                                           "rate_snr")),
    "dsa110/frb": Stream("frb", "DSA110", "DSA-110", facts=("dm", "snr", "event_duration", "known_source")),
    "neutrino/Alert": Stream("neutrino", "Neutrino", facts=("pipeline", "alert_topology")),
}

FAMILIES = {
    "fermi/gbm/trigger": _fermi_gbm,
    "swift/bat/Guano": _swift_guano,
    "icecube/single_neutrino_alerts": _icecube_track,
    "icecube/lvk_nu_track_search": _icecube_lvk,
    "icecube/LvkNuTrackSearch": _icecube_lvk,
    "chime/frb": _chime_frb,
    "einstein_probe/wxt/alert": _einstein_probe,
    "snews2/coincidence": _snews,
    "boom/alert": _boom,
    "heasarc/archive_alert": _heasarc_archive,
    "fermi/lat/flare": _fermi_lat_flare,
    **{family: functools.partial(_core_notice, stream) for family, stream in STREAMS.items()},
}
# Test streams: every notice on them is a test.
TEST_FAMILIES = frozenset({"burstcube/test"})
# Families of forms published without ``$schema``, by (mission, instrument) in lower case
# (instrument None: any).
MISSION_FAMILIES = {
    ("fermi", "gbm"): "fermi/gbm/trigger",
    ("swift", "bat-guano"): "swift/bat/Guano",
    ("swift", "bat"): "swift/bat/Guano",
    ("icecube", None): "icecube/single_neutrino_alerts",
    ("maxi", None): "maxi/gsc.unknown",
    ("km3net", None): "km3net/alert",
    ("burstcube", None): "burstcube/alert",
    ("glowbug", None): "glowbug/Alert",
    ("super-kamiokande", None): "superk/sn_alert",
    ("svom", None): "svom/trigger",
    ("einstein probe", None): "einstein_probe/wxt/alert",
    ("ep", None): "einstein_probe/wxt/alert",
    ("chime", None): "chime/frb",
    ("dsa-110", None): "dsa110/frb",
    ("dsa110", None): "dsa110/frb",
}
# Families that carry no trigger_time (their reader takes another time).
UNTIMED = frozenset({"boom/alert", "heasarc/archive_alert", "fermi/lat/flare"})


def family_of(record: dict) -> tuple[str, str | None]:
    """(family, version) of a GCN JSON notice: from its ``$schema`` path whatever the branch or
    version in the URL (version None for ``main`` and other branches), else from its mission
    and instrument fields (version None)."""
    if "$schema" in record:
        match = SCHEMA_PATH.fullmatch(str(record.get("$schema", "")))
        if match is None:
            raise Refused(f"$schema {str(record.get('$schema'))[:80]!r} is not a GCN notice schema")
        version = match["version"]
        return match["family"], version if re.fullmatch(r"v\d+(\.\d+)*", version) else None
    mission = str(record.get("mission", "")).strip().lower()
    instrument = str(record.get("instrument", "")).strip().lower()
    family = MISSION_FAMILIES.get((mission, instrument)) or MISSION_FAMILIES.get((mission, None))
    if family is None and instrument == "wxt":
        family = "einstein_probe/wxt/alert"
    if family is None:
        raise Refused(f"JSON without $schema whose mission {record.get('mission')!r} and instrument "
                      f"{record.get('instrument')!r} are not a GCN notice stream this pipeline reads")
    return family, None


def to_notice(data: bytes) -> gcn_notice.Notice:
    """Parse a GCN JSON notice into a :class:`Notice`, or raise Refused."""
    record = load_json_object(data)
    family, version = family_of(record)
    reader = FAMILIES.get(family)
    if reader is None:
        raise Refused(f"GCN notice schema {family[:80]!r} is not one this pipeline reads "
                      f"({len(FAMILIES)} streams are read: see skyspool.formats.gcnjson)")
    if family not in UNTIMED and "trigger_time" not in record:
        raise Refused(f"{family} notice without trigger_time")
    role = "test" if family in TEST_FAMILIES else _role(record)
    try:
        notice = reader(record, role)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused(f"malformed {family} notice ({type(exc).__name__}: {exc})"[:200]) from None
    if "$schema" in record:
        gcnschema.check(record, family, version)
    return _with_own_skymap(notice, record)


def _with_own_skymap(notice: gcn_notice.Notice, record: dict) -> gcn_notice.Notice:
    """The notice with its ``healpix_file`` sky map; a map that cannot be read (the schema's
    own examples carry placeholders such as ``"stuff"``) is left out and its problem kept
    in the facts, and the position, if any, makes the map: the notice is never refused for it."""
    if record.get("healpix_file") is None:
        return notice
    try:
        skymap = _decode_skymap(record)
        skymaps.check_skymap(skymap, "healpix_file", flat_ok=True)
    except Refused as exc:
        log.warning("%s: own sky map left out: %s", notice.trigger_id, exc)
        return dataclasses.replace(notice, facts={**notice.facts, "skymap_problem": str(exc)})
    return dataclasses.replace(notice, skymap=skymap)


def _looks_like_gcn_json(data: bytes, filename: str) -> bool:
    """A JSON object naming a GCN schema, or a mission (forms published without ``$schema``)."""
    head = data[:4096]
    return looks_like_json_object(data, filename) and not filename.endswith((".yaml", ".yml")) and (
        SCHEMA_PREFIX.encode() in head or b'"mission"' in head or (b'"instrument"' in head and b'"WXT"' in head))


@register("GCN JSON notice", sniff=_looks_like_gcn_json)
def parse(data: bytes) -> Message:
    return to_notice(data).message("json")
