"""Every built-in sink, registered by importing its module (the aggregator: the registry,
:mod:`skyspool.publish.registry`, imports none of them)."""

from skyspool.publish import effects, http, kafka, storage, treasuremap, voevent  # noqa: F401
