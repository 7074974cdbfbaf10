"""Taking files from the inbox: identify, validate, de-duplicate, store once, or quarantine.

Crash safety: a file leaves the inbox only after it is stored (or quarantined) in full.
If the process dies in between, the file is taken again on the next pass; the spool then
finds the identical bytes already stored and drops the inbox copy. Quarantine names carry
a content hash, so quarantining twice writes the same entry again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import filecmp
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from skyspool import atomic, formats
from skyspool.notices import mission_maps
from skyspool.paths import Entry, Spool

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Pieces in which large files (filterbank data) are copied into the spool.
COPY_BYTES = 16 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one inbox file: ``stored``, ``duplicate`` or ``quarantined``."""

    source: str
    status: str
    entry: Entry | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.entry is not None:
            where = f"{self.entry.kind}/{self.entry.event_id}/{self.entry.path.name}"
            return f"{self.status}: {self.source} -> {where}"
        return f"{self.status}: {self.source}: {self.reason}"


def inbox_files(spool: Spool) -> list[Path]:
    """Complete files waiting in the inbox, oldest first (dot-files are still being written)."""
    files = []
    with os.scandir(spool.inbox) as found:
        for item in found:
            if not item.name.startswith(".") and not item.is_dir(follow_symlinks=False):
                files.append((item.stat(follow_symlinks=False).st_mtime, item.name))
    return [spool.inbox / name for _, name in sorted(files)]


def _open_regular_file(path: Path):
    """The file open for reading, refusing links and special files."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise formats.Refused("symbolic link: only regular files are accepted") from None
        raise
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise formats.Refused("not a regular file")
    return handle


def _too_large(size: int, max_bytes: int, what: str = "") -> None:
    if size > max_bytes:
        raise formats.Refused(f"too large: {size} bytes, the limit{what} is {max_bytes}")


@contextlib.contextmanager
def _spool_lock(spool: Spool):
    """Serialise entry numbering among processes (daemon, ``process``, people)."""
    spool.ingest_lock.parent.mkdir(parents=True, exist_ok=True)
    with open(spool.ingest_lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _commit(spool: Spool, message: formats.Message, size: int, same, write) -> tuple[str, Entry]:
    """Store a file of ``size`` bytes as the next entry of its event (``write(path)``), unless an
    entry holds the same bytes (``same(path)``)."""
    with _spool_lock(spool):
        existing = spool.entries_of(message.kind, message.event_id)
        for entry in existing:
            if entry.path.stat().st_size == size and same(entry.path):
                return "duplicate", entry
        number = existing[-1].number + 1 if existing else 1
        path = spool.entry_path(message.kind, message.event_id, number, message.alert_type,
                                message.extension)
        write(path)
        return "stored", Entry(message.kind, message.event_id, number, message.alert_type, path)


def _store(spool: Spool, message: formats.Message, data: bytes) -> tuple[str, Entry]:
    """Store ``data`` as the next entry of its event, unless identical bytes are stored."""
    return _commit(spool, message, len(data), lambda path: path.read_bytes() == data,
                   lambda path: atomic.write_bytes(path, data, overwrite=False))


def _store_large(spool: Spool, message: formats.Message, handle) -> tuple[str, Entry]:
    """Store an open large file as :func:`_store` stores bytes, copied in pieces into a hidden
    file of the event's folder first, so that the numbering lock is held only for the link."""
    folder = spool.event_dir(message.kind, message.event_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{message.alert_type}.", suffix=".tmp", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o444)  # the spool never changes an entry
            handle.seek(0)
            shutil.copyfileobj(handle, out, COPY_BYTES)
            out.flush()
            os.fsync(out.fileno())
        return _commit(spool, message, tmp.stat().st_size,
                       lambda path: filecmp.cmp(path, tmp, shallow=False), lambda path: os.link(tmp, path))
    finally:
        tmp.unlink(missing_ok=True)


def quarantine_name(name: str, data: bytes | None) -> str:
    """``<content hash>-<safe name>``: what a refused file is called in quarantine (a file
    that was not read, such as a link, is hashed by its name)."""
    digest = hashlib.sha256(data if data is not None else name.encode()).hexdigest()[:12]
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100].lstrip(".") or "unnamed"
    return f"{digest}-{safe_name}"


def _quarantine_place(spool: Spool, name: str, reason: str, data: bytes | None) -> Path:
    """Where a refused file called ``name`` goes, with its one-line ``.reason.txt`` written."""
    target = spool.quarantine / quarantine_name(name, data)
    one_line = " ".join(reason.split())
    atomic.write_text(target.with_name(target.name + ".reason.txt"), one_line + "\n")
    return target


def quarantine(spool: Spool, path: Path, reason: str, data: bytes | None = None) -> Path:
    """Move ``path`` into quarantine beside a one-line ``.reason.txt``; return its new path."""
    target = _quarantine_place(spool, path.name, reason, data)
    os.replace(path, target)
    return target


def _refused(spool: Spool, path: Path, reason: str, data: bytes | None, bug: bool = False) -> Outcome:
    quarantine(spool, path, reason, data)
    (log.exception if bug else log.warning)("quarantined %s: %s", path.name, reason)
    return Outcome(path.name, "quarantined", reason=reason)


def ingest_file(spool: Spool, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Outcome:
    """Take one inbox file into the spool or quarantine; the inbox copy is gone afterwards.

    A file of a large format (filterbank data) has that format's own size limit instead of
    ``max_bytes``; it is identified from its first bytes and copied in pieces, never read whole.
    """
    data = None
    try:
        handle = _open_regular_file(path)
    except formats.Refused as exc:
        return _refused(spool, path, str(exc), None)
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(formats.HEAD_BYTES)
            large = formats.large_format(head, path.name)
            if large is None:
                _too_large(size, max_bytes)
                data = head + handle.read(max_bytes + 1 - len(head))
                # a mission's map file for a stored notice's healpix_url, else a message
                message = mission_maps.message(spool, data, path.name) or formats.identify(data, path.name)
            else:
                _too_large(size, large.max_bytes, f" for {large.name}")
                message = large.parse(head, size, path.name)
        except formats.Refused as exc:
            return _refused(spool, path, str(exc), data)
        except Exception as exc:  # a parser's bug must not stop the daemon or lose the file
            reason = f"could not be read (a skyspool bug, please report): {type(exc).__name__}: {exc}"
            return _refused(spool, path, reason, data, bug=True)
        status, entry = _store(spool, message, data) if large is None else _store_large(spool, message, handle)
    path.unlink()
    log.info("%s %s as %s/%s/%s", status, path.name, entry.kind, entry.event_id, entry.path.name)
    return Outcome(path.name, status, entry)


def store_bytes(spool: Spool, data: bytes, name: str) -> Outcome:
    """Store bytes that skyspool made itself (a chunk of a followed file, a stop file) as the
    inbox would take a file called ``name``; refused bytes are quarantined under that name."""
    try:
        message = formats.identify(data, name)
    except formats.Refused as exc:
        atomic.write_bytes(_quarantine_place(spool, name, str(exc), data), data)
        log.warning("quarantined %s: %s", name, exc)
        return Outcome(name, "quarantined", reason=str(exc))
    status, entry = _store(spool, message, data)
    log.info("%s %s as %s/%s/%s", status, name, entry.kind, entry.event_id, entry.path.name)
    return Outcome(name, status, entry)


def take_inbox(spool: Spool, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Outcome]:
    """Ingest every complete file waiting in the inbox."""
    outcomes = []
    for path in inbox_files(spool):
        try:
            outcomes.append(ingest_file(spool, path, max_bytes=max_bytes))
        except FileNotFoundError:
            continue  # taken meanwhile by another process
    return outcomes


def put_in_inbox(spool: Spool, source: Path) -> Path:
    """Copy ``source`` into the inbox so that it appears complete, all at once (renamed in)."""
    target = spool.inbox / re.sub(r"[^A-Za-z0-9._-]", "_", source.name).lstrip(".")
    if target.exists():
        target = target.with_name(f"{target.stem}-{os.urandom(4).hex()}{target.suffix}")
    tmp = spool.inbox / f".{target.name}.part"
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target
