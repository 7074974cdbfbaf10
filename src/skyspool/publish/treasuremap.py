"""Treasure Map sink: post to the Treasure Map API what its own listeners (gwtm_cron) post.

Through the Treasure Map's client (PyPI ``gwtm-api``: its transport sends the token in the
``api_token`` header; every alert body is checked against its ``Alert`` model first):

- an IGWN alert (JSON or Avro as received): ``POST /post_alert`` with the listener's fields
  (graceid, alert_type and packet_type, role ``test`` for MS events, observing run, time of
  signal and sent from the sky map's header, distance, 50/90% areas and most probable
  position from the sky map, FAR, detectors, pipeline, search, group, classification and
  property probabilities), then the event's galaxy list (``galaxies.ecsv``; the previous list
  of the same group is removed first: ``GET /event_galaxies``, ``POST /remove_event_galaxies``,
  ``POST /event_galaxies``), then, for an external coincidence, a second alert
  ``<Type>-ExtCoinc`` with the coincidence's fields and the combined sky map's numbers; for a
  mock (MS) event ``POST /del_test_alerts`` last, as the listener does;
- an IceCube LVK neutrino track search notice with coincident events:
  ``POST /post_icecube_notice``.

Contours, MOCs and the Fermi/LAT maps go to the Treasure Map's bucket: a storage sink with
``layout: treasuremap``. The token comes from the environment variable ``token_env``.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import threading

from skyspool.paths import Entry
from skyspool.publish.registry import Sink, sink

PACKET_TYPES = {"EarlyWarning": 153, "Preliminary": 150, "Initial": 151, "Update": 152,
                "Retraction": 164}
EXT_COINC_PACKET_TYPE = 666
# Values the listener posts when the alert lacks them.
UNKNOWN_TIME = "1991-12-23T19:15:00"
UNKNOWN_NUMBER = -999.9
# gwtm-api keeps its token and base URL in module state: one sink configures it at a time.
_CLIENT = threading.Lock()


def treasuremap_alert_type(alert_type: str) -> tuple[str, int]:
    """The Treasure Map's alert type name and GCN packet type.

    >>> treasuremap_alert_type("EARLY_WARNING")
    ('EarlyWarning', 153)
    >>> treasuremap_alert_type("preliminary")
    ('Preliminary', 150)
    """
    name = alert_type.replace("_", "").lower()
    for known, packet in PACKET_TYPES.items():
        if known.lower() == name:
            return known, packet
    return "Error", 0


def read_alert(path) -> dict:
    """The IGWN alert of a spool entry as a dict (sky maps as bytes), JSON or Avro."""
    data = open(path, "rb").read()
    if data.startswith(b"Obj\x01"):
        import fastavro

        return next(iter(fastavro.reader(io.BytesIO(data))))
    record = json.loads(data)
    for part in (record.get("event"), record.get("external_coinc")):
        for key in ("skymap", "combined_skymap"):
            if isinstance(part, dict) and isinstance(part.get(key), str):
                part[key] = base64.b64decode(part[key])
    return record


def skymap_fields(skymap: bytes) -> dict:
    """What the listener takes from a multi-order sky map: the most probable pixel's centre,
    the 90% and 50% areas (deg², whole pixels in order of density) and header values."""
    import astropy_healpix as ah
    import numpy as np
    from astropy import units as u
    from astropy.table import Table

    table = Table.read(io.BytesIO(skymap), format="fits")
    level, ipix = ah.uniq_to_level_ipix(table["UNIQ"][np.argmax(table["PROBDENSITY"])])
    ra, dec = ah.healpix_to_lonlat(ipix, ah.level_to_nside(level), order="nested")
    order = np.argsort(-np.asarray(table["PROBDENSITY"]), kind="stable")
    levels, _ = ah.uniq_to_level_ipix(np.asarray(table["UNIQ"])[order])
    pixel_area = ah.nside_to_pixel_area(ah.level_to_nside(levels)).to_value(u.sr)
    cumulative = np.cumsum(pixel_area * np.asarray(table["PROBDENSITY"])[order])
    to_deg2 = (1 * u.sr).to_value(u.deg ** 2)
    header = table.meta
    return {"avgra": float(ra.deg), "avgdec": float(dec.deg),
            "area_90": float(pixel_area[:cumulative.searchsorted(0.9)].sum() * to_deg2),
            "area_50": float(pixel_area[:cumulative.searchsorted(0.5)].sum() * to_deg2),
            "time_of_signal": header.get("DATE-OBS", UNKNOWN_TIME),
            "distance": header.get("DISTMEAN", UNKNOWN_NUMBER),
            "distance_error": header.get("DISTSTD", UNKNOWN_NUMBER),
            "timesent": header.get("DATE", UNKNOWN_TIME)}


def alert_bodies(record: dict, observing_run: str, skymap_url: str, now: str) -> list[dict]:
    """The ``post_alert`` bodies of one IGWN alert: the alert, and the external
    coincidence's when there is one."""
    graceid = record.get("superevent_id", "ERROR")
    alert_type, packet_type = treasuremap_alert_type(record.get("alert_type", "ERROR"))
    body = {"datecreated": now, "observing_run": observing_run, "description": f"{observing_run} Alert",
            "role": "test" if graceid.startswith("MS") else "observation", "graceid": graceid,
            "alert_type": alert_type, "packet_type": packet_type}
    event = record.get("event")
    if isinstance(event, dict):
        body.update({"far": event.get("far", 0.0), "group": event.get("group", ""),
                     "pipeline": event.get("pipeline", ""), "search": event.get("search", ""),
                     "centralfreq": event.get("central_frequency", 0.0),
                     "duration": event.get("duration", 0.0)})
        if "instruments" in event:
            instruments = event["instruments"]
            body["detectors"] = ",".join(instruments) if isinstance(instruments, list) else instruments
        properties = event.get("properties")
        if isinstance(properties, dict):
            body.update({"prob_hasns": properties.get("HasNS", 0.0),
                         "prob_hasremenant": properties.get("HasRemnant", 0.0),
                         "prob_gap": properties.get("HasMassGap", 0.0)})
        classification = event.get("classification")
        if isinstance(classification, dict):
            body.update({f"prob_{name.lower()}": classification.get(name, 0.0)
                         for name in ("BNS", "NSBH", "BBH", "Terrestrial")})
        if event.get("skymap"):
            body["skymap_fits_url"] = skymap_url.format(graceid=graceid)
            body.update(skymap_fields(event["skymap"]))
    bodies = [body]
    coinc = record.get("external_coinc")
    if isinstance(coinc, dict):
        ext_type = f"{alert_type}-ExtCoinc"
        ext = {**body, "alert_type": ext_type, "packet_type": EXT_COINC_PACKET_TYPE,
               "gcn_notice_id": coinc.get("gcn_notice_id", -999), "ivorn": coinc.get("ivorn", ""),
               "ext_coinc_observatory": coinc.get("observatory", ""),
               "ext_coinc_search": coinc.get("search", ""),
               **{key: coinc.get(key, UNKNOWN_NUMBER) for key in
                  ("time_difference", "time_coincidence_far", "time_sky_position_coincidence_far")}}
        if coinc.get("combined_skymap"):
            ext.update(skymap_fields(coinc["combined_skymap"]))
        bodies.append(ext)
    return bodies


def icecube_body(record: dict) -> dict | None:
    """The ``post_icecube_notice`` body of an IceCube LVK track search notice (None without
    coincident events: the listener posts nothing then)."""
    notice = {"ref_ID": record.get("reference", {}).get("gcn.notices.LVK.alert", "error"),
              "graceid": record.get("ref_ID", "error")}
    for key in ("alert_datetime", "observation_start", "observation_stop"):
        notice[key] = record.get(key, UNKNOWN_TIME)
    for key in ("pval_generic", "pval_bayesian"):
        notice[key] = record.get(key) if record.get(key) not in (None, "null") else 0.0
    direction = record.get("most_probable_direction")
    if isinstance(direction, dict):
        notice["most_probable_direction_ra"] = direction.get("ra", -999)
        notice["most_probable_direction_dec"] = direction.get("dec", -999)
    sensitivity = record.get("neutrino_flux_sensitivity_range") or {}
    for key, names in (("flux_sensitivity", ("flux_sens_low", "flux_sens_high")),
                       ("sensitive_energy_range", ("sens_energy_range_low", "sens_energy_range_high"))):
        if isinstance(sensitivity.get(key), list) and len(sensitivity[key]) == 2:
            notice.update(zip(names, sensitivity[key]))
    events = []
    for event in record.get("coincident_events") or []:
        row = {"event_dt": event.get("event_dt", -999)}
        for key in ("event_pval_generic", "event_pval_bayesian"):
            row[key] = event.get(key) if event.get(key) not in (None, "null") else 0.0
        where = event.get("localization")
        if isinstance(where, dict):
            row.update({"ra": where.get("ra", -999), "dec": where.get("dec", -999),
                        "uncertainty_shape": "circle", "ra_uncertainty": where.get("ra_dec_error", -999),
                        "containment_probability": where.get("containment_probability", 0.0)})
        events.append(row)
    return {"icecube_notice": notice, "icecube_notice_coinc_events": events} if events else None


def galaxies_body(path, graceid: str, timesent: str, groupname: str, reference: str | None) -> dict:
    """The ``event_galaxies`` body from ``galaxies.ecsv`` (best first)."""
    from astropy.table import Table

    table = Table.read(path, format="ascii.ecsv")
    galaxies = [{"ra": float(row["ra_deg"]), "dec": float(row["dec_deg"]), "score": float(row["score"]),
                 "rank": rank, "name": str(row["name"]),
                 "info": {"Distance [Mpc]": float(row["distance_mpc"]),
                          "credible_level": float(row["credible_level"])}}
                for rank, row in enumerate(table)]
    return {"graceid": graceid, "timesent_stamp": timesent, "groupname": groupname,
            "reference": reference, "request_doi": False, "galaxies": galaxies}


def _is_icecube_lvk(record: dict) -> bool:
    """An IceCube LVK track search notice (its schema: ``.../LvkNuTrackSearch.schema.json``)."""
    return "lvknutracksearch" in str(record.get("$schema", "")).lower().replace("_", "")


@sink("treasuremap")
class TreasureMapSink(Sink):
    """Settings: ``url`` (API base, e.g. ``https://treasuremap.space/api/v1``), ``token_env``,
    ``observing_run``, ``skymap_url`` (template with ``{graceid}``), ``groupname`` and
    ``reference`` (of the galaxy list), ``galaxies_top_n`` (0: all)."""

    defaults = {"url": "https://treasuremap.space/api/v1", "token_env": "GWTM_API_TOKEN",
                "observing_run": "O4",
                "skymap_url": "https://gracedb.ligo.org/api/superevents/{graceid}/files/bayestar.fits.gz",
                "groupname": "skyspool", "reference": None, "galaxies_top_n": 0}

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        if entry.path.suffix not in (".json", ".avro"):
            return []
        try:
            record = read_alert(entry.path)
        except (ValueError, OSError):
            return []
        if _is_icecube_lvk(record):
            body = icecube_body(record)
            return [{"endpoint": "/post_icecube_notice", "json": body}] if body else []
        if entry.kind != "gw" or "superevent_id" not in record:
            return []
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        bodies = alert_bodies(record, self.settings["observing_run"], self.settings["skymap_url"], now)
        items = [{"endpoint": "/post_alert", "json": bodies[0]}]
        galaxies = self.spool.product(entry, "galaxies.ecsv")
        if galaxies.exists():
            body = galaxies_body(galaxies, bodies[0]["graceid"], bodies[0].get("timesent", UNKNOWN_TIME),
                                 self.settings["groupname"], self.settings["reference"])
            if self.settings["galaxies_top_n"]:
                body["galaxies"] = body["galaxies"][:self.settings["galaxies_top_n"]]
            items.append({"endpoint": "/event_galaxies", "replace": True, "json": body})
        items += [{"endpoint": "/post_alert", "json": body} for body in bodies[1:]]
        if bodies[0]["role"] == "test":
            items.append({"endpoint": "/del_test_alerts", "json": {}})
        return items

    def _token(self) -> str:
        token = os.environ.get(self.settings["token_env"] or "")
        if not token:
            raise RuntimeError(f"environment variable {self.settings['token_env']} (the API token) is not set")
        return token

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        import gwtm_api
        from gwtm_api.core import _client_factory as client

        token = self._token()
        sent = []
        with _CLIENT:
            gwtm_api.configure(api_token=token, base_url=self.settings["url"])
            for item in items:
                if item["endpoint"] == "/post_alert":
                    gwtm_api.Alert(kwdict=item["json"])  # the client's model: raises if off
                if item.get("replace"):
                    body = item["json"]
                    for old in client.get("/event_galaxies", params={"graceid": body["graceid"],
                                                                     "groupname": body["groupname"]}):
                        client.post("/remove_event_galaxies", json={"listid": old["listid"]})
                answer = client.post(item["endpoint"], json=item["json"])
                sent.append({**item, "response": json.dumps(answer)[:2000]})
        return sent
