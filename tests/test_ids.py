"""skyspool.ids: kinds and roles in one place."""

import doctest

import pytest

from skyspool import ids


def test_doctests():
    assert doctest.testmod(ids).failed == 0


@pytest.mark.parametrize("superevent_id, role", [
    ("S230518h", "observation"), ("S190425z", "observation"), ("MS230518h", "test"),
    ("TS230518h", "test"), ("MS181101abc", "test")])
def test_superevent_role(superevent_id, role):
    assert ids.superevent_role(superevent_id) == role


def test_kinds():
    assert ids.KINDS == ("gw", "grb", "neutrino", "snews", "frb", "gwcand", "gwdq")
    assert ids.EXTERNAL_KINDS == ("grb", "neutrino", "snews", "frb")
    assert set(ids.GCN_NOTICE_KINDS) < set(ids.EXTERNAL_KINDS)
    assert set(ids.MISSION_MAP_KINDS) < set(ids.GCN_NOTICE_KINDS)
    assert ids.SUPEREVENT_PREFIXES == {"production": "S", "test": "TS", "mdc": "MS"}
