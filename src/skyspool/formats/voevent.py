"""GCN Classic VOEvents (and SVOM VOEvents) of gamma-ray bursts, neutrinos and SNEWS.

The XML is parsed by lxml with a hardened parser (no network, no DTD, no entity
resolution, no huge trees); a document that declares a DOCTYPE is refused outright,
which shuts out external entities and entity-expansion bombs. The tree is then read with
voevent-parse. Which notice a VOEvent is comes from its ``Packet_Type``
(https://gcn.gsfc.nasa.gov/filtering.html).
"""

from __future__ import annotations

import dataclasses

import voeventparse as vp
from lxml import etree, objectify

from skyspool.formats import Message, Refused, register
from skyspool import notices  # a module: skyspool.notices imports this package

GCN_IVORN = "ivo://nasa.gsfc.gcn/"
SVOM_IVORN = "ivo://org.svom/"
LVK_IVORN = "ivo://gwnet/"
VOEVENT_NAMESPACES = ("http://www.ivoa.net/xml/VOEvent/v2.0", "http://www.ivoa.net/xml/VOEvent/v1.1")
SECONDS_PER_YEAR = 365.25 * 86400
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


# Error2Radius: GBM gives the 1-sigma (68%) statistical radius; Swift, INTEGRAL, AMON and
# SVOM the 90% radius including systematics (GCN socket documentation per mission).
PACKETS = {
    110: PacketType("grb", "Fermi", "GBM", "gbm_alert", 0.68, False),
    111: PacketType("grb", "Fermi", "GBM", "gbm_flt_pos", 0.68, False),
    112: PacketType("grb", "Fermi", "GBM", "gbm_gnd_pos", 0.68, False),
    115: PacketType("grb", "Fermi", "GBM", "gbm_fin_pos", 0.68, False),
    131: PacketType("grb", "Fermi", "GBM", "gbm_subthresh", 0.68, False),
    61: PacketType("grb", "Swift", "BAT", "bat_grb_pos", 0.9, True),
    67: PacketType("grb", "Swift", "XRT", "xrt_pos", 0.9, True),
    81: PacketType("grb", "Swift", "UVOT", "uvot_pos", 0.9, True),
    53: PacketType("grb", "INTEGRAL", "IBIS", "integral_wakeup", 0.9, True),
    54: PacketType("grb", "INTEGRAL", "IBIS", "integral_refined", 0.9, True),
    55: PacketType("grb", "INTEGRAL", "IBIS", "integral_offline", 0.9, True),
    149: PacketType("snews", "SNEWS", "SNEWS", "snews", 0.9, True),
    173: PacketType("neutrino", "IceCube", "IC86", "icecube_astrotrack_gold", 0.9, False),
    174: PacketType("neutrino", "IceCube", "IC86", "icecube_astrotrack_bronze", 0.9, False),
    176: PacketType("neutrino", "IceCube", "IC86", "icecube_cascade", 0.9, True),
}
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
    if etree.QName(root).localname == "VOEvent" and namespace not in VOEVENT_NAMESPACES:
        raise Refused("VOEvent without a namespace (expected VOEvent 2.0 or 1.1)" if namespace is None
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


def _trigger(packet: int, ptype: PacketType, values: dict, ivorn: str) -> str:
    if ptype.mission == "IceCube":
        return f"{int(values['run_id'])}_{int(values['event_id'])}"
    trigger = values.get("TrigID")
    if trigger is None:
        raise Refused(f"packet type {packet} VOEvent without TrigID ({ivorn})")
    return str(int(notices.finite(trigger, "TrigID")))


def _position(root) -> tuple[float | None, float | None, float | None]:
    try:
        position = vp.get_event_position(root)
    except (AttributeError, IndexError, ValueError):
        return None, None, None
    ra = notices.finite(position.ra, "RA", -360, 360) % 360
    dec = notices.finite(position.dec, "Dec", -90, 90)
    err = notices.finite(position.err, "Error2Radius", 0, 180)
    # GCN writes 0/0 with no error for notices that carry no position (GBM alerts).
    return (None, None, None) if err == 0 else (ra, dec, err)


def to_notice(data: bytes) -> notices.Notice:
    """Parse a GCN Classic or SVOM VOEvent into a :class:`Notice`, or raise Refused."""
    root = _parse_xml(data)
    ivorn = root.attrib.get("ivorn", "")
    role = root.attrib.get("role", "")
    if ivorn.startswith(LVK_IVORN):
        raise Refused("LVK gravitational-wave VOEvent: send the IGWN alert (JSON or Avro) instead")
    if role not in ("observation", "test"):
        raise Refused(f"VOEvent role {role!r} is not an observation or test")
    values = _params(root)
    try:
        packet = int(values.get("Packet_Type"))
    except (TypeError, ValueError):
        raise Refused(f"VOEvent without a numeric Packet_Type ({ivorn[:80]})") from None
    if any(_flag(values, flag) for flag in TEST_FLAGS):
        role = "test"
    try:
        when = vp.get_event_time_as_utc(root)
    except (AttributeError, ValueError):
        when = None
    if when is None:
        raise Refused(f"VOEvent without an event time ({ivorn[:80]})")
    ra, dec, err = _position(root)
    facts = {"ivorn": ivorn, "params": values}

    if ivorn.startswith(SVOM_IVORN):
        burst = values.get("Burst_Id")
        if not burst:
            raise Refused("SVOM VOEvent without Burst_Id")
        notice_type = SVOM_PACKETS.get(packet, f"svom_{packet}")
        return notices.Notice(kind="grb", trigger_id=notices.event_id("SVOM", burst, role), notice_type=notice_type,
                      role=role, mission="SVOM", instrument=values.get("Instrument", "ECLAIRs"),
                      source_format="voevent", trigger_time=when, packet_type=packet,
                      ra_deg=ra, dec_deg=dec, error_radius_deg=err,
                      error_containment=notices.DEFAULT_CONTAINMENT if err else None,
                      systematic_included=True if err else None,
                      retraction=notice_type == "retraction", facts=facts)
    if not ivorn.startswith(GCN_IVORN):
        raise Refused(f"VOEvent from {ivorn.split('#')[0][:60]!r} is not a GCN notice this pipeline reads")
    ptype = PACKETS.get(packet)
    if ptype is None:
        raise Refused(f"GCN packet type {packet} is not a notice this pipeline reads ({ivorn[:80]})")

    spacecraft = None
    if all(f"SC_Geo_{axis}" in values for axis in "XYZ"):
        spacecraft = {"gcrs_km": [notices.finite(values[f"SC_Geo_{axis}"], f"SC_Geo_{axis}") * GBM_GEO_UNIT_KM
                                  for axis in "XYZ"]}
    far_hz = None
    if "FAR" in values:  # AMON IceCube: per year
        far_hz = notices.finite(values["FAR"], "FAR", 0) / SECONDS_PER_YEAR
    retraction = _flag(values, "Retraction")
    return notices.Notice(kind=ptype.kind, trigger_id=notices.event_id(ptype.mission, _trigger(packet, ptype, values, ivorn), role),
                  notice_type="retraction" if retraction else ptype.notice_type, role=role,
                  mission=ptype.mission, instrument=ptype.instrument, source_format="voevent",
                  trigger_time=when, packet_type=packet, ra_deg=ra, dec_deg=dec, error_radius_deg=err,
                  error_containment=ptype.containment if err else None,
                  systematic_included=ptype.systematic_included if err else None,
                  far_hz=far_hz, retraction=retraction,
                  skymap_url=values.get("skymap_fits") or values.get("LocationMap_URL"),
                  spacecraft=spacecraft, facts=facts)


def _looks_like_voevent(data: bytes, filename: str) -> bool:
    """XML naming a VOEvent (CHIME/FRB's are read by skyspool.frb), or declaring entities."""
    head = data[:4096]
    return (head.lstrip()[:1] == b"<" and (b"VOEvent" in head or b"<!ENTITY" in head)
            and b"ivo://ca.chimenet" not in head)


@register("GCN VOEvent", sniff=_looks_like_voevent)
def parse(data: bytes) -> Message:
    return to_notice(data).message("xml")
