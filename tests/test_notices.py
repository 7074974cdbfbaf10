"""GCN notices: parsed facts against the corpus files, built sky maps, hostile XML."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from skyspool import formats
from skyspool.formats import gcn_voevent, gcnjson
from skyspool.notices import maps, read_notice
from skyspool.notices.targets import notice_products
from skyspool.paths import Entry

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
VOEVENTS = CORPUS / "notices" / "voevent"
JSON_NOTICES = CORPUS / "notices" / "kafka_json"
GBM_SYSTEMATICS = {"core_deg": 3.7, "tail_deg": 14.0, "core_weight": 0.9}
CONFIG = {"notices": {"gbm_systematics": GBM_SYSTEMATICS, "lat_fov_radius_deg": 65.0},
          "coincidence": {"windows_s": {"grb_cbc": [-1, 5], "neutrino_cbc": [-500, 500]}}}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# file, kind, event id, notice type, packet type, trigger time, RA, Dec, error radius (deg)
VOEVENT_FACTS = [
    ("finkmm_fermi_voevent_number_193.xml", "grb", "Fermi-680782656", "gbm_fin_pos", 115,
     "2022-07-29T10:17:31.51", 316.69, -4.1699, 11.34),
    ("finkmm_fermi_voevent_number_2750.xml", "grb", "Fermi-681547990", "gbm_gnd_pos", 112,
     "2022-08-07T06:53:05.16", 151.95, 7.66, 13.05),
    ("finkmm_swift_voevent_number_392.xml", "grb", "Swift-1118357", "bat_grb_pos", 61,
     "2022-07-30T15:48:54.89", 225.0208, -69.4969, 0.05),
    ("finkmm_integral_voevent_number_18790.xml", "grb", "INTEGRAL-10042", "integral_wakeup", 53,
     "2022-09-26T10:38:19.75", 273.965, -37.2473, 0.0489),
    ("finkmm_icecube_voevent_number_3028.xml", "neutrino", "IceCube-136918_45252263",
     "icecube_astrotrack_bronze", 174, "2022-08-08T07:59:57.26", 132.3328, -42.7168, 0.6521),
    ("finkmm_icecube_voevent_number_825.xml", "neutrino", "IceCube-136889_25590129",
     "icecube_cascade", 176, "2022-08-01T04:08:34.26", 150.1126, -9.1693, 12.8963),
    ("voeventparse_SWIFT_bat_position_v2.0_example.xml", "grb", "Swift-532871", "bat_grb_pos", 61,
     "2012-09-07T00:24:23.08", 74.7412, -9.3137, 0.05),
    ("voeventparse_SWIFT_xrt_position_v1.1_example.xml", "grb", "Swift-644259", "xrt_pos", 67,
     "2015-06-16T23:05:40", 314.7162, -53.393, 0.0009),
]


@pytest.mark.parametrize("name, kind, event_id, notice_type, packet, time, ra, dec, error", VOEVENT_FACTS)
def test_voevent_facts(name, kind, event_id, notice_type, packet, time, ra, dec, error):
    data = (VOEVENTS / name).read_bytes()
    message = formats.identify(data, name)
    assert (message.kind, message.event_id, message.alert_type, message.extension, message.role) == (
        kind, event_id, notice_type, "xml", "observation")
    notice = gcn_voevent.to_notice(data)
    assert notice.packet_type == packet
    assert notice.trigger_time == utc(time)
    assert (notice.ra_deg, notice.dec_deg, notice.error_radius_deg) == pytest.approx((ra, dec, error))


def test_every_voevent_in_the_corpus_is_tested():
    assert sorted(path.name for path in VOEVENTS.iterdir()) == sorted(row[0] for row in VOEVENT_FACTS)


def test_voevent_mission_facts():
    gbm = gcn_voevent.to_notice((VOEVENTS / "finkmm_fermi_voevent_number_2750.xml").read_bytes())
    assert gbm.error_containment == 0.68 and gbm.systematic_included is False
    assert gbm.spacecraft["gcrs_km"] == pytest.approx([60732 / 16, 83436 / 16, -39936 / 16])
    bronze = gcn_voevent.to_notice((VOEVENTS / "finkmm_icecube_voevent_number_3028.xml").read_bytes())
    assert bronze.far_hz == pytest.approx(1.8772 / (365.25 * 86400))
    assert bronze.error_containment == 0.9


# file, kind, event id, notice type, role, trigger time, RA, Dec, error, containment
JSON_FACTS = [
    ("gcnschema_chime_frb.detection.example.json", "frb", "CHIME-427325191", "initial", "observation",
     "2024-09-18T07:19:10.765268", 346.77850859547, 12.632485229956252, 0.598921231135782, 0.68),
    ("gcnschema_chime_frb.retraction.example.json", "frb", "CHIME-427325191", "retraction", "observation",
     "2024-09-18T07:19:10.765268", None, None, None, None),
    ("gcnschema_chime_frb.subsequent.example.json", "frb", "CHIME-427325192", "subsequent", "observation",
     "2024-09-18T07:19:10.765268", 346.77850859547, 12.632485229956252, 0.598921231135782, 0.68),
    ("gcnschema_chime_frb.update.example.json", "frb", "CHIME-427325191", "update", "observation",
     "2024-09-18T07:19:10.765268", None, None, None, None),
    ("gcnschema_einstein_probe_wxt_alert.example.json", "grb", "EP-01708973486", "initial", "observation",
     "2024-03-01T21:46:05.13", 120.0, 40.0, 0.02, 0.9),
    ("gcnschema_fermi_gbm_trigger.alert.example.json", "grb", "Fermi-745121685", "gbm_alert", "observation",
     "2024-08-24T02:14:40.43", None, None, None, None),
    ("gcnschema_fermi_gbm_trigger.flight1.example.json", "grb", "Fermi-745121685", "gbm_flt_pos",
     "observation", "2024-08-24T02:14:40.43", 136.917, -78.117, 8.32, 0.68),
    ("gcnschema_fermi_gbm_trigger.ground1.example.json", "grb", "Fermi-745121685", "gbm_gnd_pos",
     "observation", "2024-08-24T02:14:40.43", 92.17, -66.98, 1.34, 0.68),
    ("gcnschema_fermi_gbm_trigger.final.example.json", "grb", "Fermi-745121685", "gbm_fin_pos",
     "observation", "2024-08-24T02:14:40.43", 29.24, -63.62, 1.0, 0.68),
    ("gcnschema_icecube_gold_bronze_track.example.json", "neutrino", "IceCube-137840_57034692", "initial",
     "observation", "2023-04-16T05:22:26.150574", 345.82, 9.01, 0.5, 0.9),
    ("gcnschema_icecube_lvk_nu_track_search.example.json", "neutrino", "IceCube-LVK-S230914ak",
     "lvk_nu_track_search", "observation", "2023-09-14T11:14:01", 17.49, 16.18, None, None),
    ("gwtm_icecube_lvk_nu_track_search_MS230427r.json", "neutrino", "test-IceCube-LVK-MS230427r",
     "lvk_nu_track_search", "test", "2023-04-16T05:22:26", 343.66, 6.44, None, None),
    ("gcnschema_swift_bat_guano.example.json", "grb", "Swift-GUANO-694215995", "initial", "observation",
     "2022-12-31T21:46:05.13", None, None, None, None),
    ("gcnschema_unmerged_snews2_coincidence_real_triangulation.example.json", "snews",
     "SNEWS_Coincidence_ALERT_2026-06-18T16_23_21.937Z", "initial", "observation",
     "2026-06-18T16:21:07.312", None, None, None, None),
    ("gcnschema_unmerged_snews2_coincidence_test.example.json", "snews",
     "test-SNEWS_Coincidence_ALERT_2026-04-03T16_23_21.937Z", "initial", "test",
     "2026-04-03T16:21:07.312", None, None, None, None),
]


@pytest.mark.parametrize("name, kind, event_id, notice_type, role, time, ra, dec, error, containment",
                         JSON_FACTS)
def test_json_notice_facts(name, kind, event_id, notice_type, role, time, ra, dec, error, containment):
    data = (JSON_NOTICES / name).read_bytes()
    message = formats.identify(data, name)
    assert (message.kind, message.event_id, message.alert_type, message.extension, message.role) == (
        kind, event_id, notice_type, "json", role)
    notice = gcnjson.to_notice(data)
    assert notice.trigger_time == utc(time)
    assert (notice.ra_deg, notice.dec_deg, notice.error_radius_deg, notice.error_containment) == (
        pytest.approx(ra), pytest.approx(dec), pytest.approx(error), containment)


def test_every_json_notice_in_the_corpus_is_tested():
    assert sorted(path.name for path in JSON_NOTICES.iterdir()) == sorted(row[0] for row in JSON_FACTS)


@pytest.mark.parametrize("name, superevent, first, second", [
    ("gcnschema_icecube_lvk_nu_track_search.example.json", "S230914ak",
     ("138590_39138551", 17.48, 16.15, 0.5, 12.91, 0.0191), (None, 13.82, 18.66, 0.5, 222.46, 0.0928)),
    ("gwtm_icecube_lvk_nu_track_search_MS230427r.json", "MS230427r",
     (None, 345.82, 9.01, 0.51, -123.4, 0.45), (None, 343.99, 6.71, 1.53, 321.9, 0.05)),
])
def test_icecube_lvk_search_neutrinos(name, superevent, first, second):
    notice = read_notice(JSON_NOTICES / name)
    assert notice.gw_superevent == superevent
    got = [(nu.neutrino_id if expected[0] else None, nu.ra_deg, nu.dec_deg, nu.error_radius_deg,
            nu.time_difference_s, nu.pval_generic)
           for nu, expected in zip(notice.coincident_neutrinos, (first, second))]
    assert got == [pytest.approx(first), pytest.approx(second)]
    assert len(notice.coincident_neutrinos) == 2


def test_gbm_json_facts():
    flight = read_notice(JSON_NOTICES / "gcnschema_fermi_gbm_trigger.flight1.example.json")
    assert flight.systematic_included is True
    assert flight.spacecraft == {"lat_deg": 23.83, "lon_deg": 257.4}
    guano = read_notice(JSON_NOTICES / "gcnschema_swift_bat_guano.example.json")
    assert guano.far_hz == 1e-5 and guano.facts["follow_up_event"] == "Fermi 694215970"
    snews = read_notice(JSON_NOTICES / "gcnschema_unmerged_snews2_coincidence_real_triangulation.example.json")
    assert snews.far_hz == 1e-4 and snews.facts["tier_data"]["p_values"] == [0.01, 0.05, 0.08]


@pytest.mark.parametrize("radius, containment", [(0.0009, 0.9), (0.65, 0.9), (12.9, 0.9), (11.34, 0.68)])
def test_built_circle_holds_its_containment(radius, containment):
    from skyspool import skymap as sm

    table = maps.mixture_map(maps.circle_components(150.0, -9.0, radius, containment))
    area_at_level = sm.credible_areas_deg2(table, (containment,))[0]
    circle_area = 2 * math.pi * (1 - math.cos(math.radians(radius))) * sm.DEG2_PER_SR
    assert area_at_level == pytest.approx(circle_area, rel=0.03)


def test_gbm_map_has_the_systematic_tail():
    from skyspool import skymap as sm

    notice = read_notice(VOEVENTS / "finkmm_fermi_voevent_number_193.xml")
    with_model = sm.credible_areas_deg2(maps.notice_skymap(notice))[1]
    # GWCelery's convention (Connaughton et al. 2015, eq. 2): kappa = 1 / (0.4356 sigma^2).
    stat_only = sm.credible_areas_deg2(maps.mixture_map(
        [maps.Fisher(1.0, notice.ra_deg, notice.dec_deg, 1 / (0.4356 * math.radians(11.34) ** 2))]))[1]
    assert with_model > 1.1 * stat_only


def test_earth_occultation_points_away_from_the_spacecraft():
    import healpy as hp
    import numpy as np
    from astropy import units as u

    notice = read_notice(VOEVENTS / "finkmm_fermi_voevent_number_2750.xml")
    earth = maps.earth_occultation_moc(notice)
    zenith, distance_km = maps.spacecraft_direction(notice)
    nadir_ra, nadir_dec = hp.vec2ang(-zenith, lonlat=True)
    zenith_ra, zenith_dec = hp.vec2ang(zenith, lonlat=True)
    assert 6800 < distance_km < 7000
    assert earth.contains_lonlat(nadir_ra * u.deg, nadir_dec * u.deg)[0]
    assert not earth.contains_lonlat(zenith_ra * u.deg, zenith_dec * u.deg)[0]
    # The Earth seen from ~540 km covers a cone of about 67 deg radius: ~30% of the sky.
    assert 0.25 < earth.sky_fraction < 0.35
    lat = maps.lat_fov_moc(notice, 65.0)
    assert lat.contains_lonlat(zenith_ra * u.deg, zenith_dec * u.deg)[0]
    assert np.isclose(lat.sky_fraction, (1 - math.cos(math.radians(65))) / 2, rtol=0.05)


def test_notice_product_lists():
    def products(folder, name, kind):
        return notice_products(Entry(kind, "x", 1, "t", folder / name), CONFIG)

    gbm = products(VOEVENTS, "finkmm_fermi_voevent_number_2750.xml", "grb")
    assert {"skymap.multiorder.fits", "moc90.fits", "earth_moc.fits", "lat_fov_moc.fits",
            "coincidences.json"} <= set(gbm)
    snews = products(JSON_NOTICES, "gcnschema_unmerged_snews2_coincidence_test.example.json", "snews")
    assert snews == ["notice.json", "stats.json"]


HOSTILE = {
    "external entity": b"""<?xml version="1.0"?>
<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://nasa.gsfc.gcn/SWIFT#x"
 role="observation" version="2.0"><What><Param name="Packet_Type" value="61"/>
<Param name="TrigID" value="&xxe;"/></What></voe:VOEvent>""",
    "billion laughs": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>""",
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_xml_is_refused_with_a_reason(attack):
    with pytest.raises(formats.Refused, match="entity|DOCTYPE"):
        formats.identify(HOSTILE[attack], "attack.xml")


def test_lvk_voevent_is_a_gw_entry_and_unknown_packets_are_refused():
    # LVK VOEvents are read for reprocessing an archive (tests/test_voevent_variants.py)
    message = formats.identify((CORPUS / "gw" / "voevents" / "MS181101ab-2-Preliminary.xml").read_bytes())
    assert (message.kind, message.event_id, message.alert_type, message.role) == (
        "gw", "MS181101ab", "preliminary", "test")
    unknown = (VOEVENTS / "finkmm_swift_voevent_number_392.xml").read_bytes().replace(
        b'"Packet_Type"  value="61"', b'"Packet_Type"  value="999"')
    with pytest.raises(formats.Refused, match="packet type 999"):
        formats.identify(unknown)


def test_test_flag_makes_a_test_notice():
    data = (VOEVENTS / "finkmm_swift_voevent_number_392.xml").read_bytes().replace(
        b'"Test_Submission"          value="false"', b'"Test_Submission"          value="true"')
    message = formats.identify(data)
    assert message.role == "test" and message.event_id == "test-Swift-1118357"


def test_unknown_gcn_json_schema_is_refused():
    data = b'{"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/foo/bar.schema.json", "trigger_time": "2024-01-01T00:00:00Z"}'
    with pytest.raises(formats.Refused, match="foo/bar"):
        formats.identify(data)
