"""GW alert products: one function per product, paths in, file out (written atomically).

These are what the Snakemake rules of ``workflow/rules/gw.smk`` call.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from skyspool import atomic, coincidence, plots
from skyspool import skymap as sm
from skyspool.formats.gwalert import GWAlert, read_alert
from skyspool.gw import notice

# Level 1 writes a flat nside-512 map 3 times faster than the default for a 60% larger file.
FLAT_GZIP_LEVEL = 1
# zlib's window bits for a gzip (not zlib) container.
GZIP_WBITS = 16 + zlib.MAX_WBITS
# Pixels per FITS table row of the flat map, as healpy writes maps (TFORM '1024D'); readers
# (healpy, ligo.skymap, astropy) flatten the rows back. Whole rows let the data be written as
# one big-endian copy: astropy's row-by-row table writer takes ~1 s per nside-512 map.
FLAT_PIXELS_PER_ROW = 1024
FITS_BLOCK_BYTES = 2880


def _read_json(path: str | Path | None) -> dict | None:
    return json.loads(Path(path).read_text()) if path else None


def _optional(inputs, name: str) -> str | None:
    """The path of an optional named input (an input function gives [] when absent)."""
    paths = getattr(inputs, name, None) or []
    return paths[0] if paths else None


def write_multiorder(alert_path: str, output: str) -> None:
    """The sky map exactly as received (multi-order FITS bytes)."""
    alert = read_alert(alert_path)
    if alert.skymap is None:
        raise ValueError(f"{alert.superevent_id} {alert.alert_type}: alert has no sky map")
    atomic.write_bytes(output, alert.skymap)


def flat_fits_parts(flat, nside: int) -> list:
    """A flat NESTED map (PROB[, DISTMU, DISTSIGMA, DISTNORM] columns) as HEALPix FITS: the
    file's bytes in parts (headers, the table's rows without a copy, padding).

    The header is what ``ligo.skymap.io.write_sky_map`` writes (HEALPix keys, the event
    metadata of ``flat.meta`` through its FITS_META_MAPPING, HISTORY), less the source
    map's ``MOC = T``, which would be wrong here.
    """
    from astropy.io import fits
    from ligo.skymap.io.fits import DEFAULT_NESTED_NAMES, DEFAULT_NESTED_UNITS, FITS_META_MAPPING

    units = dict(zip(DEFAULT_NESTED_NAMES, DEFAULT_NESTED_UNITS))
    names_units = [(name, units[name]) for name in flat.colnames]
    per_row = min(FLAT_PIXELS_PER_ROW, len(flat))  # nside < 16 has fewer pixels than a row
    rows = np.empty(len(flat) // per_row, dtype=[(name, ">f8", (per_row,)) for name, _ in names_units])
    for name, _ in names_units:
        rows[name] = np.asarray(flat[name]).reshape(-1, per_row)
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=name, format=f"{per_row}D", unit=unit.to_string("fits"))
         for name, unit in names_units], nrows=0)
    table.header["NAXIS2"] = len(rows)
    table.header.extend([
        ("PIXTYPE", "HEALPIX", "HEALPIX pixelisation"),
        ("ORDERING", "NESTED", "Pixel ordering scheme: RING, NESTED, or NUNIQ"),
        ("COORDSYS", "C", "Ecliptic, Galactic or Celestial (equatorial)"),
        ("NSIDE", nside, "Resolution parameter of HEALPIX"),
        ("INDXSCHM", "IMPLICIT", "Indexing: IMPLICIT or EXPLICIT")])
    table.header.extend([(fits_key, to_fits(flat.meta[key]), comment)
                         for key, fits_key, comment, to_fits, _ in FITS_META_MAPPING
                         if to_fits is not None and key in flat.meta])
    for line in flat.meta.get("HISTORY", []):
        table.header.add_history(line)
    data = memoryview(rows).cast("B")
    padding = b"\0" * (-len(data) % FITS_BLOCK_BYTES)
    return [fits.PrimaryHDU().header.tostring().encode("ascii"),
            table.header.tostring().encode("ascii"), data, padding]


def write_flat(multiorder_path: str, output: str, nside: int) -> None:
    """The map flattened to one resolution (NESTED, ``nside``), gzipped FITS."""
    flat = sm.flatten(sm.read_multiorder(multiorder_path), nside)
    # A gzip stream without a time stamp: the same map always gives the same bytes.
    compressor = zlib.compressobj(FLAT_GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
    atomic.write_bytes(output, b"".join([*map(compressor.compress, flat_fits_parts(flat, nside)),
                                         compressor.flush()]))


def stats_dict(alert: GWAlert, skymap) -> dict:
    """The content of ``stats.json``: the map's summary and the alert's key facts."""
    event = alert.event
    return {"event_id": alert.superevent_id, "alert_type": alert.alert_type,
            **sm.summary(skymap),
            "far_hz": event["far"], "significant": event["significant"],
            "instruments": event["instruments"], "group": event["group"],
            "pipeline": event["pipeline"], "event_time": event["time"],
            "skymap_pixels": len(skymap)}


def write_stats(alert_path: str, multiorder_path: str, output: str) -> None:
    atomic.write_json(output, stats_dict(read_alert(alert_path), sm.read_multiorder(multiorder_path)))


def write_contours(multiorder_path: str, output: str, levels_percent, max_nside: int,
                   min_pixels: int) -> None:
    """Credible contours (GeoJSON), each traced along its region's own pixels (see
    :func:`skyspool.skymap.contours_geojson`)."""
    geojson = sm.contours_geojson(sm.read_multiorder(multiorder_path), tuple(levels_percent),
                                  max_nside, min_pixels)
    atomic.write_json(output, geojson)


def write_moc(multiorder_path: str, output: str, level_percent: float) -> None:
    """IVOA MOC FITS of the ``level_percent`` credible region."""
    credible = sm.credible_moc(sm.read_multiorder(multiorder_path), level_percent / 100)
    with atomic.atomic_path(output) as tmp:
        credible.save(str(tmp), format="fits", overwrite=True)


def write_skymap_png(multiorder_path: str, stats_path: str, output: str, nside: int) -> None:
    stats = _read_json(stats_path)
    annotation = (f"50%: {stats['area50_deg2']:.0f} deg2   90%: {stats['area90_deg2']:.0f} deg2"
                  + (f"   distance: {stats['distmean_mpc']:.0f} +/- {stats['diststd_mpc']:.0f} Mpc"
                     if stats["distmean_mpc"] is not None else "")
                  + f"\nFAR {stats['far_hz']:.2e} Hz   {', '.join(stats['instruments'])}   "
                  + ("significant" if stats["significant"] else "LOW SIGNIFICANCE"))
    figure = plots.allsky_figure(
        sm.read_multiorder(multiorder_path), nside=nside,
        title=f"{stats['event_id']} {stats['alert_type']} ({stats['pipeline']})",
        annotation=annotation, position_deg=(stats["ra_deg"], stats["dec_deg"]))
    with atomic.atomic_path(output) as tmp:
        figure.savefig(tmp, format="png")


def write_volume_png(multiorder_path: str, stats_path: str, output: str) -> None:
    stats = _read_json(stats_path)
    figure = plots.volume_figure(sm.read_multiorder(multiorder_path),
                                 title=f"{stats['event_id']} {stats['alert_type']}")
    with atomic.atomic_path(output) as tmp:
        figure.savefig(tmp, format="png")


def classification_dict(alert: GWAlert) -> dict:
    """Source classification as the alert gives it (p_astro classes and source properties)."""
    event = alert.event or {}
    return {"event_id": alert.superevent_id, "alert_type": alert.alert_type,
            "method": "as received in the alert", "group": event.get("group"),
            "p_astro": event.get("classification") or {},
            "properties": event.get("properties") or {},
            "significant": event.get("significant")}


def write_classification(alert_path: str, output: str) -> None:
    atomic.write_json(output, classification_dict(read_alert(alert_path)))


def write_galaxies(multiorder_path: str, output: str, galaxy_config: dict, threads: int = 2) -> None:
    """Galaxies inside the credible volume, ranked and capped (see :func:`skyspool.galaxies.galaxy_list`),
    read and scored by ``threads`` threads."""
    from skyspool import galaxies

    table = galaxies.galaxy_list(multiorder_path, galaxy_config["catalog"],
                                 credible_level=galaxy_config["credible_level"] / 100,
                                 weight_column=galaxy_config["weight"],
                                 max_rows=galaxy_config["max_rows"],
                                 max_cumulative_probability=galaxy_config["cumulative_probability"] / 100,
                                 fold_distance_error=galaxy_config["fold_distance_error"], threads=threads)
    galaxies.write_galaxies_ecsv(table, output)


def _top_galaxies(galaxies_path: str, top_n: int) -> dict:
    from astropy.table import Table

    from skyspool import galaxies

    return {"galaxies": galaxies.notice_galaxies(Table.read(galaxies_path, format="ascii.ecsv"),
                                                 top_n)}


def write_notice_json(inputs, output: str, sequence: int, galaxy_top_n: int) -> None:
    """``inputs``: ``alert``, and optionally ``stats``, ``coincidences``, ``galaxies``."""
    coincidences_path, galaxies_path = _optional(inputs, "coincidences"), _optional(inputs, "galaxies")
    extra = coincidence.notice_extra(coincidences_path) if coincidences_path else {}
    if galaxies_path:
        extra.update(_top_galaxies(galaxies_path, galaxy_top_n))
    atomic.write_json(output, notice.notice_dict(read_alert(inputs.alert), sequence,
                                                 _read_json(_optional(inputs, "stats")), extra))


def write_notice_xml(inputs, output: str, sequence: int, voevent_config: dict, role: str) -> None:
    """``inputs``: ``alert``, and optionally ``stats``."""
    xml = notice.notice_voevent(read_alert(inputs.alert), sequence,
                                _read_json(_optional(inputs, "stats")),
                                stream=voevent_config["stream"],
                                author_ivorn=voevent_config["author_ivorn"],
                                contact_name=voevent_config["contact_name"], role=role)
    atomic.write_text(output, xml)


def write_circular(inputs, output: str) -> None:
    """``inputs``: ``alert``, and optionally ``stats`` and ``coincidences``."""
    coincidences_path = _optional(inputs, "coincidences")
    lines_after = coincidence.circular_lines(coincidences_path) if coincidences_path else None
    atomic.write_text(output, notice.circular_text(read_alert(inputs.alert),
                                                   _read_json(_optional(inputs, "stats")),
                                                   lines_after=lines_after))
