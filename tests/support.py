"""Test helpers: the corpus (read in place) and spools made with the real command line."""

import socket
from pathlib import Path

import yaml

from skyspool import cli
from skyspool.paths import Spool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
GW_ALERTS = CORPUS / "gw" / "alerts"
# Small resolutions keep the suite quick; areas and statistics come from the multi-order map.
FAST_CONFIG = {"skymap": {"flat_nside": 128, "contour_nside": 128, "plot_nside": 64}}


def make_spool(path: Path, config: dict | None = None) -> Spool:
    """A fresh spool made by `skyspool init`, with ``config`` as its config.yaml."""
    assert cli.main(["init", str(path)]) == 0
    spool = Spool(path)
    if config is not None:
        spool.config_file.write_text(yaml.safe_dump(config))
    return spool


def entry_holding(spool: Spool, kind: str, event_id: str, data: bytes):
    """The spool entry of ``kind``/``event_id`` whose stored bytes are ``data``."""
    for entry in spool.entries_of(kind, event_id):
        if entry.path.read_bytes() == data:
            return entry
    raise AssertionError(f"{kind}/{event_id}: no entry holds these bytes "
                         f"(quarantined: {sorted(p.name for p in spool.quarantine.iterdir())})")


def free_port() -> int:
    """A TCP port nobody listens on, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An SMTP server (aiosmtpd) on loopback ``port``, up inside ``with``; its value is the list of
    messages received."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Message

        self.received = []
        received = self.received

        class Collect(Message):
            def handle_message(self, message):
                received.append(message)

        self.controller = Controller(Collect(), hostname="127.0.0.1", port=port)

    def __enter__(self) -> list:
        self.controller.start()
        return self.received

    def __exit__(self, *exc):
        self.controller.stop()
