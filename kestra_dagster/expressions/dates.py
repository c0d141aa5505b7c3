"""Dates the way Kestra's ``date``/``dateAdd``/``timestamp`` filters see them.

Kestra formats with Java's ``DateTimeFormatter`` patterns (``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``),
not strftime, so this module tokenizes Java patterns once and formats each letter run
directly (exact fractions, ``XXX`` offsets, quoted literals…). :func:`java_to_strftime`
converts a pattern for *parsing* with ``strptime`` (the ``existingFormat`` argument).

Inputs follow ``AbstractDate.convert``: datetimes stay as they are (naive ones get the
filter's zone), dates become noon, integers are epoch seconds, strings are ISO-8601
(``[Zone/Id]`` suffixes allowed) or match ``existingFormat``. Only English names are
produced, whatever ``locale`` says. The default zone is UTC (a container's system zone).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from kestra_dagster.errors import ExpressionError

DEFAULT_TIMEZONE = "UTC"

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}

#: Kestra's named formats (``AbstractDate.FORMATTERS``) that are plain patterns.
NAMED_PATTERNS = {
    "iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "sql": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
}

_PATTERN_LETTERS = frozenset("GuyYDMLdQqwWEecFaBhKkHmsSAnNVvzOXxZ")


# ====================================================================== zones
@functools.lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    """Java ``ZoneId.of``: region ids, ``Z``/``UTC``/``GMT``, ``+01:00`` and ``UTC+1`` forms."""
    if name is None:
        name = DEFAULT_TIMEZONE
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ExpressionError(f"invalid time zone {name!r}")
    if name == "Z":  # an offset, like ZoneOffset.UTC; "UTC"/"GMT" are regions (their id prints)
        return timezone.utc
    m = re.fullmatch(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?", name)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        hours, minutes, seconds = int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0)
        if hours > 18 or minutes > 59 or seconds > 59:
            raise ExpressionError(f"invalid time zone offset {name!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - ZoneInfo raises several types for bad keys
        if name == "UT":
            return timezone.utc
        raise ExpressionError(f"unknown time zone {name!r}") from None


def _zone_id(dt: datetime) -> str:
    tz = dt.tzinfo
    key = getattr(tz, "key", None)
    if key:
        return key
    return _offset(dt, colons=True, zero_z=True, seconds=True)


# ====================================================================== pattern tokens
@functools.lru_cache(maxsize=512)
def tokenize_pattern(pattern: str) -> tuple:
    """A Java pattern as a tuple of ``(letter, count)`` runs and literal strings."""
    if not isinstance(pattern, str):
        raise ExpressionError(f"date format must be a string, not {type(pattern).__name__}")
    if len(pattern) > 256:
        raise ExpressionError("date format is too long")
    out: list = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            j = i + 1
            buf = []
            while True:
                if j >= n:
                    raise ExpressionError(f"unterminated quote in date format {pattern!r}")
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(pattern[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        elif ch.isascii() and ch.isalpha():
            if ch not in _PATTERN_LETTERS:
                raise ExpressionError(f"unknown pattern letter '{ch}' in date format {pattern!r}")
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            out.append((ch, j - i))
            i = j
        elif ch in "{}#":
            raise ExpressionError(f"reserved character '{ch}' in date format {pattern!r}")
        elif ch in "[]":
            i += 1  # optional sections: when formatting every field is available
        else:
            out.append(ch)
            i += 1
    return tuple(out)


def _pad(value: int, width: int) -> str:
    text = str(abs(value)).zfill(width)
    return "-" + text if value < 0 else text


def _offset(dt: datetime, *, colons: bool, zero_z: bool, seconds: bool = False, minutes: str = "always") -> str:
    """Render ``dt``'s UTC offset; ``minutes='optional'`` drops ``:00`` like Java's ``X``."""
    delta = dt.utcoffset() or timedelta(0)
    total = int(delta.total_seconds())
    if total == 0 and zero_z:
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    sep = ":" if colons else ""
    text = f"{sign}{h:02d}"
    if minutes == "always" or m or (seconds and s):
        text += f"{sep}{m:02d}"
    if seconds and s:
        text += f"{sep}{s:02d}"
    return text


def _gmt(dt: datetime, full: bool) -> str:
    delta = dt.utcoffset() or timedelta(0)
    total = int(delta.total_seconds())
    if total == 0:
        return "GMT"
    sign = "-" if total < 0 else "+"
    h, rem = divmod(abs(total), 3600)
    m = rem // 60
    if full:
        return f"GMT{sign}{h:02d}:{m:02d}"
    return f"GMT{sign}{h}" + (f":{m:02d}" if m else "")


def _text(value: str, count: int) -> str:
    if count <= 3:
        return value[:3]
    if count == 4:
        return value
    return value[0]


def _field(dt: datetime, letter: str, count: int) -> str:  # noqa: C901 - one branch per letter
    if letter in "yu":
        year = dt.year
        return _pad(year % 100, 2) if count == 2 else _pad(year, count)
    if letter == "Y":
        year = dt.isocalendar()[0]
        return _pad(year % 100, 2) if count == 2 else _pad(year, count)
    if letter in "ML":
        if count <= 2:
            return _pad(dt.month, count)
        return _text(MONTHS[dt.month - 1], count)
    if letter == "d":
        return _pad(dt.day, count)
    if letter == "D":
        return _pad(dt.timetuple().tm_yday, count)
    if letter in "Qq":
        quarter = (dt.month - 1) // 3 + 1
        if count <= 2:
            return _pad(quarter, count)
        return f"Q{quarter}" if count == 3 else f"{ORDINALS[quarter]} quarter"
    if letter == "w":
        return _pad(dt.isocalendar()[1], count)
    if letter == "W":
        return _pad((dt.day - 1) // 7 + 1, count)
    if letter == "F":
        return _pad((dt.day - 1) // 7 + 1, count)
    if letter == "E":
        return _text(DAYS[dt.weekday()], count)
    if letter in "ec":
        if count <= 2:
            return _pad((dt.weekday() + 1) % 7 + 1, count)  # US locale: Sunday is day 1
        return _text(DAYS[dt.weekday()], count)
    if letter == "a":
        return "AM" if dt.hour < 12 else "PM"
    if letter == "B":
        return "in the morning" if dt.hour < 12 else ("in the afternoon" if dt.hour < 18 else "in the evening")
    if letter == "G":
        return "AD" if count <= 3 else ("Anno Domini" if count == 4 else "A")
    if letter == "H":
        return _pad(dt.hour, count)
    if letter == "k":
        return _pad(dt.hour or 24, count)
    if letter == "h":
        return _pad(dt.hour % 12 or 12, count)
    if letter == "K":
        return _pad(dt.hour % 12, count)
    if letter == "m":
        return _pad(dt.minute, count)
    if letter == "s":
        return _pad(dt.second, count)
    if letter == "S":
        nanos = f"{dt.microsecond:06d}000"
        return nanos[:count] if count <= 9 else nanos + "0" * (count - 9)
    if letter == "A":
        return _pad(((dt.hour * 60 + dt.minute) * 60 + dt.second) * 1000 + dt.microsecond // 1000, count)
    if letter == "n":
        return _pad(dt.microsecond * 1000, count)
    if letter == "N":
        return _pad((((dt.hour * 60 + dt.minute) * 60 + dt.second) * 1_000_000 + dt.microsecond) * 1000, count)
    if letter == "V":
        return _zone_id(dt)
    if letter in "zv":
        name = dt.tzname() or _zone_id(dt)
        return _zone_id(dt) if count == 4 and getattr(dt.tzinfo, "key", None) else name
    if letter == "O":
        return _gmt(dt, full=count == 4)
    if letter in "Xx":
        zero_z = letter == "X"
        if count == 1:
            return _offset(dt, colons=False, zero_z=zero_z, minutes="optional")
        if count == 2:
            return _offset(dt, colons=False, zero_z=zero_z)
        if count == 3:
            return _offset(dt, colons=True, zero_z=zero_z)
        if count == 4:
            return _offset(dt, colons=False, zero_z=zero_z, seconds=True)
        return _offset(dt, colons=True, zero_z=zero_z, seconds=True)
    if letter == "Z":
        if count <= 3:
            return _offset(dt, colons=False, zero_z=False)
        if count == 4:
            return _gmt(dt, full=True)
        return _offset(dt, colons=True, zero_z=True, seconds=True)
    raise ExpressionError(f"unsupported pattern letter '{letter}'")  # pragma: no cover


def format_pattern(dt: datetime, pattern: str) -> str:
    """Format ``dt`` with a Java ``DateTimeFormatter`` pattern."""
    parts = []
    for tok in tokenize_pattern(pattern):
        parts.append(tok if isinstance(tok, str) else _field(dt, tok[0], tok[1]))
    return "".join(parts)


# ====================================================================== named formats
def _fraction(dt: datetime, groups_of_three: bool = False) -> str:
    if not dt.microsecond:
        return ""
    digits = f"{dt.microsecond:06d}"
    if groups_of_three:
        return "." + (digits[:3] if digits.endswith("000") else digits)
    return "." + digits.rstrip("0")


def _iso_local_time(dt: datetime) -> str:
    return f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}{_fraction(dt)}"


def _region(dt: datetime) -> str:
    key = getattr(dt.tzinfo, "key", None)
    return f"[{key}]" if key else ""


def _off(dt: datetime) -> str:
    return _offset(dt, colons=True, zero_z=True, seconds=True)


def _named(dt: datetime, name: str) -> str | None:  # noqa: C901 - a table of formats
    if name in NAMED_PATTERNS:
        return format_pattern(dt, NAMED_PATTERNS[name])
    d = dt.date().isoformat()
    if name == "iso_local_date":
        return d
    if name == "iso_date":
        return d + _off(dt)
    if name == "iso_local_time":
        return _iso_local_time(dt)
    if name in ("iso_time", "iso_offset_time"):
        return _iso_local_time(dt) + _off(dt)
    if name == "iso_local_date_time":
        return f"{d}T{_iso_local_time(dt)}"
    if name == "iso_offset_date_time":
        return f"{d}T{_iso_local_time(dt)}{_off(dt)}"
    if name in ("iso_date_time", "iso_zoned_date_time"):
        return f"{d}T{_iso_local_time(dt)}{_off(dt)}{_region(dt)}"
    if name == "iso_instant":
        utc = dt.astimezone(timezone.utc)
        return f"{utc.date().isoformat()}T{utc:%H:%M:%S}{_fraction(utc, True)}Z"
    if name == "iso_ordinal_date":
        return f"{dt.year:04d}-{dt.timetuple().tm_yday:03d}{_off(dt)}"
    if name == "iso_week_date":
        y, w, wd = dt.isocalendar()
        return f"{y:04d}-W{w:02d}-{wd}{_off(dt)}"
    if name == "rfc_1123_date_time":
        off = "GMT" if not (dt.utcoffset() or timedelta(0)) else _offset(dt, colons=False, zero_z=False)
        return f"{DAYS[dt.weekday()][:3]}, {dt.day} {MONTHS[dt.month - 1][:3]} {dt.year} {dt:%H:%M:%S} {off}"
    hour12 = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    if name == "short":
        return f"{dt.month}/{dt.day}/{dt.year % 100:02d}, {hour12}:{dt.minute:02d}\u202f{ampm}"
    if name == "medium":
        return f"{MONTHS[dt.month - 1][:3]} {dt.day}, {dt.year}, {hour12}:{dt.minute:02d}:{dt.second:02d}\u202f{ampm}"
    if name in ("long", "full"):
        zone_name = dt.tzname() or _zone_id(dt)
        prefix = f"{DAYS[dt.weekday()]}, " if name == "full" else ""
        return (f"{prefix}{MONTHS[dt.month - 1]} {dt.day}, {dt.year} at "
                f"{hour12}:{dt.minute:02d}:{dt.second:02d}\u202f{ampm} {zone_name}")
    return None


def format_datetime(dt: datetime, fmt: str | None = None, tz: str | None = None) -> str:
    """Kestra's ``date`` filter: convert to ``tz`` (default UTC) then apply ``fmt`` (default iso)."""
    if fmt is None:
        fmt = "iso"
    if not isinstance(fmt, str):
        raise ExpressionError(f"date format must be a string, not {type(fmt).__name__}")
    dt = dt.astimezone(zone(tz))
    named = _named(dt, fmt)
    return named if named is not None else format_pattern(dt, fmt)


# ====================================================================== parsing
_STRPTIME = {
    "y": lambda c: "%y" if c == 2 else "%Y",
    "u": lambda c: "%y" if c == 2 else "%Y",
    "M": lambda c: "%m" if c <= 2 else ("%b" if c == 3 else "%B"),
    "L": lambda c: "%m" if c <= 2 else ("%b" if c == 3 else "%B"),
    "d": lambda c: "%d",
    "D": lambda c: "%j",
    "H": lambda c: "%H",
    "k": lambda c: "%H",
    "h": lambda c: "%I",
    "K": lambda c: "%I",
    "m": lambda c: "%M",
    "s": lambda c: "%S",
    "S": lambda c: "%f",
    "a": lambda c: "%p",
    "E": lambda c: "%a" if c <= 3 else "%A",
    "z": lambda c: "%Z",
    "Z": lambda c: "%z",
    "X": lambda c: "%z",
    "x": lambda c: "%z",
}


@functools.lru_cache(maxsize=256)
def java_to_strftime(pattern: str) -> str:
    """Convert a Java date pattern to a ``strftime``/``strptime`` format.

    Covers ``y M d H h m s S a E z Z X x`` and ``''`` literals (``%`` is escaped); letters with
    no strftime equivalent (``V``, ``Q``, ``w``…) raise :class:`ExpressionError`.
    """
    if pattern in NAMED_PATTERNS:
        pattern = NAMED_PATTERNS[pattern]
    out = []
    for tok in tokenize_pattern(pattern):
        if isinstance(tok, str):
            out.append(tok.replace("%", "%%"))
            continue
        letter, count = tok
        conv = _STRPTIME.get(letter)
        if conv is None:
            raise ExpressionError(f"pattern letter '{letter}' cannot be used to parse dates")
        out.append(conv(count))
    return "".join(out)


_REGION_SUFFIX = re.compile(r"\[([A-Za-z0-9_/+\-]{1,64})\]$")


def parse_datetime(text: str, tz: str | None = None, existing_format: str | None = None) -> datetime:
    """Parse a date string like ``ZonedDateTime.parse`` (then local date-time, then date)."""
    if len(text) > 200:
        raise ExpressionError("date string is too long")
    raw = text.strip()
    if existing_format is not None and existing_format not in ("iso", "iso_date_time", "iso_zoned_date_time",
                                                               "iso_offset_date_time", "iso_local_date_time",
                                                               "iso_local_date", "iso_date", "iso_instant"):
        fmt = java_to_strftime(existing_format)
        try:
            dt = datetime.strptime(raw, fmt)
        except ValueError:
            raise ExpressionError(f"cannot parse date {_short(raw)!r} with format {existing_format!r}") from None
    else:
        region = None
        m = _REGION_SUFFIX.search(raw)
        if m:
            region = m.group(1)
            raw = raw[: m.start()]
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise ExpressionError(f"cannot parse {_short(raw)!r} as an ISO-8601 date") from None
        if region:
            target = zone(region)
            dt = dt.replace(tzinfo=target) if dt.tzinfo is None else dt.astimezone(target)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return dt


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"


def to_datetime(value, tz: str | None = None, existing_format: str | None = None) -> datetime:
    """Any date-like value → aware datetime (``AbstractDate.convert``)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone(tz))
    if isinstance(value, date):
        return datetime.combine(value, time(12, 0), tzinfo=zone(tz))
    if isinstance(value, bool):
        raise ExpressionError("cannot use a boolean as a date")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=zone(tz))
        except (OverflowError, OSError, ValueError):
            raise ExpressionError(f"epoch value {value} is out of range") from None
    if isinstance(value, str):
        return parse_datetime(value, tz, existing_format)
    raise ExpressionError(f"cannot use a {type(value).__name__} as a date")


# ====================================================================== arithmetic
#: Exact-duration units, in microseconds (timedelta's resolution: NANOS round to micros).
_TIME_UNITS = {
    "NANOS": 0.001,
    "MICROS": 1,
    "MILLIS": 1_000,
    "SECONDS": 1_000_000,
    "MINUTES": 60_000_000,
    "HOURS": 3_600_000_000,
    "HALF_DAYS": 43_200_000_000,
}
_DATE_UNITS = {"DAYS": (0, 1), "WEEKS": (0, 7), "MONTHS": (1, 0), "YEARS": (12, 0), "DECADES": (120, 0),
               "CENTURIES": (1200, 0), "MILLENNIA": (12000, 0)}


def add(dt: datetime, amount, unit: str) -> datetime:
    """``ZonedDateTime.plus(amount, ChronoUnit)``: time units are exact durations, date units
    move the calendar (keeping the wall-clock time across DST, clamping month ends)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ExpressionError(f"dateAdd amount must be a number, not {type(amount).__name__}")
    if not isinstance(unit, str):
        raise ExpressionError("dateAdd unit must be a string such as 'DAYS'")
    key = unit.upper()
    if not key.endswith("S"):  # accept 'DAY' for 'DAYS'
        key += "S"
    try:
        if key in _TIME_UNITS:
            tz = dt.tzinfo
            delta = timedelta(microseconds=_TIME_UNITS[key] * amount)
            return (dt.astimezone(timezone.utc) + delta).astimezone(tz)
        if key in _DATE_UNITS:
            if amount != int(amount):
                raise ExpressionError(f"dateAdd amount for {key} must be a whole number")
            months_per, days_per = _DATE_UNITS[key]
            amount = int(amount)
            if days_per:
                naive = dt.replace(tzinfo=None) + timedelta(days=days_per * amount)
            else:
                total = dt.year * 12 + (dt.month - 1) + months_per * amount
                year, month = divmod(total, 12)
                month += 1
                if not 1 <= year <= 9999:
                    raise OverflowError
                day = min(dt.day, _month_days(year, month))
                naive = dt.replace(tzinfo=None, year=year, month=month, day=day)
            return _localize(naive, dt.tzinfo)
    except (OverflowError, ValueError):
        raise ExpressionError(f"dateAdd({amount}, '{unit}') is out of the supported date range") from None
    units = ", ".join(list(_TIME_UNITS) + list(_DATE_UNITS))
    raise ExpressionError(f"unknown dateAdd unit {unit!r}; use one of {units}")


def _month_days(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def _localize(naive: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` the way ``ZonedDateTime`` resolves gaps (shift forward) and overlaps (earlier)."""
    aware = naive.replace(tzinfo=tz, fold=0)
    roundtrip = aware.astimezone(timezone.utc).astimezone(tz)
    if roundtrip.replace(tzinfo=None) != naive:  # in a DST gap: Java moves forward by the gap
        return naive.replace(tzinfo=tz, fold=1).astimezone(timezone.utc).astimezone(tz)
    return aware


def epoch(dt: datetime, unit: str = "s") -> int:
    """Epoch value of ``dt`` in seconds, ``ms``, ``us`` or ``ns`` (exact, no float rounding)."""
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if unit == "s":
        return micros // 1_000_000
    if unit == "ms":
        return micros // 1000
    if unit == "us":
        return micros
    return micros * 1000


def now(tz: str | None = None) -> datetime:
    return datetime.now(zone(tz))
