"""The socket guard of conftest.py: loopback and AF_UNIX pass, anything else fails the test."""

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from socket_guard.sitecustomize import NonLoopbackConnection

# RFC 5737 TEST-NET-1 and RFC 3849's documentation prefix: public-looking, never routed.
PUBLIC_V4 = ("192.0.2.1", 80)
PUBLIC_V6 = ("2001:db8::1", 80)


def _expect_blocked(attempts, call, how, address):
    with pytest.raises(NonLoopbackConnection) as caught:
        call()
    expected = (f"socket guard: this test called {how} to {address!r}, which is not loopback; "
                "tests may reach 127.0.0.0/8, ::1, localhost and AF_UNIX sockets only "
                "(start a loopback server instead, see tests/conftest.py)")
    assert str(caught.value) == expected
    # The attempt is recorded, so the test fails at teardown even if the code under test
    # swallowed the exception; this test clears it, having checked it.
    assert attempts == [expected]
    attempts.clear()


def test_public_addresses_are_refused_with_a_clear_message(socket_guard):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        _expect_blocked(socket_guard, lambda: tcp.connect(PUBLIC_V4), "socket.connect", PUBLIC_V4)
        _expect_blocked(socket_guard, lambda: tcp.connect_ex(PUBLIC_V4), "socket.connect_ex", PUBLIC_V4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        _expect_blocked(socket_guard, lambda: udp.sendto(b"x", PUBLIC_V4), "socket.sendto", PUBLIC_V4)
        _expect_blocked(socket_guard, lambda: udp.sendto(b"x", 0, PUBLIC_V4), "socket.sendto", PUBLIC_V4)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as tcp6:
        _expect_blocked(socket_guard, lambda: tcp6.connect(PUBLIC_V6), "socket.connect", PUBLIC_V6)
    _expect_blocked(socket_guard, lambda: socket.create_connection(PUBLIC_V4, timeout=1),
                    "socket.create_connection", PUBLIC_V4)
    # A name that does not resolve to loopback only (here: not at all) is refused as well.
    name = ("gcn.invalid", 9092)
    _expect_blocked(socket_guard, lambda: socket.create_connection(name, timeout=1),
                    "socket.create_connection", name)


def test_a_swallowed_attempt_still_fails_the_test(socket_guard):
    try:
        socket.create_connection(PUBLIC_V4, timeout=1)
    except Exception:  # noqa: BLE001 - code under test that hides every error
        pass
    assert len(socket_guard) == 1 and "192.0.2.1" in socket_guard[0]
    socket_guard.clear()


def test_loopback_and_unix_sockets_pass(socket_guard, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        accepted = []
        acceptor = threading.Thread(target=lambda: accepted.append(server.accept()[0].recv(5)))
        acceptor.start()
        with socket.create_connection(("localhost", port), timeout=5) as client:
            client.sendall(b"hello")
        acceptor.join(5)
        assert accepted == [b"hello"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        sender.sendto(b"lofar", ("127.0.0.1", receiver.getsockname()[1]))
        assert receiver.recv(16) == b"lofar"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "control.sock"))
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            assert client.connect_ex(str(tmp_path / "control.sock")) == 0
    assert socket_guard == []


def test_a_child_python_process_is_guarded_too(socket_guard):
    """A daemon or Snakemake job the test starts imports the guard (PYTHONPATH's sitecustomize): its
    attempt fails there and is recorded for this test's teardown."""
    child = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 1)"],
                           capture_output=True, text=True)
    assert child.returncode == 1 and "NonLoopbackConnection: socket guard: this test called " \
        "socket.create_connection to ('192.0.2.1', 80), which is not loopback" in child.stderr
    log = Path(os.environ["SKYSPOOL_SOCKET_GUARD_LOG"])
    expected = ("socket guard: this test called socket.create_connection to ('192.0.2.1', 80), which is not "
                "loopback; tests may reach 127.0.0.0/8, ::1, localhost and AF_UNIX sockets only (start a "
                "loopback server instead, see tests/conftest.py)")
    assert re.fullmatch(rf"\(pid \d+\) {re.escape(expected)}\n", log.read_text())
    log.write_text("")  # checked: this test passes
    loopback = subprocess.run([sys.executable, "-c", "import socket; s = socket.socket(socket.AF_INET, "
                               "socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.1', 9))"], capture_output=True, text=True)
    assert loopback.returncode == 0, loopback.stderr
    assert log.read_text() == ""
