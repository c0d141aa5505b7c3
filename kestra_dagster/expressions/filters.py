"""Filters (``x | name(args)``) and tests (``x is name``): Pebble built-ins plus Kestra's.

Each filter is a plain function ``fn(value, *args, **kwargs)`` registered in :data:`FILTERS`
under its template name; its keyword names are Pebble's argument names, so named arguments
work (``date("yyyy-MM-dd", timeZone="UTC")``). Filters that need the evaluation context
are marked with :func:`~kestra_dagster.expressions.values.contextual`. Adding a filter is
adding one entry.

Behaviour follows the Java sources (``io.pebbletemplates.pebble.extension.core`` and
``io.kestra.core.runners.pebble.filters``): most filters return ``null`` for a ``null``
input; ``replace`` takes a map; ``split`` takes a (Java) regex; ``json``/``toJson``
serialise; ``jq`` returns a list. Results never alias their inputs. User-supplied regexes
(``split``, ``replace(regexp=true)``) are checked for catastrophic backtracking first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
import unicodedata
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Callable, Mapping
from urllib.parse import quote_plus, unquote_plus

import yaml

from kestra_dagster.errors import ExpressionError

import kestra_dagster.expressions.budget as render_budget

import kestra_dagster.expressions.dates as dates
import kestra_dagster.expressions.jq as jq_module
from .regex import _REGEX_META, compile_safe_regex
from .values import (
    DEFAULT_MAX_TEXT,
    MAX_VALUE_DEPTH,
    is_number,
    measure,
    plain,
    short,
    to_json,
    to_text,
    type_name,
)

FILTERS: dict[str, Callable[..., Any]] = {}
TESTS: dict[str, Callable[..., bool]] = {}

MAX_ITEMS = 1_000_000


def _register(table: dict, *names: str) -> Callable[[Callable], Callable]:
    def deco(fn: Callable) -> Callable:
        for name in names:
            table[name] = fn
        return fn
    return deco


def filter_(*names: str) -> Callable[[Callable], Callable]:
    return _register(FILTERS, *names)


def test_(*names: str) -> Callable[[Callable], Callable]:
    return _register(TESTS, *names)


# ====================================================================== helpers
def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)


def _check_len(n: int, what: str = "result") -> None:
    if n > DEFAULT_MAX_TEXT:
        raise ExpressionError(f"{what} would exceed {DEFAULT_MAX_TEXT} characters")


def _int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ExpressionError(f"argument '{name}' must be an integer, not {short(value)}")
    return int(value)


def _str_arg(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"argument '{name}' must be a string, not {type_name(value)}")
    return value


def _list(value: Any, filter_name: str) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ExpressionError(f"'{filter_name}' expects a list, got {type_name(value)}")


def _java_split(text: str, delimiter: str, limit: int = 0) -> list[str]:
    """``String.split(regex, limit)``: trailing empty strings dropped when ``limit == 0``."""
    if text == "":
        return [""]
    cap = limit - 1 if 0 < limit <= MAX_ITEMS else MAX_ITEMS + 1
    if not (_REGEX_META & set(delimiter)) and delimiter:
        parts = text.split(delimiter, cap)
    else:
        rx = compile_safe_regex(delimiter)
        parts = rx.split(text, maxsplit=cap)
        if rx.groups:  # Java never returns captured groups
            parts = parts[:: rx.groups + 1]
        if parts and parts[0] == "" and rx.match(text) and rx.match(text).end() == 0:
            parts = parts[1:]  # Java 8+: no leading empty string for a zero-width match
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    if len(parts) > MAX_ITEMS:
        raise ExpressionError(f"'split' would produce more than {MAX_ITEMS} items")
    return parts


def _sortable(items: list, filter_name: str) -> list:
    if not items:
        return []
    if all(is_number(x) for x in items):
        return sorted(items)
    if all(isinstance(x, str) for x in items):
        return sorted(items)
    if all(isinstance(x, bool) for x in items):
        return sorted(items)
    if all(isinstance(x, datetime) for x in items):
        try:
            return sorted(items)
        except TypeError:
            pass
    kinds = sorted({type_name(x) for x in items})
    raise ExpressionError(f"'{filter_name}' cannot sort a list mixing {', '.join(kinds)}")


def _jsonable(value: Any) -> Any:
    """Plain JSON data for jq/yaml (string keys, lists, numbers, strings, booleans, null),
    after :func:`measure` has checked that expanding shared references stays small."""
    measure(value)
    return _to_jsonable(value, 0)


def _to_jsonable(value: Any, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise ExpressionError("value is nested too deeply for jq")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {(k if isinstance(k, str) else to_text(k)): _to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_to_jsonable(v, depth + 1) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return to_text(value)


def parse_json(text: Any, what: str = "fromJson") -> Any:
    if text is None:
        return None
    if not isinstance(text, str):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        else:
            return plain(text)  # already structured: Kestra tolerates it, so do we
    if len(text) > DEFAULT_MAX_TEXT:
        raise ExpressionError(f"{what}: JSON text is too large")
    try:
        return json.loads(text)
    except RecursionError:
        raise ExpressionError(f"{what}: JSON is nested too deeply") from None
    except ValueError as exc:
        raise ExpressionError(f"{what}: invalid JSON ({exc.args[0] if exc.args else exc})") from None


# ====================================================================== strings
@filter_("lower")
def f_lower(value: Any) -> Any:
    return None if value is None else _text(value).lower()


@filter_("upper")
def f_upper(value: Any) -> Any:
    return None if value is None else _text(value).upper()


@filter_("capitalize")
def f_capitalize(value: Any) -> Any:
    if value is None:
        return None
    text = _text(value)
    return text[:1].upper() + text[1:]


@filter_("title")
def f_title(value: Any) -> Any:
    if value is None:
        return None
    out, cap = [], True
    for ch in _text(value):
        if ch.isspace():
            cap = True
        elif cap:
            ch = ch.title()
            cap = False
        out.append(ch)
    return "".join(out)


@filter_("trim")
def f_trim(value: Any) -> Any:
    return None if value is None else _text(value).strip()


@filter_("abbreviate")
def f_abbreviate(value: Any, length: Any) -> Any:
    if value is None:
        return None
    text, width = _text(value), _int_arg(length, "length")
    if len(text) <= width:
        return text
    if width < 4:
        return text[: max(width, 0)]
    return text[: width - 3] + "..."


@filter_("replace")
def f_replace(value: Any, replace_pairs: Any = None, regexp: Any = False) -> Any:
    """Kestra's ``replace({'old': 'new'}, regexp=false)``, recursing into maps and lists."""
    if value is None:
        return None
    if not isinstance(replace_pairs, Mapping):
        raise ExpressionError("'replace' expects a map of replacements, e.g. replace({'a': 'b'})")
    pairs = [(_text(k), _text(v)) for k, v in replace_pairs.items()]
    compiled = [(compile_safe_regex(k), _java_replacement(v)) for k, v in pairs] if regexp else None

    def one(text: str) -> str:
        if compiled is not None:
            for rx, repl in compiled:
                text = rx.sub(repl, text)
                _check_len(len(text))
            return text
        for old, new in pairs:
            count = text.count(old) if old else len(text) + 1
            _check_len(len(text) + count * (len(new) - len(old)))
            text = text.replace(old, new)
        return text

    return _map_strings(value, one, "replace")


def _map_strings(value: Any, fn: Callable[[str], str], filter_name: str) -> Any:
    """Apply ``fn`` to every scalar inside maps/lists (as text); the total output is bounded."""
    if not isinstance(value, (Mapping, list, tuple)):
        return fn(_text(value))
    measure(value)
    budget = [DEFAULT_MAX_TEXT]

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_VALUE_DEPTH:
            raise ExpressionError(f"'{filter_name}': value nested too deeply")
        if isinstance(v, Mapping):
            return {k: walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, depth + 1) for x in v]
        out = fn(_text(v))
        budget[0] -= len(out)
        if budget[0] < 0:
            raise ExpressionError(f"'{filter_name}' result would exceed {DEFAULT_MAX_TEXT} characters")
        return out

    return walk(value, 0)


def _java_replacement(repl: str) -> Callable[[re.Match], str]:
    """Java's ``$1``/``${name}`` group references (and ``\\$`` escapes) in a replacement."""
    def fn(m: re.Match) -> str:
        render_budget.tick()
        out, i = [], 0
        while i < len(repl):
            ch = repl[i]
            if ch == "\\" and i + 1 < len(repl):
                out.append(repl[i + 1])
                i += 2
            elif ch == "$" and i + 1 < len(repl) and repl[i + 1].isdigit():
                j = i + 1
                while j < len(repl) and repl[j].isdigit() and int(repl[i + 1:j + 1]) <= (m.re.groups or 0):
                    j += 1
                idx = int(repl[i + 1:j]) if j > i + 1 else 0
                out.append(m.group(idx) or "")
                i = j
            elif ch == "$" and repl.startswith("{", i + 1) and "}" in repl[i:]:
                end = repl.index("}", i)
                out.append(m.group(repl[i + 2:end]) or "")
                i = end + 1
            else:
                out.append(ch)
                i += 1
        return "".join(out)
    return fn


@filter_("split")
def f_split(value: Any, delimiter: Any = None, limit: Any = None) -> Any:
    if value is None:
        return None
    if delimiter is None:
        raise ExpressionError("'split' needs a delimiter, e.g. split(',')")
    return _java_split(_text(value), _str_arg(delimiter, "delimiter"), 0 if limit is None else _int_arg(limit, "limit"))


@filter_("startsWith")
def f_starts_with(value: Any, prefix: Any = None) -> bool:
    return value is not None and _text(value).startswith(_text(prefix))


@filter_("endsWith")
def f_ends_with(value: Any, suffix: Any = None) -> bool:
    return value is not None and _text(value).endswith(_text(suffix))


@filter_("substringBefore")
def f_substring_before(value: Any, separator: Any = None) -> Any:
    if value is None:
        return None
    text, sep = _text(value), _text(separator)
    if sep == "":
        return ""
    i = text.find(sep)
    return text if i < 0 else text[:i]


@filter_("substringBeforeLast")
def f_substring_before_last(value: Any, separator: Any = None) -> Any:
    if value is None:
        return None
    text, sep = _text(value), _text(separator)
    i = text.rfind(sep) if sep else -1
    return text if i < 0 else text[:i]


@filter_("substringAfter")
def f_substring_after(value: Any, separator: Any = None) -> Any:
    if value is None:
        return None
    text, sep = _text(value), _text(separator)
    if sep == "":
        return text
    i = text.find(sep)
    return "" if i < 0 else text[i + len(sep):]


@filter_("substringAfterLast")
def f_substring_after_last(value: Any, separator: Any = None) -> Any:
    if value is None:
        return None
    text, sep = _text(value), _text(separator)
    if sep == "":
        return ""
    i = text.rfind(sep)
    return "" if i < 0 else text[i + len(sep):]


@filter_("slugify")
def f_slugify(value: Any) -> Any:
    if value is None:
        return None
    text = re.sub(r"\s+", "-", _text(value))
    text = unicodedata.normalize("NFD", text)
    text = re.sub(r"[^\w-]", "", text, flags=re.ASCII)
    text = re.sub(r"-{2,}", "-", text).strip("-")
    return text.lower()


@filter_("escapeChar")
def f_escape_char(value: Any, type: Any = None) -> Any:  # noqa: A002 - Kestra's argument name
    if value is None:
        return None
    kind = str(type or "").lower()
    if kind not in ("single", "double", "shell"):
        raise ExpressionError("'escapeChar' expects type 'single', 'double' or 'shell'")

    def one(text: str) -> str:
        old, new = {"shell": ("'", "'\\''"), "single": ("'", "\\'"), "double": ('"', '\\"')}[kind]
        _check_len(len(text) + text.count(old) * (len(new) - 1))
        return text.replace(old, new)

    return _map_strings(value, one, "escapeChar")


@filter_("escape")
def f_escape(value: Any, strategy: Any = "html") -> Any:
    """Pebble's ``escape`` (HTML by default; ``js``/``json`` give a JSON string body)."""
    if value is None:
        return None
    text = _text(value)
    if strategy in ("js", "json"):
        return json.dumps(text, ensure_ascii=False)[1:-1]
    return html.escape(text, quote=True)


@filter_("raw")
def f_raw(value: Any) -> Any:
    """No-op: Kestra never auto-escapes."""
    return value


@filter_("indent")
def f_indent(value: Any, amount: Any = None, prefix: Any = " ") -> Any:
    return _indent(value, amount, prefix, new_line=False)


@filter_("nindent")
def f_nindent(value: Any, amount: Any = None, prefix: Any = " ") -> Any:
    return _indent(value, amount, prefix, new_line=True)


def _indent(value: Any, amount: Any, prefix: Any, new_line: bool) -> Any:
    if value is None:
        return None
    text = _text(value)
    if text == "":
        return text
    if amount is None:
        raise ExpressionError("'indent' expects an integer argument 'amount'")
    n = _int_arg(amount, "amount")
    if n < 0:
        raise ExpressionError("'indent' expects 'amount' >= 0")
    pad = _text(prefix) * min(n, DEFAULT_MAX_TEXT)
    nl = next((s for s in ("\r\n", "\n\r", "\n", "\r") if s in text), "\n")
    if new_line:
        text = nl + text
    _check_len(len(text) + text.count(nl) * len(pad))
    return text.replace(nl, nl + pad)


@filter_("base64encode")
def f_base64encode(value: Any) -> Any:
    if value is None:
        return None
    data = bytes(value) if isinstance(value, (bytes, bytearray)) else _text(value).encode("utf-8")
    return base64.b64encode(data).decode("ascii")


@filter_("base64decode")
def f_base64decode(value: Any) -> Any:
    if value is None:
        return None
    text = "".join(_text(value).split())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ExpressionError("'base64decode': input is not valid base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExpressionError("'base64decode': decoded bytes are not UTF-8 text") from None


def _digest(algo: str) -> Callable[[Any], Any]:
    def fn(value: Any) -> Any:
        if value is None:
            return None
        data = bytes(value) if isinstance(value, (bytes, bytearray)) else _text(value).encode("utf-8")
        return hashlib.new(algo, data).hexdigest()
    fn.__name__ = f"f_{algo}"
    fn.__doc__ = f"Hex {algo} digest of the UTF-8 text."
    return fn


for _algo in ("md5", "sha1", "sha256", "sha512"):
    FILTERS[_algo] = _digest(_algo)


@filter_("urlencode")
def f_urlencode(value: Any) -> Any:
    """``URLEncoder.encode(…, UTF-8)``: spaces become ``+``; ``*`` stays, ``~`` is encoded."""
    if value is None:
        return None
    return quote_plus(_text(value), safe="*").replace("~", "%7E")


@filter_("urldecode")
def f_urldecode(value: Any) -> Any:
    return None if value is None else unquote_plus(_text(value))


@filter_("string")
def f_string(value: Any) -> Any:
    return None if value is None else to_text(value)


# ====================================================================== numbers
@filter_("abs")
def f_abs(value: Any) -> Any:
    if value is None:
        return None
    if not is_number(value):
        raise ExpressionError(f"'abs' expects a number, got {type_name(value)}")
    return abs(value)


MAX_DECIMAL_EXPONENT = 10_000
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)[fFdDlL]?")


@filter_("number")
def f_number(value: Any, type: Any = None) -> Any:  # noqa: A002 - Kestra's argument name
    """Parse a string into a number (``NumberUtils.createNumber``); ``type`` forces INT,
    LONG, FLOAT, DOUBLE, BIGDECIMAL or BIGINTEGER."""
    if value is None:
        return None
    if is_number(value):
        text = to_text(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ExpressionError(f"'number' expects a string, got {type_name(value)}")
    if len(text) > 400:
        raise ExpressionError("'number': input is too long")
    kind = (type or "").upper()
    try:
        if kind in ("INT", "LONG", "BIGINTEGER"):
            if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", text):
                return int(text, 16)
            return int(text.rstrip("lL"))
        if kind in ("FLOAT", "DOUBLE"):
            return float(text.rstrip("fFdD"))
        if kind == "BIGDECIMAL":
            number = Decimal(text)
            if number.is_finite() and abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
                # 1E999999999 is short text but a billion digits once formatted or quantized
                raise ExpressionError(f"'number': {short(text)} is out of range (exponent beyond "
                                      f"±{MAX_DECIMAL_EXPONENT})")
            return number
        if kind:
            raise ExpressionError(f"'number': unknown type {type!r} (use INT, LONG, FLOAT, DOUBLE, "
                                  "BIGDECIMAL or BIGINTEGER)")
        m = re.fullmatch(r"([+-]?)0[xX]([0-9a-fA-F]+)", text)
        if m:
            return int(m.group(1) + m.group(2), 16)
        if not _NUMBER_RE.fullmatch(text):
            raise ValueError
        if re.fullmatch(r"[+-]?\d+[lL]?", text):
            return int(text.rstrip("lL"))
        return float(text.rstrip("fFdDlL"))
    except (ValueError, InvalidOperation):
        raise ExpressionError(f"'number': {short(text)} is not a valid number") from None


@filter_("numberformat")
def f_numberformat(value: Any, format: Any = None) -> Any:  # noqa: A002 - Pebble's argument name
    """Java ``DecimalFormat`` for the usual patterns: ``#,##0.00``, ``0.###``, ``00``, ``#%``."""
    if value is None:
        return None
    if not is_number(value):
        raise ExpressionError(f"'numberformat' expects a number, got {type_name(value)}")
    pattern = _str_arg(format, "format") if format is not None else "#,##0.###"
    m = re.fullmatch(r"([^#0,.]*)([#0,]*)(?:\.([#0]*))?([^#0,.]*)", pattern)
    if not m or not m.group(2) and not m.group(3):
        raise ExpressionError(f"'numberformat': unsupported pattern {pattern!r}")
    prefix, int_part, frac_part, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    number = Decimal(str(value))
    if "%" in prefix + suffix:
        number *= 100
    min_frac = frac_part.count("0")
    max_frac = len(frac_part)
    quantum = Decimal(1).scaleb(-max_frac)
    try:
        number = number.quantize(quantum, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise ExpressionError("'numberformat': number is too large") from None
    sign = "-" if number < 0 else ""
    text = f"{abs(number):f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    frac = frac + "0" * (min_frac - len(frac))
    min_int = int_part.replace(",", "").count("0")
    whole = whole.lstrip("0").zfill(min_int) if min_int else (whole.lstrip("0") or ("" if frac else "0"))
    if "," in int_part:
        group = len(int_part) - int_part.rfind(",") - 1
        if group > 0:
            digits = whole
            chunks = []
            while len(digits) > group:
                chunks.insert(0, digits[-group:])
                digits = digits[:-group]
            if digits:
                chunks.insert(0, digits)
            whole = ",".join(chunks)
    body = whole + ("." + frac if frac else "")
    return f"{sign}{prefix.replace(chr(39), '')}{body}{suffix.replace(chr(39), '')}"


# ====================================================================== collections
@filter_("length")
def f_length(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (str, list, tuple, Mapping, set)):
        return len(value)
    raise ExpressionError(f"'length' expects a string, list or map, got {type_name(value)}")


@filter_("first")
def f_first(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple, str)):
        return value[0] if value else None
    if isinstance(value, Mapping):
        return next(iter(value.values()), None)
    raise ExpressionError(f"'first' expects a list or string, got {type_name(value)}")


@filter_("last")
def f_last(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple, str)):
        return value[-1] if value else None
    if isinstance(value, Mapping):
        return list(value.values())[-1] if value else None
    raise ExpressionError(f"'last' expects a list or string, got {type_name(value)}")


@filter_("join")
def f_join(value: Any, separator: Any = None) -> Any:
    if value is None:
        return None
    items = _list(value, "join")
    sep = "" if separator is None else _text(separator)
    remaining = DEFAULT_MAX_TEXT - len(sep) * max(len(items) - 1, 0)
    parts = []
    for x in items:
        if remaining < 0:
            break
        part = to_text(x, max(remaining, 0))
        remaining -= len(part)
        parts.append(part)
    if remaining < 0:
        raise ExpressionError(f"'join' result would exceed {DEFAULT_MAX_TEXT} characters")
    return sep.join(parts)


@filter_("keys")
def f_keys(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, (list, tuple)):
        return list(range(len(value)))
    raise ExpressionError(f"'keys' expects a map or list, got {type_name(value)}")


@filter_("values")
def f_values(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return list(value.values())
    raise ExpressionError(f"'values' expects a map, got {type_name(value)}")


@filter_("reverse")
def f_reverse(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple, str)):
        return value[::-1] if isinstance(value, str) else list(reversed(value))
    raise ExpressionError(f"'reverse' expects a list or string, got {type_name(value)}")


@filter_("sort")
def f_sort(value: Any) -> Any:
    return None if value is None else _sortable(_list(value, "sort"), "sort")


@filter_("rsort")
def f_rsort(value: Any) -> Any:
    return None if value is None else _sortable(_list(value, "rsort"), "rsort")[::-1]


@filter_("slice")
def f_slice(value: Any, fromIndex: Any = None, toIndex: Any = None) -> Any:  # noqa: N803 - Pebble names
    if value is None:
        return None
    if not isinstance(value, (list, tuple, str)):
        raise ExpressionError(f"'slice' expects a list or string, got {type_name(value)}")
    start = 0 if fromIndex is None else _int_arg(fromIndex, "fromIndex")
    end = len(value) if toIndex is None else _int_arg(toIndex, "toIndex")
    if start < 0:
        raise ExpressionError("'slice': fromIndex must be >= 0")
    if end > len(value):
        raise ExpressionError(f"'slice': toIndex must be <= the input length ({len(value)})")
    if toIndex is not None and start >= end:
        raise ExpressionError("'slice': toIndex must be greater than fromIndex")
    out = value[start:end]
    return list(out) if isinstance(value, tuple) else out


@filter_("merge")
def f_merge(value: Any, items: Any = None) -> Any:
    if value is None:
        if items is None:
            raise ExpressionError("'merge': both values are null")
        return plain(items)
    if items is None:
        return plain(value)
    if isinstance(value, Mapping):
        if isinstance(items, Mapping):
            return {**value, **items}
        if isinstance(items, (list, tuple)):
            out = dict(value)
            for x in items:
                out[x if isinstance(x, (str, int, float, bool)) or x is None else to_text(x)] = x
            return out
    elif isinstance(value, (list, tuple)):
        if isinstance(items, (list, tuple)):
            if len(value) + len(items) > MAX_ITEMS:
                raise ExpressionError(f"'merge': result would exceed {MAX_ITEMS} items")
            return [*value, *items]
        if isinstance(items, Mapping):
            return [*value, *({"key": k, "value": v} for k, v in items.items())]
    raise ExpressionError(f"'merge' cannot merge a {type_name(items)} into a {type_name(value)}")


@filter_("chunk")
def f_chunk(value: Any, size: Any = None) -> Any:
    if value is None:
        return None
    items = _list(value, "chunk")
    n = _int_arg(size, "size") if size is not None else 0
    if n < 1:
        raise ExpressionError("'chunk' expects a size >= 1")
    return [items[i:i + n] for i in range(0, len(items), n)]


@filter_("flatten")
def f_flatten(value: Any) -> Any:
    if value is None:
        return None
    items = _list(value, "flatten")
    if sum(len(x) if isinstance(x, (list, tuple)) else 1 for x in items) > MAX_ITEMS:
        raise ExpressionError(f"'flatten' would produce more than {MAX_ITEMS} items")
    out: list = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


@filter_("distinct")
def f_distinct(value: Any) -> Any:
    if value is None:
        return None
    seen: set = set()
    out: list = []
    for item in _list(value, "distinct"):
        key = _canonical(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _canonical(value: Any) -> Any:
    """A hashable key under which Pebble-equal values collide (``1`` and ``1.0``, not ``'1'``)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if is_number(value):
        number = float(value)
        return ("n", int(number) if number.is_integer() else number)
    if isinstance(value, str):
        return ("s", value)
    return ("j", to_json(value))


@filter_("default")
def f_default(value: Any, default: Any = None) -> Any:
    """``value`` unless it is undefined, null, blank or an empty collection."""
    return default if t_empty(value) else value


# ====================================================================== JSON / YAML / jq
@filter_("toJson", "json", "jsonEncode")
def f_to_json(value: Any) -> str:
    """Serialise to compact JSON (Kestra's deprecated ``json`` filter does the same)."""
    return "null" if value is None else to_json(value)


@filter_("yaml")
def f_yaml(value: Any) -> str:
    data = _jsonable(value)  # measured: bounded before PyYAML expands anything
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    _check_len(len(text))
    return text


@filter_("jq")
def f_jq(value: Any, expression: Any = None) -> Any:
    """Run a jq program; always returns the list of its outputs (use ``| first``)."""
    if value is None:
        return None
    if not isinstance(expression, str):
        raise ExpressionError("'jq' expects a jq expression string, e.g. jq('.items[].id')")
    data = parse_json(value, "jq") if isinstance(value, str) else _jsonable(value)
    return jq_module.run(expression, data)


# ====================================================================== dates
@filter_("date", "dateFormat")
def f_date(value: Any, format: Any = None, timeZone: Any = None, existingFormat: Any = None,  # noqa: A002,N803
           locale: Any = None) -> Any:
    if value is None:
        return None
    dt = dates.to_datetime(value, timeZone, existingFormat)
    return dates.format_datetime(dt, format, timeZone)


@filter_("dateAdd")
def f_date_add(value: Any, amount: Any = None, unit: Any = None, format: Any = None,  # noqa: A002
               timeZone: Any = None, existingFormat: Any = None, locale: Any = None) -> Any:  # noqa: N803
    """Add ``amount`` ``unit``s (ChronoUnit names such as ``DAYS``); returns a datetime, or a
    string when ``format`` is given."""
    if value is None:
        return None
    if amount is None or unit is None:
        raise ExpressionError("'dateAdd' expects an amount and a unit, e.g. dateAdd(-1, 'DAYS')")
    dt = dates.add(dates.to_datetime(value, timeZone, existingFormat), amount, unit)
    if format is not None:
        return dates.format_datetime(dt, format, timeZone)
    return dt.astimezone(dates.zone(timeZone)) if timeZone else dt


def _timestamp(unit: str) -> Callable[..., Any]:
    def fn(value: Any, timeZone: Any = None, existingFormat: Any = None) -> Any:  # noqa: N803
        if value is None:
            return None
        return dates.epoch(dates.to_datetime(value, timeZone, existingFormat), unit)
    fn.__doc__ = f"Epoch time of a date in {unit}."
    return fn


FILTERS["timestamp"] = _timestamp("s")
FILTERS["timestampMilli"] = _timestamp("ms")
FILTERS["timestampMicro"] = _timestamp("us")
FILTERS["timestampNano"] = _timestamp("ns")


# ====================================================================== misc
@filter_("className")
def f_class_name(value: Any) -> Any:
    """The Java class Kestra would report, for flows that branch on it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if -(2**31) <= value < 2**31 else "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, Decimal):
        return "java.math.BigDecimal"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, Mapping):
        return "java.util.LinkedHashMap"
    if isinstance(value, (list, tuple)):
        return "java.util.ArrayList"
    if isinstance(value, datetime):
        return "java.time.ZonedDateTime"
    if isinstance(value, date):
        return "java.time.LocalDate"
    return "java.lang.Object"


@filter_("ternary")
def f_ternary(value: Any, trueValue: Any = None, falseValue: Any = None) -> Any:  # noqa: N803
    from .values import truthy

    return trueValue if truthy(value) else falseValue


# ====================================================================== tests (x is name)
@test_("null")
def t_null(value: Any) -> bool:
    return value is None


@test_("empty")
def t_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (list, tuple, Mapping, set)):
        return len(value) == 0
    return False


@test_("iterable")
def t_iterable(value: Any) -> bool:
    return isinstance(value, (list, tuple, set))


@test_("map")
def t_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _integer(value: Any, test: str) -> int:
    if isinstance(value, bool) or not is_number(value):
        raise ExpressionError(f"'is {test}' expects a number, got {type_name(value)}")
    if value != int(value):
        raise ExpressionError(f"'is {test}' expects a whole number, got {value}")
    return int(value)


@test_("even")
def t_even(value: Any) -> bool:
    return _integer(value, "even") % 2 == 0


@test_("odd")
def t_odd(value: Any) -> bool:
    return _integer(value, "odd") % 2 == 1


@test_("json")
def t_json(value: Any) -> bool:
    """Kestra's ``is json``: a string that parses as JSON."""
    if not isinstance(value, str) or len(value) > DEFAULT_MAX_TEXT:
        return False
    try:
        json.loads(value)
    except (ValueError, RecursionError):
        return False
    return True


# ``defined`` is handled by the evaluator (it must see undefined variables), but is listed
# so the parser accepts it.
@test_("defined")
def t_defined(value: Any) -> bool:
    return True
