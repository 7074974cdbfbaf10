"""Shared fixtures (helpers are in support.py: conftest modules are not importable by name)."""

import shutil

import pytest

from skyspool import cli
from support import FAST_CONFIG, GW_ALERTS, make_spool


@pytest.fixture(scope="session")
def processed_gw_spool(tmp_path_factory):
    """A spool that has taken every GW alert of the corpus through `skyspool process`."""
    spool = make_spool(tmp_path_factory.mktemp("gw") / "spool", FAST_CONFIG)
    for alert in sorted(GW_ALERTS.iterdir()):
        shutil.copy(alert, spool.inbox / alert.name)
    assert cli.main(["process", str(spool.root)]) == 0
    return spool
