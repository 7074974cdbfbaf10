"""Products of a GW pipeline candidate: ``products/gwcand/<candidate>/<NNN>-coinc/``.

``bayestar.multiorder.fits`` (BAYESTAR localization; a burst candidate, ``<NNN>-burst``,
has its pipeline's own map as ``skymap.multiorder.fits`` instead), ``classification.json``
(p_astro and source properties), then the superevent steps of
:mod:`skyspool.orchestrator`: ``superevent.json``; ``settled.json`` and ``orchestrator.json``
once the superevent has settled (:func:`skyspool.orchestrator.settle_due`), with ``raven.json``
(remade whenever its coinciding external triggers change); and
``second_preliminary.json`` once that is due (:func:`skyspool.orchestrator.second_preliminary_due`).
"""

from __future__ import annotations

import io

from skyspool import atomic, gw_classify
from skyspool.formats.coinc import bayestar_event, burst_skymap, read_bundle, read_candidate
from skyspool.paths import Entry
from skyspool.targets import products_for

LOCALIZATION = "bayestar.multiorder.fits"
BURST_SKYMAP = "skymap.multiorder.fits"
CLASSIFICATION = "classification.json"
ASSIGNMENT = "superevent.json"
# raven.json: the decision re-opened by a publishable coincidence (skyspool.orchestrator.raven)
DECISIONS = ["settled.json", "orchestrator.json", "raven.json"]
SECOND_PRELIMINARY = "second_preliminary.json"


def skymap_product(alert_type: str) -> str:
    """The candidate's sky-map product: BAYESTAR's (CBC, ``coinc``) or its own (``burst``)."""
    return BURST_SKYMAP if alert_type == "burst" else LOCALIZATION


@products_for("gwcand")
def candidate_products(entry: Entry, config: dict) -> list[str]:
    from skyspool.orchestrator import second_preliminary_due, settle_due

    names = [skymap_product(entry.alert_type), CLASSIFICATION, ASSIGNMENT]
    if settle_due(entry, config):
        names += DECISIONS
    return names + [SECOND_PRELIMINARY] if second_preliminary_due(entry, config) else names


@products_for("gwdq")
def segment_list_products(entry: Entry, config: dict) -> list[str]:
    return []  # read by the orchestrator; nothing to make


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
