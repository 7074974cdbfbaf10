"""Fixtures of the FRB tests: the corpus folder, a sample observation and the known-source list."""

from pathlib import Path

import pytest

from skyspool.frb.synthetic import sample_observation, write_observation

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
