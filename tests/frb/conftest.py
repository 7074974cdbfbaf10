"""Fixtures of the FRB tests: the corpus folder, a sample observation, the known-source list, a local
SMTP server and a loopback UDP socket (LOFAR's trigger receiver)."""

import socket
from pathlib import Path

import pytest

from frb_synthetic import sample_observation, write_observation

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
AMBER = CORPUS / "frb" / "amber"


@pytest.fixture
def amber_dir():
    """The corpus's AMBER files (DARC's test data), read in place."""
    return AMBER


@pytest.fixture
def observation_path(tmp_path):
    """A sample observation (one compound beam, Milky Way DM from YMW16)."""
    path = tmp_path / "observation.yaml"
    write_observation(path, sample_observation())
    return path


@pytest.fixture
def source_list_path():
    """The corpus's known-source list, read in place."""
    return AMBER / "source_list.yaml"


def _free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A local SMTP server (aiosmtpd); yields (port, list of received messages)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    port = _free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


@pytest.fixture
def udp_socket():
    """A UDP socket on loopback standing in for LOFAR's trigger receiver."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(60)
        yield sock
