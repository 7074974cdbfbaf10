"""Following growing AMBER candidate files: the watch daemon's part of FRB observations.

An observation description stored in the spool (``spool/frb/<obs_id>/<NNN>-observation.yaml``)
names its candidate files (``candidate_files``: absolute paths, wildcards in the file name).
While the observation runs, every complete line appended to those files is cut into a chunk
(:func:`skyspool.frb.amber.make_chunk`) and stored as the observation's next spool entry
``<NNN>-candidates.trigger``, whose products Snakemake then builds like any other entry's.

The observation ends with its stop entry (``<NNN>-stop.yaml``): a stop file dropped in the inbox,
or one the follower stores itself when no candidate file grew for ``frb.follow.timeout_s``. Lines
completed before the stop file was taken are stored before it (the daemon polls, then takes).

Nothing but the spool holds the state: after a restart, :meth:`Follower.resume` follows every
observation without a stop entry again from where its stored chunks end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import glob
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from skyspool import ingest, settings
from skyspool.frb.amber import AmberFormatError, chunk_end, chunk_mark, make_chunk
from skyspool.frb.observation import ObservationError, load_observation
from skyspool.frb.triage import milky_way_dm
from skyspool.paths import Entry, Spool, filterbank_beam

log = logging.getLogger("skyspool.watch")
#: Alert types of the spool entries of FRB observations (skyspool.formats.frb).
OWN_TYPES = frozenset({"observation", "candidates", "stop", "source_list"})


@dataclasses.dataclass
class _Followed:
    """One running observation: its file patterns, and per file name the offset followed to."""

    obs_id: str
    patterns: tuple[str, ...]
    offsets: dict[str, int]
    last_growth: float  # time.monotonic() of the last new line (or of the start)

    @property
    def folders(self) -> set[str]:
        return {os.path.dirname(pattern) for pattern in self.patterns}


class _FollowedFileEventHandler:
    """watchdog handler: wake the daemon when a file matching a followed pattern changes."""

    def __init__(self, follower: Follower):
        self.follower = follower

    def dispatch(self, event) -> None:
        path = getattr(event, "dest_path", None) or event.src_path
        if any(fnmatch.fnmatchcase(path, p) for f in self.follower.followed.values() for p in f.patterns):
            self.follower.wake()


class Follower:
    """The followed observations of a spool.

    ``wake`` is called (from watchdog's thread) when a followed file changes; the daemon then
    calls :meth:`poll` from its own loop, and at least every :meth:`timeout` seconds.
    """

    def __init__(self, spool: Spool, config: dict, wake: Callable[[], None]):
        frb = settings.of(config).frb
        self.galactic_model = frb.thresholds.galactic_model
        self.spool = spool
        self.timeout_s = float(frb.follow.timeout_s)
        self.poll_s = float(frb.follow.poll_s)
        self.wake = wake
        self.followed: dict[str, _Followed] = {}
        self.observer = None
        self.watches: dict[str, object] = {}  # folder -> watchdog watch

    def attach(self, observer) -> None:
        """Watch the followed folders with ``observer`` (a running watchdog Observer)."""
        self.observer = observer
        self._update_watches()

    def timeout(self) -> float:
        """Seconds until the next poll is due (while anything is followed)."""
        return self.poll_s if self.followed else float("inf")

    # --- starting and ending ---

    def entry_stored(self, entry: Entry) -> bool:
        """React to a new spool entry: an observation starts being followed, a stop ends it.
        True for the entries of FRB observations (not notices), filterbank data included."""
        if entry.kind != "frb" or (entry.alert_type not in OWN_TYPES and filterbank_beam(entry.alert_type) is None):
            return False
        if entry.alert_type == "observation":
            self._start(entry)
        elif entry.alert_type == "stop":
            self._end(entry.event_id, "stop file")
        return True

    def _start(self, entry: Entry, offsets: dict[str, int] | None = None) -> None:
        try:
            observation = load_observation(entry.path)
        except (ObservationError, ValueError) as exc:  # validated at ingest: only if changed since
            log.error("follow-failed entry=frb/%s/%s reason=%s", entry.event_id, entry.name, exc)
            return
        known = self.followed.get(observation.id)
        self.followed[observation.id] = _Followed(
            observation.id, observation.candidate_files,
            offsets if offsets is not None else (known.offsets if known else {}), time.monotonic())
        log.info("follow-started observation=%s files=%s", observation.id, ",".join(observation.candidate_files))
        self._update_watches()
        # The chunks' products run in this process (the daemon's notice runs): the Milky Way DM of
        # each beam (pygedm: ~5 s to import and load on first use) is then cached before they need it.
        threading.Thread(target=self._warm_up, args=(observation,), daemon=True).start()

    def _warm_up(self, observation) -> None:
        with contextlib.suppress(ValueError):
            for cb in observation.beams:
                milky_way_dm(observation, cb, self.galactic_model)

    def _end(self, obs_id: str, why: str) -> None:
        if self.followed.pop(obs_id, None) is not None:
            log.info("follow-ended observation=%s reason=%s", obs_id, why)
            self._update_watches()

    def resume(self) -> None:
        """Follow again every observation of the spool that has no stop entry after its description."""
        for _, obs_id in self.spool.events("frb"):
            entries = self.spool.entries_of("frb", obs_id)
            described = [e for e in entries if e.alert_type == "observation"]
            if not described or any(e.alert_type == "stop" and e.number > described[-1].number for e in entries):
                continue
            offsets: dict[str, int] = {}
            for entry in entries:
                if entry.alert_type == "candidates":
                    data = entry.path.read_bytes()
                    source = chunk_mark(data).get("source")
                    offsets[source] = max(offsets.get(source, 0), chunk_end(data))
            self._start(described[-1], offsets)

    def _update_watches(self) -> None:
        """Watch exactly the existing folders of the followed files."""
        if self.observer is None:
            return
        wanted = {d for f in self.followed.values() for d in f.folders if os.path.isdir(d)}
        for folder in set(self.watches) - wanted:
            self.observer.unschedule(self.watches.pop(folder))
        for folder in wanted - set(self.watches):
            self.watches[folder] = self.observer.schedule(_FollowedFileEventHandler(self), folder, recursive=False)

    # --- cutting chunks ---

    def poll(self) -> list[Entry]:
        """Store what was appended to the followed files, and stop observations that stopped
        growing; return the new spool entries (chunks, stop entries) to build."""
        stored = []
        now = time.monotonic()
        for followed in list(self.followed.values()):
            for path in self._files(followed):
                stored += self._cut(followed, path, now)
            if now - followed.last_growth >= self.timeout_s:
                stored += self._store(f"{followed.obs_id}-stop.yaml", (
                    f"stop: {followed.obs_id}\nreason: no candidate file grew for {self.timeout_s:g} s\n").encode())
                self._end(followed.obs_id, "timeout")
        if len(self.watches) < len({d for f in self.followed.values() for d in f.folders}):
            self._update_watches()  # a folder that did not exist at the start may exist now
        return stored

    @staticmethod
    def _files(followed: _Followed) -> list[Path]:
        """Regular files (not links) matching the observation's patterns, each name once."""
        found = {}
        for pattern in followed.patterns:
            for name in sorted(glob.glob(pattern)):
                path = Path(name)
                try:
                    if stat.S_ISREG(path.lstat().st_mode):
                        found.setdefault(path.name, path)
                except FileNotFoundError:
                    continue
        return list(found.values())

    def _cut(self, followed: _Followed, path: Path, now: float) -> list[Entry]:
        offset = followed.offsets.get(path.name, 0)
        if offset < 0:
            return []  # given up on (shrank)
        try:
            if path.stat().st_size == offset:
                return []
            chunk, new_offset = make_chunk(path, offset, observation=followed.obs_id)
        except (OSError, AmberFormatError) as exc:
            log.error("follow-file-dropped observation=%s file=%s reason=%s", followed.obs_id, path, exc)
            followed.offsets[path.name] = -1
            return []
        if new_offset > offset:
            followed.last_growth = now
        followed.offsets[path.name] = new_offset
        return self._store(path.name, chunk) if chunk else []

    def _store(self, name: str, data: bytes) -> list[Entry]:
        outcome = ingest.store_bytes(self.spool, data, name)
        return [outcome.entry] if outcome.entry is not None else []
