"""The orchestrator reads no wall clock of its own: every step takes ``clock=`` (a zero-argument
callable returning Unix s), and ``settle_due``/``second_preliminary_due`` take ``now``."""

import datetime
import json

import pytest

import gwcand_samples as samples
from skyspool import config, ingest, orchestrator, superevents
from support import make_spool

T0 = 1_900_000_000.0  # 2030-03-17T17:46:40Z
TIMEOUT_S = 30.0


def _utc(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def test_steps_take_the_time_from_the_injected_clock(tmp_path):
    spool = make_spool(tmp_path / "spool", {"orchestrator": {"orchestrator_timeout_s": TIMEOUT_S}})
    coinc, psd = samples.candidate_files()
    (spool.inbox / "G197392.tar").write_bytes(samples.candidate_bundle(coinc.read_bytes(), psd.read_bytes(),
                                                                       far_hz=1e-9))
    ingest.take_inbox(spool)
    [entry] = spool.entries("gwcand")
    settings = config.load(spool)
    assigned = spool.product(entry, "superevent.json")
    assigned.parent.mkdir(parents=True)
    orchestrator.write_step(orchestrator.assign, spool, entry, str(assigned), settings, clock=lambda: T0)
    record = json.loads(assigned.read_text())
    assert (record["assigned"], record["settle_due"]) == (T0, T0 + TIMEOUT_S)
    state = superevents.load(spool, record["superevent_id"])
    assert state["created"] == T0
    # due at created + orchestrator_timeout_s, whatever the wall clock says
    assert not orchestrator.settle_due(entry, settings, T0 + TIMEOUT_S - 1)
    assert orchestrator.settle_due(entry, settings, T0 + TIMEOUT_S)
    with pytest.raises(ValueError, match="not settled"):
        orchestrator.settle(spool, entry, settings, clock=lambda: T0 + 1)
    settled = orchestrator.settle(spool, entry, settings, clock=lambda: T0 + TIMEOUT_S)
    assert settled["settled_utc"] == _utc(T0 + TIMEOUT_S)
    decision = orchestrator.decide(spool, entry, settings, clock=lambda: T0 + 40)
    assert decision["time"] == _utc(T0 + 40)
    assert superevents.decisions(spool, record["superevent_id"])[-1]["time"] == _utc(T0 + 40)
    # no preliminary was sent (no sky map yet): no second one is ever due
    assert not orchestrator.second_preliminary_due(entry, settings, T0 + 10 ** 6)
