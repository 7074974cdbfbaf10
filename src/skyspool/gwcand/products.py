"""The products of a GW pipeline candidate that are made from the candidate file alone (the rules
of workflow/rules/gwcand.smk): its sky map and classification."""

from __future__ import annotations

import io

from skyspool import atomic, gw_classify
from skyspool.formats.coinc import bayestar_event, burst_skymap, read_bundle, read_candidate


def write_bayestar(candidate_path: str, output: str, settings: dict, threads: int) -> None:
    """BAYESTAR sky map of the candidate (multi-order FITS), with ``threads`` OpenMP threads."""
    from ligo.skymap import omp
    from ligo.skymap.bayestar import localize
    from ligo.skymap.io import write_sky_map

    omp.num_threads = threads
    skymap = localize(bayestar_event(candidate_path), waveform=settings["waveform"],
                      f_low=settings["f_low_hz"])
    skymap.meta["objid"] = read_candidate(candidate_path).candidate_id
    buffer = io.BytesIO()
    write_sky_map(buffer, skymap, moc=True)
    atomic.write_bytes(output, buffer.getvalue())


def write_burst_skymap(candidate_path: str, output: str) -> None:
    """The burst pipeline's own sky map from the bundle, as multi-order FITS."""
    from ligo.skymap.io import write_sky_map

    buffer = io.BytesIO()
    write_sky_map(buffer, burst_skymap(read_bundle(candidate_path).skymap), moc=True)
    atomic.write_bytes(output, buffer.getvalue())


def write_classification(candidate_path: str, output: str, settings: dict) -> None:
    atomic.write_json(output, gw_classify.classification_dict(
        read_candidate(candidate_path), settings, read_bundle(candidate_path).ranking_data))
