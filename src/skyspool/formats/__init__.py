"""Input formats: one parser per format, registered with a decorator.

A parser takes the raw bytes of a received file and either returns a :class:`Message`
(what the file is, which event it belongs to, how to name it in the spool) or raises
:class:`Refused` with a one-line reason a person understands. :func:`identify` is the
whole dispatcher: it offers the bytes to each registered parser whose ``sniff`` accepts
them, in registration order.

Importing this package registers every built-in format.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from skyspool import ids


class Refused(ValueError):
    """A received file that cannot be accepted; ``str(exc)`` is the one-line reason."""


@dataclasses.dataclass(frozen=True)
class Message:
    """What a received file is, as far as the spool needs to know.

    ``kind`` is one of :data:`skyspool.ids.KINDS`; ``event_id`` and ``alert_type`` name
    the spool entry ``spool/<kind>/<event_id>/<NNN>-<alert_type>.<extension>``;
    ``role`` is ``observation`` or ``test`` (test messages are kept apart).
    """

    kind: str
    event_id: str
    alert_type: str
    extension: str
    role: str = "observation"

    def __post_init__(self):
        try:
            ids.check_kind(self.kind)
            ids.check_event_id(self.event_id)
            object.__setattr__(self, "alert_type", ids.check_alert_type(self.alert_type))
        except ids.InvalidId as exc:
            raise Refused(str(exc)) from None


Sniffer = Callable[[bytes, str], bool]
Parser = Callable[[bytes], Message]


@dataclasses.dataclass(frozen=True)
class Format:
    name: str
    sniff: Sniffer
    parse: Parser


FORMATS: list[Format] = []


def register(name: str, sniff: Sniffer) -> Callable[[Parser], Parser]:
    """Register ``parse`` for files that ``sniff(data, filename)`` recognises."""

    def decorate(parse: Parser) -> Parser:
        FORMATS.append(Format(name, sniff, parse))
        return parse

    return decorate


def identify(data: bytes, filename: str = "") -> Message:
    """Return the :class:`Message` for ``data`` or raise :class:`Refused`."""
    if not data:
        raise Refused("empty file (0 bytes)")
    for fmt in FORMATS:
        if fmt.sniff(data, filename):
            return fmt.parse(data)
    raise Refused("not a recognised alert, notice or candidate file "
                  f"(known formats: {', '.join(f.name for f in FORMATS)})")


def load_json_object(data: bytes) -> dict:
    """Parse ``data`` as a JSON object, or raise :class:`Refused` with the reason."""
    import json

    try:
        record = json.loads(data)
    except RecursionError:
        raise Refused("JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise Refused("JSON is not an object")
    return record


def looks_like_json_object(data: bytes, filename: str) -> bool:
    """True when the first non-blank byte opens a JSON object."""
    return data.lstrip()[:1] == b"{"


from skyspool.formats import gwalert  # noqa: E402,F401  (registers the formats)
from skyspool.formats import gcnjson, voevent  # noqa: E402,F401  (GCN notices)
from skyspool.formats import coinc, dqsegments  # noqa: E402,F401  (GW pipeline candidates)
