"""The registry of input formats: one parser per format, registered with a decorator.

A parser takes the raw bytes of a received file and either returns a :class:`Message`
(what the file is, which event it belongs to, how to name it in the spool) or raises
:class:`Refused` with a one-line reason a person understands. :func:`identify` is the
whole dispatcher: it offers the bytes to each registered parser whose ``sniff`` accepts
them, in registration order.

This module is a leaf: the format modules register into it, and the package
:mod:`skyspool.formats` imports them all (importing the package registers every built-in format).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

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


@dataclasses.dataclass(frozen=True)
class LargeFormat:
    """A format of large files (filterbank data): taken from their first bytes, their size and
    their name (``parse(head, size, filename)``), copied into the spool unread, up to ``max_bytes``."""

    name: str
    sniff: Sniffer
    parse: Callable[[bytes, int, str], Message]
    max_bytes: int


LARGE_FORMATS: list[LargeFormat] = []
#: How many first bytes of a file :func:`large_format` looks at.
HEAD_BYTES = 65536


def register_large(name: str, sniff: Sniffer, *, max_bytes: int):
    """Register ``parse(head, size, filename)`` for large files that ``sniff(head, filename)`` recognises."""

    def decorate(parse):
        LARGE_FORMATS.append(LargeFormat(name, sniff, parse, max_bytes))
        return parse

    return decorate


def large_format(head: bytes, filename: str) -> LargeFormat | None:
    """The large format whose sniffer recognises the file's first bytes and name, if any."""
    return next((fmt for fmt in LARGE_FORMATS if fmt.sniff(head, filename)), None)


def identify(data: bytes, filename: str = "") -> Message:
    """Return the :class:`Message` for ``data`` or raise :class:`Refused`."""
    if not data:
        raise Refused("empty file (0 bytes)")
    if not data.strip():
        raise Refused(f"empty file ({len(data)} bytes of blank space only)")
    for fmt in FORMATS:
        if fmt.sniff(data, filename):
            return fmt.parse(data)
    if data.lstrip()[:1] in (b"{", b"["):
        load_json_object(data)  # refuses invalid JSON with the parser's reason
        raise Refused("a JSON object that is neither an IGWN alert (no superevent_id) "
                      "nor a GCN notice (no https://gcn.nasa.gov/schema/ $schema)")
    raise Refused(f"not a recognised alert, notice or candidate file: {_looks_like(data)} "
                  f"(known formats: {', '.join(f.name for f in FORMATS)})")


# What an unrecognised file looks like, by its first bytes: said in the reason.
SIGNATURES = ((b"\x1f\x8b", "gzip-compressed data (send the file uncompressed)"),
              (b"SIMPLE  =", "a FITS file on its own (send the alert or notice carrying it)"),
              (b"\x89PNG", "a PNG image"), (b"\x7fELF", "an executable"))


def _looks_like(data: bytes) -> str:
    for magic, what in SIGNATURES:
        if data.startswith(magic):
            return what
    head = data[:4096]
    if b"\0" in head or (not head.isascii() and _undecodable(head)):
        return "binary data"
    return "text of an unknown format"


def _undecodable(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # not just a character cut at the end of the head
    return False


def _no_constant(name: str):
    raise Refused(f"JSON with {name} (not valid JSON: numbers must be finite)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise Refused(f"JSON number {text[:20]} is out of range (not finite)")
    return number


def load_json_object(data: bytes) -> dict:
    """Parse ``data`` as a JSON object, or raise :class:`Refused` with the reason.

    Python's json module would take NaN, Infinity and 1e999 (infinite); JSON has no such
    numbers, and they would pass a schema's ``type: number`` into the products.
    """
    import json

    try:
        record = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise Refused("JSON nested too deeply") from None
    except Refused:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, integers of >4300 digits
        raise Refused(f"not valid JSON ({exc})"[:200]) from None
    if not isinstance(record, dict):
        raise Refused("JSON is not an object")
    return record


def looks_like_json_object(data: bytes, filename: str) -> bool:
    """True when the first non-blank byte opens a JSON object."""
    return data.lstrip()[:1] == b"{"

