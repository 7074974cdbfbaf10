"""GCN Classic VOEvent variants, LVK VOEvents (O2-O4), FRB VOEvents of the Petroff et al. standard
and messages that are not notices, through ``skyspool process`` in one spool.

There is no corpus of these in ../shared: the files are written here, small and in the forms the
senders publish (GCN's VOEvent 2.0 with the ``voe:`` prefix, its NSSTC form without a namespace,
VOEvent 1.1 of 2011 with the time and position where it had them; the FRB VOEvent standard's
groups; LVK's parameters of each observing run).
"""

from __future__ import annotations

import json

import pytest

from skyspool import cli
from skyspool.formats import Refused, gwalert, identify
from support import CORPUS, FAST_CONFIG, entry_holding, make_spool

MAP_PRODUCTS = {"skymap.multiorder.fits", "moc90.fits", "contours.geojson", "skymap.png"}


def _params(params: dict) -> str:
    return "\n".join(f'    <Param name="{name}" value="{value}" />' for name, value in params.items())


def gcn_voevent(packet: int, ivorn: str, params: dict, *, time: str, ra: float, dec: float, err: float,
                namespace: bool = True, role: str = "observation", groups: str = "") -> bytes:
    """A GCN Classic VOEvent 2.0 as GCN writes it (``voe:`` prefix), or its NSSTC form (no namespace)."""
    tag, ns = ("voe:VOEvent", ' xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"') if namespace else ("VOEvent", "")
    return f"""<?xml version = '1.0' encoding = 'UTF-8'?>
<{tag} ivorn="{ivorn}" role="{role}" version="2.0"{ns}
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Who>
    <AuthorIVORN>ivo://nasa.gsfc.tan/gcn</AuthorIVORN>
    <Date>2024-01-01T00:00:00</Date>
  </Who>
  <What>
    <Param name="Packet_Type" value="{packet}" />
    <Param name="Pkt_Ser_Num" value="1" />
{_params(params)}
{groups}
  </What>
  <WhereWhen>
    <ObsDataLocation>
      <ObservatoryLocation id="GEOLUN" />
      <ObservationLocation>
        <AstroCoordSystem id="UTC-FK5-GEO" />
        <AstroCoords coord_system_id="UTC-FK5-GEO">
          <Time unit="s">
            <TimeInstant>
              <ISOTime>{time}</ISOTime>
            </TimeInstant>
          </Time>
          <Position2D unit="deg">
            <Name1>RA</Name1>
            <Name2>Dec</Name2>
            <Value2>
              <C1>{ra}</C1>
              <C2>{dec}</C2>
            </Value2>
            <Error2Radius>{err}</Error2Radius>
          </Position2D>
        </AstroCoords>
      </ObservationLocation>
    </ObsDataLocation>
  </WhereWhen>
  <How><Description>written for skyspool's tests</Description></How>
</{tag}>
""".encode()


VOEVENT_11_2011 = b"""<?xml version="1.0" encoding="UTF-8"?>
<voe:VOEvent ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_2011-03-28T12:57:45.00_455299-0-0" role="observation"
  version="1.1" xmlns:voe="http://www.ivoa.net/xml/VOEvent/v1.1">
  <Who><AuthorIVORN>ivo://nasa.gsfc.tan/gcn</AuthorIVORN><Date>2011-03-28T12:58:03</Date></Who>
  <What>
    <Param name="Packet_Type"     value="61" />
    <Param name="TrigID"          value="455299" />
  </What>
  <WhereWhen>
    <ObsDataLocation xmlns="http://www.ivoa.net/xml/STC/stc-v1.30.xsd">
      <ObservatoryLocation id="GEOLUN" />
      <ObservationLocation>
        <AstroCoordSystem id="UTC-FK5-GEO" />
        <AstroCoords>
          <Time><TimeInstant><ISOTime>2011-03-28T12:57:45.00</ISOTime></TimeInstant></Time>
          <Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>
            <Value2><C1>  251.2052 </C1><C2> 34.0869 </C2></Value2>
            <Error2Radius> 0.0500 </Error2Radius>
          </Position2D>
        </AstroCoords>
      </ObservationLocation>
    </ObsDataLocation>
  </WhereWhen>
</voe:VOEvent>
"""


def frb_voevent(ivorn: str, params: dict, *, time: str, ra: float, dec: float, err: float,
                citation: str = "", observatory: dict | None = None) -> bytes:
    """An FRB VOEvent of the Petroff et al. (2017) standard: observatory and event parameter groups."""
    observatory = observatory or {"sampling_time": 0.983, "bandwidth": 400, "centre_frequency": 600}
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="{ivorn}" role="observation" version="2.0">
  <Who><AuthorIVORN>{ivorn.split('#')[0]}/contact</AuthorIVORN><Date>2024-05-01T00:00:10</Date></Who>
  <What>
    <Group name="observatory parameters">
{_params(observatory)}
    </Group>
    <Group name="event parameters">
{_params(params)}
    </Group>
  </What>
  <WhereWhen>
    <ObsDataLocation>
      <ObservatoryLocation id="TOPO" />
      <ObservationLocation>
        <AstroCoordSystem id="UTC-FK5-TOPO" />
        <AstroCoords coordsystem_id="UTC-FK5-TOPO">
          <Time unit="s"><TimeInstant><ISOTime>{time}</ISOTime></TimeInstant></Time>
          <Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>
            <Value2><C1>{ra}</C1><C2>{dec}</C2></Value2><Error2Radius>{err}</Error2Radius></Position2D>
        </AstroCoords>
      </ObservationLocation>
    </ObsDataLocation>
  </WhereWhen>
  <How><Description>written for skyspool's tests</Description></How>
  {citation}
  <Why importance="0.9"><Inference probability="0.9"><Concept>Radio Transient</Concept></Inference></Why>
</voe:VOEvent>
""".encode()


def lvk_voevent(superevent: str, alert_type: str, params: dict, groups: dict, *, time: str,
                role: str = "observation") -> bytes:
    """An LVK VOEvent as GraceDB wrote them in O2-O4 (Param names per run)."""
    group_xml = "\n".join(f'    <Group type="{name}" name="{name}">\n{_params(values)}\n    </Group>'
                          for name, values in groups.items())
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://gwnet/LVC#{superevent}-1-{alert_type}"
  role="{role}" version="2.0">
  <Who><Date>{time[:19]}</Date><Author><contactName>LIGO Scientific Collaboration and Virgo Collaboration</contactName></Author></Who>
  <What>
    <Param name="Packet_Type" value="{ {'Preliminary': 150, 'Initial': 151, 'Update': 152, 'Retraction': 164}[alert_type] }" />
    <Param name="internal" value="0" />
    <Param name="GraceID" value="{superevent}" />
    <Param name="AlertType" value="{alert_type}" />
    <Param name="EventPage" value="https://gracedb.ligo.org/superevents/{superevent}/view" />
{_params(params)}
{group_xml}
  </What>
  <WhereWhen>
    <ObsDataLocation><ObservatoryLocation id="LIGO Virgo" /><ObservationLocation>
      <AstroCoordSystem id="UTC-FK5-GEO" />
      <AstroCoords coord_system_id="UTC-FK5-GEO">
        <Time unit="s"><TimeInstant><ISOTime>{time}</ISOTime></TimeInstant></Time>
      </AstroCoords>
    </ObservationLocation></ObsDataLocation>
  </WhereWhen>
</voe:VOEvent>
""".encode()


GCN = "ivo://nasa.gsfc.gcn/"
T = "2024-05-01T12:00:00.00"
O3_CLASSIFICATION = {"BNS": 0.0, "NSBH": 0.0, "BBH": 0.98, "MassGap": 0.0, "Terrestrial": 0.02}

# name, bytes, kind, event id, entry type, (ra, dec, error) or None (no position), with a map
CASES = [
    ("snews.xml", gcn_voevent(149, GCN + "SNEWS#2024-05-01T12:00:00.00_000123-149", {"TrigID": 123},
                              time=T, ra=0.0, dec=0.0, err=360.0),
     "snews", "SNEWS-123", "snews", None, False),
    ("gbm-subthreshold-nsstc.xml", gcn_voevent(
        131, GCN + "Fermi#GBM_SubThresh_2024-05-01T12:00:00.00_736257605_0-520",
        {"Trans_Num": 736257605, "Trig_Dur": 0.512, "Reliability": 3}, time=T, ra=123.4, dec=-12.5,
        err=8.5, namespace=False), "grb", "Fermi-736257605", "gbm_subthresh", (123.4, -12.5, 8.5), True),
    ("gbm-subthreshold.xml", gcn_voevent(
        131, GCN + "Fermi#GBM_SubThresh_2024-05-01T12:00:01.00_736257606_0-521",
        {"Trans_Num": 736257606}, time="2024-05-01T12:00:01.00", ra=200.0, dec=10.0, err=12.0),
     "grb", "Fermi-736257606", "gbm_subthresh", (200.0, 10.0, 12.0), True),
    ("gecam.xml", gcn_voevent(188, GCN + "GECAM#FLT_2024-05-01_1234", {"TrigID": 1234},
                              time=T, ra=45.0, dec=30.0, err=3.2),
     "grb", "GECAM-1234", "gecam_flt", (45.0, 30.0, 3.2), True),
    ("agile.xml", gcn_voevent(102, GCN + "AGILE#SA_Refined_2024-05-01_9999", {"TrigID": 9999},
                              time=T, ra=10.0, dec=-5.0, err=0.1),
     "grb", "AGILE-9999", "agile_refined", (10.0, -5.0, 0.1), True),
    ("maxi.xml", gcn_voevent(134, GCN + "MAXI#Unknown_2024-05-01_7777", {"TrigID": 7777},
                             time=T, ra=300.0, dec=20.0, err=0.4),
     "grb", "MAXI-7777", "maxi_unknown", (300.0, 20.0, 0.4), True),
    ("superk.xml", gcn_voevent(175, GCN + "SK_SN#2024-05-01_55", {"TrigID": 55},
                               time=T, ra=270.82, dec=31.46, err=5.0),
     "snews", "SuperK-55", "sk_sn", (270.82, 31.46, 5.0), True),
    ("amon-hese.xml", gcn_voevent(158, GCN + "AMON#ICECUBE_HESE_2024-05-01_138000_1",
                                  {"run_id": 138000, "event_id": 4242, "signalness": 0.4},
                                  time=T, ra=150.0, dec=5.0, err=1.2),
     "neutrino", "IceCube-138000_4242", "amon_icecube_hese", (150.0, 5.0, 1.2), True),
    ("hawc.xml", gcn_voevent(171, GCN + "AMON#HAWC-BurstMonitor_2024-05-01_1_2",
                             {"run_id": 9100, "event_id": 17}, time=T, ra=80.0, dec=22.0, err=0.9),
     "grb", "HAWC-9100_17", "hawc_burst_monitor", (80.0, 22.0, 0.9), True),
    ("antares-fermilat.xml", gcn_voevent(170, GCN + "AMON#ANTARES-FERMILAT_2024-05-01_3",
                                         {"run_id": 3, "event_id": 31}, time=T, ra=60.0, dec=-40.0, err=0.6),
     "neutrino", "AMON-3_31", "amon_antares_fermilat", (60.0, -40.0, 0.6), True),
    ("integral-weak.xml", gcn_voevent(56, GCN + "INTEGRAL#Weak_2024-05-01_8888", {"TrigID": 8888},
                                      time=T, ra=266.0, dec=-29.0, err=0.05),
     "grb", "INTEGRAL-8888", "integral_weak", (266.0, -29.0, 0.05), True),
    ("bat-transient.xml", gcn_voevent(84, GCN + "SWIFT#BAT_Trans_2024-05-01_1200001", {"TrigID": 1200001},
                                      time=T, ra=83.6, dec=22.0, err=0.05),
     "grb", "Swift-1200001", "bat_trans", (83.6, 22.0, 0.05), True),
    ("bat-subthreshold.xml", gcn_voevent(98, GCN + "SWIFT#BAT_SubSubThresh_2024-05-01_1200002",
                                         {"TrigID": 1200002}, time=T, ra=12.0, dec=34.0, err=0.08),
     "grb", "Swift-1200002", "bat_subthresh", (12.0, 34.0, 0.08), True),
    ("swift-bat-2011-voevent-1.1.xml", VOEVENT_11_2011, "grb", "Swift-455299", "bat_grb_pos",
     (251.2052, 34.0869, 0.05), True),
    ("svom-unknown-error.xml", gcn_voevent(202, "ivo://org.svom/fsc#sb24050101_eclairs-wakeup",
                                           {"Burst_Id": "sb24050101", "Instrument": "ECLAIRs"},
                                           time=T, ra=143.25, dec=-68.03, err=-1),
     "grb", "SVOM-sb24050101", "eclairs_wakeup", (143.25, -68.03, None), False),
    ("gbm-placeholder.xml", gcn_voevent(111, GCN + "Fermi#GBM_Flt_Pos_2024-05-01_736257610_0-1",
                                        {"TrigID": 736257610}, time=T, ra=0.0, dec=0.0, err=15.0),
     "grb", "Fermi-736257610", "gbm_flt_pos", None, False),
    # FRB VOEvents (Petroff et al. 2017)
    ("chime-frb.xml", frb_voevent("ivo://ca.chimenet/FRB#FRB-2024-05-01-12:00:00.100-0001",
                                  {"event_no": 380012345, "dm": 512.3, "snr": 15.2, "event_type": "EVENT"},
                                  time="2024-05-01T12:00:00.100", ra=180.5, dec=45.25, err=0.25),
     "frb", "CHIME-380012345", "detection", (180.5, 45.25, 0.25), True),
    ("realfast-frb.xml", frb_voevent("ivo://nrao.realfast/realfast#20240501_cand1",
                                     {"dm": 330.1, "snr": 9.5, "width": 5.0},
                                     time="2024-05-01T08:00:00.5", ra=85.0, dec=-10.0, err=0.001,
                                     observatory={"sampling_time": 10.0, "backend": "realfast"}),
     "frb", "realfast-20240501_cand1", "detection", (85.0, -10.0, 0.001), True),
    ("parkes-frb.xml", frb_voevent("ivo://au.csiro.atnf/parkes#FRB240501/57000.1",
                                   {"dm": 776.2, "snr": 39.0, "width": 0.8},
                                   time="2024-05-01T04:00:00.0", ra=128.0, dec=-5.4, err=0.117),
     "frb", "Parkes-FRB240501_57000.1", "detection", (128.0, -5.4, 0.117), True),
    ("parkes-frb-retraction.xml", frb_voevent(
        "ivo://au.csiro.atnf/parkes#FRB240501/57000.1-retraction", {"dm": 776.2},
        time="2024-05-01T04:00:00.0", ra=128.0, dec=-5.4, err=0.117,
        citation='<Citations><EventIVORN cite="retraction">ivo://au.csiro.atnf/parkes#FRB240501/57000.1'
                 '</EventIVORN></Citations>'),
     "frb", "Parkes-FRB240501_57000.1", "retraction", (128.0, -5.4, 0.117), True),
]

LVK_CASES = [
    # O2: no classification group, ProbHasNS / ProbHasRemnant
    ("lvk-o2.xml", lvk_voevent("S170817a", "Initial",
                               {"FAR": 3.0e-12, "Instruments": "H1,L1,V1", "Group": "CBC",
                                "Pipeline": "gstlal", "Search": "AllSky", "ProbHasNS": 1.0,
                                "ProbHasRemnant": 1.0, "skymap_fits": "https://example.org/bayestar.fits.gz"},
                               {}, time="2017-08-17T12:41:04.4"), "S170817a", "initial"),
    # O3: Classification and Properties groups
    ("lvk-o3.xml", lvk_voevent("S190521g", "Preliminary",
                               {"FAR": 1.0e-9, "Instruments": "H1,L1,V1", "Group": "CBC",
                                "Pipeline": "pycbc", "Search": "AllSky"},
                               {"Classification": O3_CLASSIFICATION,
                                "Properties": {"HasNS": 0.0, "HasRemnant": 0.0}},
                               time="2019-05-21T03:02:29.447"), "S190521g", "preliminary"),
    # O4: Significant, HasMassGap
    ("lvk-o4.xml", lvk_voevent("S230518h", "Update",
                               {"FAR": 3.2e-10, "Significant": 1, "Instruments": "H1,L1", "Group": "CBC",
                                "Pipeline": "gstlal", "Search": "AllSky"},
                               {"Classification": {"BNS": 0.0, "NSBH": 0.86, "BBH": 0.0, "Terrestrial": 0.14},
                                "Properties": {"HasNS": 1.0, "HasRemnant": 0.0, "HasMassGap": 0.0}},
                               time="2023-05-18T12:59:08.167"), "S230518h", "update"),
    ("lvk-o3-retraction.xml", lvk_voevent("S190521g", "Retraction", {}, {}, time="2019-05-21T03:02:29.447"),
     "S190521g", "retraction"),
]

NOT_NOTICES = [
    ("kill-socket.xml", gcn_voevent(4, GCN + "KILL_SOCKET#1", {}, time=T, ra=0, dec=0, err=0),
     "GCN packet type 4 is not a notice"),
    ("swift-pointdir.xml", gcn_voevent(83, GCN + "SWIFT#Point_Dir_2024-05-01", {}, time=T, ra=1, dec=2, err=0),
     "GCN packet type 83 is not a notice"),
    ("other-broker.xml", gcn_voevent(1, "ivo://other.broker/alerts#1", {}, time=T, ra=1, dec=2, err=1),
     "is not a GCN notice this pipeline reads"),
]


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    spool = make_spool(tmp_path_factory.mktemp("voevents") / "spool", FAST_CONFIG)
    for name, data, *_ in CASES + LVK_CASES + NOT_NOTICES:
        (spool.inbox / name).write_bytes(data)
    cli.main(["process", str(spool.root), "--cores", "2"])
    return spool




@pytest.mark.parametrize("name, data, kind, event_id, entry_type, place, with_map", CASES,
                         ids=[case[0] for case in CASES])
def test_voevent_through_process(processed, name, data, kind, event_id, entry_type, place, with_map):
    entry = entry_holding(processed, kind, event_id, data)
    assert entry.alert_type == entry_type
    stats = json.loads(processed.product(entry, "stats.json").read_text())
    assert (stats["kind"], stats["trigger_id"]) == (kind, event_id)
    if place is None:
        assert (stats["ra_deg"], stats["dec_deg"], stats["error_radius_deg"]) == (None, None, None)
    else:
        assert (stats["ra_deg"], stats["dec_deg"]) == (pytest.approx(place[0]), pytest.approx(place[1]))
        assert stats["error_radius_deg"] == (None if place[2] is None else pytest.approx(place[2]))
    assert stats["retraction"] is (entry_type == "retraction")
    names = {p.name for p in processed.products_dir(entry).iterdir()}
    assert {"notice.json", "stats.json"} <= names
    assert (MAP_PRODUCTS <= names) if with_map else not (MAP_PRODUCTS & names)


def test_flags_of_all_sky_placeholder_and_unknown_error(processed):
    by_name = {case[0]: case for case in CASES}
    for name, flag in (("snews.xml", "all_sky"), ("gbm-placeholder.xml", "placeholder_position"),
                       ("svom-unknown-error.xml", "error_unknown")):
        _, data, kind, event_id, *_ = by_name[name]
        notice = json.loads(processed.product(entry_holding(processed, kind, event_id, data), "notice.json").read_text())
        assert notice["facts"]["position"] == flag


@pytest.mark.parametrize("name, data, superevent, alert_type", LVK_CASES, ids=[c[0] for c in LVK_CASES])
def test_lvk_voevent_through_process(processed, name, data, superevent, alert_type):
    entry = entry_holding(processed, "gw", superevent, data)
    assert entry.alert_type == alert_type
    names = {p.name for p in processed.products_dir(entry).iterdir()}
    assert {"notice.json", "notice.xml", "circular.txt"} <= names
    notice = json.loads(processed.product(entry, "notice.json").read_text())
    assert notice["event_id"] == superevent and notice["retracted"] is (alert_type == "retraction")
    if alert_type != "retraction":
        assert "classification.json" in names


@pytest.mark.parametrize("name, data, reason", NOT_NOTICES, ids=[c[0] for c in NOT_NOTICES])
def test_non_notices_are_refused_with_their_reason(processed, name, data, reason):
    with pytest.raises(Refused, match=reason):
        identify(data, name)
    reasons = [p.read_text() for p in processed.quarantine.glob(f"*-{name}.reason.txt")]
    assert len(reasons) == 1 and reason in reasons[0]


@pytest.mark.parametrize("name, alert_type", [
    ("MS181101ab-1-EarlyWarning.xml", "early_warning"), ("MS181101ab-2-Preliminary.xml", "preliminary"),
    ("MS181101ab-3-Initial.xml", "initial"), ("MS181101ab-4-Update.xml", "update"),
    ("MS181101ab-5-Retraction.xml", "retraction"), ("MS181101ab-6-Update.xml", "update")])
def test_lvk_voevents_of_the_corpus_read_as_alerts(name, alert_type):
    path = CORPUS / "gw" / "voevents" / name
    message = identify(path.read_bytes(), name)
    assert (message.kind, message.event_id, message.alert_type, message.role) == (
        "gw", "MS181101ab", alert_type, "test")
    alert = gwalert.read_alert(path)
    assert alert.alert_type == alert_type and alert.skymap is None
    if alert_type != "retraction":
        assert alert.event["classification"]["BNS"] == 0.95 and alert.event["far"] == 9.11069936486e-14
        assert alert.event["instruments"] == ["H1", "L1", "V1"]
