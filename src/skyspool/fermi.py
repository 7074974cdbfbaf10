"""Fermi visibility of a GW alert: the sky the Earth hides from Fermi GBM and the Fermi-LAT
field of view at the event time, and the fraction of the GW probability in each.

Where Fermi was and where it pointed comes from, in order:

1. a Fermi FT2 spacecraft file (the mission's format: FITS table ``SC_DATA`` with ``START``,
   ``STOP`` in mission elapsed time (MET, s), ``SC_POSITION`` (m, Earth-centred J2000) and
   the LAT boresight ``RA_SCZ``, ``DEC_SCZ`` (deg); MET's origin from the header's
   ``MJDREFI``/``MJDREFF``, ``TIMESYS``) in the configured folder covering the event time: the
   row holding it, the position interpolated linearly to the time;
2. else the spool's Fermi GBM notice nearest in time (live: the latest) that carries the
   spacecraft position (its trigger time, not the event's: ``fermi_time`` says which), the LAT
   boresight then at the spacecraft zenith, as for GBM notices.

The products say which (``source``). Angles in degrees, distances in km, times UTC ISO.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from pathlib import Path

import numpy as np

from skyspool.times import parse_utc

FT2_EXTENSION = "SC_DATA"


@dataclasses.dataclass(frozen=True)
class FermiState:
    """Fermi at one time: unit vector Earth -> spacecraft (ICRS), distance (km), LAT
    boresight (deg), and where this came from."""

    zenith: tuple[float, float, float]
    distance_km: float
    boresight_ra_deg: float
    boresight_dec_deg: float
    source: str      # "ft2" or "gbm_notice"
    origin: str      # the FT2 file name, or the notice's spool entry
    time: str        # the time the state is for (UTC ISO)

    def occultation_radius_deg(self) -> float:
        from skyspool.notices.maps import EARTH_RADIUS_KM

        return math.degrees(math.asin(min(1.0, EARTH_RADIUS_KM / self.distance_km)))


@functools.lru_cache(maxsize=64)
def _ft2_table(path: Path, mtime_ns: int):
    """(MET start, MET stop, positions (m), RA_SCZ, DEC_SCZ, MET origin) of an FT2 file."""
    from astropy.io import fits
    from astropy.time import Time

    with fits.open(path, memmap=False) as hdus:
        table = hdus[FT2_EXTENSION]
        data, header = table.data, table.header
        origin = Time(header["MJDREFI"] + header["MJDREFF"], format="mjd",
                      scale=header.get("TIMESYS", "TT").lower())
        return (np.asarray(data["START"], float), np.asarray(data["STOP"], float),
                np.asarray(data["SC_POSITION"], float), np.asarray(data["RA_SCZ"], float),
                np.asarray(data["DEC_SCZ"], float), origin)


def _ft2_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and ".fit" in p.name.lower())


def from_ft2(folder: str | Path, when: dt.datetime) -> FermiState | None:
    """Fermi at ``when`` from an FT2 file of ``folder`` covering it, else None."""
    from astropy import units as u
    from astropy.time import Time

    folder = Path(folder)
    if not folder.is_dir():
        return None
    for path in _ft2_files(folder):
        try:
            start, stop, position, ra_scz, dec_scz, origin = _ft2_table(path, path.stat().st_mtime_ns)
        except (OSError, KeyError, ValueError):
            continue  # not an FT2 file
        met = (Time(when) - origin).to_value(u.s)
        row = int(np.searchsorted(start, met, side="right")) - 1
        if row < 0 or met >= stop[row]:
            continue
        here = position[row]
        if row + 1 < len(start) and start[row + 1] > start[row]:
            fraction = (met - start[row]) / (start[row + 1] - start[row])
            here = here + fraction * (position[row + 1] - here)
        distance_km = float(np.linalg.norm(here)) / 1000
        zenith = tuple(float(x) for x in here / np.linalg.norm(here))
        return FermiState(zenith, distance_km, float(ra_scz[row]), float(dec_scz[row]), "ft2",
                          path.name, when.isoformat())
    return None


def from_gbm_notice(spool, when: dt.datetime) -> FermiState | None:
    """Fermi from the spool's Fermi GBM notice nearest in time to ``when`` that carries the
    spacecraft position (live: the latest one), else None."""
    from skyspool.notices import maps, read_notice

    best = None
    for entry in spool.entries("grb"):
        try:
            notice = read_notice(entry.path)
        except Exception:  # not a notice this reader knows: not a GBM notice either
            continue
        found = maps.spacecraft_direction(notice) if notice.mission == "Fermi" else None
        offset = abs((notice.trigger_time - when).total_seconds())
        if found is not None and (best is None or offset < best[0]):
            best = (offset, notice, found, entry)
    if best is None:
        return None
    _, notice, (zenith, distance_km), entry = best
    ra, dec = _radec(zenith)
    return FermiState(tuple(float(x) for x in zenith), float(distance_km), ra, dec, "gbm_notice",
                      f"{entry.kind}/{entry.event_id}/{entry.name}", notice.trigger_time.isoformat())


def _radec(vector) -> tuple[float, float]:
    x, y, z = vector
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, z))))


def fermi_state(spool, config: dict, when: dt.datetime) -> FermiState | None:
    """Fermi at ``when``: from an FT2 file of ``fermi.ft2_folder``, else the nearest GBM notice."""
    folder = config["fermi"]["ft2_folder"]
    found = from_ft2(Path(spool.root) / folder, when) if folder else None  # absolute stays so
    return found or from_gbm_notice(spool, when)


def occultation_moc(state: FermiState, max_depth: int = 9):
    """MOC of the sky the Earth hides from Fermi GBM."""
    from skyspool.notices.maps import _cone_moc

    return _cone_moc(-np.asarray(state.zenith), state.occultation_radius_deg(), max_depth)


def lat_fov_moc(state: FermiState, radius_deg: float, max_depth: int = 9):
    """MOC of the Fermi-LAT field of view (a cone around the boresight)."""
    from astropy import units as u
    from astropy.coordinates import Latitude, Longitude
    from mocpy import MOC

    return MOC.from_cone(Longitude(state.boresight_ra_deg * u.deg), Latitude(state.boresight_dec_deg * u.deg),
                         radius=radius_deg * u.deg, max_depth=max_depth)


def probability_in(moc, skymap) -> float:
    """Fraction of a multi-order sky map's probability inside ``moc`` (0-1; cells partly
    inside count by the area inside)."""
    return float(moc.probability_in_multiordermap(skymap))


def visibility(spool, config: dict, when: dt.datetime, skymap) -> tuple[dict, object, object] | None:
    """``(stats, occultation MOC, LAT MOC)`` for a GW sky map at ``when``, or None when no FT2
    file nor GBM notice tells where Fermi was. ``stats``: ``fermi_source``, ``fermi_origin``,
    ``fermi_time``, ``fermi_occulted_prob`` (0-1: the GW probability GBM cannot see),
    ``lat_fov_prob`` (0-1)."""
    state = fermi_state(spool, config, when)
    if state is None:
        return None
    occulted = occultation_moc(state)
    lat = lat_fov_moc(state, config["fermi"]["lat_fov_radius_deg"])
    stats = {"fermi_source": state.source, "fermi_origin": state.origin, "fermi_time": state.time,
             "fermi_occulted_prob": probability_in(occulted, skymap),
             "lat_fov_prob": probability_in(lat, skymap)}
    return stats, occulted, lat


def _empty_moc(max_depth: int = 9):
    from mocpy import MOC

    return MOC.new_empty(max_depth)


def _save(moc, output: str) -> None:
    from skyspool import atomic

    with atomic.atomic_path(output) as tmp:
        moc.save(str(tmp), format="fits", overwrite=True)


def _event_time(alert_path: str) -> dt.datetime:
    from skyspool.formats.gwalert import read_alert

    return parse_utc(read_alert(alert_path).event["time"])


def write_stats(spool, config: dict, alert_path: str, multiorder_path: str, output: str) -> None:
    """stats.json (the GW statistics) with, when ``fermi.enabled``, the Fermi visibility
    fields added (null when no FT2 file nor GBM notice tells where Fermi was)."""
    from skyspool import atomic
    from skyspool import skymap as sm
    from skyspool.gw import products as gw

    if not config["fermi"]["enabled"]:
        return gw.write_stats(alert_path, multiorder_path, output)

    alert, skymap = gw.read_alert(alert_path), sm.read_multiorder(multiorder_path)
    stats = gw.stats_dict(alert, skymap)
    found = visibility(spool, config, parse_utc(alert.event["time"]), skymap)
    stats.update(found[0] if found else dict.fromkeys(
        ("fermi_source", "fermi_origin", "fermi_time", "fermi_occulted_prob", "lat_fov_prob")))
    atomic.write_json(output, stats)


def write_mocs(spool, config: dict, alert_path: str, multiorder_path: str, occultation_output: str,
               lat_output: str) -> None:
    """``fermi_occultation.moc.fits`` and ``lat_fov.moc.fits`` (empty MOCs when no FT2 file
    nor GBM notice tells where Fermi was: stats.json says so)."""
    from skyspool import skymap as sm

    found = visibility(spool, config, _event_time(alert_path), sm.read_multiorder(multiorder_path))
    _save(found[1] if found else _empty_moc(), occultation_output)
    _save(found[2] if found else _empty_moc(), lat_output)
