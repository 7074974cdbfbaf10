"""Products of a GCN notice entry: one function per product, paths in, file out (atomic).

What the rules of ``workflow/rules/notices.smk`` call, for
``products/<kind>/<trigger_id>/<NNN>-<notice_type>/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from skyspool import atomic, plots
from skyspool import skymap as sm
from skyspool.notices import maps, read_notice
from skyspool.times import gps_from_utc, iso_utc


def write_notice_json(notice_path: str, output: str) -> None:
    """Every parsed fact of the notice, normalised (``Notice.as_dict``)."""
    atomic.write_json(output, read_notice(notice_path).as_dict())


def write_skymap(notice_path: str, output: str, notice_config: dict) -> None:
    """The notice's own multi-order map, else the one built from its position and error."""
    from ligo.skymap.io import write_sky_map

    notice = read_notice(notice_path)
    table = maps.notice_skymap(notice)
    if table is None:
        raise ValueError(f"{notice.trigger_id} {notice.notice_type}: no position to map")
    with atomic.atomic_path(output) as tmp:
        write_sky_map(str(tmp), table, moc=True, objid=notice.trigger_id,
                      instruments=[f"{notice.mission}-{notice.instrument}"],
                      gps_time=gps_from_utc(notice.trigger_time), origin="skyspool")


def stats_dict(notice_path: str, skymap_path: str | None) -> dict:
    """Position, error, areas (deg2), time and trigger facts of a notice."""
    notice = read_notice(notice_path)
    stats = {"trigger_id": notice.trigger_id, "notice_type": notice.notice_type, "kind": notice.kind,
             "role": notice.role, "mission": notice.mission, "instrument": notice.instrument,
             "packet_type": notice.packet_type, "trigger_time": iso_utc(notice.trigger_time),
             "ra_deg": notice.ra_deg, "dec_deg": notice.dec_deg,
             "error_radius_deg": notice.error_radius_deg, "error_containment": notice.error_containment,
             "systematic_included": notice.systematic_included, "far_hz": notice.far_hz,
             "retraction": notice.retraction, "gw_superevent": notice.gw_superevent,
             "area50_deg2": None, "area90_deg2": None, "skymap_source": maps.skymap_source(notice),
             "error_ellipse_deg": notice.error_ellipse and list(notice.error_ellipse),
             "error_rectangle_deg": notice.error_rectangle and [list(c) for c in notice.error_rectangle]}
    if skymap_path:
        table = sm.read_multiorder(skymap_path)
        stats["area50_deg2"], stats["area90_deg2"] = sm.credible_areas_deg2(table)
        stats["map_ra_deg"], stats["map_dec_deg"] = sm.most_probable_position_deg(table)
    if notice.coincident_neutrinos:
        stats["coincident_neutrinos"] = [dict(vars(nu)) for nu in notice.coincident_neutrinos]
        stats["pval_generic"] = notice.facts.get("pval_generic")
        stats["pval_bayesian"] = notice.facts.get("pval_bayesian")
    return stats


def write_stats(notice_path: str, skymap_path: str | None, output: str) -> None:
    atomic.write_json(output, stats_dict(notice_path, skymap_path))


def write_moc(skymap_path: str, output: str, level_percent: float) -> None:
    """IVOA MOC FITS of the ``level_percent`` credible region."""
    _save_moc(sm.credible_moc(sm.read_multiorder(skymap_path), level_percent / 100), output)


def write_skymap_png(skymap_path: str, stats_path: str, output: str, nside: int) -> None:
    stats = json.loads(Path(stats_path).read_text())
    error = (f"error {stats['error_radius_deg']:.3g} deg ({100 * stats['error_containment']:.0f}%)"
             if stats["error_radius_deg"] else "")
    annotation = (f"{stats['trigger_time']}   {error}\n"
                  f"50%: {stats['area50_deg2']:.3g} deg2   90%: {stats['area90_deg2']:.3g} deg2")
    position = (stats["ra_deg"], stats["dec_deg"]) if stats["ra_deg"] is not None else None
    figure = plots.allsky_figure(
        sm.read_multiorder(skymap_path), nside=nside, annotation=annotation, position_deg=position,
        title=f"{stats['mission']} {stats['instrument']} {stats['trigger_id']} {stats['notice_type']}")
    with atomic.atomic_path(output) as tmp:
        figure.savefig(tmp, format="png")


def write_earth_moc(notice_path: str, output: str) -> None:
    """MOC of the sky the Earth hides from the spacecraft at trigger time."""
    _save_moc(maps.earth_occultation_moc(read_notice(notice_path)), output)


def write_lat_fov_moc(notice_path: str, output: str, radius_deg: float) -> None:
    """MOC of the Fermi-LAT field of view at trigger time (boresight at zenith)."""
    _save_moc(maps.lat_fov_moc(read_notice(notice_path), radius_deg), output)


def _save_moc(region, output: str) -> None:
    if region is None:
        raise ValueError("no spacecraft position in a low-Earth orbit in this notice")
    with atomic.atomic_path(output) as tmp:
        region.save(str(tmp), format="fits", overwrite=True)
