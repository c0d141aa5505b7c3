"""Writing Amazon ION text, one value per line: the ``.ion`` files the JDBC STORE mode and the
serdes tasks produce, readable by ``_ion.loads`` and by Kestra's own ION reader.

Python values map onto ION as Kestra's Jackson ION mapper writes Java values: ``None`` → ``null``,
``bool``, ``int``, ``float`` (``1.5e0``; ``nan``/``±inf``), ``Decimal`` (``12.50``), ``str``
(``"…"`` with escapes), ``bytes`` (blob ``{{…}}``), ``datetime`` with an offset (timestamp
``2024-01-01T10:00:00.000+02:00``), naive ``datetime`` (``LocalDateTime::"2024-01-01T10:00:00"``,
the annotated string Kestra writes for a ``LocalDateTime``), ``date`` (``2024-01-01``), ``time``
(``LocalTime::"10:00:00"``),
``timedelta`` (ISO-8601 duration string), ``dict`` (struct), ``list``/``tuple`` (list), ``UUID``
and anything else (its ``str``).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import uuid
from decimal import Decimal
from typing import Any, TextIO

_PLAIN_FIELD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_KEYWORDS = {"null", "true", "false", "nan"}
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0", "\f": "\\f",
            "\b": "\\b", "\v": "\\v", "\a": "\\a"}


def _string(text: str, quote: str = '"') -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES and (ch != '"' or quote == '"'):
            out.append(_ESCAPES[ch])
        elif ch == quote:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def _field(name: str) -> str:
    if _PLAIN_FIELD.match(name) and name not in _KEYWORDS:
        return name
    return _string(name, "'")


def _timestamp(value: dt.datetime) -> str:
    text = value.isoformat(timespec="milliseconds" if not value.microsecond % 1000 else "microseconds")
    if value.utcoffset() == dt.timedelta(0):
        text = text[: -len("+00:00")] + "Z"
    return text


def duration_text(value: dt.timedelta) -> str:
    """ISO-8601 duration (``PT1H30M``, ``P2DT3S``), as Kestra renders a ``Duration``/interval."""
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"{sign}P{int(days)}D" if days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{int(hours)}H"
    if minutes:
        clock += f"{int(minutes)}M"
    if seconds or not (days or clock):
        clock += (f"{seconds:.6f}".rstrip("0").rstrip(".") if seconds % 1 else f"{int(seconds)}") + "S"
    return out + ("T" + clock if clock else "")


def dumps(value: Any) -> str:
    """One ION text value (no new line)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        text = repr(value)
        if "e" in text:
            return text
        return text + "e0"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return dumps(float(value))
        text = format(value, "f")
        return text if "." in text else text + "."
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "{{" + base64.b64encode(bytes(value)).decode("ascii") + "}}"
    if isinstance(value, dt.datetime):
        return _timestamp(value) if value.tzinfo is not None else "LocalDateTime::" + _string(value.isoformat())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return ("OffsetTime::" if value.tzinfo is not None else "LocalTime::") + _string(value.isoformat())
    if isinstance(value, dt.timedelta):
        return _string(duration_text(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{_field(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, uuid.UUID):
        return _string(str(value))
    return _string(str(value))


class IonLineWriter:
    """Writes one ION value per line to an open text file and counts them."""

    def __init__(self, out: TextIO):
        self.out = out
        self.count = 0

    def write(self, value: Any) -> None:
        self.out.write(dumps(value))
        self.out.write("\n")
        self.count += 1
