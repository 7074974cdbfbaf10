"""The watch daemon's inbox: files that arrive, turned into stored entries.

A watchdog observer (inotify) reports files closed after writing, renamed into or within
``inbox/``, or created whole (:func:`arrived_complete`); a periodic rescan catches anything
the events missed (files still held open for writing are left alone). :meth:`Inbox.take`
ingests them (``skyspool.ingest``: identify, validate, de-duplicate, store atomically or
quarantine) and says which entries to build: the stored one and those its arrival affects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import time
from collections.abc import Callable
from pathlib import Path

from skyspool import ingest, targets
from skyspool.frb import targets as frb_targets
from skyspool.paths import Entry, Spool
from skyspool.records import entry_name, note

# Most files taken per round of the main loop: the first notices of a burst need not wait
# until all of it is stored.
ROUND = 16


def written_in(folder: Path) -> set[Path]:
    """Files in ``folder`` that some process (that we may inspect) holds open for writing."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    path = Path(os.readlink(f"/proc/{pid}/fd/{fd}"))
                    if path.parent == folder:
                        flags = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                                    .split("flags:")[1].split()[0], 8)
                        if flags & (os.O_WRONLY | os.O_RDWR):
                            found.add(path)
    return found


def arrived_complete(event, inbox: Path) -> Path | None:
    """The inbox file a watchdog event shows complete, or None.

    - closed after writing (written in place, or copied in: ``cp``, ``shutil.copy``);
    - renamed within the inbox, from a hidden temporary name (``.x.part``, rsync's
      ``.x.XXXXXX``) or any other;
    - *created*: watchdog reports a rename from outside the watched folder (``mv`` from
      another folder or file system's copy-then-rename, ``IN_MOVED_TO`` without a source)
      and a hard link as a created file, with no close event to follow. A created file
      is taken at once unless some process holds it open for writing (then it is being
      written, and its close event comes later) or it is still empty.
    Hidden names (a dot first) are files still being written: never taken.
    """
    from watchdog.events import FileClosedEvent, FileCreatedEvent, FileMovedEvent

    if isinstance(event, FileMovedEvent):
        path = Path(os.fsdecode(event.dest_path))
    elif isinstance(event, (FileClosedEvent, FileCreatedEvent)):
        path = Path(os.fsdecode(event.src_path))
    else:
        return None
    if path.parent != inbox or path.name.startswith("."):
        return None
    if isinstance(event, FileCreatedEvent):
        try:
            if path.stat(follow_symlinks=False).st_size == 0:
                return None  # a writer's open(O_CREAT): its close event follows
        except FileNotFoundError:
            return None
        if path in written_in(inbox):
            return None
    return path


class ForwardingEventHandler:
    """watchdog event handler forwarding every event to a function."""

    def __init__(self, callback):
        self.callback = callback

    def dispatch(self, event) -> None:
        self.callback(event)


class Inbox:
    """Files arrived in ``spool``'s inbox, and the wake-ups of the daemon's loop.

    ``settle_s``: how long (s) a file found by a rescan must keep its size before it is
    taken; ``rescan_s``: seconds between rescans; ``clock``: UNIX seconds (the time an
    entry was received).
    """

    def __init__(self, spool: Spool, *, settle_s: float, rescan_s: float,
                 clock: Callable[[], float] = time.time):
        self.spool, self.settle_s, self.rescan_s, self.clock = spool, settle_s, rescan_s, clock
        self.wakeups: queue.Queue = queue.Queue()   # inbox paths from watchdog, None = look
        self.arrived: dict[Path, str] = {}           # inbox files to take -> seen by "event" or "rescan"
        self.sizes: dict[Path, tuple[int, float, float]] = {}
        self.last_rescan = 0.0                       # time.monotonic() (rescans ignore clock steps)

    def observe(self):
        """A watchdog observer (not started) reporting the inbox's files."""
        from watchdog.observers import Observer

        observer = Observer()
        observer.schedule(ForwardingEventHandler(self._on_event), str(self.spool.inbox), recursive=False)
        return observer

    def _on_event(self, event) -> None:
        """watchdog callback (observer thread): see :func:`arrived_complete`."""
        path = arrived_complete(event, self.spool.inbox)
        if path is not None:
            self.wakeups.put(path)

    def wake(self) -> None:
        """Wake the loop (from any thread)."""
        self.wakeups.put(None)

    def seconds_to_rescan(self) -> float:
        return self.last_rescan + self.rescan_s - time.monotonic()

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` s until a file arrives or something wakes the loop."""
        items = []
        with contextlib.suppress(queue.Empty):
            items.append(self.wakeups.get(timeout=timeout) if timeout else self.wakeups.get_nowait())
            while True:
                items.append(self.wakeups.get_nowait())
        for item in items:
            if item is not None:
                self.arrived.setdefault(item, "event")

    def rescan(self) -> None:
        """Queue inbox files whose size held still for ``settle_s`` and that nobody writes.

        This catches files that arrived while the daemon was down, and any that the
        events missed; a file is seen twice, ``settle_s`` apart, before it is taken.
        """
        now = time.monotonic()
        self.last_rescan = now
        seen, settled = {}, []
        for path in ingest.inbox_files(self.spool):
            with contextlib.suppress(FileNotFoundError):
                info = path.stat(follow_symlinks=False)  # a link is refused, not followed
                first = self.sizes.get(path)
                key = (info.st_size, info.st_mtime)
                since = first[2] if first and first[:2] == key else now
                seen[path] = (*key, since)
                if now - since >= self.settle_s and path not in self.arrived:
                    settled.append(path)
        if settled:
            written = written_in(self.spool.inbox)
            self.arrived.update((path, "rescan") for path in settled if path not in written)
        self.sizes = seen

    def take(self, config: dict, follower) -> list[tuple[Entry, float]]:
        """Ingest up to ``ROUND`` arrived files: the entries to build, with the time each was
        received (the stored entry, FRB chunks that get views of it, coincidence partners)."""
        from skyspool import coincidence

        stored = []
        for path in list(self.arrived)[:ROUND]:
            seen_by = self.arrived.pop(path)
            started = self.clock()
            try:
                outcome = ingest.ingest_file(self.spool, path, max_bytes=config["max_input_bytes"])
            except FileNotFoundError:
                continue  # taken meanwhile (an earlier event for the same file)
            except OSError as exc:  # a full disk: the file stays, a rescan offers it again
                note("ingest-failed", logging.ERROR, file=path.name, error=str(exc))
                continue
            self.sizes.pop(path, None)
            if outcome.entry is None:
                note("quarantined", logging.WARNING, file=outcome.source, reason=outcome.reason)
                continue
            note(outcome.status, file=outcome.source, entry=entry_name(outcome.entry), seen_by=seen_by)
            if outcome.status == "duplicate" and not targets.missing_targets(
                    self.spool, [outcome.entry], config):
                continue  # built already (a duplicate is built again only after a crash)
            stored.append((outcome.entry, started))
            for chunk in frb_targets.affected_entries(self.spool, outcome.entry):
                note("filterbank-views", entry=entry_name(chunk), cause=entry_name(outcome.entry))
                stored.append((chunk, started))
            if follower.entry_stored(outcome.entry):
                continue  # an FRB observation's own entry: no notice to coincide with
            for partner in coincidence.affected_entries(self.spool, outcome.entry, config):
                note("coincidence-update", entry=entry_name(partner), cause=entry_name(outcome.entry))
                stored.append((partner, started))
        return stored
