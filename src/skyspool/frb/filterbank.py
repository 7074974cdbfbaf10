"""Filterbank (SIGPROC ``.fil``) cut-outs of triggers: dedispersed frequency-time and DM-time views,
as DARC's offline processing makes them. Reading, writing, dedispersion and DM-time are the
``your`` package's (its numba import costs about 2 s, so it is imported only here, on use).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


class FilterbankError(ValueError):
    """A filterbank file that cannot be read or a trigger outside it; one-line reason."""


@dataclass(frozen=True)
class TriggerViews:
    """Data around one trigger: ``freq_time`` (nchan, ntime), dedispersed at the trigger's DM;
    ``dm_time`` (ndm, ntime); their axes ``freqs_mhz``, ``times_s`` (from the file start) and
    ``dms`` (pc cm^-3); and the DM and time of the DM-time maximum."""

    freq_time: np.ndarray
    dm_time: np.ndarray
    freqs_mhz: np.ndarray
    times_s: np.ndarray
    dms: np.ndarray
    best_dm: float
    best_time_s: float


def write_filterbank(path: str | os.PathLike, data: np.ndarray, *, fch1_mhz: float, foff_mhz: float,
                     tsamp_s: float, tstart_mjd: float, source_name: str = "skyspool") -> None:
    """Write ``data`` (nsamp, nchan; uint8) as an 8-bit SIGPROC filterbank; channel 0 is
    ``fch1_mhz``, channels step by ``foff_mhz`` (negative: descending), samples by ``tsamp_s``."""
    from your.formats.filwriter import make_sigproc_object

    data = np.asarray(data)
    if data.ndim != 2 or data.dtype != np.uint8:
        raise FilterbankError("filterbank data must be a 2-D uint8 array (nsamp, nchan)")
    sig = make_sigproc_object(rawdatafile=os.path.basename(path)[:80], source_name=source_name, nchans=data.shape[1],
                              foff=foff_mhz, fch1=fch1_mhz, tsamp=tsamp_s, tstart=tstart_mjd, nbits=8)
    sig.write_header(str(path))
    sig.append_spectra(data, str(path))


def trigger_views(path: str | os.PathLike, *, dm: float, time_s: float, width_samples: int,
                  snr: float = 0.0, dm_steps: int = 256, channels: int = 64) -> TriggerViews:
    """Cut the data of a trigger (DM pc cm^-3, arrival ``time_s`` at the top of the band in seconds
    from the file start, boxcar width in the file's samples) out of a filterbank file, dedisperse it
    and compute DM-time over DM 0 to 2 x ``dm`` in ``dm_steps`` steps. Time is averaged to about half
    the width and frequency to ``channels`` channels for viewing (both as DARC)."""
    from your.candidate import Candidate

    try:
        cand = Candidate(fp=str(path), dm=float(dm), tcand=float(time_s), width=int(width_samples),
                         snr=float(snr))
    except Exception as exc:
        raise FilterbankError(f"cannot read filterbank {os.path.basename(path)}: {exc}") from None
    duration = cand.your_header.nspectra * cand.your_header.native_tsamp
    if not 0 <= time_s <= duration:
        raise FilterbankError(f"trigger time {time_s:.3f} s lies outside the filterbank (0-{duration:.3f} s)")
    cand.get_chunk()
    cand.dedisperse()
    cand.dmtime(dmsteps=dm_steps)
    dms = cand.dm + np.linspace(-cand.dm, cand.dm, dm_steps)  # your's DM-time grid
    factor = max(1, int(width_samples) // 2)
    cand.decimate(key="ft", decimate_factor=factor, axis=0, pad=True, mode="median")
    cand.decimate(key="dmt", decimate_factor=factor, axis=1, pad=True, mode="median")
    nchan = cand.dedispersed.shape[1]
    if nchan % channels == 0 and nchan > channels:
        cand.decimate(key="ft", decimate_factor=nchan // channels, axis=1)
    ntime = cand.dmt.shape[1]
    # get_chunk centres the trigger in the cut-out; times are relative to the file start.
    times = time_s + (np.arange(ntime) - ntime / 2) * factor * cand.native_tsamp
    freqs = np.linspace(cand.fch1, cand.fch1 + cand.foff * nchan, cand.dedispersed.shape[1], endpoint=False)
    idm, it = np.unravel_index(np.argmax(cand.dmt), cand.dmt.shape)
    return TriggerViews(freq_time=cand.dedispersed.T, dm_time=cand.dmt, freqs_mhz=freqs, times_s=times,
                        dms=dms, best_dm=float(dms[idm]), best_time_s=float(times[it]))
