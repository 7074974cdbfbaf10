"""Fast radio bursts: AMBER single-pulse candidates to clustered, classified candidates and triggers.

Modules: :mod:`.amber` (candidate files, growing-file chunks), :mod:`.observation` (observation and
known-source descriptions), :mod:`.clustering`, :mod:`.classify`, :mod:`.voevent`, :mod:`.lofar`,
:mod:`.filterbank`, :mod:`.plots`, :mod:`.summary`, and :mod:`.products` (what the workflow calls).
"""
