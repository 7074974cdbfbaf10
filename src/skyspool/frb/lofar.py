"""LOFAR transient buffer board (TBB) trigger packets, as DARC sends them.

The packet is 11 bytes, big-endian (``struct`` format ``>cciHHc``): magic bytes ``0x99 0xA0``, the
buffer stop time as Unix seconds (int32) and milliseconds (uint16), DM x 10 (uint16, one decimal
kept) and a flag, ``T`` for a test or ``S`` for a science trigger. The stop time is when the burst
reaches LOFAR's 200 MHz reference plus 2.5 s, so the burst sits in the middle of the 5 s buffer.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import numpy as np
from astropy.time import Time, TimeDelta

from skyspool.frb.observation import dispersion_delay_s

PACKET_FORMAT = ">cciHHc"
MAGIC = (b"\x99", b"\xa0")
PACKET_SIZE = struct.calcsize(PACKET_FORMAT)
LOFAR_REFERENCE_MHZ = 200.0
BUFFER_CENTRE_S = 2.5


class PacketError(ValueError):
    """Bytes that are not a TBB trigger packet, or values that do not fit one."""


@dataclass(frozen=True)
class TBBTrigger:
    """A decoded packet: buffer stop time (Unix s and ms), DM (pc cm^-3, 0.1 resolution), test flag."""

    stop_s: int
    stop_ms: int
    dm: float
    test: bool


def stop_time(arrival: Time, dm: float, f_top_mhz: float) -> Time:
    """TBB buffer stop time for a burst of DM ``dm`` (pc cm^-3) arriving at ``arrival`` at the top of
    the band ``f_top_mhz`` (MHz): its arrival at 200 MHz plus 2.5 s."""
    return arrival + TimeDelta(dispersion_delay_s(dm, LOFAR_REFERENCE_MHZ, f_top_mhz) + BUFFER_CENTRE_S,
                               format="sec")


def pack(stop: Time, dm: float, test: bool) -> bytes:
    """Pack a trigger with buffer ``stop`` time, DM (pc cm^-3) and the test flag into 11 bytes."""
    unix = float(stop.unix)
    seconds = int(np.floor(unix))
    ms = int(np.round((unix - seconds) * 1000))
    if ms == 1000:
        seconds, ms = seconds + 1, 0
    dm10 = int(np.round(dm * 10))
    if not (0 <= dm10 <= 0xFFFF) or not (-2**31 <= seconds < 2**31):
        raise PacketError(f"DM {dm} or stop time {stop.isot} does not fit a TBB packet")
    return struct.pack(PACKET_FORMAT, *MAGIC, seconds, ms, dm10, b"T" if test else b"S")


def unpack(packet: bytes) -> TBBTrigger:
    """Decode an 11-byte packet; :class:`PacketError` for anything else."""
    if len(packet) != PACKET_SIZE:
        raise PacketError(f"a TBB packet has {PACKET_SIZE} bytes, not {len(packet)}")
    m1, m2, seconds, ms, dm10, flag = struct.unpack(PACKET_FORMAT, packet)
    if (m1, m2) != MAGIC or flag not in (b"T", b"S") or ms > 999:
        raise PacketError("not a TBB trigger packet (magic, flag or milliseconds wrong)")
    return TBBTrigger(seconds, ms, dm10 / 10, flag == b"T")


def send(packet: bytes, host: str, port: int) -> None:
    """Send the packet as one UDP datagram to ``host``:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(packet, (host, int(port)))
