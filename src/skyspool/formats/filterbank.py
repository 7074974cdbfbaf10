"""SIGPROC filterbank files (``.fil``) of an FRB observation: ``spool/frb/<obs_id>/<NNN>-filterbank_cbNN.fil``.

The header (``HEADER_START`` ... ``HEADER_END``, keywords as length-prefixed strings followed by
their binary values) is read and checked here without the ``your`` package (whose numba import
costs seconds in the daemon) and strictly: an unknown keyword or a value out of range refuses the
file with a one-line reason, where a lenient reader would guess and misread the data.

The file's inbox name says which observation and compound beam it belongs to, as DARC names them:
``<obs_id>_CB07.fil`` (``<obs_id>.CB07.fil`` also). Filterbank files are large (tens of GB for a
long observation): they are taken by :func:`skyspool.ingest.ingest_file` from their header alone
and copied into the spool without being read into memory, up to :data:`MAX_BYTES`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct

from skyspool.formats.frb import observation_id
from skyspool.formats.registry import Message, Refused, register_large
from skyspool.paths import filterbank_alert_type

#: Largest filterbank file taken (bytes): a 3-hour Apertif observation of one compound beam at
#: 81.92 us and 384 8-bit channels is about 51 GB.
MAX_BYTES = 128 * 1024 ** 3
#: How much of the file the header must fit in (bytes).
HEADER_MAX = 4096
# (skyspool ingest renames a clashing inbox name with "-<8 hex digits>")
NAME = re.compile(r"(?P<obs>.+?)[._]CB(?P<cb>\d{1,3})(?:-[0-9a-f]{8})?\.fil")

# SIGPROC keywords and their value types ("s": string; struct codes otherwise, little-endian).
_TYPES = {"telescope_id": "i", "machine_id": "i", "data_type": "i", "rawdatafile": "s", "source_name": "s",
          "barycentric": "i", "pulsarcentric": "i", "az_start": "d", "za_start": "d", "src_raj": "d",
          "src_dej": "d", "tstart": "d", "tsamp": "d", "nbits": "i", "nsamples": "i", "fch1": "d",
          "foff": "d", "nchans": "i", "nifs": "i", "refdm": "d", "period": "d", "nbeams": "i", "ibeam": "i"}
_REQUIRED = ("nchans", "nbits", "tsamp", "tstart", "fch1", "foff")


@dataclasses.dataclass(frozen=True)
class Header:
    """A filterbank's header: ``nchans``, ``nbits``, ``nifs``, ``tsamp_s``, ``tstart_mjd``, ``fch1_mhz``,
    ``foff_mhz`` (channel step, negative when descending), ``header_bytes``, ``source_name``."""

    nchans: int
    nbits: int
    nifs: int
    tsamp_s: float
    tstart_mjd: float
    fch1_mhz: float
    foff_mhz: float
    header_bytes: int
    source_name: str

    @property
    def bytes_per_spectrum(self) -> int:
        return self.nchans * self.nifs * self.nbits // 8

    def nspectra(self, size: int) -> int:
        """Spectra in a file of ``size`` bytes."""
        return (size - self.header_bytes) // self.bytes_per_spectrum

    def duration_s(self, size: int) -> float:
        """Time span (s) of a file of ``size`` bytes."""
        return self.nspectra(size) * self.tsamp_s


def _string(head: bytes, at: int) -> tuple[str, int]:
    if at + 4 > len(head):
        raise Refused(f"filterbank header is cut short or longer than {HEADER_MAX} bytes")
    (length,) = struct.unpack_from("<i", head, at)
    if not 0 < length <= 80:  # SIGPROC (and your) read strings of up to 80 characters
        raise Refused(f"filterbank header has a bad string length ({length}) at byte {at}")
    if at + 4 + length > len(head):
        raise Refused("filterbank header is cut short")
    try:
        return head[at + 4:at + 4 + length].decode("ascii"), at + 4 + length
    except UnicodeDecodeError:
        raise Refused(f"filterbank header has a non-ASCII string at byte {at}") from None


def read_header(head: bytes) -> Header:
    """The header at the start of ``head`` (the file's first bytes); refuses a bad one with the reason."""
    if head[:16] != b"\x0c\x00\x00\x00HEADER_START":
        raise Refused("not a SIGPROC filterbank (no HEADER_START)")
    at = 16
    values = {}
    while True:
        key, at = _string(head, at)
        if key == "HEADER_END":
            break
        kind = _TYPES.get(key)
        if kind is None:
            raise Refused(f"filterbank header has an unknown keyword {key[:40]!r}")
        if kind == "s":
            values[key], at = _string(head, at)
            continue
        size = struct.calcsize(kind)
        if at + size > len(head):
            raise Refused("filterbank header is cut short")
        (values[key],) = struct.unpack_from("<" + kind, head, at)
        at += size
    missing = [key for key in _REQUIRED if key not in values]
    if missing:
        raise Refused(f"filterbank header lacks {', '.join(missing)}")
    header = Header(int(values["nchans"]), int(values["nbits"]), int(values.get("nifs", 1)),
                    float(values["tsamp"]), float(values["tstart"]), float(values["fch1"]),
                    float(values["foff"]), at, values.get("source_name", ""))
    _check(header, values.get("data_type", 1))
    return header


def read_header_of(path: str | os.PathLike) -> Header:
    """The header of the filterbank file ``path``."""
    with open(path, "rb") as handle:
        return read_header(handle.read(HEADER_MAX))


def _check(h: Header, data_type: int) -> None:
    if data_type != 1:
        raise Refused(f"filterbank data_type {data_type}: only filterbank data (1) is read")
    if h.nbits not in (8, 16, 32):
        raise Refused(f"filterbank nbits {h.nbits}: 8, 16 or 32 are read")
    if not 1 <= h.nchans <= 65536 or (h.nchans * h.nbits) % 8:
        raise Refused(f"filterbank nchans {h.nchans} is out of range (1-65536)")
    if h.nifs != 1:
        raise Refused(f"filterbank nifs {h.nifs}: one summed polarisation (1) is read")
    if not 1e-7 <= h.tsamp_s <= 1.0:
        raise Refused(f"filterbank tsamp {h.tsamp_s!r} s is out of range (0.1 us - 1 s)")
    if not 10.0 <= h.fch1_mhz <= 1e5 or not 1e-6 <= abs(h.foff_mhz) <= 1e3:
        raise Refused(f"filterbank fch1 {h.fch1_mhz!r} MHz / foff {h.foff_mhz!r} MHz are out of range")
    low = min(h.fch1_mhz, h.fch1_mhz + h.foff_mhz * (h.nchans - 1))
    if low <= 0:
        raise Refused(f"filterbank band reaches {low:.1f} MHz (fch1 {h.fch1_mhz}, foff {h.foff_mhz}, "
                      f"{h.nchans} channels)")
    if not 40000.0 <= h.tstart_mjd <= 100000.0:
        raise Refused(f"filterbank tstart MJD {h.tstart_mjd!r} is out of range")


def _is_filterbank(head: bytes, filename: str) -> bool:
    return head[4:16] == b"HEADER_START" or filename.lower().endswith(".fil")


@register_large("SIGPROC filterbank (.fil)", _is_filterbank, max_bytes=MAX_BYTES)
def parse_filterbank(head: bytes, size: int, filename: str) -> Message:
    """The spool entry of a filterbank file of ``size`` bytes, from its first bytes and its name."""
    header = read_header(head[:HEADER_MAX])
    data = size - header.header_bytes
    if data <= 0:
        raise Refused("filterbank holds no data after its header")
    if data % header.bytes_per_spectrum:
        raise Refused(f"filterbank data size {data} bytes is not a whole number of {header.nchans}-channel "
                      f"{header.nbits}-bit spectra ({header.bytes_per_spectrum} bytes each): cut short?")
    name = NAME.fullmatch(filename)
    if name is None:
        raise Refused("filterbank file name must say its observation and compound beam: <obs_id>_CB07.fil")
    return Message("frb", observation_id(name["obs"]), filterbank_alert_type(int(name["cb"])), "fil")
