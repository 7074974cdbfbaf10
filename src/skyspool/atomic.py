"""Atomic file writes: a reader sees either no file or the whole file, never a part.

Every product and spool entry is written to a hidden temporary file in the destination
folder and then renamed into place (a rename within one file system is atomic).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Temporary names made by atomic_path: ".<name>." + mkstemp's 8 characters + ".tmp<suffixes>".
TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[^/]*)?")


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of atomic writes under ``folder`` (left by a killed
    writer: call only when no writer can be running there); return them."""
    removed = []
    for path in Path(folder).rglob(".*.tmp*"):
        if TEMPORARY_NAME.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success move it to ``dest``.

    The temporary name keeps the destination's suffixes (``.fits.gz``, ``.png``) because
    some writers choose the format from the name. With ``overwrite=False`` the move fails
    with :class:`FileExistsError` when ``dest`` already exists (hard link, then unlink).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(dest.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{suffix}", dir=dest.parent)
    # mkstemp makes the file private (0600); products are for people: 0666 less the umask.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)
            tmp.unlink()
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(dest: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``dest`` atomically and return ``dest`` as a Path."""
    with atomic_path(dest, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``dest`` atomically."""
    return write_bytes(dest, text.encode("utf-8"), overwrite=overwrite)


def write_json(dest: str | os.PathLike, obj, *, overwrite: bool = True) -> Path:
    """Write ``obj`` as indented JSON (NaN refused: JSON has no NaN) atomically."""
    return write_text(dest, json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n",
                      overwrite=overwrite)
