"""Value semantics shared by the evaluator, filters and functions.

* :func:`to_text` is what ``{{ value }}`` prints: ``null`` → ``""``, booleans ``true``/``false``,
  Java-style doubles (``1.0``, ``1.0E20``), maps and lists as compact JSON (Kestra's
  ``JsonWriter``), datetimes as ISO-8601 with offset.
* :func:`to_json` is a size- and depth-bounded JSON encoder. Shared references (YAML
  anchors, ``{% set l = [l, l] %}`` in a loop) can make a tiny value expand to gigabytes, so
  every walker here is bounded: :func:`measure` sizes a value with memoisation by identity
  (linear in *distinct* containers) before anything expands it.
* :func:`pebble_equals` follows ``OperatorUtils.equals``: numbers compare by value
  (``1 == 1.0``), everything else by type and value (``1 != '1'``, ``true != 1``).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Callable, Mapping

from kestra_dagster.errors import ExpressionError

MAX_VALUE_DEPTH = 200
DEFAULT_MAX_TEXT = 10_000_000
MAX_NODES = 1_000_000  # nodes any single walk over a value may visit (expanded, not distinct)


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


_JSON_NATIVE = (str, int, bool, type(None))


def measure(value: Any, max_len: int = DEFAULT_MAX_TEXT, max_nodes: int = MAX_NODES) -> tuple[int, int, bool]:
    """``(approximate JSON length, expanded node count, json.dumps-safe)`` of ``value``.

    Memoised by identity, so shared sub-structures are sized once; raises
    :class:`ExpressionError` when the value refers to itself, is nested deeper than
    :data:`MAX_VALUE_DEPTH`, would exceed ``max_len`` characters or ``max_nodes`` nodes.
    """
    memo: dict[int, tuple[int, int, bool]] = {}
    active: set[int] = set()

    def size(v: Any, depth: int) -> tuple[int, int, bool]:
        if isinstance(v, str):
            return len(v) + 2, 1, True
        if v is None or isinstance(v, bool):
            return 5, 1, True
        if isinstance(v, int):
            return (20 if -10**18 < v < 10**18 else len(number_text(v))), 1, True
        if isinstance(v, float):
            plain_float = v == 0 or 1e-3 <= abs(v) < 1e7 or math.isnan(v) or math.isinf(v)
            return 24, 1, plain_float and not (math.isnan(v) or math.isinf(v))
        is_map = isinstance(v, Mapping)
        if not (is_map or isinstance(v, (list, tuple, set, frozenset))):
            return 40, 1, False
        key = id(v)
        if key in memo:
            return memo[key]
        if key in active:
            raise ExpressionError("value refers to itself and cannot be serialised")
        if depth > MAX_VALUE_DEPTH:
            raise ExpressionError(f"value is nested too deeply to serialise (over {MAX_VALUE_DEPTH} levels)")
        active.add(key)
        total, nodes, native = 2, 1, isinstance(v, (dict, list, tuple))
        items = v.items() if is_map else ((None, x) for x in v)
        for k, x in items:
            if is_map:
                total += len(k) + 4 if isinstance(k, str) else 24
                native = native and (k is None or isinstance(k, (str, int)))
            t, n, ok = size(x, depth + 1)
            total += t + 1
            nodes += n
            native = native and ok
            if total > max_len:
                raise ExpressionError(f"value is too large to serialise (over {max_len} characters)")
            if nodes > max_nodes:
                raise ExpressionError(f"value is too large (over {max_nodes} elements)")
        active.discard(key)
        memo[key] = (total, nodes, native)
        return memo[key]

    return size(value, 0)


def to_json(value: Any, max_len: int = DEFAULT_MAX_TEXT) -> str:
    """Compact JSON (``{"a":1}``), like Jackson; bounded in size and depth."""
    _total, _nodes, native = measure(value, max_len)
    if native:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), check_circular=False)
        except (ValueError, RecursionError):  # e.g. integers beyond Python's str() digit limit
            text = None
        if text is not None:
            if len(text) > max_len:
                raise ExpressionError(f"value is too large to serialise (over {max_len} characters)")
            return text
    return _to_json_slow(value, max_len)


def _to_json_slow(value: Any, max_len: int) -> str:
    """Token-by-token encoder for values json.dumps cannot print the Kestra way
    (datetimes, Decimals, non-string keys, Java-style doubles such as ``1.0E20``)."""
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
            emit(encode_basestring(base64.b64encode(bytes(v)).decode()))
        else:
            emit(encode_basestring(str(v)))

    walk(value, 0)
    return "".join(out)


def plain(value: Any) -> Any:
    """A detached copy of maps/lists (results never alias the execution's own outputs).

    Shared sub-structures are copied once and stay shared, so the copy costs the number of
    *distinct* containers; self-references are refused.
    """
    memo: dict[int, Any] = {}
    active: set[int] = set()

    def copy(v: Any, depth: int) -> Any:
        is_map = isinstance(v, Mapping)
        if not (is_map or isinstance(v, (list, tuple))):
            return v
        key = id(v)
        if key in memo:
            return memo[key]
        if key in active:
            raise ExpressionError("value refers to itself")
        if depth > MAX_VALUE_DEPTH:
            raise ExpressionError(f"value is nested too deeply (over {MAX_VALUE_DEPTH} levels)")
        active.add(key)
        out = {k: copy(x, depth + 1) for k, x in v.items()} if is_map else [copy(x, depth + 1) for x in v]
        active.discard(key)
        memo[key] = out
        return out

    return copy(value, 0)


def pebble_equals(a: Any, b: Any, budget: list[int] | None = None) -> bool:
    """Pebble's ``==``; ``budget`` bounds the work on large or self-similar structures."""
    if budget is None:
        budget = [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ExpressionError("values are too large to compare")
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is b:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(pebble_equals(x, y, budget) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not pebble_equals(v, b[k], budget):
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
