"""Shared fixtures (helpers are in support.py: conftest modules are not importable by name)."""

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from skyspool import cli
from skyspool.paths import Spool
from socket_guard import sitecustomize as guard
from support import FAST_CONFIG, GW_ALERTS, make_spool

SOCKET_GUARD_DIR = Path(__file__).resolve().parent / "socket_guard"


@pytest.fixture(autouse=True)
def socket_guard(monkeypatch, tmp_path_factory):
    """Fail any test that opens a connection (or sends a datagram) to a non-loopback address.

    Guards this process's Python sockets (connect, connect_ex, sendto, create_connection) and, through
    PYTHONPATH, every Python process the test starts (see tests/socket_guard/sitecustomize.py). An
    attempt fails the test even when the code under test catches the exception."""
    attempts: list[str] = []
    handle, name = tempfile.mkstemp(prefix="socket-guard-", dir=tmp_path_factory.getbasetemp())
    os.close(handle)
    child_log = Path(name)
    monkeypatch.setenv(guard.LOG_VARIABLE, str(child_log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SOCKET_GUARD_DIR),
                                                                   os.environ.get("PYTHONPATH")])))
    originals = guard.install(attempts.append)
    try:
        yield attempts
    finally:
        guard.uninstall(originals)
    attempts += child_log.read_text().splitlines()
    child_log.unlink()
    if attempts:
        pytest.fail("\n".join(attempts), pytrace=False)


@pytest.fixture(scope="session")
def processed_gw_spool(tmp_path_factory):
    """A spool that has taken every GW alert of the corpus through `skyspool process`."""
    spool = make_spool(tmp_path_factory.mktemp("gw") / "spool", FAST_CONFIG)
    for alert in sorted(GW_ALERTS.iterdir()):
        shutil.copy(alert, spool.inbox / alert.name)
    assert cli.main(["process", str(spool.root)]) == 0
    return spool


@pytest.fixture
def copied_gw_spool(processed_gw_spool, tmp_path) -> Spool:
    """A private copy of :func:`processed_gw_spool` that a test may publish from and change."""
    root = tmp_path / "spool"
    shutil.copytree(processed_gw_spool.root, root, symlinks=True,
                    ignore=shutil.ignore_patterns(".snakemake", "published"))
    return Spool(root)


@pytest.fixture
def udp_socket():
    """A UDP socket on loopback standing in for a receiver (LOFAR's trigger receiver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(60)
        yield sock
