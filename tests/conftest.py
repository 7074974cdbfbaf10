"""Shared fixtures (helpers are in support.py: conftest modules are not importable by name)."""

import ipaddress
import shutil
import socket

import pytest

from skyspool import cli
from skyspool.paths import Spool
from support import FAST_CONFIG, GW_ALERTS, make_spool


class NonLoopbackConnection(RuntimeError):
    """A test tried to reach past this machine (tests talk to servers on loopback only)."""


def _is_loopback_host(host) -> bool:
    host = host.decode() if isinstance(host, bytes) else str(host)
    host = host.split("%", 1)[0]  # an IPv6 scope id
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:  # a name: loopback only if every address it resolves to is
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_loopback for info in infos)


def _check_address(family, address, how: str, attempts: list) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):  # AF_UNIX and friends stay on this machine
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback_host(host):
        message = (f"socket guard: this test called {how} to {address!r}, which is not loopback; "
                   f"tests may reach 127.0.0.0/8, ::1, localhost and AF_UNIX sockets only "
                   f"(start a loopback server instead, see tests/conftest.py)")
        attempts.append(message)
        raise NonLoopbackConnection(message)


@pytest.fixture(autouse=True)
def socket_guard(monkeypatch):
    """Fail any test that opens a connection (or sends a datagram) to a non-loopback address.

    Guards this process's Python sockets (connect, connect_ex, sendto, create_connection); an
    attempt fails the test even when the code under test catches the exception. Child processes and
    C libraries with their own sockets (librdkafka) are not covered."""
    attempts: list[str] = []
    real_connect, real_connect_ex, real_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    real_create_connection = socket.create_connection

    def connect(sock, address):
        _check_address(sock.family, address, "socket.connect", attempts)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        _check_address(sock.family, address, "socket.connect_ex", attempts)
        return real_connect_ex(sock, address)

    def sendto(sock, data, *flags_address):
        _check_address(sock.family, flags_address[-1], "socket.sendto", attempts)
        return real_sendto(sock, data, *flags_address)

    def create_connection(address, *args, **kwargs):
        _check_address(socket.AF_INET, address, "socket.create_connection", attempts)
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield attempts
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
