"""The tests' socket guard: a connection (or datagram) to anything but loopback or a Unix socket fails.

tests/conftest.py installs it in the test process for every test, and puts this folder on PYTHONPATH
so that every Python process a test starts (daemons, Snakemake jobs, servers) imports it at start-up
(as its ``sitecustomize``) and guards itself too, recording each attempt in the file named by
``SKYSPOOL_SOCKET_GUARD_LOG``, which the test's teardown reads. C libraries with their own sockets
(librdkafka) are not covered.
"""

import ipaddress
import os
import socket

LOG_VARIABLE = "SKYSPOOL_SOCKET_GUARD_LOG"


class NonLoopbackConnection(RuntimeError):
    """A test tried to reach past this machine (tests talk to servers on loopback only)."""


def is_loopback_host(host) -> bool:
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


def message(how: str, address) -> str:
    return (f"socket guard: this test called {how} to {address!r}, which is not loopback; "
            f"tests may reach 127.0.0.0/8, ::1, localhost and AF_UNIX sockets only "
            f"(start a loopback server instead, see tests/conftest.py)")


def install(record) -> dict:
    """Guard this process's sockets; ``record(message)`` is called on each attempt before it fails.
    Returns the replaced attributes, {(owner, name): original}, for :func:`uninstall`."""
    originals = {(socket.socket, name): getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto")}
    originals[(socket, "create_connection")] = socket.create_connection

    def check(family, address, how):
        if family not in (socket.AF_INET, socket.AF_INET6):  # AF_UNIX and friends stay on this machine
            return
        if not is_loopback_host(address[0] if isinstance(address, tuple) else address):
            text = message(how, address)
            record(text)
            raise NonLoopbackConnection(text)

    real_connect, real_connect_ex, real_sendto = (originals[(socket.socket, name)]
                                                  for name in ("connect", "connect_ex", "sendto"))
    real_create_connection = originals[(socket, "create_connection")]

    def connect(sock, address):
        check(sock.family, address, "socket.connect")
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock.family, address, "socket.connect_ex")
        return real_connect_ex(sock, address)

    def sendto(sock, data, *flags_address):
        check(sock.family, flags_address[-1], "socket.sendto")
        return real_sendto(sock, data, *flags_address)

    def create_connection(address, *args, **kwargs):
        check(socket.AF_INET, address, "socket.create_connection")
        return real_create_connection(address, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.create_connection = create_connection
    return originals


def uninstall(originals: dict) -> None:
    for (owner, name), original in originals.items():
        setattr(owner, name, original)


def _record_to_log(text: str) -> None:
    with open(os.environ[LOG_VARIABLE], "a") as log:
        log.write(f"(pid {os.getpid()}) {text}\n")


if os.environ.get(LOG_VARIABLE) and __name__ == "sitecustomize":  # a process a test started
    install(_record_to_log)
