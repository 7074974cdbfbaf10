"""Observation descriptions and known-source lists (YAML), validated with one-line reasons.

An observation description::

    id: 20240101-0001             # observation id; names spool and product folders
    start: 2024-01-01T12:00:00Z   # UTC of sample 0 (AMBER times count from here)
    telescope: WSRT
    backend: ARTS
    sampling_time_us: 81.92
    channel_width_mhz: 0.1953125
    centre_frequency_mhz: 1370.0
    bandwidth_mhz: 300.0
    npol: 2                       # optional, default 2
    sefd_jy: 100.0                # optional: system equivalent flux density for the radiometer equation
    beam_semi_major_arcmin: 15.0  # optional: beam error ellipse, default 15 x 15 arcmin, angle 0
    beam_semi_minor_arcmin: 15.0
    beam_rotation_deg: 0.0
    source: B0329+54              # optional: the targeted source
    candidate_files:              # optional: AMBER files the daemon follows (absolute; wildcards
      - /data/20240101-0001/CB*_step*.trigger   #  in the file name only)
    test: false                   # optional: test observation (VOEvent role "test", LOFAR flag T)
    compound_beams:               # pointing of every compound beam, ICRS degrees
      0: {ra_deg: 53.2475, dec_deg: 54.5787}
      1: {ra_deg: 53.9, dec_deg: 54.6, mw_dm_max: 150.0}   # optional fixed Milky Way DM limit

A stop file ends the following of an observation: ``stop: <observation id>`` and optionally
``reason: <text>`` and ``abort: true`` (DARC's abort: the observation gets no summary and no e-mail).

The known-source list (DARC's ``source_list.yaml``): ``pulsars`` and ``frbs`` map names to DM
(pc cm^-3); ``aliases`` maps other names of a source to its name in those lists.
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from astropy.time import Time

from skyspool.ids import check_event_id

#: Dispersion constant (s MHz^2 per pc cm^-3).
K_DM = 4.148808e3


def dispersion_delay_s(dm, f_lo_mhz, f_hi_mhz):
    """Arrival delay (s) at ``f_lo_mhz`` relative to ``f_hi_mhz`` (MHz) for dispersion measure ``dm`` (pc cm^-3)."""
    return K_DM * dm * (f_lo_mhz ** -2.0 - f_hi_mhz ** -2.0)


class ObservationError(ValueError):
    """An invalid observation description or source list; the message is a one-line reason."""


@dataclass(frozen=True)
class Beam:
    """Pointing of one compound beam (ICRS, deg) and an optional fixed Milky Way DM limit (pc cm^-3)."""

    ra_deg: float
    dec_deg: float
    mw_dm_max: float | None = None


@dataclass(frozen=True)
class Observation:
    """One observation: timing, telescope and backend facts, and the compound-beam pointings."""

    id: str
    start: Time
    telescope: str
    backend: str
    sampling_time_s: float
    channel_width_mhz: float
    centre_frequency_mhz: float
    bandwidth_mhz: float
    beams: dict[int, Beam]
    npol: int = 2
    sefd_jy: float | None = None
    beam_semi_major_arcmin: float = 15.0
    beam_semi_minor_arcmin: float = 15.0
    beam_rotation_deg: float = 0.0
    source: str | None = None
    test: bool = False
    candidate_files: tuple[str, ...] = ()

    @property
    def top_frequency_mhz(self) -> float:
        """Frequency of the top of the band (MHz), AMBER's reference for arrival times."""
        return self.centre_frequency_mhz + 0.5 * self.bandwidth_mhz

    @property
    def bottom_frequency_mhz(self) -> float:
        """Frequency of the bottom of the band (MHz)."""
        return self.centre_frequency_mhz - 0.5 * self.bandwidth_mhz

    def width_s(self, width_samples):
        """Boxcar width in seconds of ``width_samples`` samples."""
        return width_samples * self.sampling_time_s

    @property
    def nchan(self) -> int:
        """Number of frequency channels (Apertif: 1536)."""
        return int(round(self.bandwidth_mhz / self.channel_width_mhz))

    def flux_jy(self, snr, width_samples, default_sefd_jy: float | None = None):
        """Peak flux density (Jy) from the radiometer equation, S = S/N SEFD / sqrt(npol B W), with
        the observation's ``sefd_jy``, else ``default_sefd_jy``, else None (uncalibrated: a
        beam-centre estimate)."""
        sefd = self.sefd_jy if self.sefd_jy is not None else default_sefd_jy
        if sefd is None:
            return None
        return float(snr * sefd / np.sqrt(self.npol * self.bandwidth_mhz * 1e6 * self.width_s(width_samples)))

    def dm_error(self, width_samples):
        """DM uncertainty (pc cm^-3): the DM offset whose dispersion smearing across the band
        equals the pulse width."""
        return self.width_s(width_samples) / dispersion_delay_s(1.0, self.bottom_frequency_mhz,
                                                                 self.top_frequency_mhz)

    def beam(self, cb: int) -> Beam:
        """The pointing of compound beam ``cb``; ObservationError if the description lacks it."""
        try:
            return self.beams[int(cb)]
        except KeyError:
            raise ObservationError(f"observation {self.id} has no pointing for compound beam {cb}") from None


@dataclass(frozen=True)
class KnownSource:
    """A source of known DM (pc cm^-3); ``kind`` is ``pulsar`` or ``frb``."""

    name: str
    dm: float
    kind: str


@dataclass(frozen=True)
class SourceList:
    """Known pulsars and FRBs with their DMs, and aliases of their names."""

    pulsars: dict[str, float] = field(default_factory=dict)
    frbs: dict[str, float] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def lookup(self, name: str | None) -> KnownSource | None:
        """The known source called ``name`` (directly or by alias), else None."""
        if name is None:
            return None
        name = self.aliases.get(name, name)
        for kind, table in (("pulsar", self.pulsars), ("frb", self.frbs)):
            if name in table:
                return KnownSource(name, table[name], kind)
        return None


def parse_yaml(data: bytes, what: str) -> dict:
    """The YAML mapping in ``data``; ObservationError naming ``what`` if it is not one."""
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except RecursionError:
        raise ObservationError(f"{what} is YAML nested too deeply") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).replace("\n", " ")[:160]
        raise ObservationError(f"{what} is not valid YAML: {reason}") from None
    if not isinstance(doc, dict):
        raise ObservationError(f"{what} must be a YAML mapping")
    return doc


def _load_yaml(path: str | os.PathLike, what: str) -> dict:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ObservationError(f"cannot read {what} {Path(path).name}: {exc.strerror}") from None
    return parse_yaml(data, f"{what} {Path(path).name}")


_REQUIRED = object()


def _number(doc: dict, key: str, *, positive: bool = True, default=_REQUIRED, lo=None, hi=None) -> float | None:
    value = doc.get(key, default)
    if value is _REQUIRED:
        raise ObservationError(f"observation lacks '{key}'")
    if value is None and default is not _REQUIRED:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ObservationError(f"observation '{key}' must be a finite number, not {value!r:.40}")
    if positive and value <= 0:
        raise ObservationError(f"observation '{key}' must be positive, not {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ObservationError(f"observation '{key}' must lie in [{lo}, {hi}], not {value}")
    return float(value)


def _beam(cb, spec) -> tuple[int, Beam]:
    if isinstance(cb, bool) or not isinstance(cb, int) or cb < 0:
        raise ObservationError(f"compound beam number must be an integer >= 0, not {cb!r:.40}")
    if not isinstance(spec, dict):
        raise ObservationError(f"compound beam {cb} must map ra_deg and dec_deg")
    try:
        ra = _number(spec, "ra_deg", positive=False, lo=0, hi=360)
        dec = _number(spec, "dec_deg", positive=False, lo=-90, hi=90)
        mw = _number(spec, "mw_dm_max", positive=False, default=None, lo=0)
    except ObservationError as exc:
        raise ObservationError(f"compound beam {cb}: {str(exc).removeprefix('observation ')}") from None
    return cb, Beam(ra, dec, mw)


def _candidate_files(doc: dict) -> tuple[str, ...]:
    patterns = doc.get("candidate_files", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ObservationError("observation 'candidate_files' must list file paths")
    for pattern in patterns:
        path = Path(pattern)
        if not path.is_absolute() or ".." in path.parts or glob.has_magic(str(path.parent)):
            raise ObservationError(f"observation candidate file {pattern!r:.80} must be an absolute path "
                                   "with wildcards in the file name only")
    return tuple(patterns)


def load_observation(path: str | os.PathLike) -> Observation:
    """Read and validate an observation description (YAML, see the module docstring)."""
    return observation_from_doc(_load_yaml(path, "observation"))


def observation_from_doc(doc: dict) -> Observation:
    """Validate a parsed observation description (see the module docstring)."""
    obs_id = check_event_id(str(doc["id"]) if "id" in doc else None)
    try:
        start = Time(doc["start"], scale="utc")
        start.format = "isot"
    except KeyError:
        raise ObservationError("observation lacks 'start'") from None
    except (ValueError, TypeError):
        raise ObservationError(f"observation 'start' is not a UTC time: {doc['start']!r:.60}") from None
    for key in ("telescope", "backend"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ObservationError(f"observation '{key}' must be a non-empty string")
    source = doc.get("source")
    if source is not None and not isinstance(source, str):
        raise ObservationError("observation 'source' must be a string")
    beams = doc.get("compound_beams")
    if not isinstance(beams, dict) or not beams:
        raise ObservationError("observation 'compound_beams' must map beam numbers to pointings")
    npol = doc.get("npol", 2)
    if npol not in (1, 2) or isinstance(npol, bool):
        raise ObservationError(f"observation 'npol' must be 1 or 2, not {npol!r:.40}")
    if not isinstance(doc.get("test", False), bool):
        raise ObservationError("observation 'test' must be true or false")
    return Observation(
        id=obs_id, start=start, telescope=doc["telescope"], backend=doc["backend"],
        sampling_time_s=_number(doc, "sampling_time_us") * 1e-6,
        channel_width_mhz=_number(doc, "channel_width_mhz"),
        centre_frequency_mhz=_number(doc, "centre_frequency_mhz"),
        bandwidth_mhz=_number(doc, "bandwidth_mhz"),
        beams=dict(_beam(cb, spec) for cb, spec in beams.items()),
        npol=npol,
        sefd_jy=_number(doc, "sefd_jy", default=None),
        beam_semi_major_arcmin=_number(doc, "beam_semi_major_arcmin", default=15.0),
        beam_semi_minor_arcmin=_number(doc, "beam_semi_minor_arcmin", default=15.0),
        beam_rotation_deg=_number(doc, "beam_rotation_deg", positive=False, default=0.0),
        source=source, test=doc.get("test", False), candidate_files=_candidate_files(doc),
    )


def stop_from_doc(doc: dict) -> str:
    """The observation id a parsed stop file ends (see the module docstring)."""
    if set(doc) - {"stop", "reason", "abort"}:
        raise ObservationError(f"stop file has unknown keys: {', '.join(sorted(map(str, set(doc) - {'stop', 'reason', 'abort'})))}")
    if "reason" in doc and not isinstance(doc["reason"], str):
        raise ObservationError("stop file 'reason' must be text")
    if "abort" in doc and not isinstance(doc["abort"], bool):
        raise ObservationError("stop file 'abort' must be true or false")
    return check_event_id(str(doc.get("stop")) if doc.get("stop") is not None else None)


def stop_is_abort(path: str | os.PathLike) -> bool:
    """Whether the stored stop file at ``path`` aborts its observation."""
    return _load_yaml(path, "stop file").get("abort") is True


def load_source_list(path: str | os.PathLike | None) -> SourceList:
    """Read and validate a known-source list (DARC's ``source_list.yaml`` layout); None: an empty list."""
    return source_list_from_doc(_load_yaml(path, "source list") if path is not None else {})


def source_list_from_doc(doc: dict) -> SourceList:
    """Validate a parsed known-source list."""
    unknown = set(doc) - {"pulsars", "frbs", "aliases"}
    if unknown:
        raise ObservationError(f"source list has unknown sections: {', '.join(sorted(map(str, unknown)))}")
    tables = {}
    for key in ("pulsars", "frbs"):
        table = doc.get(key) or {}
        if not isinstance(table, dict):
            raise ObservationError(f"source list '{key}' must map names to DMs")
        for name, dm in table.items():
            if isinstance(dm, bool) or not isinstance(dm, (int, float)) or not math.isfinite(dm) or dm < 0:
                raise ObservationError(f"source list {key} '{name}': DM must be a number >= 0, not {dm!r:.40}")
        tables[key] = {str(name): float(dm) for name, dm in table.items()}
    aliases = doc.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise ObservationError("source list 'aliases' must map names to names")
    return SourceList(tables["pulsars"], tables["frbs"], {str(k): str(v) for k, v in aliases.items()})
