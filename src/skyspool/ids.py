"""Validation of the identifiers that name spool paths.

An id comes from outside (an alert, a notice, a file name); before it names any path it
must match a strict pattern: letters, digits and ``_.-``, starting with a letter or digit,
at most 64 characters. That shuts out ``..``, separators, NUL and control characters.
"""

from __future__ import annotations

import re

# gwcand: GW pipeline candidates, gwdq: data-quality segment lists (inputs of the orchestrator).
KINDS = ("gw", "grb", "neutrino", "snews", "frb", "gwcand", "gwdq")
#: Notices of other messengers: the coincidence partners of a GW alert (RAVEN's external events).
EXTERNAL_KINDS = ("grb", "neutrino", "snews", "frb")
#: Kinds whose entries are all GCN notices (the notices' products: skyspool.notices).
GCN_NOTICE_KINDS = ("grb", "neutrino", "snews")
#: Kinds whose notices may name their mission's own HEALPix map (skyspool.notices.mission_maps).
MISSION_MAP_KINDS = ("grb", "neutrino")

#: What a received message is: a real observation, or a test (kept apart, never a real event's entry).
ROLES = ("observation", "test")
#: Superevent id prefixes by category (GWCelery): production ``S``, test ``TS``, mock data challenge ``MS``.
SUPEREVENT_PREFIXES = {"production": "S", "test": "TS", "mdc": "MS"}

EVENT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
ALERT_TYPE_PATTERN = r"[a-z][a-z0-9_]{0,31}"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_ALERT_TYPE = re.compile(ALERT_TYPE_PATTERN)


class InvalidId(ValueError):
    """An identifier that must not name a path; the message is a one-line reason."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_event_id(event_id: object) -> str:
    """Return ``event_id`` if it is safe to use as a folder name, else raise InvalidId."""
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id) or ".." in event_id:
        raise InvalidId(f"unsafe event id {_shown(event_id)}: expected 1-64 characters "
                        "of letters, digits and _.- starting with a letter or digit")
    return event_id


def check_alert_type(alert_type: object) -> str:
    """Return the lower-case ``alert_type`` if safe, else raise InvalidId."""
    if not isinstance(alert_type, str) or not _ALERT_TYPE.fullmatch(alert_type.lower()):
        raise InvalidId(f"unsafe alert type {_shown(alert_type)}")
    return alert_type.lower()


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`KINDS`."""
    if kind not in KINDS:
        raise InvalidId(f"unknown kind {_shown(kind)}; expected one of {', '.join(KINDS)}")
    return kind


def superevent_role(superevent_id: str) -> str:
    """The role of a message about a superevent, from its id's prefix: mock (``MS...``) and test
    (``TS...``) superevents are ``test``, the others (``S...``) ``observation``.

    >>> superevent_role("S190425z"), superevent_role("MS181101ab"), superevent_role("TS230101a")
    ('observation', 'test', 'test')
    """
    return "test" if superevent_id[:1] in ("M", "T") else "observation"
