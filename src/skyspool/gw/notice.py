"""The outgoing notice of a GW alert: JSON, VOEvent 2.0 and a GCN Circular draft.

Functions here build values (a dict, an XML string, a text) from a received alert and
its sky-map statistics; they neither read nor write files.
"""

from __future__ import annotations

import datetime
import math

import voeventparse as vp

from skyspool import times
from skyspool.formats.gwalert import GWAlert

ALERT_TYPE_TITLES = {"early_warning": "EarlyWarning", "preliminary": "Preliminary",
                     "initial": "Initial", "update": "Update", "retraction": "Retraction"}
SOURCE_CLASSES = ("BNS", "NSBH", "BBH", "Terrestrial")
PROPERTIES = ("HasNS", "HasRemnant", "HasMassGap")


def notice_dict(alert: GWAlert, sequence: int, stats: dict | None, extra: dict | None = None) -> dict:
    """The JSON notice: what happened, how significant, where, and what it likely is.

    ``sequence`` is the entry number (NNN); ``stats`` is the content of ``stats.json``
    (None without a sky map); ``extra`` is merged in (coincidences, galaxies).
    """
    event = alert.event or {}
    notice = {
        "event_id": alert.superevent_id,
        "kind": "gw",
        "alert_type": alert.alert_type,
        "sequence": sequence,
        "time_created": alert.time_created,
        "time_issued": times.iso_now(),
        "retracted": alert.is_retraction,
        "event": None if alert.is_retraction else {
            "time": event.get("time"),
            "far_hz": event.get("far"),
            "significant": event.get("significant"),
            "instruments": event.get("instruments"),
            "group": event.get("group"),
            "pipeline": event.get("pipeline"),
            "search": event.get("search"),
            "classification": event.get("classification") or {},
            "properties": event.get("properties") or {},
        },
        "localization": None if stats is None else {
            key: stats[key] for key in ("area50_deg2", "area90_deg2", "ra_deg", "dec_deg",
                                        "distmean_mpc", "diststd_mpc")},
        "external_coinc": alert.external_coinc,
        "urls": alert.urls,
    }
    notice.update(extra or {})
    return notice


def _ivorn_stream_id(alert: GWAlert, sequence: int) -> str:
    return f"{alert.superevent_id}-{sequence}-{ALERT_TYPE_TITLES.get(alert.alert_type, alert.alert_type)}"


def notice_voevent(alert: GWAlert, sequence: int, stats: dict | None, *, stream: str,
                   author_ivorn: str, contact_name: str, role: str) -> str:
    """A VOEvent 2.0 in the style of the LVK GCN notices; returns the XML text.

    The position given is the most probable one, with the radius of a circle of the 90%
    area as its error (deg), because VOEvent can only carry a circle.
    """
    voevent = vp.Voevent(stream=stream, stream_id=_ivorn_stream_id(alert, sequence),
                         role=vp.definitions.roles.test if role == "test"
                         else vp.definitions.roles.observation)
    vp.set_who(voevent, date=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
               author_ivorn=author_ivorn)
    vp.set_author(voevent, contactName=contact_name, shortName="skyspool")
    params = [vp.Param("GraceID", value=alert.superevent_id, ucd="meta.id"),
              vp.Param("AlertType", value=ALERT_TYPE_TITLES.get(alert.alert_type, alert.alert_type),
                       ucd="meta.version"),
              vp.Param("Retraction", value=int(alert.is_retraction),
                       ucd="meta.code")]
    event = alert.event
    if event:
        params += [
            vp.Param("Group", value=event["group"], ucd="meta.code"),
            vp.Param("Pipeline", value=event["pipeline"], ucd="meta.code"),
            vp.Param("Search", value=event["search"], ucd="meta.code"),
            vp.Param("Instruments", value=",".join(event["instruments"]), ucd="meta.code"),
            vp.Param("FAR", value=event["far"], unit="Hz", ucd="arith.rate;stat.falsealarm"),
            vp.Param("Significant", value=int(bool(event["significant"])), ucd="meta.code"),
        ]
    voevent.What.extend(params)
    if event:
        groups = (("Classification", SOURCE_CLASSES, event.get("classification") or {}),
                  ("Properties", PROPERTIES, event.get("properties") or {}))
        for name, keys, values in groups:
            group_params = [vp.Param(key, value=values[key], ucd="stat.probability") for key in keys if key in values]
            if group_params:
                voevent.What.append(vp.Group(params=group_params, name=name, type=name))
        if stats:
            voevent.What.extend([
                vp.Param("Area50", value=stats["area50_deg2"], unit="deg2"),
                vp.Param("Area90", value=stats["area90_deg2"], unit="deg2"),
            ] + ([vp.Param("DistMean", value=stats["distmean_mpc"], unit="Mpc"),
                  vp.Param("DistStd", value=stats["diststd_mpc"], unit="Mpc")] if stats.get("distmean_mpc") is not None else []))
            error_radius_deg = (stats["area90_deg2"] / math.pi) ** 0.5
            vp.add_where_when(
                voevent,
                coords=vp.Position2D(ra=stats["ra_deg"], dec=stats["dec_deg"],
                                     err=min(error_radius_deg, 180.0),
                                     units=vp.definitions.units.degrees,
                                     system=vp.definitions.sky_coord_system.utc_fk5_geo),
                obs_time=times.parse_utc(event["time"]),
                observatory_location=vp.definitions.observatory_location.geosurface)
    vp.add_how(voevent, descriptions="Candidate gravitational-wave event, relayed by skyspool")
    terrestrial = (event or {}).get("classification", {}).get("Terrestrial")
    vp.add_why(voevent, importance=1.0 if event and event.get("significant") else 0.5)
    # Appended directly: voevent-parse 1.0.3's add_why fails on Python >= 3.10 for a non-string.
    voevent.Why.append(vp.Inference(probability=None if terrestrial is None else 1 - terrestrial,
                                    concept="process.variation.burst;em.gw"))
    if not vp.valid_as_v2_0(voevent):
        raise ValueError("built VOEvent does not validate against the VOEvent 2.0 schema")
    return vp.dumps(voevent, pretty_print=True).decode()


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%" if value >= 0.01 or value == 0 else "<1%"


def circular_text(alert: GWAlert, stats: dict | None, *, lines_after: list[str] | None = None) -> str:
    """A GCN Circular draft in the LVK style (instruments, FAR, classification, areas, distance)."""
    sid = alert.superevent_id
    if alert.is_retraction:
        return (f"TITLE: LIGO/Virgo/KAGRA {sid}: Retraction\n\n"
                "The LIGO Scientific Collaboration, the Virgo Collaboration, and the KAGRA "
                "Collaboration report:\n\n"
                f"Upon further investigation, the candidate {sid} is no longer considered to be of "
                "astrophysical origin. We retract our previous notices and circulars for this "
                "candidate.\n\n[DRAFT made by skyspool: check before sending]\n")
    event = alert.event
    group = event["group"]
    what = "compact binary merger candidate" if group == "CBC" else "unmodeled transient candidate"
    significance = "" if event["significant"] else " low-significance"
    far_hz = event["far"]
    lines = [f"TITLE: LIGO/Virgo/KAGRA {sid}: Identification of a{significance} GW {what}", "",
             "The LIGO Scientific Collaboration, the Virgo Collaboration, and the KAGRA "
             "Collaboration report:", "",
             f"We identified the{significance} {what} {sid} during real-time processing of data "
             f"from {', '.join(event['instruments'])} at {event['time'].replace('T', ' ').rstrip('Z')} "
             f"UTC. The candidate was found by the {event['pipeline']} analysis pipeline "
             f"({event['search']} search).", "",
             f"{sid} has a false alarm rate, as estimated by the online analysis, of {far_hz:.2e} Hz, "
             f"or about one in {1 / far_hz / times.SECONDS_PER_YEAR:.3g} years."
             + ("" if event["significant"] else
                " It does not pass the threshold for a significant alert; it is reported as a "
                "low-significance candidate."), ""]
    classification = event.get("classification") or {}
    if classification:
        ranked = sorted(((p, name) for name, p in classification.items()), reverse=True)
        lines += ["The classification of the GW signal, in order of descending probability, is "
                  + ", ".join(f"{name} ({_percent(p)})" for p, name in ranked) + ".", ""]
    properties = event.get("properties") or {}
    if properties:
        lines += ["Assuming the candidate is astrophysical in origin, the probability that at least "
                  "one of the compact objects has a mass below 3 solar masses (HasNS) is "
                  f"{_percent(properties.get('HasNS', 0))}, that the system ejected a non-zero amount "
                  f"of neutron star matter (HasRemnant) is {_percent(properties.get('HasRemnant', 0))}, "
                  "and that either compact object has a mass between 3 and 5 solar masses "
                  f"(HasMassGap) is {_percent(properties.get('HasMassGap', 0))}.", ""]
    if stats:
        where = (f"The sky map covers {stats['area50_deg2']:.0f} deg2 at 50% and "
                 f"{stats['area90_deg2']:.0f} deg2 at 90% credibility; its most probable position "
                 f"is RA {stats['ra_deg']:.2f} deg, Dec {stats['dec_deg']:+.2f} deg.")
        if stats.get("distmean_mpc") is not None:
            where += (f" Marginalized over the whole sky, the a posteriori luminosity distance is "
                      f"{stats['distmean_mpc']:.0f} +/- {stats['diststd_mpc']:.0f} Mpc (a posteriori "
                      "mean +/- standard deviation).")
        lines += [where, ""]
    lines += lines_after or []
    lines += ["[DRAFT made by skyspool: check before sending]", ""]
    return "\n".join(lines)
