"""Streaming ION in and out for the serdes tasks.

Reading uses Amazon's ``amazon-ion`` (its C extension): on the line-per-row files these tasks
exchange it reads about 1.3× faster than our own reader once its values are turned into plain
Python ones (``bench/bench_ion.py``), and it keeps types ours flattens (exact decimals,
timestamps as datetimes, dates). Writing uses our ``_ion_writer`` (as fast, and it writes one
compact value per line without amazon-ion's ``$ion_1_0`` marker before each value).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from kestra_dagster.errors import TaskFailed


def plain(value: Any) -> Any:
    """An amazon-ion value as plain Python: dict, list, str, int, float, Decimal, bool, bytes,
    datetime (with its offset) or date (day precision), None."""
    from amazon.ion.core import IonType, TimestampPrecision

    ion_type = getattr(value, "ion_type", None)
    if ion_type is None:
        return value
    if ion_type == IonType.NULL or type(value).__name__ == "IonPyNull":
        return None
    if ion_type == IonType.STRUCT:
        return {str(k): plain(v) for k, v in value.items()}
    if ion_type in (IonType.LIST, IonType.SEXP):
        return [plain(v) for v in value]
    if ion_type == IonType.BOOL:
        return bool(value)
    if ion_type == IonType.INT:
        return int(value)
    if ion_type == IonType.FLOAT:
        return float(value)
    if ion_type == IonType.DECIMAL:
        return Decimal(value)
    if ion_type == IonType.TIMESTAMP:
        precision = getattr(value, "precision", None)
        if precision is not None and precision <= TimestampPrecision.DAY:
            return dt.date(value.year, value.month, value.day)
        return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                           value.microsecond, tzinfo=value.tzinfo)
    if ion_type == IonType.SYMBOL:
        return value.text if hasattr(value, "text") else str(value)
    if ion_type == IonType.STRING:
        return _annotated(value)
    if ion_type == IonType.BLOB:
        return bytes(value)
    if ion_type == IonType.CLOB:
        return bytes(value).decode("utf-8", "replace")
    return value


#: Kestra writes java.time values as annotated strings (``LocalDateTime::"2024-01-01T10:00:00"``)
_JAVA_TIME = {
    "LocalDateTime": dt.datetime.fromisoformat,
    "OffsetDateTime": dt.datetime.fromisoformat,
    "ZonedDateTime": lambda text: dt.datetime.fromisoformat(text.split("[", 1)[0]),
    "LocalDate": dt.date.fromisoformat,
    "LocalTime": dt.time.fromisoformat,
    "OffsetTime": dt.time.fromisoformat,
}


def _annotated(value: Any) -> Any:
    text = str(value)
    for annotation in getattr(value, "ion_annotations", ()) or ():
        parse = _JAVA_TIME.get(getattr(annotation, "text", annotation))
        if parse is not None:
            try:
                return parse(text.replace("Z", "+00:00") if "[" not in text else text)
            except ValueError:
                return text
    return text


def read_ion(path: Path, prop: str = "from") -> Iterator[Any]:
    """The values of an ION text file, one at a time (the file is never loaded whole)."""
    from amazon.ion import simpleion

    count = 0
    with open(path, "rb") as data:
        stream = simpleion.load(data, single_value=False, parse_eagerly=False)
        while True:
            try:
                value = next(stream)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - amazon-ion raises plain Exceptions/IonException
                raise TaskFailed(f"property '{prop}': the file is not valid ION after value {count} "
                                 f"(value {count + 1} is malformed: {str(exc) or type(exc).__name__})") from None
            count += 1
            yield plain(value)
