"""GCN notices from other messengers, normalised: the :class:`Notice` that both GCN parsers
(:mod:`skyspool.formats.gcn_voevent`, :mod:`skyspool.formats.gcnjson`) return, and the checks
they share. :mod:`skyspool.notices` reads spooled notices into it.

Event ids carry the mission (``Fermi-680782656``, ``Swift-1118357``, ``IceCube-136918_45252263``)
because trigger numbers of different missions share one folder per kind and can collide;
the same trigger seen as a VOEvent and as a JSON notice gets the same id. Test notices get
the prefix ``test-`` so that they never add entries to a real trigger.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

from skyspool import ids, times
from skyspool.formats.registry import Message, Refused

TEST_PREFIX = "test-"
# GCN JSON ``ra_dec_error`` is at 90% containment unless ``containment_probability`` says.
DEFAULT_CONTAINMENT = 0.9


@dataclasses.dataclass(frozen=True)
class CoincidentNeutrino:
    """One neutrino of an IceCube LVK nu track search, relative to the GW time."""

    neutrino_id: str | None
    ra_deg: float
    dec_deg: float
    error_radius_deg: float
    error_containment: float
    time_difference_s: float      # neutrino time minus GW time
    pval_generic: float | None
    pval_bayesian: float | None


@dataclasses.dataclass(frozen=True)
class Notice:
    """A GCN notice, normalised.

    Positions are ICRS/FK5 degrees; ``error_radius_deg`` is the radius holding
    ``error_containment`` (0-1) of the probability, statistical only unless
    ``systematic_included``. ``far_hz`` is the false-alarm rate in Hz where the notice
    gives one. ``spacecraft`` holds the spacecraft position when the notice carries it:
    ``{"gcrs_km": [x, y, z]}`` or ``{"lat_deg": .., "lon_deg": ..}`` (geographic).
    """

    kind: str                       # grb, neutrino, snews, frb
    trigger_id: str                 # validated event id, mission-prefixed
    notice_type: str                # e.g. gbm_gnd_pos, initial, retraction
    role: str                       # observation or test
    mission: str
    instrument: str
    source_format: str              # voevent or gcn_json
    trigger_time: dt.datetime       # UTC, timezone-aware
    packet_type: int | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    error_radius_deg: float | None = None
    error_containment: float | None = None
    systematic_included: bool | None = None
    far_hz: float | None = None
    retraction: bool = False
    skymap: bytes | None = dataclasses.field(default=None, repr=False)  # own multi-order FITS
    skymap_url: str | None = None
    skymap_file: str | None = None  # the mission map file in use (notices.mission_maps)
    spacecraft: dict | None = None
    gw_superevent: str | None = None
    coincident_neutrinos: tuple[CoincidentNeutrino, ...] = ()
    # Error regions other than a circle (deg): (semi-axis along the position angle, other
    # semi-axis, position angle east of north), and four (ra, dec) corners; see notices.shapes.
    error_ellipse: tuple[float, float, float] | None = None
    error_rectangle: tuple[tuple[float, float], ...] | None = None
    facts: dict = dataclasses.field(default_factory=dict)  # format-specific extras

    @property
    def has_position(self) -> bool:
        return self.ra_deg is not None and self.error_radius_deg is not None

    @property
    def has_region(self) -> bool:
        """True when an ellipse or rectangle gives the error region (notices.shapes)."""
        return self.ra_deg is not None and (self.error_ellipse is not None or self.error_rectangle is not None)

    def message(self, extension: str) -> Message:
        return Message(self.kind, self.trigger_id, self.notice_type, extension, self.role)

    def as_dict(self) -> dict:
        """JSON-ready facts (the sky-map bytes left out)."""
        record = dataclasses.asdict(self)
        record.pop("skymap")
        record["has_own_skymap"] = self.skymap is not None
        record["trigger_time"] = times.iso_utc(self.trigger_time)
        return record


def parse_utc(text: str) -> dt.datetime:
    """:func:`skyspool.times.parse_utc`, refusing a notice whose time cannot be read."""
    try:
        return times.parse_utc(text)
    except ValueError:
        raise Refused(f"unreadable time {str(text)[:40]!r}") from None


def finite(value, what: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float within [low, high], or Refused naming ``what``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refused(f"{what} is not a number: {str(value)[:40]!r}") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise Refused(f"{what} out of range: {number}")
    return number


def event_id(mission: str, trigger: str, role: str) -> str:
    """The spool event id of a trigger: ``<mission>-<trigger>``, ``test-`` before tests.

    The mission is not repeated when the trigger id already starts with it (SNEWS).

    Characters an event id may not hold (spaces, colons) become ``_``; a trigger id with
    path separators, ``..`` or control characters is refused (a corrupt or hostile notice).
    """
    if re.search(r"[\x00-\x1f\x7f/\\]", trigger) or ".." in trigger:
        raise Refused(f"unsafe trigger id {trigger[:40]!r}: path separators, '..' and control "
                      "characters are not allowed")
    name = trigger if trigger.startswith(mission) else f"{mission}-{trigger}"
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_.-")
    if role == "test":
        text = TEST_PREFIX + text
    try:
        return ids.check_event_id(text)
    except ids.InvalidId as exc:
        raise Refused(str(exc)) from None
