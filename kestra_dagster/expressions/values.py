"""Value semantics shared by the evaluator, filters and functions.

* :func:`to_text` is what ``{{ value }}`` prints: ``null`` → ``""``, booleans ``true``/``false``,
  Java-style doubles (``1.0``, ``1.0E20``), maps and lists as compact JSON (Kestra's
  ``JsonWriter``), datetimes as ISO-8601 with offset.
* :func:`to_json` is a size- and depth-bounded JSON encoder: shared references can make a
  tiny value serialise to gigabytes (``[a, a]`` nested 40 times), so it stops at the budget.
* :func:`pebble_equals` follows ``OperatorUtils.equals``: numbers compare by value
  (``1 == 1.0``), everything else by type and value (``1 != '1'``, ``true != 1``).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Callable, Mapping

from kestra_dagster.errors import ExpressionError

MAX_VALUE_DEPTH = 200
DEFAULT_MAX_TEXT = 10_000_000


class UndefinedError(ExpressionError):
    """A variable, key, index or attribute does not exist (``??``, ``is defined`` and
    ``default`` recover from this one; everything else propagates it)."""


def contextual(fn: Callable) -> Callable:
    """Mark a function/filter that takes the evaluation context as its first argument."""
    fn.needs_context = True  # type: ignore[attr-defined]
    return fn


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def type_name(value: Any) -> str:
    """User-facing type names (Kestra users think in JSON/Java terms, not Python's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, (float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return type(value).__name__


def short(value: Any, limit: int = 40) -> str:
    """A short printable rendering of a value for error messages."""
    try:
        text = to_text(value, max_len=limit * 4) if not isinstance(value, str) else value
    except ExpressionError:
        text = f"<{type_name(value)}>"
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text) if isinstance(value, str) else text


def java_double(x: float) -> str:
    """``Double.toString``: ``1.0``, ``0.001``, ``1.0E-4``, ``1.2345678E7``, ``NaN``, ``Infinity``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    ax = abs(x)
    if 1e-3 <= ax < 1e7:
        text = repr(x)
        if "e" in text or "E" in text:  # pragma: no cover - repr is positional in this range
            text = format(x, "f")
        return text if "." in text else text + ".0"
    digits = Decimal(repr(x)).normalize()
    sign, ds, exp = digits.as_tuple()
    mantissa = "".join(str(d) for d in ds)
    exponent = exp + len(mantissa) - 1
    frac = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{frac}E{exponent}"


def number_text(value: Any) -> str:
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:
            raise ExpressionError("integer too large to print") from None
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def to_text(value: Any, max_len: int = DEFAULT_MAX_TEXT) -> str:
    """How Kestra prints a value inside ``{{ }}``."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return to_json(value, max_len)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:max_len]).decode("utf-8", "replace")
    return str(value)[:max_len]


def to_json(value: Any, max_len: int = DEFAULT_MAX_TEXT) -> str:
    """Compact JSON (``{"a":1}``), like Jackson; bounded in size and depth."""
    out: list[str] = []
    budget = [max_len]

    def emit(text: str) -> None:
        budget[0] -= len(text)
        if budget[0] < 0:
            raise ExpressionError(f"value is too large to serialise (over {max_len} characters)")
        out.append(text)

    def walk(v: Any, depth: int) -> None:
        if depth > MAX_VALUE_DEPTH:
            raise ExpressionError(f"value is nested too deeply to serialise (over {MAX_VALUE_DEPTH} levels)")
        if isinstance(v, str):
            emit(encode_basestring(v))
        elif v is None:
            emit("null")
        elif isinstance(v, bool):
            emit("true" if v else "false")
        elif isinstance(v, (int, float)):
            emit(number_text(v))
        elif isinstance(v, Mapping):
            emit("{")
            first = True
            for k, item in v.items():
                if not first:
                    emit(",")
                first = False
                key = k if isinstance(k, str) else to_text(k, 1000)
                emit(encode_basestring(key))
                emit(":")
                walk(item, depth + 1)
            emit("}")
        elif isinstance(v, (list, tuple, set, frozenset)):
            emit("[")
            first = True
            for item in v:
                if not first:
                    emit(",")
                first = False
                walk(item, depth + 1)
            emit("]")
        elif isinstance(v, (datetime, date, time)):
            emit(encode_basestring(v.isoformat()))
        elif isinstance(v, Decimal):
            emit(str(v))
        elif isinstance(v, (bytes, bytearray)):
            import base64

            emit(encode_basestring(base64.b64encode(bytes(v)).decode()))
        else:
            emit(encode_basestring(str(v)))

    walk(value, 0)
    return "".join(out)


def plain(value: Any, depth: int = 0) -> Any:
    """A detached copy of maps/lists (so results never alias the execution's own outputs)."""
    if depth > MAX_VALUE_DEPTH:
        raise ExpressionError(f"value is nested too deeply (over {MAX_VALUE_DEPTH} levels)")
    if isinstance(value, Mapping):
        return {k: plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return value


def pebble_equals(a: Any, b: Any, depth: int = 0) -> bool:
    if depth > MAX_VALUE_DEPTH:
        raise ExpressionError("values nested too deeply to compare")
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(pebble_equals(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not pebble_equals(v, b[k], depth + 1):
                return False
        return True
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - e.g. naive vs aware datetimes
        return False


def string_truthy(text: str) -> bool:
    """Kestra's ``TruthUtils``: ``""``, ``"false"``, ``"0"``, ``"-0"`` (trimmed) are false."""
    t = text.strip()
    return not (t == "" or t == "0" or t == "-0" or t.lower() == "false")


def truthy(value: Any) -> bool:
    """Truthiness for ``{% if %}``, ``and``/``or``/``not`` and the ternary.

    Strings follow :func:`string_truthy` so ``{% if %}`` agrees with ``runIf``.
    """
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return string_truthy(value)
    if is_number(value):
        return value != 0
    if isinstance(value, (Mapping, list, tuple, set)):
        return len(value) > 0
    return True
