"""Times, in one place: ISO 8601 text, UNIX seconds, GPS seconds, datetimes in UTC.

Units are in the names: ``unix_s`` counts SI seconds since 1970-01-01 UTC without leap
seconds (what ``time.time()`` returns), ``gps_s`` seconds since the GPS epoch
(1980-01-06 UTC, with leap seconds: astropy converts). ISO text written here is UTC and
ends in ``Z``. A clock is any zero-argument callable returning UNIX seconds
(``time.time`` unless a caller injects another).

A model module: it imports nothing of skyspool (astropy only when GPS time is asked for).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds in a Julian year (365.25 days): FARs per year <-> Hz.
SECONDS_PER_YEAR = 365.25 * 86400

Clock = Callable[[], float]


def iso_utc(when: dt.datetime, timespec: str = "microseconds") -> str:
    """A datetime as ISO 8601 UTC ending in ``Z``, to ``timespec`` (as ``isoformat``'s).

    >>> when = dt.datetime(2019, 4, 25, 8, 18, 5, 239000, tzinfo=dt.timezone.utc)
    >>> iso_utc(when)
    '2019-04-25T08:18:05.239000Z'
    >>> iso_utc(when, "seconds")
    '2019-04-25T08:18:05Z'
    """
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def iso_from_unix(unix_s: float, timespec: str = "seconds") -> str:
    """UNIX seconds as ISO 8601 UTC ending in ``Z`` (truncated to ``timespec``).

    >>> iso_from_unix(1e9)
    '2001-09-09T01:46:40Z'
    >>> iso_from_unix(1e9 + 0.25, "milliseconds")
    '2001-09-09T01:46:40.250Z'
    """
    return iso_utc(dt.datetime.fromtimestamp(unix_s, dt.UTC), timespec)


def iso_now(timespec: str = "seconds", clock: Clock = time.time) -> str:
    """The clock's time as ISO 8601 UTC ending in ``Z``.

    >>> iso_now(clock=lambda: 0.0)
    '1970-01-01T00:00:00Z'
    """
    return iso_from_unix(clock(), timespec)


def parse_utc(text: str) -> dt.datetime:
    """A timezone-aware UTC datetime from ISO 8601 text (``Z``, an offset, a space or no zone:
    taken as UTC); ValueError when it is not a time.

    >>> parse_utc("2019-04-25T08:18:05.239Z")
    datetime.datetime(2019, 4, 25, 8, 18, 5, 239000, tzinfo=datetime.timezone.utc)
    >>> parse_utc("2019-04-25 10:18:05+02:00") == parse_utc("2019-04-25T08:18:05")
    True
    """
    when = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        log.info("time %s has no zone: taken as UTC", str(text)[:40])
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def unix_from_iso(text: str) -> float:
    """UNIX seconds of ISO 8601 text (UTC unless it says otherwise).

    >>> unix_from_iso("2001-09-09T01:46:40Z"), unix_from_iso("2001-09-09")
    (1000000000.0, 999993600.0)
    """
    return parse_utc(text).timestamp()


def iso_from_gps(gps_s: float) -> str:
    """GPS seconds as ISO 8601 UTC to the millisecond, ending in ``Z``.

    >>> iso_from_gps(1187008882.4)
    '2017-08-17T12:41:04.400Z'
    """
    from astropy.time import Time

    return Time(gps_s, format="gps").utc.isot[:23] + "Z"


def gps_from_utc(when: str | dt.datetime) -> float:
    """GPS seconds of a UTC time, given as a datetime or as ISO 8601 text (``Z`` or none).

    >>> gps_from_utc("2017-08-17T12:41:04.4Z")
    1187008882.4
    >>> gps_from_utc(dt.datetime(2017, 8, 17, 12, 41, 4, 400000, tzinfo=dt.timezone.utc))
    1187008882.4
    """
    if isinstance(when, dt.datetime):
        when = iso_utc(when)
    return _gps_from_iso(when.replace("Z", ""))


@functools.lru_cache(maxsize=8192)
def _gps_from_iso(text: str) -> float:
    from astropy.time import Time

    return float(Time(text, scale="utc").gps)


def age_s(unix_s: float, clock: Clock = time.time) -> float:
    """Seconds from ``unix_s`` to the clock's now.

    >>> age_s(100.0, clock=lambda: 160.5)
    60.5
    """
    return clock() - unix_s
