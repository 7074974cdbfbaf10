"""Sample alerts made from installed packages' own data (for ``make demo``, the daemon's warm-up
and tests; the tests' pipeline-candidate bundles are in tests/gwcand_samples.py).

A real BAYESTAR localization of a pipeline candidate bundled with ligo.skymap
(``G197392``: LIGO-LW coinc with H1 and L1 triggers), with a design-sensitivity model
PSD in place of the bundled stub PSD, wrapped into IGWN alert JSON as GCN Kafka sends it.
"""

from __future__ import annotations

import base64
import importlib.resources
import io
import json
import tempfile
from pathlib import Path

from skyspool import times

CANDIDATE = "G197392"
# The bundled template bank names a waveform whose data files are not installed.
WAVEFORM = "TaylorF2threePointFivePN"


def candidate_files(name: str = CANDIDATE) -> tuple[Path, Path]:
    """(coinc.xml.gz, psd.xml.gz) of a candidate bundled with ligo.skymap."""
    data = importlib.resources.files("ligo.skymap.io.tests") / "data"
    return Path(str(data / f"{name}_coinc.xml.gz")), Path(str(data / f"{name}_psd.xml.gz"))


def bayestar_skymap(coinc_path: Path) -> tuple[bytes, dict]:
    """Localize the candidate with BAYESTAR; returns (multi-order FITS bytes, map metadata)."""
    from ligo.skymap.bayestar import localize
    from ligo.skymap.io import events, write_sky_map
    from ligo.skymap.tool import bayestar_sample_model_psd

    with tempfile.TemporaryDirectory() as tmp:
        psd_path = Path(tmp) / "psd.xml.gz"
        bayestar_sample_model_psd.main(["-o", str(psd_path), "--H1=aLIGOZeroDetHighPower",
                                        "--L1=aLIGOZeroDetHighPower"])
        source = events.ligolw.open(str(coinc_path), psd_file=str(psd_path), coinc_def=None)
        event = next(iter(source.values()))
        skymap = localize(event, waveform=WAVEFORM)
    buffer = io.BytesIO()
    write_sky_map(buffer, skymap, moc=True)
    return buffer.getvalue(), dict(skymap.meta)


def igwn_alert(superevent_id: str, alert_type: str, *, skymap: bytes | None, gps_time: float,
               instruments: list[str], far_hz: float, significant: bool = True,
               pipeline: str = "gstlal") -> dict:
    """An IGWN alert record (the ``igwn.gwalert`` JSON schema); a retraction when skymap is None."""
    now = times.iso_now()
    event = None if alert_type == "RETRACTION" else {
        "time": times.iso_from_gps(gps_time), "far": far_hz, "significant": significant,
        "instruments": sorted(instruments), "group": "CBC", "pipeline": pipeline,
        "search": "AllSky",
        "properties": {"HasNS": 0.98, "HasRemnant": 0.87, "HasMassGap": 0.01},
        "classification": {"BNS": 0.93, "NSBH": 0.04, "BBH": 0.0, "Terrestrial": 0.03},
        "duration": None, "central_frequency": None,
        "skymap": base64.b64encode(skymap).decode()}
    return {"alert_type": alert_type, "time_created": now, "superevent_id": superevent_id,
            "urls": {"gracedb": f"https://gracedb.invalid/superevents/{superevent_id}/view/"},
            "event": event, "external_coinc": None}


def write_sample_alerts(outdir: Path) -> list[Path]:
    """Write a preliminary, a less-significant and a retraction alert made from a real
    BAYESTAR map into ``outdir`` (the BAYESTAR run is skipped when they exist)."""
    outdir.mkdir(parents=True, exist_ok=True)
    names = ["S151012a-preliminary.json", "S151012b-preliminary.json", "S151012a-retraction.json"]
    paths = [outdir / name for name in names]
    if all(path.exists() for path in paths):
        return paths
    skymap, meta = bayestar_skymap(candidate_files()[0])
    facts = {"skymap": skymap, "gps_time": meta["gps_time"], "instruments": sorted(meta["instruments"])}
    records = [igwn_alert("S151012a", "PRELIMINARY", far_hz=3.2e-10, **facts),
               igwn_alert("S151012b", "PRELIMINARY", far_hz=1.1e-6, significant=False, **facts),
               igwn_alert("S151012a", "RETRACTION", far_hz=0.0, **{**facts, "skymap": None})]
    for path, record in zip(paths, records):
        path.write_text(json.dumps(record))
    return paths


def gaussian_skymap(ra_deg: float, dec_deg: float, sigma_deg: float, nside: int = 64) -> bytes:
    """A multi-order FITS sky map: a Gaussian blob (``sigma_deg``) around (ra, dec)."""
    import astropy_healpix as ah
    import numpy as np
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import Table
    from ligo.skymap.io import write_sky_map

    level = int(np.log2(nside))
    ipix = np.arange(ah.nside_to_npix(nside))
    lon, lat = ah.healpix_to_lonlat(ipix, nside, order="nested")
    separation = SkyCoord(lon, lat).separation(SkyCoord(ra_deg * u.deg, dec_deg * u.deg)).deg
    prob = np.exp(-0.5 * (separation / sigma_deg) ** 2)
    density = prob / prob.sum() / ah.nside_to_pixel_area(nside).to_value(u.sr)
    table = Table({"UNIQ": ipix + 4 * 4 ** level, "PROBDENSITY": density})
    buffer = io.BytesIO()
    write_sky_map(buffer, table, moc=True)
    return buffer.getvalue()
