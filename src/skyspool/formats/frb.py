"""FRB observations: AMBER candidate chunks, observation descriptions, stop files, known-source lists.

- An AMBER chunk (what the daemon cuts from a followed candidate file, see
  :func:`skyspool.frb.amber.make_chunk`) names its observation in its provenance line and becomes
  ``spool/frb/<obs_id>/<NNN>-candidates.trigger``. A bare AMBER file names no observation: it is
  refused, with the way to have it followed.
- YAML files (``.yaml``/``.yml``): a stop file (``stop: <obs_id>``) becomes ``<NNN>-stop.yaml`` of
  that observation; a known-source list (``pulsars:``/``frbs:``) becomes
  ``spool/frb/known-sources/<NNN>-source_list.yaml``; any other YAML is read as an observation
  description, ``<NNN>-observation.yaml`` of its ``id``.

Each is validated in full here (the same readers the products use), so what the spool holds can
be read later.
"""

from __future__ import annotations

import functools

from skyspool.formats.registry import Message, Refused, register

#: Event id under which known-source lists are kept.
SOURCE_LIST_EVENT = "known-sources"
_AMBER_COLUMNS = (b"integration_step", b"time", b"DM", b"SNR")


def _looks_like_amber(data: bytes, filename: str) -> bool:
    from skyspool.frb.amber import CHUNK_MARK

    first = data[:4096].split(b"\n", 1)[0]
    return (data.startswith(CHUNK_MARK) or filename.endswith(".trigger")
            or (first.startswith(b"#") and all(name in first.split() for name in _AMBER_COLUMNS)))


@register("AMBER candidate chunk", _looks_like_amber)
def parse_amber_chunk(data: bytes) -> Message:
    from skyspool.frb.amber import AmberFormatError, chunk_mark, read_candidates

    observation = chunk_mark(data).get("observation")
    if observation is None:
        raise Refused("AMBER candidates that name no observation: drop the observation description "
                      "(YAML) listing the file in candidate_files, and skyspool follows it")
    try:
        read_candidates(data)
    except AmberFormatError as exc:
        raise Refused(str(exc)) from None
    return Message("frb", observation_id(observation), "candidates", "trigger")


def _is_yaml_name(filename: str) -> bool:
    return filename.lower().endswith((".yaml", ".yml"))


@functools.lru_cache(maxsize=8)
def _mapping(data: bytes) -> dict | None:
    """The YAML mapping in ``data``, or None if it is none (the parser then says why)."""
    from skyspool.frb.observation import ObservationError, parse_yaml

    try:
        return parse_yaml(data, "YAML")
    except ObservationError:
        return None


def _keys(data: bytes) -> set:
    return set(_mapping(data) or ())


def _refusing(load, doc):
    """``load(doc)``, its ValueError (a one-line reason) as :class:`Refused`."""
    try:
        return load(doc)
    except ValueError as exc:
        raise Refused(str(exc)) from None


def observation_id(obs_id: str) -> str:
    """``obs_id``, refused when it is the id reserved for known-source lists."""
    if obs_id == SOURCE_LIST_EVENT:
        raise Refused(f"observation id {SOURCE_LIST_EVENT!r} is where known-source lists are kept")
    return obs_id


@register("FRB observation stop file", lambda data, name: _is_yaml_name(name) and "stop" in _keys(data))
def parse_stop(data: bytes) -> Message:
    from skyspool.frb.observation import stop_from_doc

    return Message("frb", observation_id(_refusing(stop_from_doc, _mapping(data))), "stop", "yaml")


@register("known-source list (pulsars, FRBs)",
          lambda data, name: _is_yaml_name(name) and bool({"pulsars", "frbs"} & _keys(data)))
def parse_source_list(data: bytes) -> Message:
    from skyspool.frb.observation import source_list_from_doc

    _refusing(source_list_from_doc, _mapping(data))
    return Message("frb", SOURCE_LIST_EVENT, "source_list", "yaml")


@register("FRB observation description (YAML)", lambda data, name: _is_yaml_name(name))
def parse_observation(data: bytes) -> Message:
    from skyspool.frb.observation import observation_from_doc, parse_yaml

    doc = _refusing(lambda raw: parse_yaml(raw, "observation"), data)
    observation = _refusing(observation_from_doc, doc)
    return Message("frb", observation_id(observation.id), "observation", "yaml",
                   "test" if observation.test else "observation")
