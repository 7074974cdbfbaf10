"""GW pipeline candidates (spool kind ``gwcand``): ``products/gwcand/<candidate>/<NNN>-coinc/``.

``bayestar.multiorder.fits`` (BAYESTAR localization; a burst candidate, ``<NNN>-burst``,
has its pipeline's own map as ``skymap.multiorder.fits`` instead), ``classification.json``
(p_astro and source properties) (:mod:`skyspool.gwcand.products`), then the superevent steps of
:mod:`skyspool.orchestrator`: ``superevent.json``; ``settled.json`` and ``orchestrator.json``
once the superevent has settled, with ``raven.json`` (remade whenever its coinciding external
triggers change); and ``second_preliminary.json`` once that is due. Which of them an entry has
is the ``GWCAND`` table of :mod:`skyspool.contract` (facts: :mod:`skyspool.gwcand.targets`).
"""

from __future__ import annotations

LOCALIZATION = "bayestar.multiorder.fits"
BURST_SKYMAP = "skymap.multiorder.fits"
CLASSIFICATION = "classification.json"
ASSIGNMENT = "superevent.json"


def skymap_product(alert_type: str) -> str:
    """The candidate's sky-map product: BAYESTAR's (CBC, ``coinc``) or its own (``burst``)."""
    return BURST_SKYMAP if alert_type == "burst" else LOCALIZATION
