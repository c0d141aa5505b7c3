"""Driver values → what Kestra's cell converters produce, and → JSON-safe task outputs.

Kestra keeps ``timestamp`` (no zone) as a local date-time and moves ``timestamptz`` values to
``timeZoneId`` (default: the worker's zone); decimals stay exact in ION files; intervals become
ISO-8601 durations; UUIDs strings; JSON columns maps.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._ion_writer import duration_text


def zone(name: str | None, prop: str = "timeZoneId") -> dt.tzinfo:
    if not name:
        return dt.datetime.now().astimezone().tzinfo  # the worker's zone, as Kestra's JVM default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TaskFailed(f"property '{prop}': {name!r} is not a time zone (use e.g. 'UTC' or 'Europe/Paris')") from None


def cell(value: Any, tz: dt.tzinfo) -> Any:
    """One column value as Kestra's converters give it (still typed: for ION files)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(tz) if value.tzinfo is not None else value
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    if isinstance(value, (list, tuple)):
        return [cell(v, tz) for v in value]
    if isinstance(value, dict):
        return {str(k): cell(v, tz) for k, v in value.items()}
    return value


def json_safe(value: Any) -> Any:
    """A converted cell for task outputs (``row``/``rows``): ISO text for dates, numbers for decimals."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**63:
            return int(value)
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value
