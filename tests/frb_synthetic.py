"""Synthetic AMBER candidates and observation descriptions, for tests, benchmarks and demonstrations.

:func:`synthetic_candidates` makes a candidate list like AMBER's: noise candidates just under the
trigger threshold scattered over time and DM, broadband RFI (bright, at DM ~ 0, spread over DM
trials, wide boxcars, many beams) and injected bursts of known time, DM, S/N and width, each seen
in neighbouring DM trials and boxcar widths with falling S/N, and in synthesised beams 12 apart
at the same time, as a real burst is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from skyspool.frb.observation import dispersion_delay_s

AMBER_HEADER = ("beam_id batch_id sample_id integration_step compacted_integration_steps time "
                "DM_id DM compacted_DMs SNR")
SAMPLING_TIME_S = 81.92e-6
_F_LO, _F_HI = 1220.0, 1520.0  # MHz, Apertif's band
_DM_STEP = 0.2
#: Synthesised beams of Apertif (beam_id 0-70).
N_SB = 71


@dataclass(frozen=True)
class Burst:
    """An injected burst: arrival time (s since the start, top of the band), DM (pc cm^-3), peak
    S/N, boxcar width (samples), synthesised beam."""

    time: float
    dm: float
    snr: float
    width: int = 4
    beam: int = 35


def sample_observation(obs_id: str = "20240101-0001", *, source: str | None = None, cbs=(0,),
                       test: bool = False, mw_dm_max: float | None = None) -> dict:
    """An observation description (a dict to dump as YAML) with Apertif's backend facts; compound
    beams point 0.5 deg apart around a high-latitude field (Milky Way DM of a few tens)."""
    beams = {}
    for cb in cbs:
        beams[cb] = {"ra_deg": 150.0 + 0.5 * cb, "dec_deg": 60.0}
        if mw_dm_max is not None:
            beams[cb]["mw_dm_max"] = mw_dm_max
    doc = {"id": obs_id, "start": "2024-01-01T12:00:00", "telescope": "WSRT", "backend": "ARTS",
           "sampling_time_us": SAMPLING_TIME_S * 1e6, "channel_width_mhz": 0.1953125,
           "centre_frequency_mhz": 1370.0, "bandwidth_mhz": 300.0, "npol": 2, "sefd_jy": 85.0,
           "beam_semi_major_arcmin": 15.0, "beam_semi_minor_arcmin": 15.0, "beam_rotation_deg": 0.0,
           "test": test, "compound_beams": beams}
    if source is not None:
        doc["source"] = source
    return doc


def write_observation(path: str | os.PathLike, doc: dict) -> None:
    """Write an observation description as YAML."""
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)


def _burst_beams(beam: int) -> list[tuple[int, float]]:
    # A burst seen through Apertif's 12 tied-array beams shows up in synthesised beams 12 apart
    # (DARC's synthesised-beam periodicity), weaker further from its own.
    losses = {0: 1.0, -1: 0.7, 1: 0.7, -2: 0.4, 2: 0.4}
    return [(beam + 12 * k, loss) for k, loss in losses.items() if 0 <= beam + 12 * k < N_SB]


def _burst_rows(b: Burst, rng: np.random.Generator, floor: float) -> np.ndarray:
    # S/N falls off with DM offset as the pulse smears over more samples than its width.
    smear_per_dm = dispersion_delay_s(1.0, _F_LO, _F_HI) / (b.width * SAMPLING_TIME_S)
    half = int(np.ceil(np.sqrt((b.snr / floor) ** 2 - 1) / smear_per_dm / _DM_STEP)) + 1
    ddm = np.arange(-half, half + 1) * _DM_STEP
    rows = []
    for width, width_loss in ((b.width, 1.0), (b.width * 2, 0.8), (max(1, b.width // 2), 0.8)):
        # Every synthesised beam sees the pulse in the same sample of a DM trial.
        t = b.time + rng.normal(0, width * SAMPLING_TIME_S / 4, len(ddm))
        # Neighbouring DM trials see the same data: their S/N scatter is small.
        scatter = rng.normal(1.0, 0.005, len(ddm))
        for beam, beam_loss in _burst_beams(b.beam):
            snr = b.snr * beam_loss * width_loss * scatter / np.sqrt(1 + (ddm * smear_per_dm) ** 2)
            keep = snr >= floor
            rows.append(np.column_stack([np.full(keep.sum(), beam), t[keep], b.dm + ddm[keep],
                                         snr[keep], np.full(keep.sum(), width)]))
    return np.concatenate(rows)


def synthetic_candidates(bursts: list[Burst], *, duration_s: float = 600.0, n_noise: int = 5000,
                         n_rfi: int = 5, seed: int = 0, snr_floor: float = 8.0,
                         noise_snr_max: float = 9.9, dm_max: float = 3000.0) -> pd.DataFrame:
    """AMBER candidates (the 10 AMBER columns, ordered by time as AMBER writes them) with noise,
    ``n_rfi`` broadband RFI events and the injected ``bursts``. Noise S/N stays below
    ``noise_snr_max``; every candidate has S/N >= ``snr_floor`` (AMBER's own threshold)."""
    rng = np.random.default_rng(seed)
    parts = []
    # Noise: steeply falling S/N just above AMBER's threshold, uniform in time, DM and beam.
    snr = snr_floor + rng.exponential(0.4, n_noise)
    snr = np.where(snr < noise_snr_max, snr, snr_floor + rng.uniform(0, noise_snr_max - snr_floor, n_noise))
    parts.append(np.column_stack([rng.integers(0, N_SB, n_noise), rng.uniform(0, duration_s, n_noise),
                                  np.round(rng.uniform(0, dm_max, n_noise) / _DM_STEP) * _DM_STEP, snr,
                                  2 ** rng.integers(0, 8, n_noise)]))
    # RFI: bright at DM ~ 0, seen in every beam and many DM trials, mostly with wide boxcars.
    for t0 in rng.uniform(0, duration_s, n_rfi):
        peak = rng.uniform(15, 60)
        dms = np.arange(0, 40, _DM_STEP)
        for beam in range(0, N_SB, 3):
            for width in (100, 250, 500, 1000):
                s = peak * np.exp(-dms / 8.0) * rng.uniform(0.8, 1.0)
                keep = s >= snr_floor
                parts.append(np.column_stack([np.full(keep.sum(), beam), t0 + rng.normal(0, 0.01, keep.sum()),
                                              dms[keep], s[keep], np.full(keep.sum(), width)]))
    for b in bursts:
        parts.append(_burst_rows(b, rng, snr_floor))
    beam, time, dm, snr, width = np.concatenate(parts).T
    time = np.clip(time, 0, None)
    dm = np.round(dm, 2)
    order = np.argsort(time, kind="stable")
    sample = np.round(time / SAMPLING_TIME_S).astype(np.int64)
    batch = (time // 1.024).astype(np.int64)
    frame = pd.DataFrame({
        "beam_id": beam.astype(np.int64), "batch_id": batch, "sample_id": sample % 12500,
        "integration_step": width.astype(np.int64), "compacted_integration_steps": 1,
        "time": np.round(time, 6), "DM_id": np.round(dm / _DM_STEP).astype(np.int64), "DM": dm,
        "compacted_DMs": 1, "SNR": np.round(snr, 4)})
    return frame.iloc[order].reset_index(drop=True)


def amber_text(frame: pd.DataFrame, *, header: bool = True) -> bytes:
    """The candidates as AMBER writes them: a ``# ...`` header line and space-separated rows."""
    body = frame.to_csv(sep=" ", header=False, index=False, lineterminator="\n")
    return ((f"# {' '.join(frame.columns)}\n" if header else "") + body).encode("ascii")


#: Sampling time (s) of :func:`write_pulse_filterbank` files: Apertif's, decimated by 4.
PULSE_TSAMP_S = SAMPLING_TIME_S * 4


def write_pulse_filterbank(path: str | os.PathLike, tstart_mjd: float, *, dm: float, time_s: float,
                           nchan: int = 256, nsamp: int = 16384, amplitude: float = 30.0, seed: int = 3) -> None:
    """Write an 8-bit SIGPROC filterbank over Apertif's band (1220-1520 MHz, ``nchan`` channels,
    :data:`PULSE_TSAMP_S` sampling) starting at ``tstart_mjd``: Gaussian noise with a two-sample
    pulse dispersed at ``dm`` (pc cm^-3) arriving at ``time_s`` (s from the file start) at the top
    of the band."""
    from skyspool.frb.filterbank import write_filterbank

    foff = -(_F_HI - _F_LO) / nchan
    data = np.random.default_rng(seed).normal(64, 6, (nsamp, nchan))
    arrival = np.round((time_s + dispersion_delay_s(dm, _F_HI + foff * np.arange(nchan), _F_HI))
                       / PULSE_TSAMP_S).astype(int)
    for width in range(2):
        inside = arrival + width < nsamp
        data[arrival[inside] + width, np.arange(nchan)[inside]] += amplitude
    write_filterbank(path, np.clip(data, 0, 255).astype(np.uint8), fch1_mhz=_F_HI, foff_mhz=foff,
                     tsamp_s=PULSE_TSAMP_S, tstart_mjd=tstart_mjd)
