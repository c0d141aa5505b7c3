"""What the serdes tasks share: the ``from`` file, a temp output file moved into internal
storage (``{uri, size}``), charsets, Java date patterns (Kestra's ``dateFormat``…) and text for
typed values."""

from __future__ import annotations

import codecs
import datetime as dt
import re
import tempfile
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import new_name


class SerdesTask(RunnableTask):
    """``from``: the internal-storage file to convert (no ``kestra_type``: not a task itself)."""

    kestra_family: ClassVar[str] = "serdes"
    compute_kind: ClassVar[str | None] = "serdes"
    output_extension: ClassVar[str] = ".ion"

    from_: str = Field(alias="from")

    def source(self, ctx) -> Path:
        uri = str(ctx.render_str(self.from_, "from") or "").strip()
        if not uri.lower().startswith("kestra://"):
            raise TaskFailed(f"property 'from' must be an internal storage URI (kestra:///…), got {uri!r}")
        try:
            return ctx.storage.local_path(uri)
        except Exception as exc:  # noqa: BLE001 - StorageError names the problem
            raise TaskFailed(f"property 'from': cannot read {uri}: {exc}") from None

    @contextmanager
    def output(self, ctx, mode: str = "w", encoding: str | None = "utf-8", extension: str | None = None
               ) -> Iterator[tuple[Any, dict[str, Any]]]:
        """A temp file in the working directory; on success it is stored and ``result['uri']`` set."""
        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkstemp(suffix=extension or self.output_extension, dir=workdir)[1])
        result: dict[str, Any] = {}
        try:
            if "b" in mode:
                handle = open(path, mode)
            else:
                handle = open(path, mode, encoding=encoding, newline="", buffering=1 << 20)
            with handle:
                yield handle, result
            result["uri"] = ctx.storage.put_file(path, new_name(extension or self.output_extension))
        finally:
            path.unlink(missing_ok=True)

    def scratch(self, ctx, extension: str) -> Path:
        """A temp path for libraries that write files themselves (removed by ``stored``)."""
        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkstemp(suffix=extension, dir=workdir)[1])
        return path

    def stored(self, ctx, path: Path, extension: str) -> str:
        try:
            return ctx.storage.put_file(path, new_name(extension))
        finally:
            path.unlink(missing_ok=True)


def charset(ctx, value: Any, prop: str = "charset") -> str:
    name = str(ctx.render_str(value, prop) or "UTF-8")
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise TaskFailed(f"property '{prop}': unknown charset {name!r} "
                         "(e.g. UTF-8, ISO-8859-1, windows-1252)") from None


def one_char(ctx, value: Any, prop: str) -> str:
    text = str(ctx.render_str(value, prop))
    text = {"\\t": "\t", "TAB": "\t"}.get(text, text)
    if len(text) != 1:
        raise TaskFailed(f"property '{prop}' must be one character, got {text!r}")
    return text


def time_zone(ctx, value: Any, prop: str = "timeZoneId") -> dt.tzinfo:
    name = ctx.render_str(value, prop) if value is not None else None
    if not name:
        return dt.datetime.now().astimezone().tzinfo
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TaskFailed(f"property '{prop}': {name!r} is not a time zone (use e.g. 'UTC' or 'Europe/Paris')") from None


# ----------------------------------------------------------------------------- Java date patterns
_TOKEN = re.compile(r"'[^']*'|\[|\]|([A-Za-z])\1*|.")


def format_java(value: dt.date | dt.time, pattern: str) -> str:
    """Format like Java's DateTimeFormatter for the letters Kestra's defaults and users use
    (``yyyy MM dd HH mm ss SSS XXX Z a EEE…``); ``[…]`` parts appear when the value has them
    (an offset), quoted text is literal."""
    out: list[str] = []
    optional_depth = 0
    skip_depth = None
    for m in _TOKEN.finditer(pattern):
        token = m.group(0)
        if token == "[":
            optional_depth += 1
            continue
        if token == "]":
            if skip_depth == optional_depth:
                skip_depth = None
            optional_depth -= 1
            continue
        if skip_depth is not None:
            continue
        if token.startswith("'"):
            out.append(token[1:-1] or "'")
            continue
        letter = token[0]
        if not letter.isalpha():
            out.append(token)
            continue
        text = _field(value, letter, len(token))
        if text is None:
            if optional_depth:
                skip_depth = optional_depth
                continue
            raise TaskFailed(f"date pattern {pattern!r}: {token!r} does not apply to the value {value!r}")
        out.append(text)
    return "".join(out)


def _field(value: Any, letter: str, width: int) -> str | None:
    has_date = isinstance(value, dt.date)
    has_time = isinstance(value, (dt.datetime, dt.time))
    tz = value.utcoffset() if isinstance(value, (dt.datetime, dt.time)) else None
    if letter in "yu" and has_date:
        return f"{value.year % 100:02d}" if width == 2 else f"{value.year:0{width}d}"
    if letter in "ML" and has_date:
        if width >= 4:
            return value.strftime("%B")
        if width == 3:
            return value.strftime("%b")
        return f"{value.month:0{width}d}"
    if letter == "d" and has_date:
        return f"{value.day:0{width}d}"
    if letter == "D" and has_date:
        return f"{value.timetuple().tm_yday:0{width}d}"
    if letter == "E" and has_date:
        return value.strftime("%A" if width >= 4 else "%a")
    if letter == "H" and has_time:
        return f"{value.hour:0{width}d}"
    if letter == "h" and has_time:
        return f"{(value.hour % 12) or 12:0{width}d}"
    if letter == "a" and has_time:
        return "AM" if value.hour < 12 else "PM"
    if letter == "m" and has_time:
        return f"{value.minute:0{width}d}"
    if letter == "s" and has_time:
        return f"{value.second:0{width}d}"
    if letter == "S" and has_time:
        return f"{value.microsecond:06d}"[:width].ljust(width, "0")
    if letter in "XxZ" and tz is not None:
        minutes = int(tz.total_seconds() // 60)
        if letter == "X" and minutes == 0:
            return "Z"
        sign = "+" if minutes >= 0 else "-"
        hh, mm = divmod(abs(minutes), 60)
        return f"{sign}{hh:02d}{mm:02d}" if letter == "Z" or width == 2 else f"{sign}{hh:02d}:{mm:02d}"
    return None


def typed_text(value: Any, date_format: str, time_format: str, datetime_format: str, tz: dt.tzinfo) -> str:
    """A value as CSV/Excel text: dates with Kestra's formats (zoned date-times moved to ``tz``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_java(value.astimezone(tz) if value.tzinfo else value, datetime_format)
    if isinstance(value, dt.date):
        return format_java(value, date_format)
    if isinstance(value, dt.time):
        return format_java(value, time_format)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, default=str, separators=(",", ":"))
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    return str(value)
