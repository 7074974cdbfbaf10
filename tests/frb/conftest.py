"""Fixtures of the FRB tests: the corpus folder, a sample observation, the known-source list, a local
SMTP server (the loopback UDP socket is tests/conftest.py's)."""

from pathlib import Path

import pytest

from frb_synthetic import sample_observation, write_observation
from support import Mailbox, free_port

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


@pytest.fixture
def smtp_server():
    """A local SMTP server (aiosmtpd); yields (port, list of received messages)."""
    port = free_port()
    with Mailbox(port) as received:
        yield port, received
