"""Clustering and classification: injected bursts found, noise and RFI not triggered, the corpus."""

import numpy as np
import pandas as pd
import pytest

from frb_synthetic import Burst, amber_text, synthetic_candidates
from skyspool.frb.amber import read_candidates
from skyspool.frb.clustering import ClusterWindows, cluster
from skyspool.frb.observation import KnownSource, load_source_list
from skyspool.frb.triage import ThresholdError, Thresholds, TriggerState, classify, select_triggers

# Each bright enough to cross S/N 10 in two synthesised beams 12 apart, as DARC's filter needs.
BURSTS = [Burst(40.0, 350.0, 16.0, 4), Burst(130.0, 1210.0, 45.0, 8, beam=10), Burst(260.0, 95.0, 15.0, 2),
          Burst(390.0, 2600.0, 25.0, 16, beam=60), Burst(520.0, 610.0, 18.0, 1)]
MW_DM = 40.0


def _classified(bursts, seed=0, **kwargs):
    frame = read_candidates(amber_text(synthetic_candidates(bursts, seed=seed, **kwargs)))
    return classify(cluster(frame, snr_min=10), Thresholds(), {0: MW_DM})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_injected_burst_is_found_and_nothing_else_triggers(seed):
    classified = _classified(BURSTS, seed=seed, n_noise=20000, n_rfi=8)
    new = classified[classified["label"] == "astrophysical-new"].sort_values("time")
    assert len(new) == len(BURSTS)
    for burst, (_, found) in zip(BURSTS, new.iterrows()):
        assert abs(found["dm"] - burst.dm) <= 0.2 + 1e-9  # one DM trial
        assert abs(found["time"] - burst.time) < 0.01
        assert found["members"] > 1
    triggers, _ = select_triggers(classified, Thresholds(), TriggerState())
    assert sorted(np.round(triggers["dm"], -1)) == sorted(np.round([b.dm for b in BURSTS], -1))
    rfi = classified[classified["label"] == "rfi"]
    assert len(rfi) >= 8 and rfi["members"].max() > 100


def test_bursts_below_threshold_galactic_or_in_one_beam_are_not_new():
    classified = _classified([Burst(100.0, 500.0, 9.0), Burst(200.0, 30.0, 30.0), Burst(300.0, 500.0, 12.0)],
                             n_noise=2000, n_rfi=0)
    assert not (classified["label"] == "astrophysical-new").any()
    one_beam = classified[(classified["time"] - 300).abs() < 0.01]  # S/N 12 x 0.7 < 10 in the next beam
    assert one_beam["reason"].tolist() == ["synthesised-beam periodicity 1 outside 10-15 (exclusive)"]
    galactic = classified[(classified["snr"] > 25)]
    assert set(galactic["label"]) == {"below-threshold"}
    assert galactic["reason"].str.contains("1.2 x Milky Way 40.0").all()


def test_burst_on_a_window_edge_gives_one_cluster():
    windows = ClusterWindows()
    edge_dm = windows.dm_scale * ((1 + windows.dm_frac) ** 6 - 1)  # u == 6 exactly
    classified = _classified([Burst(2.0 * windows.time_s, edge_dm, 40.0)], n_noise=0, n_rfi=0)
    assert len(classified) == 1
    assert abs(classified["dm"].iloc[0] - edge_dm) <= 0.2 + 1e-9


def test_clusters_keep_the_peak_and_count_members():
    frame = pd.DataFrame({"cb": 0, "beam": [1, 2, 3, 4], "time": [1.0, 1.1, 1.2, 9.0],
                          "dm": [500.0, 502.0, 498.0, 500.0], "snr": [12.0, 20.0, 11.0, 15.0], "width": 1})
    out = cluster(frame)
    assert out[["beam", "members", "row"]].values.tolist() == [[2, 3, 1], [4, 1, 3]]
    assert cluster(frame.iloc[:0]).empty


def test_corpus_step3_candidates_are_clustered_and_classified_with_reasons(amber_dir):
    frame = read_candidates(amber_dir / "CB00_step3.trigger")
    classified = classify(cluster(frame), Thresholds(), {0: MW_DM})
    assert classified["members"].sum() == len(frame)
    assert len(classified) < len(frame)  # the pairs at equal time and close DM merge
    # One synthesised beam per time: no periodicity, RFI to DARC's filter, each saying so.
    assert (classified["label"] == "rfi").all()
    assert classified["reason"].str.fullmatch(r"synthesised-beam periodicity 1 outside 10-15 \(exclusive\)").all()
    # Without the filter: AMBER's boxcar of 1000 samples exceeds the 100-sample limit.
    unfiltered = classify(cluster(frame), Thresholds(sb_filter=False), {0: MW_DM})
    assert unfiltered["reason"].str.fullmatch(r"width 1000 > 100 samples").all()
    relaxed = classify(cluster(frame), Thresholds(width_max=1000, sb_filter=False), {0: MW_DM})
    assert set(relaxed["label"]) == {"astrophysical-new"}


def test_corpus_step1_is_the_crab_when_it_is_the_target(amber_dir, source_list_path):
    crab = load_source_list(source_list_path).lookup("B0531+21")
    assert crab == KnownSource("B0531+21", 56.8, "pulsar")
    frame = read_candidates(amber_dir / "CB00_step1.trigger")
    unfiltered = classify(cluster(frame, snr_min=10), Thresholds(sb_filter=False), {0: MW_DM}, crab)
    known = unfiltered[unfiltered["label"] == "known-source"]
    assert len(known) > 50 and (abs(known["dm"] - 56.8) <= 10).all()
    classified = classify(cluster(frame, snr_min=10), Thresholds(), {0: MW_DM}, crab)
    assert (classified["label"] == "known-source").sum() == 5  # DARC's synthesised-beam filter
    untargeted = classify(cluster(frame), Thresholds(), {0: MW_DM})
    assert "known-source" not in set(untargeted["label"])
    triggers, state = select_triggers(classified, Thresholds(), TriggerState(), crab)
    assert np.all(np.diff(triggers["time"]) >= 60) and not triggers["voevent"].any()
    assert not triggers["lofar"].any()  # a known pulsar never triggers LOFAR


def test_trigger_limits_hold_across_chunks():
    classified = _classified([Burst(10.0, 800.0, 30.0), Burst(40.0, 900.0, 30.0), Burst(100.0, 700.0, 30.0)],
                             n_noise=0, n_rfi=0)
    first, state = select_triggers(classified[classified["time"] < 50], Thresholds(), TriggerState())
    # the burst at 40 s gets neither a dump (60 s limit) nor LOFAR (once per observation), but a
    # VOEvent: DARC's VOEvents follow every batch's LOFAR choice, sent or not
    assert first["time"].round().tolist() == [10, 40]
    assert first[["dump", "lofar", "voevent"]].values.tolist() == [[True, True, True], [False, False, True]]
    second, state = select_triggers(classified[classified["time"] >= 50], Thresholds(),
                                    TriggerState.from_dict(state.to_dict()))
    assert second["time"].round().tolist() == [100] and second["dump"].all() and not second["lofar"].any()
    assert state.lofar_sent == 1 and len(state.dump_times) == 2


def test_thresholds_from_config():
    t = Thresholds.from_config({"snr_min": 8, "lofar": {"snr_min": 15}})
    assert (t.snr_min, t.lofar.snr_min, t.lofar.width_max) == (8, 15, 80)
    for bad in ({"snr": 8}, {"lofar": {"x": 1}}, {"galactic_model": "ymw"}, {"snr_min": "ten"}):
        with pytest.raises(ThresholdError):
            Thresholds.from_config(bad)
