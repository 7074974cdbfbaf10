"""DARC's answer, computed here from DARC's documented rules (loostrum/darc: ``external/tools.py``
``get_triggers`` and ``dm_range``, ``amber_clustering.py``, ``lofar_trigger.py``,
``voevent_generator.py``, ``util.get_flux``, ``definitions.py``, ``config.yaml``), against skyspool's
clusters, LOFAR choice and VOEvents, on the corpus AMBER files and synthetic ones.

The reference below is written as DARC's rules read, one box at a time (slow and plain); skyspool's
clustering is vectorised. DARC's numbers: S/N >= 10 before clustering, 1.0 s windows, DM boxes of
``dm_range(1.1 max DM, 0.9 min DM, frac=0.2)``, open box edges, synthesised-beam periodicity from the
autocorrelation of the S/N over 71 beams at the peak's time within DM +- 20, kept when 10 < period < 15.
"""

import numpy as np
import pandas as pd
import pytest
import voeventparse as vp

from frb_synthetic import Burst, amber_text, synthetic_candidates
from skyspool.frb.amber import read_candidates
from skyspool.frb.clustering import cluster, darc_dm_boxes
from skyspool.frb.observation import KnownSource, load_observation
from skyspool.frb.triage import LofarThresholds, Thresholds, TriggerState, classify, select_triggers
from skyspool.frb.voevent_writer import VOEventAuthor, VOEventFields, frb_voevent

MW_DM = 30.0


def _darc_boxes(top, bottom):
    boxes, ratio = [], 0.8 / 1.2
    while top > bottom:
        if top < 100:
            ratio = 0.6 / 1.4
        if top < 50:
            ratio = 0.0
        boxes.append((int(ratio * top), int(top)))
        top = int(ratio * top)
    return boxes


def darc_clusters(frame, *, dm_min=0.0, width_max=np.inf, sb_filter=True, snr_min=10.0, window=1.0):
    """DARC's ``get_triggers`` then the width cut of ``_check_triggers``: rows (time, dm, snr, width,
    beam, members), one per cluster."""
    f = frame[frame["snr"] >= snr_min]
    tt, dm, sig = f["time"].to_numpy(), f["dm"].to_numpy(), f["snr"].to_numpy()
    beam, width = f["beam"].to_numpy(), f["width"].to_numpy()
    if not len(tt):
        return set()
    ntime = int((tt.max() - tt.min()) / window)
    start = tt.min() - 0.5 * window
    out = set()
    for lo, hi in _darc_boxes(1.1 * dm.max(), 0.9 * dm.min()):
        for i in range(ntime + 2):
            t0, t1 = window * i + start, window * (i + 1) + start
            members = np.where((dm < hi) & (dm > lo) & (tt < t1) & (tt > t0))[0]
            if not len(members):
                continue
            p = members[np.argmax(sig[members])]
            same = (tt == tt[p]) & (dm <= dm[p] + 20) & (dm >= dm[p] - 20)
            spectrum = np.zeros(71)
            spectrum[beam[same]] = sig[same]
            ac = np.correlate(spectrum, spectrum, mode="full")[70:]
            period = np.where(ac == np.max(ac[2:]))[0][0]
            if dm[p] < dm_min or width[p] > width_max or (sb_filter and not 10 < period < 15):
                continue
            out.add((tt[p], dm[p], sig[p], int(width[p]), int(beam[p]), len(members)))
    return out


def skyspool_new(frame, mw_dm=MW_DM, **thresholds):
    t = Thresholds(**thresholds)
    classified = classify(cluster(frame, snr_min=t.snr_min), t, {0: mw_dm})
    new = classified[classified["label"] == "astrophysical-new"]
    return {(r.time, r.dm, r.snr, int(r.width), int(r.beam), int(r.members)) for r in new.itertuples()}


def test_dm_boxes_are_darcs():
    assert darc_dm_boxes(1.1 * 600, 0.9 * 10) == _darc_boxes(660.0, 9.0)
    assert darc_dm_boxes(1.1 * 2000, 0.9 * 1000) == [(1466, 2200), (977, 1466), (651, 977)]


@pytest.mark.parametrize("sb_filter, expected", [(False, 87), (True, 5)])
def test_corpus_step1_new_source_clusters_are_darcs(amber_dir, sb_filter, expected):
    """The issue's numbers: 92 new-source clusters before; DARC 87 without its filter, 5 with."""
    frame = read_candidates(amber_dir / "CB00_step1.trigger")
    darc = darc_clusters(frame, dm_min=max(1.2 * MW_DM, 5), width_max=100, sb_filter=sb_filter)
    assert len(darc) == expected
    assert skyspool_new(frame, sb_filter=sb_filter) == darc


@pytest.mark.parametrize("name", ["CB00_step1.trigger", "CB00_step2.trigger", "CB00_step3.trigger"])
def test_corpus_every_cluster_is_darcs(amber_dir, name):
    frame = read_candidates(amber_dir / name)
    clusters = cluster(frame, snr_min=10.0)
    ours = {(r.time, r.dm, r.snr, int(r.width), int(r.beam), int(r.members)) for r in clusters.itertuples()}
    assert ours == darc_clusters(frame, sb_filter=False)


BURSTS = [Burst(40.0, 350.0, 16.0, 4), Burst(130.0, 1210.0, 45.0, 8, beam=10), Burst(260.0, 95.0, 15.0, 2),
          Burst(390.0, 2600.0, 25.0, 16, beam=60), Burst(520.0, 610.0, 18.0, 1), Burst(560.0, 400.0, 12.0)]


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_bursts_noise_and_rfi_give_darcs_clusters(seed):
    frame = read_candidates(amber_text(synthetic_candidates(BURSTS, seed=seed, n_noise=20000, n_rfi=8)))
    darc = darc_clusters(frame, dm_min=max(1.2 * MW_DM, 5), width_max=100)
    assert skyspool_new(frame) == darc
    # Every injected burst seen in two synthesised beams above S/N 10 is found, nothing else;
    # the S/N 12 burst reaches 12 x 0.7 < 10 in the next beam: DARC's filter drops it.
    found = sorted(darc)
    assert [round(dm, -1) for _, dm, *_ in found] == [350, 1210, 100, 2600, 610]
    for (time, dm, *_), burst in zip(found, BURSTS):
        assert abs(time - burst.time) < 0.01 and abs(dm - burst.dm) <= 0.2 + 1e-9


def test_candidates_on_box_edges_are_left_out_as_darc_does():
    # Top DM 600: boxes (440, 660), (293, 440), (195, 293): DM 440 and 293 lie on edges;
    # t = 11.5 is a window edge (windows start 0.5 s before the first candidate, at 0.5).
    frame = pd.DataFrame({"cb": 0, "beam": [5, 5, 5, 5, 5], "time": [1.0, 2.0, 3.0, 11.5, 11.2],
                          "dm": [600.0, 293.0, 440.0, 500.0, 300.0], "snr": [20.0, 30.0, 25.0, 40.0, 11.0],
                          "width": 1})
    ours = cluster(frame, snr_min=10.0)
    darc = darc_clusters(frame, sb_filter=False)
    assert {(r.time, r.dm) for r in ours.itertuples()} == {(t, d) for t, d, *_ in darc} == {
        (1.0, 600.0), (11.2, 300.0)}


def _darc_lofar_choice(clusters, known):
    """DARC: per source type the highest S/N cluster passing LOFAR's thresholds (new: S/N >= 20,
    DM >= 2 x MW, width <= 80, <= 100 members; known FRB: S/N >= 20, width <= 80, any members), then
    the LOFAR trigger service takes a known source first, then the highest S/N."""
    new = [c for c in clusters if c["label"] == "astrophysical-new" and c["snr"] >= 20
           and c["dm"] >= 2 * MW_DM and c["width"] <= 80 and c["members"] <= 100]
    kno = [c for c in clusters if c["label"] == "known-source" and known.kind == "frb"
           and c["snr"] >= 20 and c["width"] <= 80]
    picks = [max(group, key=lambda c: c["snr"]) for group in (kno, new) if group]
    known_picks = [p for p in picks if p["label"] == "known-source"]
    return max(known_picks or picks, key=lambda c: c["snr"]) if picks else None


def test_lofar_choice_in_a_batch_prefers_the_known_source_and_voevent_the_brightest():
    known = KnownSource("FRB20180916B", 349.2, "frb")
    # Within one second: a known-FRB pulse (S/N 25, many members) and a brighter new burst.
    bursts = [Burst(100.0, 349.2, 25.0, 4), Burst(100.4, 900.0, 40.0, 4, beam=20)]
    frame = read_candidates(amber_text(synthetic_candidates(bursts, n_noise=2000, n_rfi=2)))
    t = Thresholds()
    classified = classify(cluster(frame, snr_min=10.0), t, {0: MW_DM}, known)
    expected = _darc_lofar_choice(classified.to_dict("records"), known)
    assert expected["label"] == "known-source" and abs(expected["dm"] - 349.2) <= 0.2 + 1e-9
    triggers, state = select_triggers(classified, t, TriggerState(), known)
    [lofar] = triggers[triggers["lofar"]].to_dict("records")
    assert (lofar["time"], lofar["dm"]) == (expected["time"], expected["dm"]) and state.lofar_sent == 1
    # DARC's VOEvent generator takes the highest S/N of the batch, known or not.
    [voevent] = triggers[triggers["voevent"]].to_dict("records")
    assert abs(voevent["dm"] - 900.0) <= 0.2 + 1e-9
    # A known pulsar never triggers LOFAR nor a VOEvent.
    pulsar = KnownSource("B0329+54", 349.2, "pulsar")
    classified = classify(cluster(frame, snr_min=10.0), t, {0: MW_DM}, pulsar)
    triggers, _ = select_triggers(classified, t, TriggerState(), pulsar)
    assert triggers[triggers["lofar"]]["dm"].round(-2).tolist() == [900.0]


def test_known_sources_have_no_member_limit():
    known = KnownSource("FRB20121102A", 557.0, "frb")
    classified = pd.DataFrame({"cb": 0, "beam": 0, "time": [5.0, 50.0], "dm": [557.0, 800.0], "snr": [30.0, 30.0],
                               "width": 4, "members": [400, 400], "row": 0, "sb_period": 12, "mw_dm": MW_DM,
                               "label": ["known-source", "astrophysical-new"], "reason": ""})
    t = Thresholds(lofar=LofarThresholds(max_per_observation=5))
    triggers, _ = select_triggers(classified, t, TriggerState(), known)
    # The new source's 400 members exceed 100 (RFI-like): no LOFAR trigger, and within 60 s of the
    # first no data dump either; the known FRB's 400 members do not count.
    assert triggers[["dm", "lofar", "voevent"]].values.tolist() == [[557.0, True, True]]


def test_voevent_carries_darcs_fields_with_the_default_sefd(observation_path):
    obs = load_observation(observation_path)
    obs = obs.__class__(**{**obs.__dict__, "sefd_jy": None})
    trigger = {"time": 10.0, "dm": 650.0, "snr": 30.0, "width": 8, "cb": 0, "beam": 3, "mw_dm": 28.0,
               "members": 12, "label": "astrophysical-new"}
    event = frb_voevent(trigger, obs, VOEventAuthor(), "obs_1", importance=0.1)
    params = vp.get_grouped_params(event)
    observatory, evt, adv = params["observatory parameters"], params["event parameters"], params["advanced parameters"]
    # DARC: gain = 0.6 pi (12.5 m)^2 / (2 k_B) x 8 dishes = 0.8533 K/Jy, Tsys 85 K, SEFD 99.61 Jy,
    # S = S/N SEFD / sqrt(2 pol x 300 MHz x width); z = DM / 1000; 1536 channels of 8 bits.
    width_s = 8 * 81.92e-6
    assert float(evt["flux"]["value"]) == pytest.approx(30 * 99.614 / np.sqrt(2 * 300e6 * width_s), rel=1e-3)
    assert float(observatory["gain"]["value"]) == pytest.approx(0.8533)
    assert float(observatory["tsys"]["value"]) == 85.0
    assert int(observatory["nchan"]["value"]) == 1536 and int(observatory["bits_per_sample"]["value"]) == 8
    assert float(adv["redshift_inferred"]["value"]) == pytest.approx(0.65)
    assert float(event.Why.attrib["importance"]) == 0.1
    assert VOEventFields().sefd_jy == pytest.approx(99.614, rel=1e-4)


def test_tbb_stop_time_keeps_the_top_of_band_reference_where_darc_is_early():
    """DARC: arrival 'at the centre' = top - delay(centre vs top), then + delay(200 MHz vs centre) + 2.5 s.
    A burst reaches the centre after the top: skyspool adds delay(200 MHz vs top) + 2.5 s, and DARC's
    stop time is early by twice the top-to-centre delay."""
    from astropy.time import Time

    from skyspool.frb.lofar import stop_time

    arrival, dm, top, centre = Time("2024-01-01T12:00:00", scale="utc"), 500.0, 1520.0, 1370.0
    k = 4.148808e3
    darc = arrival.unix - k * dm * (centre ** -2 - top ** -2) + k * dm * (200.0 ** -2 - centre ** -2) + 2.5
    ours = stop_time(arrival, dm, top).unix
    assert ours - arrival.unix == pytest.approx(k * dm * (200.0 ** -2 - top ** -2) + 2.5, abs=1e-6)
    assert ours - darc == pytest.approx(0.41475, abs=1e-4)  # 2 x delay(1370 vs 1520 MHz) at DM 500
