"""Java date patterns, parsing like ZonedDateTime.parse, dateAdd arithmetic, epoch filters."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import dates, render

DT = datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd", "2024-03-05"),
        ("yy/M/d", "24/3/5"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.123Z"),
        ("HH:mm:ss.SSSSSS", "14:07:09.123456"),
        ("SSSSSSSSS", "123456000"),
        ("hh:mm a", "02:07 PM"),
        ("h 'o''clock'", "2 o'clock"),
        ("EEEE, MMMM d", "Tuesday, March 5"),
        ("EEE MMM", "Tue Mar"),
        ("D DDD", "65 065"),
        ("Q QQQ QQQQ", "1 Q1 1st quarter"),
        ("xxx Z z VV", "+00:00 +0000 UTC Z"),  # a fixed UTC offset, like ZoneOffset.UTC
        ("[yyyy]", "2024"),
        ("G", "AD"),
    ],
)
def test_java_patterns(pattern, expected):
    assert dates.format_pattern(DT, pattern) == expected


def test_default_zone_is_the_utc_region():
    assert dates.format_datetime(DT, "VV z XXX") == "UTC UTC Z"


def test_offsets_and_zone_names():
    paris = DT.astimezone(ZoneInfo("Europe/Paris"))
    assert dates.format_pattern(paris, "X XX XXX Z ZZZZ O VV z") == "+01 +0100 +01:00 +0100 GMT+01:00 GMT+1 Europe/Paris CET"
    india = DT.astimezone(ZoneInfo("Asia/Kolkata"))
    assert dates.format_pattern(india, "X XXX") == "+0530 +05:30"


@pytest.mark.parametrize("pattern", ["yyyy-bb", "{yyyy}", "'unterminated"])
def test_bad_patterns(pattern):
    with pytest.raises(ExpressionError):
        dates.format_pattern(DT, pattern)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S"),
        ("yy/MMM/dd hh:mm a", "%y/%b/%d %I:%M %p"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "%Y-%m-%dT%H:%M:%S.%f%z"),
        ("EEEE d MMMM", "%A %d %B"),
        ("'100%' D z", "100%% %j %Z"),
    ],
)
def test_java_to_strftime(pattern, expected):
    assert dates.java_to_strftime(pattern) == expected


def test_java_to_strftime_refuses_letters_without_equivalent():
    with pytest.raises(ExpressionError, match="cannot be used to parse"):
        dates.java_to_strftime("QQQ")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iso", "2024-03-05T14:07:09.123456Z"),
        ("iso_sec", "2024-03-05T14:07:09Z"),
        ("sql", "2024-03-05 14:07:09.123456"),
        ("sql_seq", "2024-03-05 14:07:09"),
        ("iso_local_date", "2024-03-05"),
        ("iso_date", "2024-03-05Z"),
        ("iso_local_date_time", "2024-03-05T14:07:09.123456"),
        ("iso_instant", "2024-03-05T14:07:09.123456Z"),
        ("iso_week_date", "2024-W10-2Z"),
        ("iso_ordinal_date", "2024-065Z"),
        ("rfc_1123_date_time", "Tue, 5 Mar 2024 14:07:09 GMT"),
    ],
)
def test_named_formats(name, expected):
    assert dates.format_datetime(DT, name) == expected


def test_format_converts_to_the_requested_zone():
    assert dates.format_datetime(DT, "HH:mm XXX", "America/New_York") == "09:07 -05:00"
    assert dates.format_datetime(DT, "HH:mm", "+02:00") == "16:07"
    with pytest.raises(ExpressionError, match="unknown time zone 'Mars/Base'"):
        dates.format_datetime(DT, "HH", "Mars/Base")
    with pytest.raises(ExpressionError):
        dates.zone("../../etc/passwd")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05T14:07:09Z", datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone.utc)),
        ("2024-03-05T14:07:09.123456789+01:00", datetime(2024, 3, 5, 13, 7, 9, 123456, tzinfo=timezone.utc)),
        ("2024-03-05T14:07:09+01:00[Europe/Paris]", datetime(2024, 3, 5, 13, 7, 9, tzinfo=timezone.utc)),
        ("2024-03-05T14:07", datetime(2024, 3, 5, 14, 7, tzinfo=timezone.utc)),
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=timezone.utc)),
        (1709647629, datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone.utc)),
        (date(2024, 3, 5), datetime(2024, 3, 5, 12, tzinfo=timezone.utc)),
        (datetime(2024, 3, 5, 14, 7, 9), datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone.utc)),
    ],
)
def test_to_datetime(value, expected):
    assert dates.to_datetime(value) == expected


def test_existing_format_parses_with_java_pattern():
    got = dates.to_datetime("05/03/2024 14h07", existing_format="dd/MM/yyyy HH'h'mm")
    assert got == datetime(2024, 3, 5, 14, 7, tzinfo=timezone.utc)
    with pytest.raises(ExpressionError, match="cannot parse date"):
        dates.to_datetime("2024-03-05", existing_format="dd/MM/yyyy")


@pytest.mark.parametrize("value", ["yesterday", True, [1], "2024-13-45"])
def test_to_datetime_rejects_non_dates(value):
    with pytest.raises(ExpressionError):
        dates.to_datetime(value)


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [
        (1, "DAYS", datetime(2024, 3, 6, 14, 7, 9, 123456, tzinfo=timezone.utc)),
        (-2, "HOURS", datetime(2024, 3, 5, 12, 7, 9, 123456, tzinfo=timezone.utc)),
        (90, "minutes", datetime(2024, 3, 5, 15, 37, 9, 123456, tzinfo=timezone.utc)),
        (1, "WEEKS", datetime(2024, 3, 12, 14, 7, 9, 123456, tzinfo=timezone.utc)),
        (-1, "YEARS", datetime(2023, 3, 5, 14, 7, 9, 123456, tzinfo=timezone.utc)),
        (500, "MILLIS", datetime(2024, 3, 5, 14, 7, 9, 623456, tzinfo=timezone.utc)),
    ],
)
def test_date_add(amount, unit, expected):
    assert dates.add(DT, amount, unit) == expected


def test_date_add_months_clamps_to_month_end():
    assert dates.add(datetime(2024, 1, 31, tzinfo=timezone.utc), 1, "MONTHS").day == 29


def test_date_add_days_keeps_wall_time_across_dst_but_hours_do_not():
    paris = ZoneInfo("Europe/Paris")
    before = datetime(2024, 3, 30, 12, 0, tzinfo=paris)  # DST starts on 2024-03-31
    assert dates.add(before, 1, "DAYS").hour == 12
    assert dates.add(before, 24, "HOURS").hour == 13


def test_date_add_errors():
    with pytest.raises(ExpressionError, match="unknown dateAdd unit"):
        dates.add(DT, 1, "FORTNIGHTS")
    with pytest.raises(ExpressionError, match="out of the supported date range"):
        dates.add(DT, 10**6, "YEARS")
    with pytest.raises(ExpressionError, match="amount must be a number"):
        dates.add(DT, "1", "DAYS")


def test_datetimes_stay_datetimes_through_filters():
    ctx = {"d": DT}
    assert render("{{ d | dateAdd(1, 'DAYS') }}", ctx) == "2024-03-06T14:07:09.123456+00:00"
    assert render("{{ d | dateAdd(1, 'DAYS') | date('EEE') }}", ctx) == "Wed"
    assert render("{{ d | date }}", ctx) == "2024-03-05T14:07:09.123456Z"  # Kestra's default "iso"


def test_date_filter_with_time_zone_argument():
    assert render("{{ d | date('yyyy-MM-dd HH:mm', timeZone='Asia/Tokyo') }}", {"d": "2024-03-05T20:00:00Z"}) == (
        "2024-03-06 05:00")


def test_epoch_is_exact():
    assert dates.epoch(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), "us") == -1
    assert dates.epoch(DT + timedelta(microseconds=1), "ns") == 1709647629123457000
