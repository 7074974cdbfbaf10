"""The fast path of AMBER reading: one pass over the bytes, compiled with numba, on one core.

AMBER writes plain decimals separated by single spaces, one candidate per ``\\n``-ended line. This
reads exactly that and nothing else: on anything else (tabs, runs of spaces, signs other than a
leading minus, ``nan``, numbers of more than 15 digits or exponents beyond +-22, and anywhere a
non-ASCII, NUL or carriage-return byte) it stops and says where, and :mod:`skyspool.frb.amber` falls back to pandas, which reads or refuses it with a reason.

Each number is its digits as an integer, scaled by an exact power of ten: both operands are exact
doubles (at most 15 digits, 10^22 at most), so the product or quotient is the correctly rounded
value, the same double ``strtod`` gives (Clinger's fast path).

Measured (``benchmarks/bench_frb_clustering.py``, figures in the README): about 2.3x pandas' C
parser and 2.7x pyarrow's CSV reader on one core, because only the wanted columns are converted
and nothing is tokenised first.
"""

from __future__ import annotations

import numba
import numpy as np

_POW10 = np.array([10.0 ** i for i in range(23)])
_NL, _SPACE, _HASH, _MINUS, _DOT = 10, 32, 35, 45, 46


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _parse(buf, end, ncol, dest, out, row, pow10):  # pragma: no cover - compiled; tested through read_candidates
    # buf[:end] ends with a newline, so every scan within a line stops at it: no length check per
    # byte. Rows go to out[:, row:]; returns (rows so far, -1), or (rows, where it stopped).
    i = 0
    cap = out.shape[1]
    while i < end:
        c = buf[i]
        if c == _NL:
            i += 1
            continue
        if c == _HASH:
            while buf[i] != _NL:
                c = buf[i]
                if c >= 128 or c == 0 or c == 13:  # non-ASCII, NUL, CR: pandas says why
                    return row, i
                i += 1
            i += 1
            continue
        if row >= cap:
            return row, i
        for col in range(ncol):
            if col > 0:
                if buf[i] != _SPACE:
                    return row, i
                i += 1
            neg = buf[i] == _MINUS
            if neg:
                i += 1
            start = i
            mant = 0
            d = np.int64(buf[i]) - 48
            while 0 <= d <= 9:
                mant = mant * 10 + d
                i += 1
                d = np.int64(buf[i]) - 48
            digits = i - start
            frac = 0
            if buf[i] == _DOT:
                i += 1
                fstart = i
                d = np.int64(buf[i]) - 48
                while 0 <= d <= 9:
                    mant = mant * 10 + d
                    i += 1
                    d = np.int64(buf[i]) - 48
                frac = i - fstart
                digits += frac
            if digits == 0 or digits > 15:
                return row, i
            exp = -frac
            c = buf[i]
            if c == 101 or c == 69:  # e, E
                i += 1
                eneg = False
                if buf[i] == _MINUS or buf[i] == 43:
                    eneg = buf[i] == _MINUS
                    i += 1
                e = 0
                edigits = 0
                while 48 <= buf[i] <= 57 and edigits < 4:
                    e = e * 10 + (np.int64(buf[i]) - 48)
                    edigits += 1
                    i += 1
                if edigits == 0:
                    return row, i
                exp += -e if eneg else e
            if exp < -22 or exp > 22:
                return row, i
            k = dest[col]
            if k >= 0:
                value = float(mant) * pow10[exp] if exp >= 0 else float(mant) / pow10[-exp]
                out[k, row] = -value if neg else value
        if buf[i] != _NL:
            return row, i
        i += 1
        row += 1
    return row, -1


@numba.njit(cache=True, nogil=True)
def _whole_widths(width, time, dm, whole):  # pragma: no cover - compiled; tested through read_candidates
    negative = False
    fractional = False
    for r in range(len(width)):
        negative |= (time[r] < 0) | (dm[r] < 0)
        w = width[r]
        inside = (w >= 1.0) & (w <= 2147483647.0)  # NaN is neither
        whole[r] = np.int32(w) if inside else 0
        fractional |= (not inside) | (whole[r] != w)
    return negative, fractional


def whole_widths(width: np.ndarray, time: np.ndarray, dm: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """``width`` (samples) as int32, whether any ``time`` or ``dm`` is negative and whether any width
    is not a whole number of samples from 1 to 2**31 - 1: the checks of the columns, in one pass."""
    whole = np.empty(len(width), dtype=np.int32)
    negative, fractional = _whole_widths(width, time, dm, whole)
    return whole, bool(negative), bool(fractional)


def parse_columns(data, names: list[str], wanted: list[str]) -> np.ndarray | None:
    """The ``wanted`` columns (by name, in that order) of the AMBER rows in ``data`` (whose columns
    are ``names``; bytes or any buffer, such as an mmap) as a float64 array of shape (len(wanted), rows), each column contiguous; None if
    ``data`` is not in AMBER's plain form (then read it another way). Comment (``#``) and blank
    lines are skipped."""
    dest = np.full(len(names), -1, dtype=np.int64)
    for k, name in enumerate(wanted):
        dest[names.index(name)] = k
    # Room for the most rows the bytes can hold (each field a digit and a separator); pages never
    # written are never touched, so the room costs address space, not memory, and no counting pass.
    out = np.empty((len(wanted), len(data) // (2 * len(names)) + 1))
    # The bytes up to the last newline are parsed in place; a last line without one, from a copy
    # that has it.
    lines_end = data.rfind(b"\n") + 1
    rows, stopped = _parse(np.frombuffer(data, dtype=np.uint8), lines_end, len(names), dest, out, 0, _POW10)
    if stopped < 0 and lines_end < len(data):
        last = np.frombuffer(bytes(data[lines_end:]) + b"\n", dtype=np.uint8)
        rows, stopped = _parse(last, len(last), len(names), dest, out, rows, _POW10)
    return out[:, :rows] if stopped < 0 else None
