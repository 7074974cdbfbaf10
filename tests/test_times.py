"""skyspool.times: the one home of time conversions (its doctests, and the values products hold)."""

import datetime as dt
import doctest

from skyspool import times


def test_doctests():
    assert doctest.testmod(times).failed == 0


def test_formats_kept_by_products():
    # superevent history and decisions: milliseconds; heartbeats and notices: seconds
    assert times.iso_from_unix(1700000000.1234, "milliseconds") == "2023-11-14T22:13:20.123Z"
    assert times.iso_from_unix(1700000000.9) == "2023-11-14T22:13:20Z"
    # GCN notices' trigger_time: microseconds
    assert times.iso_utc(dt.datetime(2023, 11, 14, 23, 13, 20, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))) \
        == "2023-11-14T22:13:20.000005Z"
    assert times.SECONDS_PER_YEAR == 31557600.0


def test_gps_round_trip():
    # GW170817's merger time: GPS 1187008882.4 = 2017-08-17T12:41:04.4 UTC (18 leap seconds)
    assert times.iso_from_gps(1187008882.4) == "2017-08-17T12:41:04.400Z"
    assert times.gps_from_utc("2017-08-17T12:41:04.400Z") == 1187008882.4
