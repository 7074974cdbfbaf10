"""GCN Classic VOEvents (and SVOM VOEvents) of gamma-ray bursts, neutrinos and SNEWS.

The XML is parsed by lxml with a hardened parser (no network, no DTD, no entity
resolution, no huge trees); a document that declares a DOCTYPE is refused outright,
which shuts out external entities and entity-expansion bombs. The tree is then read with
voevent-parse. Which notice a VOEvent is comes from its ``Packet_Type``
(https://gcn.gsfc.nasa.gov/filtering.html).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

import voeventparse as vp
from lxml import etree, objectify

from skyspool import ids, times
from skyspool.formats import gcn_notice
from skyspool.formats.registry import Message, Refused, register

GCN_IVORN = "ivo://nasa.gsfc.gcn/"
SVOM_IVORN = "ivo://org.svom/"
LVK_IVORN = "ivo://gwnet/"
VOEVENT_NAMESPACES = ("http://www.ivoa.net/xml/VOEvent/v2.0", "http://www.ivoa.net/xml/VOEvent/v1.1")
# Fermi GBM SC_Geo_X/Y/Z are in units of 1/16 km (|r| / 16 = Fermi's ~6,900 km orbit radius).
GBM_GEO_UNIT_KM = 1 / 16

_PARSER = objectify.makeparser(resolve_entities=False, no_network=True, load_dtd=False,
                               dtd_validation=False, huge_tree=False, remove_comments=True)


@dataclasses.dataclass(frozen=True)
class PacketType:
    kind: str
    mission: str
    instrument: str
    notice_type: str
    containment: float      # of Error2Radius
    systematic_included: bool


# Error2Radius: GBM and GECAM give the 1-sigma (68%) statistical radius; the other missions
# the 90% radius including systematics (GCN socket documentation per mission).
# Packet numbers: https://gcn.gsfc.nasa.gov/filtering.html. Every packet type here carries a
# transient's time (and, but for SNEWS and AGILE MCAL, its position).
PACKETS = {
    39: PacketType("grb", "IPN", "IPN", "ipn_pos", 0.9, True),
    53: PacketType("grb", "INTEGRAL", "IBIS", "integral_wakeup", 0.9, True),
    54: PacketType("grb", "INTEGRAL", "IBIS", "integral_refined", 0.9, True),
    55: PacketType("grb", "INTEGRAL", "IBIS", "integral_offline", 0.9, True),
    56: PacketType("grb", "INTEGRAL", "IBIS", "integral_weak", 0.9, True),
    61: PacketType("grb", "Swift", "BAT", "bat_grb_pos", 0.9, True),
    67: PacketType("grb", "Swift", "XRT", "xrt_pos", 0.9, True),
    81: PacketType("grb", "Swift", "UVOT", "uvot_pos", 0.9, True),
    84: PacketType("grb", "Swift", "BAT", "bat_trans", 0.9, True),
    97: PacketType("grb", "Swift", "BAT", "bat_ql_pos", 0.9, True),
    98: PacketType("grb", "Swift", "BAT", "bat_subthresh", 0.9, True),
    99: PacketType("grb", "Swift", "BAT", "bat_slew_pos", 0.9, True),
    140: PacketType("grb", "Swift", "BAT", "bat_subsub", 0.9, True),
    100: PacketType("grb", "AGILE", "SuperAGILE", "agile_wakeup", 0.9, True),
    101: PacketType("grb", "AGILE", "SuperAGILE", "agile_ground", 0.9, True),
    102: PacketType("grb", "AGILE", "SuperAGILE", "agile_refined", 0.9, True),
    105: PacketType("grb", "AGILE", "MCAL", "agile_mcal_alert", 0.9, True),
    108: PacketType("grb", "AGILE", "GRID", "agile_trans", 0.9, True),
    110: PacketType("grb", "Fermi", "GBM", "gbm_alert", 0.68, False),
    111: PacketType("grb", "Fermi", "GBM", "gbm_flt_pos", 0.68, False),
    112: PacketType("grb", "Fermi", "GBM", "gbm_gnd_pos", 0.68, False),
    115: PacketType("grb", "Fermi", "GBM", "gbm_fin_pos", 0.68, False),
    131: PacketType("grb", "Fermi", "GBM", "gbm_subthresh", 0.68, False),
    120: PacketType("grb", "Fermi", "LAT", "lat_pos_ini", 0.9, True),
    121: PacketType("grb", "Fermi", "LAT", "lat_pos_upd", 0.9, True),
    123: PacketType("grb", "Fermi", "LAT", "lat_trans", 0.9, True),
    127: PacketType("grb", "Fermi", "LAT", "lat_gnd", 0.9, True),
    128: PacketType("grb", "Fermi", "LAT", "lat_offline", 0.9, True),
    134: PacketType("grb", "MAXI", "GSC", "maxi_unknown", 0.9, True),
    135: PacketType("grb", "MAXI", "GSC", "maxi_known", 0.9, True),
    149: PacketType("snews", "SNEWS", "SNEWS", "snews", 0.9, True),
    175: PacketType("snews", "SuperK", "Super-Kamiokande", "sk_sn", 0.9, True),
    157: PacketType("neutrino", "IceCube", "IC86", "amon_icecube_coinc", 0.9, True),
    158: PacketType("neutrino", "IceCube", "IC86", "amon_icecube_hese", 0.9, True),
    166: PacketType("neutrino", "IceCube", "IC86", "amon_icecube_cluster", 0.9, True),
    169: PacketType("neutrino", "IceCube", "IC86", "amon_icecube_ehe", 0.9, True),
    170: PacketType("neutrino", "AMON", "ANTARES-FermiLAT", "amon_antares_fermilat", 0.9, True),
    171: PacketType("grb", "HAWC", "HAWC", "hawc_burst_monitor", 0.68, True),
    172: PacketType("neutrino", "AMON", "NuEM", "amon_nu_em_coinc", 0.9, True),
    173: PacketType("neutrino", "IceCube", "IC86", "icecube_astrotrack_gold", 0.9, False),
    174: PacketType("neutrino", "IceCube", "IC86", "icecube_astrotrack_bronze", 0.9, False),
    176: PacketType("neutrino", "IceCube", "IC86", "icecube_cascade", 0.9, True),
    188: PacketType("grb", "GECAM", "GRD", "gecam_flt", 0.68, False),
    189: PacketType("grb", "GECAM", "GRD", "gecam_gnd", 0.68, False),
}
# ANTARES alerts (their own VOEvents, ivo://fr.in2p3.antares/): neutrino positions.
ANTARES_IVORN = "ivo://fr.in2p3.antares/"
# Error2Radius at or above this (deg) means "anywhere" (SNEWS writes 360): an all-sky entry.
ALL_SKY_DEG = 180.0
# Trigger numbers by name, in the order tried: TrigID (most), Trans_Num (Fermi GBM
# sub-threshold), then the IceCube/AMON run and event numbers.
TRIGGER_PARAMS = ("TrigID", "Trans_Num", "Trig_ID", "TrigNum", "EventID", "Event_ID")
# Truncated Julian Day epoch of GCN's Burst_TJD (TJD = JD - 2440000.5).
TJD_EPOCH = dt.datetime(1968, 5, 24, tzinfo=dt.UTC)
SVOM_PACKETS = {202: "eclairs_wakeup", 204: "eclairs_slewing", 205: "eclairs_not_slewing",
                209: "mxt_initial", 201: "grm_trigger", 219: "retraction"}
# Flags that mark a GCN notice as a test, in the Trigger_ID / Solution_Status groups.
TEST_FLAGS = ("Test_Submission", "Test", "Test_Notice", "InternalTest")


def _parse_xml(data: bytes) -> objectify.ObjectifiedElement:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Refused("XML with a DOCTYPE or entity declarations is refused "
                      "(external entities and entity expansion are not allowed in VOEvents)")
    if b"http://www.w3.org/2001/XInclude" in data:
        raise Refused("XML with XInclude is refused (a VOEvent includes no other files)")
    try:
        root = objectify.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Refused(f"not well-formed XML ({exc})"[:200]) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise Refused("XML with a DTD is refused")
    namespace = etree.QName(root).namespace
    # GCN's NSSTC form (Fermi GBM sub-threshold) has no namespace at all: read as 2.0.
    if etree.QName(root).localname == "VOEvent" and namespace not in VOEVENT_NAMESPACES:
        if namespace is not None or "ivorn" not in root.attrib:
            raise Refused("VOEvent without a namespace or an ivorn" if namespace is None
                          else f"VOEvent in namespace {namespace[:80]!r}, not VOEvent 2.0 or 1.1")
    # VOEvent 1.1 puts WhereWhen in the STC namespace; voevent-parse's attribute access
    # needs one namespace, so names are made local (a VOEvent's meaning does not change).
    for element in root.iter(tag=etree.Element):
        element.tag = etree.QName(element).localname
    objectify.deannotate(root, cleanup_namespaces=True)
    if root.tag != "VOEvent":
        raise Refused(f"XML root is <{root.tag}>, not a VOEvent")
    return root


def _params(root) -> dict[str, str]:
    """Top-level and grouped Param values by name (grouped flags included)."""
    values = {name: p.get("value") for name, p in vp.get_toplevel_params(root).items()}
    for group in vp.get_grouped_params(root).values():
        for name, p in group.items():
            values.setdefault(name, p.get("value"))
    return values


def _flag(values: dict, name: str) -> bool:
    return str(values.get(name, "")).strip().lower() == "true"


def _trigger(packet: int, values: dict, ivorn: str) -> str:
    """The notice's trigger number (see TRIGGER_PARAMS)."""
    if "run_id" in values and "event_id" in values:
        return f"{int(gcn_notice.finite(values['run_id'], 'run_id'))}_{int(gcn_notice.finite(values['event_id'], 'event_id'))}"
    for name in TRIGGER_PARAMS:
        if values.get(name) not in (None, ""):
            text = str(values[name]).strip()
            with contextlib.suppress(ValueError):
                return str(int(gcn_notice.finite(text, name)))
            return text
    raise Refused(f"packet type {packet} VOEvent without TrigID ({ivorn[:80]})")


def _first(root, tag: str):
    """The first element called ``tag`` anywhere under ``root`` (names are local), or None."""
    return next(root.iter(tag), None)


def _event_time(root, values: dict) -> dt.datetime | None:
    """The event time: WhereWhen's ISOTime where VOEvent 2.0 puts it; else any ISOTime in
    WhereWhen (VOEvent 1.1 and 2011-era GCN forms); else the Burst_TJD/Burst_SOD params."""
    with contextlib.suppress(AttributeError, ValueError, KeyError, IndexError, TypeError):
        when = vp.get_event_time_as_utc(root)
        if when is not None:
            return when.astimezone(dt.UTC)
    where = _first(root, "WhereWhen")
    found = _first(where, "ISOTime") if where is not None else None
    if found is not None and str(found.text or "").strip():
        return gcn_notice.parse_utc(str(found.text))
    if "Burst_TJD" in values and "Burst_SOD" in values:
        return TJD_EPOCH + dt.timedelta(days=gcn_notice.finite(values["Burst_TJD"], "Burst_TJD", 0),
                                        seconds=gcn_notice.finite(values["Burst_SOD"], "Burst_SOD", 0, 86401))
    return None


def _coordinates(root) -> tuple[float, float, float] | None:
    """(RA, Dec, Error2Radius) as written, wherever the Position2D is, or None."""
    with contextlib.suppress(AttributeError, IndexError, ValueError, KeyError, TypeError):
        position = vp.get_event_position(root)
        return position.ra, position.dec, position.err
    where = _first(root, "WhereWhen")
    place = _first(where, "Position2D") if where is not None else None
    if place is None:
        return None
    values = [_first(place, tag) for tag in ("C1", "C2", "Error2Radius")]
    if values[0] is None or values[1] is None:
        return None
    return tuple(None if v is None else str(v.text) for v in values)


def _position(root) -> tuple[float | None, float | None, float | None, str | None]:
    """(ra, dec, error radius, what is special about it or None).

    No error (0, as in Fermi GBM alerts): no position. Error2Radius >= 180 (SNEWS: 360): an
    all-sky entry. A negative error (SVOM: -1, unknown): the position, without an error.
    RA = Dec = 0 exactly: GCN's placeholder for "no position yet", flagged, not trusted.
    """
    found = _coordinates(root)
    if found is None:
        return None, None, None, None
    ra = gcn_notice.finite(found[0], "RA", -360, 360) % 360
    dec = gcn_notice.finite(found[1], "Dec", -90, 90)
    err = 0.0 if found[2] is None else gcn_notice.finite(found[2], "Error2Radius")
    if err >= ALL_SKY_DEG:
        return None, None, None, "all_sky"
    if ra == 0 and dec == 0:
        return None, None, None, "placeholder_position"
    if err < 0:
        return ra, dec, None, "error_unknown"
    return (None, None, None, None) if err == 0 else (ra, dec, err, None)


# FRB VOEvents (Petroff et al. 2017): the facility by the IVORN's authority.
FRB_FACILITIES = {"ca.chimenet": "CHIME", "nrao.realfast": "realfast", "edu.nrao.realfast": "realfast",
                  "au.csiro.atnf": "Parkes", "au.csiro": "Parkes", "au.edu.swin": "Parkes",
                  "nl.astron": "Apertif", "nl.astron.apertif": "Apertif", "za.ac.meerkat": "MeerTRAP"}


def _is_frb(values: dict) -> bool:
    """An FRB VOEvent of the Petroff et al. standard: a dispersion measure, no GCN packet type."""
    return "Packet_Type" not in values and "dm" in values


def _citation(root) -> tuple[str | None, str | None]:
    """(cited IVORN, cite: followup, supersedes or retraction) from <Citations>, or Nones."""
    cited = _first(root, "EventIVORN")
    if cited is None:
        return None, None
    return str(cited.text or "").strip() or None, cited.get("cite")


def _frb_notice(root, values: dict, ivorn: str, role: str) -> gcn_notice.Notice:
    """A Petroff-standard FRB VOEvent (CHIME/FRB, realfast, Parkes, Apertif, ...) as an frb notice.

    The event is the cited one for a follow-up or retraction (<Citations>), else this one;
    named by its event number (CHIME ``event_no``) or else by its IVORN's fragment.
    """
    cited, cite = _citation(root)
    own = cited if cited and cite in ("followup", "supersedes", "retraction") else ivorn
    authority = own.removeprefix("ivo://").split("/")[0].split("#")[0]
    facility = FRB_FACILITIES.get(authority) or next(
        (name for key, name in FRB_FACILITIES.items() if authority.startswith(key)), authority)
    # Parkes fragments name the event and its MJD: FRB150418/57130.1 (a separator in an id: _)
    trigger = values.get("event_no") if own == ivorn and values.get("event_no") else \
        own.rpartition("#")[2].replace("/", "_")
    if not trigger or trigger == own:
        raise Refused(f"FRB VOEvent without an event number or an IVORN fragment ({own[:80]})")
    when = _event_time(root, values)
    if when is None:
        raise Refused(f"FRB VOEvent without an event time ({ivorn[:80]})")
    ra, dec, err, special = _position(root)
    retraction = cite == "retraction"
    facts = {"ivorn": ivorn, "params": values, "cites": cited}
    if special:
        facts["position"] = special
    return gcn_notice.Notice(
        kind="frb", trigger_id=gcn_notice.event_id(facility, str(trigger), role),
        notice_type="retraction" if retraction else ("update" if cited else "detection"), role=role,
        mission=facility, instrument=str(values.get("backend") or facility), source_format="voevent",
        trigger_time=when, ra_deg=ra, dec_deg=dec, error_radius_deg=err,
        error_containment=gcn_notice.DEFAULT_CONTAINMENT if err else None,
        systematic_included=True if err else None, retraction=retraction, facts=facts)


LVK_ALERT_TYPES = {"earlywarning": "early_warning", "early_warning": "early_warning"}


def lvk_alert_record(data: bytes) -> dict:
    """An LVK VOEvent (O2-O4, ``ivo://gwnet/``) as the record of an IGWN alert (no sky map: the
    VOEvent carries only its URL, kept in ``urls``), for :mod:`skyspool.formats.gwalert`."""
    root = _parse_xml(data)
    values = _params(root)
    superevent = values.get("GraceID")
    if not superevent:
        raise Refused("LVK VOEvent without GraceID")
    alert_type = str(values.get("AlertType") or "").strip()
    if not alert_type:
        raise Refused(f"LVK VOEvent of {superevent} without AlertType")
    record = {"superevent_id": superevent, "alert_type": alert_type.upper().replace("_", ""),
              "urls": {"gracedb": values.get("EventPage") or ""}}
    author_date = _first(root, "Date")
    record["time_created"] = times.iso_utc(gcn_notice.parse_utc(author_date.text)) if author_date is not None \
        else times.iso_utc(_event_time(root, values))
    if record["alert_type"] == "RETRACTION":
        record.update(event=None, external_coinc=None)
        return record
    when = _event_time(root, values)
    if when is None:
        raise Refused(f"LVK VOEvent of {superevent} without an event time")
    groups = vp.get_grouped_params(root)
    classification = {name: gcn_notice.finite(p.get("value"), name, 0, 1)
                      for name, p in groups.get("Classification", {}).items()}
    properties = {name: gcn_notice.finite(p.get("value"), name, 0, 1)
                  for name, p in groups.get("Properties", {}).items()}
    for old_name, name in (("ProbHasNS", "HasNS"), ("ProbHasRemnant", "HasRemnant")):  # O2
        if old_name in values and name not in properties:
            properties[name] = gcn_notice.finite(values[old_name], old_name, 0, 1)
    event = {"time": times.iso_utc(when), "far": gcn_notice.finite(values.get("FAR"), "FAR", 0),
             "instruments": [i.strip() for i in str(values.get("Instruments", "")).split(",") if i.strip()],
             "group": str(values.get("Group", "CBC")), "pipeline": str(values.get("Pipeline", "")),
             "search": str(values.get("Search", "AllSky")), "classification": classification,
             "properties": properties, "skymap": None}
    if "Significant" in values:  # O4
        event["significant"] = str(values["Significant"]).strip() in ("1", "true", "True")
    record.update(event=event, external_coinc=None)
    if values.get("skymap_fits"):
        record["urls"]["skymap"] = values["skymap_fits"]
    return record


def _lvk_message(data: bytes, root) -> Message:
    record = lvk_alert_record(data)
    alert_type = LVK_ALERT_TYPES.get(record["alert_type"].lower(), record["alert_type"].lower())
    role = "test" if root.attrib.get("role") == "test" else ids.superevent_role(record["superevent_id"])
    return Message("gw", record["superevent_id"], alert_type, "xml", role)


def to_notice(data: bytes) -> gcn_notice.Notice:
    """Parse a GCN Classic or SVOM VOEvent into a :class:`Notice`, or raise Refused."""
    root = _parse_xml(data)
    ivorn = root.attrib.get("ivorn", "")
    role = root.attrib.get("role", "")
    if ivorn.startswith(LVK_IVORN):
        raise Refused("an LVK VOEvent is a gw entry (skyspool.formats.gwalert), not a notice")
    if role not in ("observation", "test"):
        raise Refused(f"VOEvent role {role!r} is not an observation or test")
    values = _params(root)
    if _is_frb(values):
        return _frb_notice(root, values, ivorn, role)
    try:
        packet = int(values.get("Packet_Type"))
    except (TypeError, ValueError):
        raise Refused(f"VOEvent without a numeric Packet_Type ({ivorn[:80]})") from None
    if any(_flag(values, flag) for flag in TEST_FLAGS):
        role = "test"
    when = _event_time(root, values)
    if when is None:
        raise Refused(f"VOEvent without an event time ({ivorn[:80]})")
    ra, dec, err, special = _position(root)
    facts = {"ivorn": ivorn, "params": values}
    if special:
        facts["position"] = special
    place = dict(ra_deg=ra, dec_deg=dec, error_radius_deg=err)

    if ivorn.startswith(SVOM_IVORN):
        burst = values.get("Burst_Id")
        if not burst:
            raise Refused("SVOM VOEvent without Burst_Id")
        notice_type = SVOM_PACKETS.get(packet, f"svom_{packet}")
        return gcn_notice.Notice(kind="grb", trigger_id=gcn_notice.event_id("SVOM", burst, role), notice_type=notice_type,
                      role=role, mission="SVOM", instrument=values.get("Instrument", "ECLAIRs"),
                      source_format="voevent", trigger_time=when, packet_type=packet,
                      error_containment=gcn_notice.DEFAULT_CONTAINMENT if err else None,
                      systematic_included=True if err else None,
                      retraction=notice_type == "retraction", facts=facts, **place)
    if not ivorn.startswith(GCN_IVORN):
        raise Refused(f"VOEvent from {ivorn.split('#')[0][:60]!r} is not a GCN notice this pipeline reads")
    ptype = PACKETS.get(packet)
    if ptype is None:
        raise Refused(f"GCN packet type {packet} is not a notice this pipeline reads ({ivorn[:80]})")

    spacecraft = None
    if all(f"SC_Geo_{axis}" in values for axis in "XYZ"):
        spacecraft = {"gcrs_km": [gcn_notice.finite(values[f"SC_Geo_{axis}"], f"SC_Geo_{axis}") * GBM_GEO_UNIT_KM
                                  for axis in "XYZ"]}
    far_hz = None
    if "FAR" in values:  # AMON IceCube: per year
        far_hz = gcn_notice.finite(values["FAR"], "FAR", 0) / times.SECONDS_PER_YEAR
    retraction = _flag(values, "Retraction")
    return gcn_notice.Notice(kind=ptype.kind, trigger_id=gcn_notice.event_id(ptype.mission, _trigger(packet, values, ivorn), role),
                  notice_type="retraction" if retraction else ptype.notice_type, role=role,
                  mission=ptype.mission, instrument=ptype.instrument, source_format="voevent",
                  trigger_time=when, packet_type=packet,
                  error_containment=ptype.containment if err else None,
                  systematic_included=ptype.systematic_included if err else None,
                  far_hz=far_hz, retraction=retraction,
                  skymap_url=values.get("skymap_fits") or values.get("LocationMap_URL"),
                  spacecraft=spacecraft, facts=facts, **place)


def _looks_like_voevent(data: bytes, filename: str) -> bool:
    """XML naming a VOEvent, or declaring entities."""
    head = data[:4096]
    return head.lstrip()[:1] == b"<" and (b"VOEvent" in head or b"<!ENTITY" in head)


@register("VOEvent", sniff=_looks_like_voevent)
def parse(data: bytes) -> Message:
    if LVK_IVORN.encode() in data[:4096]:
        root = _parse_xml(data)
        if root.attrib.get("ivorn", "").startswith(LVK_IVORN):
            return _lvk_message(data, root)
    return to_notice(data).message("xml")
