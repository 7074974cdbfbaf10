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
import re

from skyspool.formats import Message, Refused, load_json_object, looks_like_json_object, register, skymaps
from skyspool import notices  # a module: skyspool.notices imports this package

SCHEMA_PREFIX = "https://gcn.nasa.gov/schema/"
SCHEMA_PATH = re.compile(r"https://gcn\.nasa\.gov/schema/[^/]+/gcn/notices/(?P<family>.+)\.schema\.json")
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
    """ra_deg, dec_deg, error_radius_deg, error_containment, systematic_included, or {}."""
    if holder.get("ra") is None or holder.get("dec") is None:
        return {}
    error = holder.get("ra_dec_error")
    if isinstance(error, list):
        # CHIME/FRB gives [ra error, dec error, angle]: the larger semi-axis bounds the ellipse.
        error = max(error[:2]) if error else None
    if error is None and isinstance(holder.get("ra_uncertainty"), list):
        error = holder["ra_uncertainty"][0]
    return {"ra_deg": notices.finite(holder["ra"], "ra", -360, 360) % 360,
            "dec_deg": notices.finite(holder["dec"], "dec", -90, 90),
            "error_radius_deg": None if error is None else notices.finite(error, "ra_dec_error", 0, 180),
            "error_containment": notices.finite(holder.get("containment_probability", notices.DEFAULT_CONTAINMENT),
                                        "containment_probability", 0.01, 0.9999),
            "systematic_included": holder.get("systematic_included")}


def _far_hz(record: dict) -> float | None:
    return None if record.get("far") is None else notices.finite(record["far"], "far", 0)


def _fermi_gbm(record: dict, role: str) -> notices.Notice:
    notice_type = GBM_SUBTYPES.get(str(record.get("subtype")), _alert_type(record))
    spacecraft = None
    if record.get("latitude") is not None and record.get("longitude") is not None:
        spacecraft = {"lat_deg": notices.finite(record["latitude"], "latitude", -90, 90),
                      "lon_deg": notices.finite(record["longitude"], "longitude", -360, 360)}
    return notices.Notice(kind="grb", trigger_id=notices.event_id("Fermi", _first_id(record), role),
                  notice_type=notice_type, role=role, mission="Fermi", instrument="GBM",
                  source_format="gcn_json", trigger_time=notices.parse_utc(record["trigger_time"]),
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


def _swift_guano(record: dict, role: str) -> notices.Notice:
    return notices.Notice(kind="grb", trigger_id=notices.event_id("Swift-GUANO", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="Swift", instrument="BAT-GUANO",
                  source_format="gcn_json", trigger_time=notices.parse_utc(record["trigger_time"]),
                  far_hz=_far_hz(record), retraction=_alert_type(record) == "retraction",
                  skymap=_decode_skymap(record),
                  facts=_facts(record, ("rate_snr", "rate_duration", "classification",
                                        "follow_up_event", "follow_up_type", "data_archive_page")),
                  **_localization(record))


def _icecube_track(record: dict, role: str) -> notices.Notice:
    return notices.Notice(kind="neutrino", trigger_id=notices.event_id("IceCube", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="IceCube",
                  instrument=str(record.get("instrument", "IC86")), source_format="gcn_json",
                  trigger_time=notices.parse_utc(record["trigger_time"]), far_hz=_far_hz(record),
                  retraction=_alert_type(record) == "retraction", skymap_url=record.get("healpix_url"),
                  facts=_facts(record, ("pipeline", "event_name", "nu_energy", "p_astro", "alert_topology")),
                  **_localization(record))


def _coincident_neutrino(event: dict) -> notices.CoincidentNeutrino:
    place = _localization(event.get("localization") or event)
    if not place or place["error_radius_deg"] is None:
        raise Refused("IceCube coincident event without a position and error")
    neutrino_ids = event.get("id")
    return notices.CoincidentNeutrino(
        neutrino_id=neutrino_ids[0] if isinstance(neutrino_ids, list) and neutrino_ids else None,
        ra_deg=place["ra_deg"], dec_deg=place["dec_deg"], error_radius_deg=place["error_radius_deg"],
        error_containment=place["error_containment"],
        time_difference_s=notices.finite(event.get("event_dt"), "event_dt"),
        pval_generic=event.get("event_pval_generic"), pval_bayesian=event.get("event_pval_bayesian"))


def _icecube_lvk(record: dict, role: str) -> notices.Notice:
    superevent = record.get("ref_ID")
    if not isinstance(superevent, str):
        raise Refused("IceCube LVK nu track search without ref_ID (the GW superevent)")
    if superevent[:1] in ("M", "T"):  # mock and test superevents, as for GW alerts
        role = "test"
    events = tuple(_coincident_neutrino(event) for event in record.get("coincident_events") or ())
    if len(events) != int(record.get("n_events_coincident", len(events))):
        raise Refused(f"n_events_coincident is {record.get('n_events_coincident')} "
                      f"but {len(events)} coincident events are listed")
    direction = record.get("most_probable_direction") or {}
    return notices.Notice(kind="neutrino", trigger_id=notices.event_id("IceCube-LVK", superevent, role),
                  notice_type="lvk_nu_track_search", role=role, mission="IceCube", instrument="IC86",
                  source_format="gcn_json", trigger_time=notices.parse_utc(record["trigger_time"]),
                  ra_deg=direction.get("ra"), dec_deg=direction.get("dec"),
                  gw_superevent=superevent, coincident_neutrinos=events,
                  facts=_facts(record, ("pval_generic", "pval_bayesian", "n_events_coincident",
                                        "observation_start", "observation_stop", "observation_livetime",
                                        "reference", "neutrino_flux_sensitivity_range")))


def _chime_frb(record: dict, role: str) -> notices.Notice:
    notice_type = _alert_type(record)
    place = _localization(record)
    if place:  # CHIME/FRB errors are 1-sigma (68%)
        place["error_containment"] = 0.68
    return notices.Notice(kind="frb", trigger_id=notices.event_id("CHIME", _first_id(record), role),
                  notice_type=notice_type, role=role, mission="CHIME", instrument="CHIME/FRB",
                  source_format="gcn_json", trigger_time=notices.parse_utc(record["trigger_time"]),
                  retraction=notice_type == "retraction",
                  facts=_facts(record, ("dm", "dm_error", "dm_gal_ne_2001_max", "snr", "known_source",
                                        "association_probability", "update_message", "importance")),
                  **place)


def _einstein_probe(record: dict, role: str) -> notices.Notice:
    return notices.Notice(kind="grb", trigger_id=notices.event_id("EP", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="Einstein Probe",
                  instrument=str(record.get("instrument", "WXT")), source_format="gcn_json",
                  trigger_time=notices.parse_utc(record["trigger_time"]),
                  facts=_facts(record, ("net_count_rate", "image_snr", "image_energy_range")),
                  **_localization(record))


def _snews(record: dict, role: str) -> notices.Notice:
    return notices.Notice(kind="snews", trigger_id=notices.event_id("SNEWS", _first_id(record), role),
                  notice_type=_alert_type(record), role=role, mission="SNEWS", instrument="SNEWS 2.0",
                  source_format="gcn_json", trigger_time=notices.parse_utc(record["trigger_time"]),
                  far_hz=_far_hz(record), skymap_url=record.get("healpix_url"),
                  retraction=_alert_type(record) == "retraction",
                  facts=_facts(record, ("snews2_tier", "detector_status", "event_times_utc", "tier_data")))


def _facts(record: dict, names: tuple[str, ...]) -> dict:
    return {name: record[name] for name in names if name in record}


FAMILIES = {
    "fermi/gbm/trigger": _fermi_gbm,
    "swift/bat/Guano": _swift_guano,
    "icecube/single_neutrino_alerts": _icecube_track,
    "icecube/lvk_nu_track_search": _icecube_lvk,
    "icecube/LvkNuTrackSearch": _icecube_lvk,
    "chime/frb": _chime_frb,
    "einstein_probe/wxt/alert": _einstein_probe,
    "snews2/coincidence": _snews,
}


def to_notice(data: bytes) -> notices.Notice:
    """Parse a GCN JSON notice into a :class:`Notice`, or raise Refused."""
    record = load_json_object(data)
    match = SCHEMA_PATH.fullmatch(str(record.get("$schema", "")))
    if match is None:
        raise Refused(f"$schema {str(record.get('$schema'))[:80]!r} is not a GCN notice schema")
    reader = FAMILIES.get(match["family"])
    if reader is None:
        raise Refused(f"GCN notice schema {match['family']!r} is not one this pipeline reads "
                      f"(reads: {', '.join(FAMILIES)})")
    if "trigger_time" not in record:
        raise Refused(f"{match['family']} notice without trigger_time")
    try:
        return reader(record, _role(record))
    except (KeyError, TypeError, AttributeError) as exc:
        raise Refused(f"malformed {match['family']} notice ({type(exc).__name__}: {exc})"[:200]) from None


@register("GCN JSON notice", sniff=lambda data, name: looks_like_json_object(data, name)
          and SCHEMA_PREFIX.encode() in data[:4096])
def parse(data: bytes) -> Message:
    notice = to_notice(data)
    if notice.skymap is not None:  # checked once, at ingest (the rules read it again)
        skymaps.check_skymap(notice.skymap, "healpix_file", flat_ok=True)
    return notice.message("json")
