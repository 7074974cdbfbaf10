"""Shared fixtures (helpers are in support.py: conftest modules are not importable by name)."""

import shutil

import pytest

from skyspool import cli
from skyspool.paths import Spool
from support import FAST_CONFIG, GW_ALERTS, make_spool


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
