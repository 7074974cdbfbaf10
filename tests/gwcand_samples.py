"""GW pipeline candidates for the tests and benchmarks/bench_pipeline.py: coinc.xml upload bundles as
pipelines send them (edited copies of ligo.skymap's bundled G197392, or injections realized by
``bayestar-realize-coincs``), model PSDs, gstlal ranking data and cWB burst bundles.

Test fixtures, so not in the installed package; the sample alerts of ``make demo`` and the daemon's
warm-up stay in :mod:`skyspool.samples` (re-exported here: ``candidate_files``, ``gaussian_skymap``).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from skyspool.samples import WAVEFORM, candidate_files, gaussian_skymap

__all__ = ["WAVEFORM", "burst_bundle", "candidate_bundle", "candidate_files", "gaussian_skymap", "model_psd",
           "ranking_data", "realize_coinc"]


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
