"""Every way a complete file appears in the inbox is taken on its inotify event, not by the
periodic rescan, and files are stored from the start, before the warm-up build ends.

One real ``skyspool watch`` process; the daemon's JSON log says, per stored file, whether
the event or the rescan found it (``seen_by``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watchdog.events import FileClosedEvent, FileCreatedEvent, FileModifiedEvent, FileMovedEvent

from skyspool.inbox import arrived_complete
from support import CORPUS, make_spool

VOEVENTS = CORPUS / "notices" / "voevent"
TIMEOUT_S = 240


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def moved_from_outside(source: Path, inbox: Path, outside: Path) -> None:
    """``mv /data/x spool/inbox/``: written elsewhere on the same file system, renamed in."""
    _write(outside / source.name, source.read_bytes())
    os.rename(outside / source.name, inbox / source.name)


def moved_from_other_file_system(source: Path, inbox: Path, outside: Path) -> None:
    """``mv`` from another file system (tmpfs): copied to the final name, then closed."""
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as other:
        _write(Path(other) / source.name, source.read_bytes())
        shutil.move(Path(other) / source.name, inbox / source.name)


def hard_linked(source: Path, inbox: Path, outside: Path) -> None:
    """``ln /data/x spool/inbox/``: a created file with no close to follow."""
    _write(outside / source.name, source.read_bytes())
    os.link(outside / source.name, inbox / source.name)


def copied(source: Path, inbox: Path, outside: Path) -> None:
    """``cp x spool/inbox/``: created, written, closed."""
    shutil.copyfile(source, inbox / source.name)


def hidden_part_renamed(source: Path, inbox: Path, outside: Path) -> None:
    """A download manager: ``.x.part`` in the inbox, renamed when complete."""
    _write(inbox / f".{source.name}.part", source.read_bytes())
    os.rename(inbox / f".{source.name}.part", inbox / source.name)


def rsync_temporary_renamed(source: Path, inbox: Path, outside: Path) -> None:
    """rsync: ``.x.XXXXXX`` in the inbox, renamed when complete."""
    _write(inbox / f".{source.name}.Qx81zT", source.read_bytes())
    os.rename(inbox / f".{source.name}.Qx81zT", inbox / source.name)


def renamed_inside(source: Path, inbox: Path, outside: Path) -> None:
    """Written under a hidden name without a suffix, then renamed within the inbox."""
    _write(inbox / ".incoming", source.read_bytes())
    os.rename(inbox / ".incoming", inbox / source.name)


WAYS = [moved_from_other_file_system, hard_linked, copied, hidden_part_renamed,
        rsync_temporary_renamed, renamed_inside]


def _log_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_every_arrival_way_is_taken_on_its_event_and_stored_before_the_warm_up_ends(tmp_path):
    sources = sorted(VOEVENTS.glob("*.xml"))
    assert len(sources) >= len(WAYS) + 1, sources
    spool = make_spool(tmp_path / "spool", {"skymap": {"flat_nside": 64, "contour_nside": 64,
                                                          "plot_nside": 64}})
    outside = tmp_path / "outside"
    outside.mkdir()
    log = tmp_path / "watch.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "skyspool.cli", "watch", str(spool.root), "--workers", "1",
             "--log-format", "json"], stdout=output, stderr=subprocess.STDOUT)
    try:
        steps = lambda: [line["step"] for line in _log_lines(log)]  # noqa: E731
        _wait_for(lambda: "taking" in steps() or process.poll() is not None, "the daemon to take files")
        assert process.poll() is None, log.read_text()
        # First file: moved in from outside as soon as the daemon takes files.
        first, rest = sources[0], sources[1:len(WAYS) + 1]
        moved_from_outside(first, spool.inbox, outside)
        for way, source in zip(WAYS, rest):
            way(source, spool.inbox, outside)
        names = [first.name] + [source.name for source in rest]
        stored = lambda: {line["file"]: line for line in _log_lines(log)  # noqa: E731
                          if line["step"] == "stored"}
        _wait_for(lambda: set(names) <= set(stored()), "every file stored")
        seen_by = {name: stored()[name]["seen_by"] for name in names}
        assert seen_by == {name: "event" for name in names}
        assert not [p for p in spool.inbox.iterdir()], list(spool.inbox.iterdir())
        assert len(spool.entries()) == len(names)
        # Stored before the warm-up build ended ("watching" comes when it ends).
        order = steps()
        assert "watching" not in order or order.index("stored") < order.index("watching")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT_S) == 0, log.read_text()[-3000:]


def _event(cls, *paths):
    return cls(*[os.fsencode(p) for p in paths])


def test_which_events_show_a_complete_file(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "whole.json").write_bytes(b"{}")
    (inbox / "empty.json").write_bytes(b"")
    assert arrived_complete(_event(FileCreatedEvent, inbox / "whole.json"), inbox) == inbox / "whole.json"
    assert arrived_complete(_event(FileCreatedEvent, inbox / "empty.json"), inbox) is None
    assert arrived_complete(_event(FileCreatedEvent, inbox / "gone.json"), inbox) is None
    assert arrived_complete(_event(FileClosedEvent, inbox / "empty.json"), inbox) == inbox / "empty.json"
    assert arrived_complete(_event(FileMovedEvent, inbox / ".x.part", inbox / "x"), inbox) == inbox / "x"
    assert arrived_complete(_event(FileMovedEvent, inbox / "x", inbox / ".x.part"), inbox) is None
    assert arrived_complete(_event(FileMovedEvent, inbox / "x", tmp_path / "x"), inbox) is None
    assert arrived_complete(_event(FileClosedEvent, inbox / ".x.Qx81zT"), inbox) is None
    assert arrived_complete(_event(FileModifiedEvent, inbox / "whole.json"), inbox) is None
    # Being written (open for writing by this process): its close event comes later.
    with open(inbox / "writing.json", "wb") as handle:
        handle.write(b"{")
        handle.flush()
        assert arrived_complete(_event(FileCreatedEvent, inbox / "writing.json"), inbox) is None
    assert arrived_complete(_event(FileCreatedEvent, inbox / "writing.json"), inbox) == inbox / "writing.json"
