"""Sample alerts made from installed packages' own data (for ``make demo`` and tests).

A real BAYESTAR localization of a pipeline candidate bundled with ligo.skymap
(``G197392``: LIGO-LW coinc with H1 and L1 triggers), with a design-sensitivity model
PSD in place of the bundled stub PSD, wrapped into IGWN alert JSON as GCN Kafka sends it.
"""

from __future__ import annotations

import base64
import datetime
import importlib.resources
import io
import json
import tempfile
from pathlib import Path

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


def _iso_from_gps(gps_time: float) -> str:
    from astropy.time import Time

    return Time(gps_time, format="gps").utc.isot[:23] + "Z"


def igwn_alert(superevent_id: str, alert_type: str, *, skymap: bytes | None, gps_time: float,
               instruments: list[str], far_hz: float, significant: bool = True,
               pipeline: str = "gstlal") -> dict:
    """An IGWN alert record (the ``igwn.gwalert`` JSON schema); a retraction when skymap is None."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = None if alert_type == "RETRACTION" else {
        "time": _iso_from_gps(gps_time), "far": far_hz, "significant": significant,
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


# ----- pipeline candidates (coinc.xml bundles) for the orchestrator's tests and benchmark -----

def model_psd(detectors=("H1", "L1")) -> bytes:
    """A LIGO-LW PSD file (gzipped) of design-sensitivity model PSDs."""
    from ligo.skymap.tool import bayestar_sample_model_psd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "psd.xml.gz"
        bayestar_sample_model_psd.main(["-o", str(path)]
                                       + [f"--{ifo}=aLIGOZeroDetHighPower" for ifo in detectors])
        return path.read_bytes()


def realize_coinc(*, gps_time: float, mass1: float, mass2: float, distance_mpc: float,
                  ra_rad: float, dec_rad: float, seed: int = 1, detectors=("H1", "L1")) -> bytes:
    """A coinc.xml.gz made by ``bayestar-realize-coincs`` from one injection (zero-noise SNRs)."""
    from igwn_ligolw import ligolw, lsctables
    from igwn_ligolw import utils as ligolw_utils
    from ligo.skymap.tool import bayestar_realize_coincs

    doc = ligolw.Document()
    doc.appendChild(ligolw.LIGO_LW())
    process = doc.register_process("skyspool", {})
    table = lsctables.SimInspiralTable.new()
    doc.childNodes[0].appendChild(table)
    row = table.RowType()
    for column in table.validcolumns:
        name = column.split(":")[-1]
        setattr(row, name, None if name in ("process_id", "simulation_id") else 0)
    row.process_id, row.simulation_id = process.process_id, 0
    row.waveform, row.source, row.numrel_data, row.taper = WAVEFORM, "", "", "TAPER_NONE"
    row.geocent_end_time, row.geocent_end_time_ns = int(gps_time), int(round(gps_time % 1 * 1e9))
    row.mass1, row.mass2, row.distance = mass1, mass2, distance_mpc
    row.longitude, row.latitude, row.inclination, row.f_lower = ra_rad, dec_rad, 0.3, 30.0
    row.mchirp = (mass1 * mass2) ** 0.6 / (mass1 + mass2) ** 0.2
    row.eta = mass1 * mass2 / (mass1 + mass2) ** 2
    table.append(row)
    with tempfile.TemporaryDirectory() as tmp:
        injections, psd, out = (Path(tmp) / name for name in ("inj.xml", "psd.xml.gz", "coinc.xml.gz"))
        ligolw_utils.write_filename(doc, str(injections))
        psd.write_bytes(model_psd(detectors))
        bayestar_realize_coincs.main([str(injections), "-o", str(out), "--reference-psd", str(psd),
                                      "--detector", *detectors, "--waveform", WAVEFORM,
                                      "--net-snr-threshold", "4", "--seed", str(seed),
                                      "--measurement-error", "zero-noise"])
        return out.read_bytes()


def candidate_bundle(coinc: bytes, psd: bytes, *, program: str | None = None,
                     gps_shift_s: float = 0.0, snr_scale: float = 1.0, far_hz: float | None = None,
                     meta: dict | None = None, p_astro: dict | None = None) -> bytes:
    """A tar bundle of a candidate as a pipeline would upload it: ``coinc.xml.gz`` (edited:
    another pipeline's ``program``, time shifted, SNRs scaled, FAR set), ``psd.xml.gz``, and
    optionally ``candidate.json`` and ``p_astro.json``."""
    import gzip
    import tarfile

    from igwn_ligolw import ligolw
    from igwn_ligolw import utils as ligolw_utils

    from skyspool.formats.coinc import _load_ligolw

    doc = _load_ligolw(coinc, "coinc.xml")
    shift_ns = int(round(gps_shift_s * 1e9))
    for name in ("sngl_inspiral", "coinc_inspiral"):
        for row in ligolw.Table.get_table(doc, name):
            total = row.end_time * 1_000_000_000 + row.end_time_ns + shift_ns
            row.end_time, row.end_time_ns = divmod(total, 1_000_000_000)
            row.snr = row.snr * snr_scale
            if name == "coinc_inspiral" and far_hz is not None:
                row.combined_far = far_hz
    if program:
        for row in ligolw.Table.get_table(doc, "process"):
            row.program = program
    buffer = io.BytesIO()
    ligolw_utils.write_fileobj(doc, buffer)
    files = {"coinc.xml.gz": gzip.compress(buffer.getvalue()), "psd.xml.gz": psd}
    if meta:
        files["candidate.json"] = json.dumps(meta).encode()
    if p_astro:
        files["pipeline.p_astro.json"] = json.dumps(p_astro).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
