"""AMBER single-pulse candidate files: reading by header name, and cutting growing files into chunks.

AMBER writes one text file per compound beam and search step (``CB00_step1.trigger``): a header line
``# beam_id batch_id sample_id integration_step compacted_integration_steps time DM_id DM compacted_DMs SNR``
(older versions: 7, 8 or 9 of these columns) and one line per candidate. Columns are read by name,
so every form is read the same way. ``time`` is seconds since the observation start (top of the
band), ``DM`` is in pc cm^-3, ``integration_step`` is the boxcar width in samples, ``beam_id`` is the
synthesised (tied-array) beam within the compound beam.

Plain AMBER text (single spaces, plain decimals) is read in one compiled pass
(:mod:`skyspool.frb.amber_fast`); anything else goes through pandas, which reads it or says why not.

The files grow while an observation runs. :func:`make_chunk` cuts the complete lines appended since
an offset into a self-contained chunk (a provenance line, the file's header, the new lines), which
the daemon stores in the spool; :func:`read_candidates` reads files and chunks alike.
"""

from __future__ import annotations

import io
import mmap
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns every form has; the others are optional.
REQUIRED_COLUMNS = ("integration_step", "time", "DM", "SNR")
#: Columns of the frame :func:`read_candidates` returns.
CANDIDATE_COLUMNS = ("cb", "beam", "time", "dm", "snr", "width")
#: First line of a chunk made by :func:`make_chunk`.
CHUNK_MARK = b"#! skyspool-frb"

_CB_IN_NAME = re.compile(r"CB(\d{1,3})")
_MARK_FIELD = re.compile(r"(source|offset|observation)=(\S+)")


class AmberFormatError(ValueError):
    """An AMBER candidate file or chunk that cannot be read; the message is a one-line reason."""


def _header_names(text: str) -> list[str] | None:
    """Column names of the first comment line that names every required column, else None."""
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith("#!"):
            names = line[1:].split()
            if all(name in names for name in REQUIRED_COLUMNS):
                if len(set(names)) != len(names):
                    raise AmberFormatError(f"AMBER header repeats a column name: {' '.join(names)}")
                return names
    return None


def compound_beam_of(text_head: str, name: str | None) -> int:
    """Compound beam from the chunk's provenance line or the file name (``CB07_step1.trigger``), else 0."""
    mark = chunk_mark(text_head.encode("ascii", errors="replace"))
    name = mark.get("source", name)
    match = _CB_IN_NAME.search(name or "")
    return int(match.group(1)) if match else 0


def _parse(data: bytes, names: list[str]) -> pd.DataFrame:
    # Every column is parsed (no usecols, no names): only then does the C parser refuse rows with
    # too many fields instead of silently dropping or indexing them. AMBER separates fields with
    # single spaces (fast path); other spacing falls back to the slower whitespace parser, which
    # then decides whether the text is valid.
    for sep in (" ", r"\s+"):
        try:
            frame = pd.read_csv(io.BytesIO(data), sep=sep, comment="#", header=None, index_col=False,
                                dtype=np.float64, skip_blank_lines=True)
        except pd.errors.EmptyDataError:
            return pd.DataFrame({name: np.empty(0) for name in names})
        except (ValueError, pd.errors.ParserError) as exc:
            if sep == " ":
                continue
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AmberFormatError(f"unreadable AMBER candidates: {reason[:200]}") from None
        if sep == " " and (frame.shape[1] != len(names) or frame.isna().to_numpy().any()):
            continue
        if frame.shape[1] != len(names):
            raise AmberFormatError(f"AMBER rows have {frame.shape[1]} fields but the header names {len(names)}")
        frame.columns = names
        return frame
    raise AssertionError("unreachable: the whitespace parser either returns or raises")


def read_candidates(source: str | os.PathLike | bytes, *, compound_beam: int | None = None) -> pd.DataFrame:
    """Read AMBER candidates from a file path or from bytes (a whole file or a chunk).

    Returns a frame with columns ``cb`` (compound beam), ``beam`` (synthesised beam), ``time`` (s
    since the observation start), ``dm`` (pc cm^-3), ``snr``, ``width`` (samples), one row per
    candidate, in file order. The compound beam is ``compound_beam`` if given, else taken from the
    chunk's provenance line or the file name (``CB07``), else 0.

    Raises :class:`AmberFormatError` for anything that is not a valid candidate list: no header naming
    ``integration_step time DM SNR``, non-ASCII bytes, rows with a wrong number of fields, non-numeric
    or non-finite values, negative time or DM, widths below one sample.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _read(bytes(source), None, compound_beam)
    name = Path(source).name
    try:
        with open(source, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return _read(b"", name, compound_beam)
            # Mapped, not copied: the compiled reader parses the file's pages in place.
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _read(data, name, compound_beam)
    except OSError as exc:
        raise AmberFormatError(f"cannot read AMBER file {name}: {exc.strerror}") from None


def _check_text(data: bytes) -> None:
    if not data.isascii():
        raise AmberFormatError("AMBER candidates must be ASCII text")
    if b"\0" in data or b"\r" in data:
        raise AmberFormatError("AMBER candidates contain NUL or carriage-return characters")


def _read(data, name: str | None, compound_beam: int | None) -> pd.DataFrame:
    """read_candidates of ``data`` (bytes or a read-only mmap) from the file ``name``."""
    head_bytes = data[:65536]
    _check_text(head_bytes)  # the rest: by the compiled reader, else before pandas reads it
    head = head_bytes.decode("ascii")
    names = _header_names(head)
    has_rows = any(line.strip() and not line.lstrip().startswith("#") for line in head.splitlines())
    if names is None:
        if has_rows or len(data) > len(head):
            raise AmberFormatError("no AMBER header line naming integration_step, time, DM and SNR")
        names = list(REQUIRED_COLUMNS)
    from skyspool.frb.amber_fast import whole_widths  # numba: loaded on first read

    columns = _columns(data, names)
    whole, negative, fractional = whole_widths(columns["integration_step"], columns["time"], columns["DM"])
    if negative:
        raise AmberFormatError("AMBER candidates have a negative time or DM")
    if fractional:
        raise AmberFormatError("AMBER integration_step (width) must be a whole number of samples >= 1")
    cb = compound_beam if compound_beam is not None else compound_beam_of(head, name)
    beam = columns["beam_id"] if "beam_id" in columns else np.zeros(len(whole))
    return pd.DataFrame({  # copy=False: the columns are contiguous already; no block copy
        "cb": np.full(len(whole), cb, dtype=np.int16),
        "beam": beam.astype(np.int16),
        "time": columns["time"],
        "dm": columns["DM"],
        "snr": columns["SNR"],
        "width": whole,
    }, copy=False)


def _columns(data, names: list[str]) -> dict[str, np.ndarray]:
    """The columns read_candidates uses, by name: the compiled one-pass reader for AMBER's plain
    form, else pandas (other spacing; or a one-line reason why the text is no candidate list)."""
    from skyspool.frb.amber_fast import parse_columns

    wanted = [name for name in ("beam_id", *REQUIRED_COLUMNS) if name in names]
    values = parse_columns(data, names, wanted)
    if values is None:
        data = bytes(data)
        _check_text(data)
        frame = _parse(data, names)
        if not np.isfinite(frame.to_numpy()).all():
            raise AmberFormatError("AMBER candidates have missing, NaN or infinite values")
        values = frame[wanted].to_numpy(np.float64).T.copy()
    return {name: values[k] for k, name in enumerate(wanted)}


def read_new_lines(path: str | os.PathLike, offset: int) -> tuple[bytes, int]:
    """Return the complete lines appended to ``path`` since byte ``offset``, and the offset after them.

    A line still being written (no trailing newline yet) is left for the next call, so a line is
    never cut in half. Raises :class:`AmberFormatError` if the file is now shorter than ``offset``
    (it was truncated or replaced, and following it further would lose or repeat candidates).
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < offset:
            raise AmberFormatError(f"{Path(path).name} shrank below the followed offset {offset}")
        handle.seek(offset)
        data = handle.read(size - offset)
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


def make_chunk(path: str | os.PathLike, offset: int, *, observation: str | None = None) -> tuple[bytes, int]:
    """Cut the complete lines appended to the AMBER file ``path`` since ``offset`` into a chunk.

    Returns ``(chunk, new_offset)``; ``chunk`` is empty when no new candidate line is complete
    (header or comment lines alone are consumed without making a chunk). A chunk is self-contained:
    a provenance line ``#! skyspool-frb source=<file name> offset=<offset>`` (and ``observation=<id>``
    when given), the file's header line (for offsets past it) and the new lines. Store it as
    ``spool/frb/<obs_id>/<NNN>-candidates.trigger``.
    """
    lines, new_offset = read_new_lines(path, offset)
    if not any(line.strip() and not line.startswith(b"#") for line in lines.splitlines()):
        return b"", new_offset
    header = b""
    if offset > 0:
        with open(path, "rb") as handle:
            head = handle.read(min(offset, 65536)).decode("ascii", errors="replace")
        names = _header_names(head)
        if names is None:
            raise AmberFormatError(f"{Path(path).name} has no AMBER header line before offset {offset}")
        header = ("# " + " ".join(names) + "\n").encode()
    about = f" observation={observation}" if observation else ""
    mark = CHUNK_MARK + f" source={Path(path).name} offset={offset}{about}\n".encode()
    return mark + header + lines, new_offset


def chunk_mark(data: bytes) -> dict[str, str]:
    """The fields of a chunk's provenance line (``source``, ``offset``, ``observation``), else {}."""
    first = data.split(b"\n", 1)[0]
    if not first.startswith(CHUNK_MARK):
        return {}
    return dict(_MARK_FIELD.findall(first.decode("ascii", errors="replace")))


def chunk_end(data: bytes) -> int:
    """The offset in its source file just past the lines of the chunk ``data`` (made by
    :func:`make_chunk`): where following that file goes on."""
    mark = chunk_mark(data)
    try:
        offset = int(mark["offset"])
    except (KeyError, ValueError):
        raise AmberFormatError("not a skyspool chunk: no provenance line with an offset") from None
    body = data.split(b"\n", 1)[1] if b"\n" in data else b""
    if offset > 0:  # the header line was copied in, not read from the file here
        body = body.split(b"\n", 1)[1] if b"\n" in body else b""
    return offset + len(body)
