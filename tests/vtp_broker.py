"""A real VOEvent broker on loopback for the VTP tests: Comet (PyPI ``comet``, the broker DARC
and the CHIME/FRB VOEvent service run), in a ``twistd`` process of its own.

It receives from authors on one port and broadcasts to subscribers on another, keeps its
event database (the IVORNs it has seen) across a stop and start, and can go down and come
back on the same ports, as a broker does in an outage.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

BROKER_IVO = "ivo://skyspool.test/broker"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CometBroker:
    def __init__(self, folder: Path):
        self.folder = folder
        self.eventdb = folder / "eventdb"
        self.eventdb.mkdir(parents=True, exist_ok=True)
        self.log = folder / "comet.log"
        self.receive_port, self.broadcast_port = free_port(), free_port()
        self.process = None
        self.since = 0
        self.start()

    @property
    def receive(self) -> str:
        """Where authors send (``host:port``)."""
        return f"127.0.0.1:{self.receive_port}"

    @property
    def broadcast(self) -> str:
        """Where subscribers connect (``host:port``)."""
        return f"127.0.0.1:{self.broadcast_port}"

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_for_log(self, needle: str, count: int = 1, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.text().count(needle) < count:
            assert self.process.poll() is None, f"comet exited:\n{self.text()[-2000:]}"
            assert time.monotonic() < deadline, f"no {count}x {needle!r} in comet's log:\n{self.text()[-2000:]}"
            time.sleep(0.05)

    def start(self) -> None:
        twistd = Path(sys.executable).parent / "twistd"
        self.since = len(self.text())  # this run's part of the log
        started = self.text().count("VOEventBroadcasterFactory (WhitelistingFactory) starting")
        self.process = subprocess.Popen(
            [str(twistd), "-n", "--pidfile=", f"--logfile={self.log}", "comet",
             "--receive", f"--receive-port={self.receive_port}",
             "--broadcast", f"--broadcast-port={self.broadcast_port}",
             f"--local-ivo={BROKER_IVO}", f"--eventdb={self.eventdb}",
             "--broadcast-test-interval=0",
             "--author-whitelist=127.0.0.1/32", "--subscriber-whitelist=127.0.0.1/32"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.wait_for_log("VOEventBroadcasterFactory (WhitelistingFactory) starting", started + 1)
        self.wait_for_log("VOEventReceiverFactory (WhitelistingFactory) starting", started + 1)

    def subscribers(self) -> int:
        """Subscribers connected now (from this run's log)."""
        text = self.text()[self.since:]
        return text.count("New subscriber at") - text.count("Subscriber at")

    def stop(self) -> None:
        """Down: its ports are closed (connections refused)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None
