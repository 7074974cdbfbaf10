"""Sample alerts made from installed packages' own data (for ``make demo`` and tests).

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
                     meta: dict | None = None, p_astro: dict | None = None,
                     ln_likelihood_ratio: float | None = None, ranking: bytes | None = None) -> bytes:
    """A tar bundle of a candidate as a pipeline would upload it: ``coinc.xml.gz`` (edited:
    another pipeline's ``program``, time shifted, SNRs scaled, FAR and ln L set),
    ``psd.xml.gz``, and optionally ``candidate.json``, ``p_astro.json`` and
    ``ranking_data.xml.gz`` (``ranking``)."""
    from igwn_ligolw import ligolw

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
    if ln_likelihood_ratio is not None:
        for row in ligolw.Table.get_table(doc, "coinc_event"):
            row.likelihood = ln_likelihood_ratio
    files = {"coinc.xml.gz": _gzipped_ligolw(doc), "psd.xml.gz": psd}
    if meta:
        files["candidate.json"] = json.dumps(meta).encode()
    if p_astro:
        files["pipeline.p_astro.json"] = json.dumps(p_astro).encode()
    if ranking:
        files["ranking_data.xml.gz"] = ranking
    return _tar(files)


def _gzipped_ligolw(doc) -> bytes:
    import gzip

    from igwn_ligolw import utils as ligolw_utils

    buffer = io.BytesIO()
    ligolw_utils.write_fileobj(doc, buffer)
    return gzip.compress(buffer.getvalue())


def _tar(files: dict[str, bytes]) -> bytes:
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def ranking_data(*, zero_lag_count: float = 1e8, livetime_s: tuple = (1128000000, 1130000000),
                 noise_peak: float = -20.0, bins: int = 1000, seed: int = 1) -> bytes:
    """A gstlal ``ranking_data.xml.gz``: the ranking statistic's (ln L) noise, signal and
    zero-lag histograms (``lal.rate`` BinnedLnPDFs on gstlal's ATanBins(0, 110, n)).

    Noise ln L follows a Gumbel law peaking at ``noise_peak`` with the exponential tail
    ``exp(-ln L)`` of real searches; signals fall as ``ln L^-2.5`` (SNR^-4 for sources
    uniform in volume, ln L ~ SNR^2/2); zero lag is a Poisson draw of
    ``zero_lag_count`` noise events over the segments ``livetime_s``.
    """
    import numpy as np
    from igwn_ligolw import ligolw
    from lal import rate

    from skyspool.formats.coinc import RANKING_STAT_PDF

    binning = rate.NDBins((rate.ATanBins(0.0, 110.0, bins),))
    lower, upper = binning[0].lower(), binning[0].upper()
    finite = np.isfinite(lower) & np.isfinite(upper)
    z = np.where(finite, binning[0].centres(), 0.0) - noise_peak
    width = np.where(finite, upper - lower, 0.0)
    noise = np.exp(-z - np.exp(np.minimum(-z, 700.0))) * width
    noise *= zero_lag_count / noise.sum()
    signal = (z ** 2 + 9.0) ** -1.25 * width
    zero_lag = np.random.default_rng(seed).poisson(noise).astype(float)
    doc = ligolw.Document()
    root = doc.appendChild(ligolw.LIGO_LW()).appendChild(ligolw.LIGO_LW({"Name": RANKING_STAT_PDF}))
    for name, counts in (("noise_lr_lnpdf", noise), ("signal_lr_lnpdf", signal / signal.sum()),
                         ("zero_lag_lr_lnpdf", zero_lag)):
        pdf = rate.BinnedLnPDF(binning)
        pdf.array[:] = counts
        pdf.normalize()
        root.appendChild(pdf.to_xml(name))
    root.appendChild(ligolw.Param.from_pyvalue("segments", "{}:{}".format(*livetime_s)))
    return _gzipped_ligolw(doc)


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


def burst_bundle(*, gps_time: float, duration_s: float, far_hz: float, snr: float = 12.0,
                 central_frequency_hz: float = 150.0, instruments=("H1", "L1"),
                 skymap: bytes | None = None, meta: dict | None = None) -> bytes:
    """A cWB candidate as uploaded: ``coinc.xml.gz`` with one ``multi_burst`` row (the burst
    starts ``duration_s / 2`` before its peak ``gps_time``) and its sky map ``cwb.multiorder.fits``."""
    from igwn_ligolw import ligolw, lsctables

    class MultiBurstTable(ligolw.Table):
        tableName = "multi_burst"
        validcolumns = {"process:process_id": "int_8s", "ifos": "lstring", "start_time": "int_4s",
                        "start_time_ns": "int_4s", "duration": "real_4", "peak_time": "int_4s",
                        "peak_time_ns": "int_4s", "central_freq": "real_4", "bandwidth": "real_4",
                        "snr": "real_4", "false_alarm_rate": "real_8",
                        "coinc_event:coinc_event_id": "int_8s"}

    doc = ligolw.Document()
    root = doc.appendChild(ligolw.LIGO_LW())
    process = doc.register_process("cwb", {})
    start = gps_time - duration_s / 2
    bursts = root.appendChild(MultiBurstTable.new())
    row = bursts.RowType()
    for name, value in {"process_id": process.process_id, "ifos": ",".join(instruments),
                        "start_time": int(start), "start_time_ns": int(round(start % 1 * 1e9)),
                        "duration": duration_s, "peak_time": int(gps_time),
                        "peak_time_ns": int(round(gps_time % 1 * 1e9)),
                        "central_freq": central_frequency_hz, "bandwidth": 50.0, "snr": snr,
                        "false_alarm_rate": far_hz, "coinc_event_id": 0}.items():
        setattr(row, name, value)
    bursts.append(row)
    events = root.appendChild(lsctables.CoincTable.new())
    events.append(events.RowType(process_id=process.process_id, coinc_event_id=0, coinc_def_id=0,
                                 instruments=",".join(instruments), nevents=len(instruments),
                                 time_slide_id=0, likelihood=None))
    files = {"coinc.xml.gz": _gzipped_ligolw(doc),
             "cwb.multiorder.fits": skymap or gaussian_skymap(120.0, -30.0, 10.0, nside=16)}
    if meta:
        files["candidate.json"] = json.dumps(meta).encode()
    return _tar(files)
