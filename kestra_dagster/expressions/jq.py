"""A pure-Python subset of jq, for Kestra's ``jq`` filter.

Kestra runs ``jackson-jq`` and returns *every* output as a list (hence the idiom
``| jq('.items[].id') | first``). This implements the part of jq that flows use:

* paths: ``.``, ``..``, ``.a.b``, ``."a-b"``, ``.["k"]``, ``.[0]``, ``.[-1]``, ``.[1:3]``,
  ``.[]``, optional ``?``;
* operators: ``|``, ``,``, ``//``, ``and``/``or``, comparisons, ``+ - * / %``, unary ``-``;
* constructors ``[...]``, ``{a, "b": .x, (.k): .v}``, string interpolation ``"\\(.x)"``;
* ``if … then … elif … else … end``, ``try … catch …``, ``E as $x | …``,
  ``reduce E as $x (init; update)``;
* builtins: length, keys, values, has, map, map_values, select, empty, error, not, add, any,
  all, flatten, range, floor, ceil, round, sqrt, abs, tostring, tonumber, type, sort, sort_by,
  group_by, unique, unique_by, min, max, min_by, max_by, reverse, contains, startswith,
  endswith, ltrimstr, rtrimstr, trim, ltrim, rtrim, split/1, join, ascii_downcase,
  ascii_upcase, explode, implode, to_entries, from_entries, with_entries, tojson, fromjson,
  first, last, nth, limit, recurse, getpath, index, rindex, test, type selectors (arrays,
  objects, strings, …), ``@json @text @base64 @base64d @uri @csv @tsv @html @sh``.

Not supported: assignment operators, paths/``del``, ``def``, ``label``, ``$ENV``/``env``
(the process environment is never exposed), regex functions other than ``test``.

Evaluation is generator-based and bounded: a step budget stops ``range(1e9)`` or ``[..]``
on huge inputs, and errors are :class:`JqError` (an :class:`ExpressionError`).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import threading
from typing import Any, Callable, Iterator
from urllib.parse import quote

from kestra_dagster.errors import ExpressionError

import kestra_dagster.expressions.budget as render_budget
from .values import to_json

MAX_STEPS = 1_000_000
MAX_DEPTH = 64
MAX_SIZE = 10_000_000  # characters in a string / items in an array built by a program

_running = threading.local()  # the Env of the program running on this thread (for value walkers)


class JqError(ExpressionError):
    """A jq program failed to compile or run."""


class JqLimitError(JqError):
    """The step budget ran out; never swallowed by ``try`` or ``//``."""


# ====================================================================== lexer
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<str>")
  | (?P<format>@[a-z0-9]+)
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>\.\.|\?//|//|==|!=|<=|>=|\|=|\+=|-=|\*=|/=|%=|//=|[.\[\]{}(),:;|+\-*/%<>=?])
    """,
    re.X,
)
KEYWORDS = frozenset({"and", "or", "if", "then", "elif", "else", "end", "as", "reduce", "foreach", "try",
                      "catch", "def", "label", "import", "include", "__loc__"})


class _Tok:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind: str, value: Any, pos: int):
        self.kind, self.value, self.pos = kind, value, pos


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _lex(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos, n = 0, len(src)
    while pos < n:
        m = _TOKEN.match(src, pos)
        if not m:
            raise JqError(f"jq: unexpected character {src[pos]!r} at column {pos + 1} in {src!r}")
        kind = m.lastgroup
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "str":
            pos = _lex_string(src, m.end(), toks, pos)
            continue
        text = m.group()
        if kind == "num":
            toks.append(_Tok("num", float(text) if any(c in text for c in ".eE") else int(text), pos))
        elif kind == "ident" and text in KEYWORDS:
            toks.append(_Tok("kw", text, pos))
        else:
            toks.append(_Tok(kind, text, pos))
        pos = m.end()
    toks.append(_Tok("eof", None, n))
    return toks


def _lex_string(src: str, i: int, toks: list[_Tok], start: int) -> int:
    """A JSON string with ``\\(expr)`` interpolation → ("str", [parts]) where parts are str or token lists."""
    parts: list = []
    buf: list[str] = []
    n = len(src)
    while True:
        if i >= n:
            raise JqError(f"jq: unterminated string in {src!r}")
        ch = src[i]
        if ch == '"':
            break
        if ch == "\\":
            if i + 1 >= n:
                raise JqError(f"jq: unterminated string in {src!r}")
            esc = src[i + 1]
            if esc in _ESCAPES:
                buf.append(_ESCAPES[esc])
                i += 2
            elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", src[i + 2:i + 6] or ""):
                buf.append(chr(int(src[i + 2:i + 6], 16)))
                i += 6
            elif esc == "(":
                depth, j = 1, i + 2
                while j < n and depth:
                    if src[j] == "(":
                        depth += 1
                    elif src[j] == ")":
                        depth -= 1
                    elif src[j] == '"':
                        raise JqError("jq: nested strings inside string interpolation are not supported")
                    j += 1
                if depth:
                    raise JqError(f"jq: unterminated interpolation in {src!r}")
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(_lex(src[i + 2:j - 1]))
                i = j
            else:
                raise JqError(f"jq: invalid escape '\\{esc}' in string")
            continue
        buf.append(ch)
        i += 1
    if buf or not parts:
        parts.append("".join(buf))
    toks.append(_Tok("str", parts, start))
    return i + 1


# ====================================================================== values
def _type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "string"


_RANK = {"null": 0, "boolean": 1, "number": 3, "string": 4, "array": 5, "object": 6}


def _tick() -> None:
    """Charge one step to the running program (value walkers have no Env of their own)."""
    env = getattr(_running, "env", None)
    if env is not None:
        env.tick()


def _key(v: Any):
    """Total order of jq values: null < false < true < numbers < strings < arrays < objects."""
    _tick()
    t = _type(v)
    if t == "boolean":
        return (1 if not v else 2,)
    if t == "number":
        return (3, v)
    if t == "string":
        return (4, str(v))
    if t == "array":
        return (5, tuple(_key(x) for x in v))
    if t == "object":
        keys = sorted(v)
        return (6, tuple(keys), tuple(_key(v[k]) for k in keys))
    return (0,)


def _eq(a: Any, b: Any) -> bool:
    return _key(a) == _key(b)


def _truthy(v: Any) -> bool:
    return v is not None and v is not False


def _desc(v: Any) -> str:
    try:
        text = to_json(v, 200)
    except ExpressionError:
        text = "…"
    return f"{_type(v)} ({text[:30]}{'…' if len(text) > 30 else ''})"


def _num(v: float):
    """jq numbers are doubles; show integral results as ints."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


# ====================================================================== parser → closures
Fn = Callable[[Any, "Env"], Iterator[Any]]


class Env:
    """Variables plus the shared step budget."""

    __slots__ = ("vars", "steps")

    def __init__(self, vars: dict, steps: list[int]):
        self.vars = vars
        self.steps = steps

    def bind(self, name: str, value: Any) -> "Env":
        return Env({**self.vars, name: value}, self.steps)

    def tick(self) -> None:
        self.steps[0] += 1
        if not self.steps[0] & 255:  # wall clock and task stop, every 256 steps
            render_budget.check()
        if self.steps[0] > MAX_STEPS:
            raise JqLimitError(f"jq: program exceeded {MAX_STEPS} steps")


class _Parser:
    def __init__(self, toks: list[_Tok], src: str, depth: int = 0):
        self.toks = toks
        self.i = 0
        self.src = src
        self.depth = depth

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, kind: str, value: Any = None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def at_op(self, *values: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in values

    def expect(self, kind: str, value: Any = None) -> _Tok:
        if not self.at(kind, value):
            raise self.error(f"expected {value or kind}")
        return self.next()

    def error(self, msg: str) -> JqError:
        t = self.tok
        found = "end of program" if t.kind == "eof" else repr(t.value if t.kind != "str" else "string")
        return JqError(f"jq: {msg} but found {found} at column {t.pos + 1} in {self.src!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise JqError("jq: program nested too deeply")

    # pipe: lowest precedence, right-assoc, with "E as $x | body"
    def pipe(self) -> Fn:
        self.enter()
        try:
            left = self.comma()
            if self.at("kw", "as"):
                self.next()
                name = self.expect("var").value
                self.expect("op", "|")
                body = self.pipe()
                return _bind(left, name, body)
            if self.at_op("|"):
                self.next()
                right = self.pipe()
                return _pipe(left, right)
            return left
        finally:
            self.depth -= 1

    def comma(self) -> Fn:
        left = self.alt()
        while self.at_op(","):
            self.next()
            left = _comma(left, self.alt())
        return left

    def alt(self) -> Fn:
        left = self.or_()
        if self.at_op("//"):
            self.next()
            return _alternative(left, self.alt())
        if self.tok.kind == "op" and self.tok.value.endswith("=") and self.tok.value not in ("==", "!=", "<=", ">="):
            raise self.error("assignment operators are not supported")
        return left

    def or_(self) -> Fn:
        left = self.and_()
        while self.at("kw", "or"):
            self.next()
            left = _or(left, self.and_())
        return left

    def and_(self) -> Fn:
        left = self.compare()
        while self.at("kw", "and"):
            self.next()
            left = _and(left, self.compare())
        return left

    def compare(self) -> Fn:
        left = self.additive()
        if self.at_op("==", "!=", "<", "<=", ">", ">="):
            op = self.next().value
            left = _binop(op, left, self.additive())
        return left

    def additive(self) -> Fn:
        left = self.multiplicative()
        while self.at_op("+", "-"):
            op = self.next().value
            left = _binop(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Fn:
        left = self.unary()
        while self.at_op("*", "/", "%"):
            op = self.next().value
            left = _binop(op, left, self.unary())
        return left

    def unary(self) -> Fn:
        if self.at_op("-"):
            self.next()
            return _negate(self.postfix())
        return self.postfix()

    def postfix(self) -> Fn:
        term = self.term()
        while True:
            if self.at("field"):
                term = _pipe(term, _index_const(self.next().value[1:]))
            elif self.at_op(".") and self.toks[self.i + 1].kind == "str":
                self.next()
                term = _pipe(term, _index_expr(self._string(self.next())))
            elif self.at_op("[") or (self.at_op(".") and self.toks[self.i + 1].kind == "op"
                                     and self.toks[self.i + 1].value == "["):
                if self.at_op("."):
                    self.next()
                term = self.bracket_suffix()(term)
            elif self.at_op("?"):
                self.next()
                term = _try(term, None)
            else:
                return term

    def bracket_suffix(self) -> Callable[[Fn], Fn]:
        """``[]``, ``[e]``, ``[a:b]`` applied to the preceding term (which is passed later)."""
        self.expect("op", "[")
        if self.at_op("]"):
            self.next()
            return lambda target: _pipe(target, _iterate)
        if self.at_op(":"):
            self.next()
            hi = self.pipe()
            self.expect("op", "]")
            return lambda target: _slice(target, None, hi)
        lo = self.pipe()
        if self.at_op(":"):
            self.next()
            hi = None if self.at_op("]") else self.pipe()
            self.expect("op", "]")
            return lambda target: _slice(target, lo, hi)
        self.expect("op", "]")
        return lambda target: _index_dynamic(target, lo)

    def term(self) -> Fn:  # noqa: C901 - one branch per term kind
        t = self.tok
        if t.kind == "num":
            self.next()
            return _const(t.value)
        if t.kind == "str":
            self.next()
            return self._string(t)
        if t.kind == "format":
            self.next()
            name = t.value
            if self.at("str"):
                return self._string(self.next(), fmt=name)
            return _format(name)
        if t.kind == "field":
            self.next()
            return _index_const(t.value[1:])
        if t.kind == "var":
            self.next()
            name = t.value[1:]
            if name in ("ENV", "__prog_args"):
                raise JqError("jq: $ENV is not available")
            return _var(name)
        if t.kind == "op":
            if t.value == ".":
                self.next()
                if self.at("str"):
                    return _index_expr(self._string(self.next()))
                if self.at_op("["):
                    return self.bracket_suffix()(_identity)
                return _identity
            if t.value == "..":
                self.next()
                return _recurse_all
            if t.value == "(":
                self.next()
                inner = self.pipe()
                self.expect("op", ")")
                return inner
            if t.value == "[":
                self.next()
                if self.at_op("]"):
                    self.next()
                    return _const_list
                inner = self.pipe()
                self.expect("op", "]")
                return _collect(inner)
            if t.value == "{":
                return self.object()
        if t.kind == "kw":
            if t.value == "if":
                return self.if_()
            if t.value == "try":
                self.next()
                body = self.postfix()
                handler = None
                if self.at("kw", "catch"):
                    self.next()
                    handler = self.postfix()
                return _try(body, handler)
            if t.value == "reduce":
                return self.reduce()
            raise self.error(f"'{t.value}' is not supported")
        if t.kind == "ident":
            self.next()
            name = t.value
            args: list[Fn] = []
            if self.at_op("("):
                self.next()
                args.append(self.pipe())
                while self.at_op(";"):
                    self.next()
                    args.append(self.pipe())
                self.expect("op", ")")
            return _builtin(name, args)
        raise self.error("expected a jq expression")

    def _string(self, tok: _Tok, fmt: str | None = None) -> Fn:
        parts: list = []
        for part in tok.value:
            if isinstance(part, str):
                parts.append(part)
            else:
                sub = _Parser(part, self.src, self.depth)
                fn = sub.pipe()
                if not sub.at("eof"):
                    raise sub.error("unexpected token in string interpolation")
                parts.append(fn)
        if len(parts) == 1 and isinstance(parts[0], str):
            return _const(parts[0])
        return _interpolate(parts, fmt)

    def object(self) -> Fn:
        self.expect("op", "{")
        entries: list[tuple[Fn, Fn]] = []
        while not self.at_op("}"):
            if entries:
                self.expect("op", ",")
            t = self.tok
            if t.kind in ("ident", "kw"):
                self.next()
                key: Fn = _const(t.value)
                value: Fn = _index_const(t.value)
            elif t.kind == "var":
                self.next()
                key, value = _const(t.value[1:]), _var(t.value[1:])
            elif t.kind == "str":
                self.next()
                key = self._string(t)
                value = _index_expr(key)
            elif t.kind == "num":
                raise self.error("object keys must be strings")
            elif t.kind == "format":
                raise self.error("format strings cannot be object keys")
            elif self.at_op("("):
                self.next()
                key = self.pipe()
                self.expect("op", ")")
                value = None  # type: ignore[assignment]
            else:
                raise self.error("expected an object key")
            if self.at_op(":"):
                self.next()
                value = self._object_value()
            elif value is None:
                raise self.error("expected ':' after a computed key")
            entries.append((key, value))
        self.expect("op", "}")
        return _object(entries)

    def _object_value(self) -> Fn:
        # object values bind tighter than ',' (jq's ObjVal): pipes allowed only in parentheses
        left = self.alt()
        while self.at_op("|"):
            self.next()
            left = _pipe(left, self.alt())
        return left

    def if_(self) -> Fn:
        """``if c then a (elif c then b)* (else d)? end``; a missing else is ``.``."""
        self.expect("kw", "if")
        branches = []
        while True:
            cond = self.pipe()
            self.expect("kw", "then")
            branches.append((cond, self.pipe()))
            if not self.at("kw", "elif"):
                break
            self.next()
        otherwise: Fn = _identity
        if self.at("kw", "else"):
            self.next()
            otherwise = self.pipe()
        self.expect("kw", "end")
        for cond, then in reversed(branches):
            otherwise = _if(cond, then, otherwise)
        return otherwise

    def reduce(self) -> Fn:
        self.expect("kw", "reduce")
        source = self.postfix()
        self.expect("kw", "as")
        name = self.expect("var").value[1:]
        self.expect("op", "(")
        init = self.pipe()
        self.expect("op", ";")
        update = self.pipe()
        self.expect("op", ")")
        return _reduce(source, name, init, update)


# ====================================================================== combinators
def _identity(inp: Any, env: Env) -> Iterator[Any]:
    yield inp


def _const(value: Any) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        yield value
    return fn


def _const_list(inp: Any, env: Env) -> Iterator[Any]:
    yield []


def _var(name: str) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        if name not in env.vars:
            raise JqError(f"jq: ${name} is not defined")
        yield env.vars[name]
    return fn


def _pipe(left: Fn, right: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for v in left(inp, env):
            env.tick()
            yield from right(v, env)
    return fn


def _bind(source: Fn, name: str, body: Fn) -> Fn:
    var = name[1:]

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for v in source(inp, env):
            env.tick()
            yield from body(inp, env.bind(var, v))
    return fn


def _comma(left: Fn, right: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        yield from left(inp, env)
        yield from right(inp, env)
    return fn


def _alternative(left: Fn, right: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        found = False
        try:
            for v in left(inp, env):
                if _truthy(v):
                    found = True
                    yield v
        except JqLimitError:
            raise
        except JqError:
            render_budget.check()  # an expired budget is never swallowed by `//`
        if not found:
            yield from right(inp, env)
    return fn


def _or(left: Fn, right: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for a in left(inp, env):
            if _truthy(a):
                yield True
            else:
                for b in right(inp, env):
                    yield _truthy(b)
    return fn


def _and(left: Fn, right: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for a in left(inp, env):
            if not _truthy(a):
                yield False
            else:
                for b in right(inp, env):
                    yield _truthy(b)
    return fn


def _if(cond: Fn, then: Fn, otherwise: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for c in cond(inp, env):
            yield from (then if _truthy(c) else otherwise)(inp, env)
    return fn


def _try(body: Fn, handler: Fn | None) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        try:
            yield from body(inp, env)
        except JqLimitError:
            raise
        except JqError as exc:
            render_budget.check()  # an expired budget is never swallowed by `try`
            if handler is not None:
                message = getattr(exc, "jq_value", str(exc))
                yield from handler(message, env)
    return fn


def _reduce(source: Fn, name: str, init: Fn, update: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for acc in init(inp, env):
            for v in source(inp, env):
                env.tick()
                result = None
                for result in update(acc, env.bind(name, v)):
                    pass
                acc = result
            yield acc
    return fn


def _collect(inner: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        out = []
        for v in inner(inp, env):
            env.tick()
            out.append(v)
        yield out
    return fn


def _object(entries: list[tuple[Fn, Fn]]) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        results: list[dict] = [{}]
        for key_fn, value_fn in entries:
            nxt = []
            for partial in results:
                for k in key_fn(inp, env):
                    if not isinstance(k, str):
                        raise JqError(f"jq: object keys must be strings, not {_desc(k)}")
                    for v in value_fn(inp, env):
                        env.tick()
                        nxt.append({**partial, k: v})
            results = nxt
        yield from results
    return fn


def _interpolate(parts: list, fmt: str | None) -> Fn:
    def render(v: Any) -> str:
        if fmt is not None:
            return _apply_format(fmt, v)
        return v if isinstance(v, str) else _tojson(v)

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        results = [""]
        for part in parts:
            if isinstance(part, str):
                results = [r + part for r in results]
            else:
                results = [r + render(v) for r in results for v in part(inp, env)]
        yield from results
    return fn


def _index_value(v: Any, k: Any) -> Any:
    if v is None:
        return None
    if isinstance(k, str):
        if isinstance(v, dict):
            return v.get(k)
        raise JqError(f"jq: cannot index {_type(v)} with \"{k}\"")
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        if isinstance(v, list):
            i = math.floor(k)
            if i < 0:
                i += len(v)
            return v[i] if 0 <= i < len(v) else None
        raise JqError(f"jq: cannot index {_type(v)} with number")
    if isinstance(k, dict) and isinstance(v, list):
        raise JqError("jq: slicing with an object is not supported")
    raise JqError(f"jq: cannot index {_type(v)} with {_type(k)}")


def _index_const(key: str) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        yield _index_value(inp, key)
    return fn


def _index_expr(key_fn: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for k in key_fn(inp, env):
            yield _index_value(inp, k)
    return fn


def _index_dynamic(target: Fn, key_fn: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for v in target(inp, env):
            for k in key_fn(inp, env):
                yield _index_value(v, k)
    return fn


def _slice_bounds(length: int, lo: Any, hi: Any) -> tuple[int, int]:
    def norm(x: Any, default: int) -> int:
        if x is None:
            return default
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise JqError("jq: slice indices must be numbers")
        i = math.floor(x)
        if i < 0:
            i += length
        return max(0, min(length, i))
    return norm(lo, 0), norm(hi, length)


def _slice(target: Fn, lo_fn: Fn | None, hi_fn: Fn | None) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for v in target(inp, env):
            for lo in (lo_fn(inp, env) if lo_fn else [None]):
                for hi in (hi_fn(inp, env) if hi_fn else [None]):
                    if v is None:
                        yield None
                    elif isinstance(v, (list, str)):
                        a, b = _slice_bounds(len(v), lo, hi)
                        yield v[a:b]
                    else:
                        raise JqError(f"jq: cannot slice {_type(v)}")
    return fn


def _iterate(inp: Any, env: Env) -> Iterator[Any]:
    if isinstance(inp, list):
        yield from inp
    elif isinstance(inp, dict):
        yield from inp.values()
    else:
        raise JqError(f"jq: cannot iterate over {_desc(inp)}")


def _recurse_values(v: Any, env: Env, depth: int = 0) -> Iterator[Any]:
    if depth > 200:
        raise JqError("jq: value nested too deeply")
    env.tick()
    yield v
    if isinstance(v, list):
        for x in v:
            yield from _recurse_values(x, env, depth + 1)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _recurse_values(x, env, depth + 1)


def _recurse_all(inp: Any, env: Env) -> Iterator[Any]:
    yield from _recurse_values(inp, env)


def _negate(operand: Fn) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for v in operand(inp, env):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise JqError(f"jq: {_desc(v)} cannot be negated")
            yield -v
    return fn


def _arith(op: str, a: Any, b: Any) -> Any:  # noqa: C901 - jq's operator table
    na = isinstance(a, (int, float)) and not isinstance(a, bool)
    nb = isinstance(b, (int, float)) and not isinstance(b, bool)
    if op == "+":
        if a is None:
            return b
        if b is None:
            return a
        if na and nb:
            return a + b
        if isinstance(a, (str, list)) and type(a) is type(b):
            if len(a) + len(b) > MAX_SIZE:
                raise JqLimitError(f"jq: result would exceed {MAX_SIZE} elements")
            return a + b
        if isinstance(a, dict) and isinstance(b, dict):
            return {**a, **b}
    elif op == "-":
        if na and nb:
            return a - b
        if isinstance(a, list) and isinstance(b, list):
            return [x for x in a if not any(_eq(x, y) for y in b)]
    elif op == "*":
        if na and nb:
            return a * b
        if isinstance(a, dict) and isinstance(b, dict):
            return _deep_merge(a, b)
    elif op == "/":
        if na and nb:
            if b == 0:
                raise JqError(f"jq: {a} and {b} cannot be divided because the divisor is zero")
            return _num(a / b)
        if isinstance(a, str) and isinstance(b, str):
            return a.split(b) if b else [c for c in a]
    elif op == "%":
        if na and nb:
            ia, ib = int(a), int(b)
            if ib == 0:
                raise JqError(f"jq: {a} and {b} cannot be divided because the divisor is zero")
            r = abs(ia) % abs(ib)
            return -r if ia < 0 else r
    raise JqError(f"jq: {_desc(a)} and {_desc(b)} cannot be combined with '{op}'")


def _deep_merge(a: dict, b: dict) -> dict:
    _tick()
    out = dict(a)
    for k, v in b.items():
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return _eq(a, b)
    if op == "!=":
        return not _eq(a, b)
    ka, kb = _key(a), _key(b)
    if op == "<":
        return ka < kb
    if op == "<=":
        return ka <= kb
    if op == ">":
        return ka > kb
    return ka >= kb


def _binop(op: str, left: Fn, right: Fn) -> Fn:
    is_cmp = op in ("==", "!=", "<", "<=", ">", ">=")

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for b in right(inp, env):
            for a in left(inp, env):
                env.tick()
                yield _compare(op, a, b) if is_cmp else _arith(op, a, b)
    return fn


# ====================================================================== builtins
def _tojson(v: Any) -> str:
    try:
        return to_json(v, MAX_SIZE)
    except JqError:
        raise
    except ExpressionError as exc:
        raise JqLimitError(f"jq: {exc.reason}") from None


def _length(v: Any) -> Any:
    if v is None:
        return 0
    if isinstance(v, bool):
        raise JqError("jq: boolean has no length")
    if isinstance(v, (int, float)):
        return abs(v)
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise JqError(f"jq: {_desc(v)} has no length")


def _keys(v: Any, sort: bool = True) -> list:
    if isinstance(v, dict):
        return sorted(v) if sort else list(v)
    if isinstance(v, list):
        return list(range(len(v)))
    raise JqError(f"jq: {_desc(v)} has no keys")


def _tonumber(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        text = v.strip()
        if re.fullmatch(r"-?\d{1,300}", text):
            return int(text)
        try:
            return _num(float(text))
        except ValueError:
            pass
    raise JqError(f"jq: {_desc(v)} cannot be parsed as a number")


def _add(values: list) -> Any:
    acc = None
    for v in values:
        acc = _arith("+", acc, v)
    return acc


def _flatten(v: Any, depth: float) -> list:
    _tick()
    if not isinstance(v, list):
        raise JqError(f"jq: cannot flatten {_desc(v)}")
    out: list = []
    for x in v:
        if isinstance(x, list) and depth > 0:
            out.extend(_flatten(x, depth - 1))
        else:
            out.append(x)
    return out


def _require(v: Any, t: str, fn: str) -> Any:
    if _type(v) != t:
        raise JqError(f"jq: {fn} requires {t} input, got {_desc(v)}")
    return v


def _to_entries(v: Any) -> list:
    return [{"key": k, "value": x} for k, x in _require(v, "object", "to_entries").items()]


def _from_entries(v: Any) -> dict:
    out = {}
    for e in _require(v, "array", "from_entries"):
        if not isinstance(e, dict):
            raise JqError("jq: from_entries expects objects with key/value")
        key = next((e[k] for k in ("key", "k", "name", "Name", "Key", "K") if k in e and e[k] is not None), None)
        value = next((e[k] for k in ("value", "v", "Value", "V") if k in e), None)
        if isinstance(key, bool) or key is None:
            raise JqError("jq: from_entries needs a string key")
        out[key if isinstance(key, str) else _tojson(key)] = value
    return out


def _apply_format(name: str, v: Any) -> str:
    if name == "@json":
        return _tojson(v)
    text = v if isinstance(v, str) else _tojson(v)
    if name == "@text":
        return text
    if name == "@base64":
        return base64.b64encode(text.encode()).decode()
    if name == "@base64d":
        try:
            return base64.b64decode(text.encode() + b"==", validate=False).decode("utf-8", "replace")
        except ValueError:
            raise JqError("jq: invalid base64 input") from None
    if name == "@uri":
        return quote(text, safe="-_.~")
    if name == "@html":
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("'", "&#39;").replace('"', "&quot;"))
    if name == "@sh":
        items = v if isinstance(v, list) else [v]
        return " ".join("'" + (x if isinstance(x, str) else _tojson(x)).replace("'", "'\\''") + "'" for x in items)
    if name in ("@csv", "@tsv"):
        row = _require(v, "array", name)
        cells = []
        for x in row:
            if isinstance(x, str):
                cells.append('"' + x.replace('"', '""') + '"' if name == "@csv" else
                             x.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))
            elif x is None:
                cells.append("")
            else:
                cells.append(_tojson(x))
        return ("," if name == "@csv" else "\t").join(cells)
    raise JqError(f"jq: unknown format {name}")


def _format(name: str) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        yield _apply_format(name, inp)
    return fn


def _safe_pattern(pattern: str) -> re.Pattern:
    from .regex import compile_safe_regex

    try:
        return compile_safe_regex(pattern)
    except JqError:
        raise
    except ExpressionError as exc:
        raise JqError(f"jq: {exc.reason}") from None


def _simple(fn1: Callable[[Any], Any]) -> Callable[[list[Fn]], Fn]:
    def make(args: list[Fn]) -> Fn:
        def fn(inp: Any, env: Env) -> Iterator[Any]:
            yield fn1(inp)
        return fn
    return make


def _with_arg(fn2: Callable[[Any, Any], Any]) -> Callable[[list[Fn]], Fn]:
    def make(args: list[Fn]) -> Fn:
        (arg,) = args

        def fn(inp: Any, env: Env) -> Iterator[Any]:
            for a in arg(inp, env):
                yield fn2(inp, a)
        return fn
    return make


def _by(kind: str) -> Callable[[list[Fn]], Fn]:
    def make(args: list[Fn]) -> Fn:
        (key_fn,) = args

        def keyed(inp: Any, env: Env) -> list:
            items = _require(inp, "array", f"{kind}_by")
            out = []
            for x in items:
                env.tick()
                out.append((_key([v for v in key_fn(x, env)]), x))
            return out

        def fn(inp: Any, env: Env) -> Iterator[Any]:
            pairs = keyed(inp, env)
            if kind == "sort":
                yield [x for _, x in sorted(pairs, key=lambda p: p[0])]
            elif kind == "group":
                groups: dict = {}
                for k, x in sorted(pairs, key=lambda p: p[0]):
                    groups.setdefault(k, []).append(x)
                yield list(groups.values())
            elif kind == "unique":
                seen: dict = {}
                for k, x in sorted(pairs, key=lambda p: p[0]):
                    seen.setdefault(k, x)
                yield list(seen.values())
            elif kind == "min":
                yield min(pairs, key=lambda p: p[0])[1] if pairs else None
            else:
                yield max(pairs, key=lambda p: p[0])[1] if pairs else None
        return fn
    return make


def _contains(a: Any, b: Any) -> bool:
    _tick()
    if isinstance(a, dict) and isinstance(b, dict):
        return all(k in a and _contains(a[k], v) for k, v in b.items())
    if isinstance(a, list) and isinstance(b, list):
        return all(any(_contains(x, y) for x in a) for y in b)
    if isinstance(a, str) and isinstance(b, str):
        return b in a
    if _type(a) == _type(b):
        return _eq(a, b)
    raise JqError(f"jq: {_desc(a)} and {_desc(b)} cannot have their containment checked")


def _has(v: Any, k: Any) -> bool:
    if isinstance(v, dict) and isinstance(k, str):
        return k in v
    if isinstance(v, list) and isinstance(k, (int, float)) and not isinstance(k, bool):
        return 0 <= k < len(v)
    raise JqError(f"jq: cannot check whether {_type(v)} has a {_type(k)} key")


def _range(args: list[Fn]) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        bounds = [list(a(inp, env)) for a in args]
        if len(bounds) == 1:
            combos = [(0, hi, 1) for hi in bounds[0]]
        elif len(bounds) == 2:
            combos = [(lo, hi, 1) for lo in bounds[0] for hi in bounds[1]]
        else:
            combos = [(lo, hi, st) for lo in bounds[0] for hi in bounds[1] for st in bounds[2]]
        for lo, hi, step in combos:
            for x in (lo, hi, step):
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise JqError("jq: range bounds must be numbers")
            if step == 0:
                continue
            i = lo
            while (i < hi) if step > 0 else (i > hi):
                env.tick()
                yield i
                i += step
    return fn


def _limit(args: list[Fn]) -> Fn:
    n_fn, gen = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for n in n_fn(inp, env):
            if n <= 0:
                continue
            count = 0
            for v in gen(inp, env):
                yield v
                count += 1
                if count >= n:
                    break
    return fn


def _first_of(args: list[Fn]) -> Fn:
    (gen,) = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for v in gen(inp, env):
            yield v
            return
    return fn


def _last_of(args: list[Fn]) -> Fn:
    (gen,) = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        last, found = None, False
        for v in gen(inp, env):
            last, found = v, True
        if found:
            yield last
    return fn


def _nth(args: list[Fn]) -> Fn:
    if len(args) == 1:
        return _with_arg(lambda v, n: _index_value(v, n))(args)
    n_fn, gen = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for n in n_fn(inp, env):
            for i, v in enumerate(gen(inp, env)):
                if i == n:
                    yield v
                    break
    return fn


def _map(args: list[Fn]) -> Fn:
    (f,) = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        out = []
        for x in _iterate(inp, env):
            env.tick()
            out.extend(f(x, env))
        yield out
    return fn


def _map_values(args: list[Fn]) -> Fn:
    (f,) = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        if isinstance(inp, dict):
            out = {}
            for k, x in inp.items():
                for y in f(x, env):
                    out[k] = y
                    break
            yield out
        elif isinstance(inp, list):
            out_list = []
            for x in inp:
                for y in f(x, env):
                    out_list.append(y)
                    break
            yield out_list
        else:
            raise JqError(f"jq: cannot iterate over {_desc(inp)}")
    return fn


def _select(args: list[Fn]) -> Fn:
    (cond,) = args

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for c in cond(inp, env):
            if _truthy(c):
                yield inp
    return fn


def _with_entries(args: list[Fn]) -> Fn:
    mapped = _map(args)

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        for entries in mapped(_to_entries(inp), env):
            yield _from_entries(entries)
    return fn


def _any_all(kind: str) -> Callable[[list[Fn]], Fn]:
    def make(args: list[Fn]) -> Fn:
        def fn(inp: Any, env: Env) -> Iterator[Any]:
            if not args:
                values = (_truthy(x) for x in _iterate(inp, env))
            elif len(args) == 1:
                values = (_truthy(c) for x in _iterate(inp, env) for c in args[0](x, env))
            else:
                values = (_truthy(c) for x in args[0](inp, env) for c in args[1](x, env))
            yield any(values) if kind == "any" else all(values)
        return fn
    return make


def _recurse(args: list[Fn]) -> Fn:
    if not args:
        return _recurse_all
    (f,) = args

    def walk(v: Any, env: Env, depth: int) -> Iterator[Any]:
        if depth > 200:
            raise JqError("jq: recursion too deep")
        env.tick()
        yield v
        for child in f(v, env):
            yield from walk(child, env, depth + 1)

    def fn(inp: Any, env: Env) -> Iterator[Any]:
        yield from walk(inp, env, 0)
    return fn


def _error(args: list[Fn]) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        values = list(args[0](inp, env)) if args else [inp]
        for v in values:
            exc = JqError(f"jq: error: {v if isinstance(v, str) else _tojson(v)}")
            exc.jq_value = v  # type: ignore[attr-defined]
            raise exc
        yield from ()
    return fn


def _getpath(v: Any, path: Any) -> Any:
    if not isinstance(path, list):
        raise JqError("jq: getpath expects an array path")
    for k in path:
        if v is None:
            return None
        v = _index_value(v, k)
    return v


def _test(v: Any, pattern: Any) -> bool:
    if not isinstance(v, str) or not isinstance(pattern, str):
        raise JqError("jq: test() needs a string input and a string pattern")
    return _safe_pattern(pattern).search(v) is not None


def _split(v: Any, sep: Any) -> list:
    if not isinstance(v, str) or not isinstance(sep, str):
        raise JqError("jq: split needs string input and separator")
    return v.split(sep) if sep else [c for c in v]


def _join(v: Any, sep: Any) -> str:
    items = _require(v, "array", "join")
    if not isinstance(sep, str):
        raise JqError("jq: join separator must be a string")
    parts = []
    for x in items:
        if x is None:
            parts.append("")
        elif isinstance(x, (dict, list)):
            raise JqError(f"jq: cannot join with {_type(x)}")
        elif isinstance(x, bool):
            parts.append("true" if x else "false")
        else:
            parts.append(x if isinstance(x, str) else _tojson(x))
    return sep.join(parts)


def _ltrimstr(v: Any, s: Any) -> Any:
    return v[len(s):] if isinstance(v, str) and isinstance(s, str) and v.startswith(s) else v


def _rtrimstr(v: Any, s: Any) -> Any:
    return v[: len(v) - len(s)] if isinstance(v, str) and isinstance(s, str) and s and v.endswith(s) else v


def _string_method(name: str, op: Callable[[str, str], Any]) -> Callable[[Any, Any], Any]:
    def fn(v: Any, s: Any) -> Any:
        if not isinstance(v, str) or not isinstance(s, str):
            raise JqError(f"jq: {name}() requires string inputs")
        return op(v, s)
    return fn


def _index_of(last: bool) -> Callable[[Any, Any], Any]:
    def fn(v: Any, s: Any) -> Any:
        if isinstance(v, str) and isinstance(s, str):
            i = v.rfind(s) if last else v.find(s)
            return None if i < 0 or not s else i
        if isinstance(v, list):
            idx = [i for i, x in enumerate(v) if _eq(x, s)]
            return (idx[-1] if last else idx[0]) if idx else None
        return None
    return fn


def _tostring(v: Any) -> str:
    return v if isinstance(v, str) else _tojson(v)


def _fromjson(v: Any) -> Any:
    try:
        return json.loads(_require(v, "string", "fromjson"))
    except (ValueError, RecursionError):
        raise JqError(f"jq: {_desc(v)} is not valid JSON") from None


def _math(op: Callable[[float], Any], name: str) -> Callable[[Any], Any]:
    def fn(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise JqError(f"jq: {name} requires a number, got {_desc(v)}")
        try:
            return _num(op(v))
        except (ValueError, OverflowError):
            raise JqError(f"jq: {name} failed for {v}") from None
    return fn


def _type_filter(*types: str) -> Callable[[list[Fn]], Fn]:
    def make(args: list[Fn]) -> Fn:
        def fn(inp: Any, env: Env) -> Iterator[Any]:
            if _type(inp) in types:
                yield inp
        return fn
    return make


def _empty(args: list[Fn]) -> Fn:
    def fn(inp: Any, env: Env) -> Iterator[Any]:
        return iter(())
    return fn


def _minmax(kind: str) -> Callable[[Any], Any]:
    def fn(v: Any) -> Any:
        items = _require(v, "array", kind)
        if not items:
            return None
        return (min if kind == "min" else max)(items, key=_key)
    return fn


def _unique(v: Any) -> list:
    seen: dict = {}
    for x in sorted(_require(v, "array", "unique"), key=_key):
        seen.setdefault(_key(x), x)
    return list(seen.values())


def _implode(v: Any) -> str:
    try:
        return "".join(chr(int(c)) for c in _require(v, "array", "implode"))
    except (TypeError, ValueError, OverflowError):
        raise JqError("jq: implode input must be an array of codepoints") from None


BUILTINS: dict[tuple[str, int], Callable[[list[Fn]], Fn]] = {
    ("empty", 0): _empty,
    ("not", 0): _simple(lambda v: not _truthy(v)),
    ("length", 0): _simple(_length),
    ("utf8bytelength", 0): _simple(lambda v: len(_require(v, "string", "utf8bytelength").encode())),
    ("keys", 0): _simple(_keys),
    ("keys_unsorted", 0): _simple(lambda v: _keys(v, sort=False)),
    ("values", 0): lambda args: _select([lambda inp, env: iter([inp is not None])]),
    ("has", 1): _with_arg(_has),
    ("in", 1): _with_arg(lambda v, obj: _has(obj, v)),
    ("contains", 1): _with_arg(_contains),
    ("inside", 1): _with_arg(lambda v, obj: _contains(obj, v)),
    ("add", 0): _simple(lambda v: _add(list(v.values()) if isinstance(v, dict) else _require(v, "array", "add"))),
    ("any", 0): _any_all("any"),
    ("any", 1): _any_all("any"),
    ("any", 2): _any_all("any"),
    ("all", 0): _any_all("all"),
    ("all", 1): _any_all("all"),
    ("all", 2): _any_all("all"),
    ("flatten", 0): _simple(lambda v: _flatten(v, math.inf)),
    ("flatten", 1): _with_arg(lambda v, d: _flatten(v, d)),
    ("range", 1): _range,
    ("range", 2): _range,
    ("range", 3): _range,
    ("floor", 0): _simple(_math(math.floor, "floor")),
    ("ceil", 0): _simple(_math(math.ceil, "ceil")),
    ("round", 0): _simple(_math(lambda x: math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5), "round")),
    ("sqrt", 0): _simple(_math(math.sqrt, "sqrt")),
    ("fabs", 0): _simple(_math(abs, "fabs")),
    ("abs", 0): _simple(_math(abs, "abs")),
    ("tostring", 0): _simple(_tostring),
    ("tonumber", 0): _simple(_tonumber),
    ("type", 0): _simple(_type),
    ("sort", 0): _simple(lambda v: sorted(_require(v, "array", "sort"), key=_key)),
    ("sort_by", 1): _by("sort"),
    ("group_by", 1): _by("group"),
    ("unique", 0): _simple(_unique),
    ("unique_by", 1): _by("unique"),
    ("min", 0): _simple(_minmax("min")),
    ("max", 0): _simple(_minmax("max")),
    ("min_by", 1): _by("min"),
    ("max_by", 1): _by("max"),
    ("reverse", 0): _simple(lambda v: [] if v is None else (v[::-1] if isinstance(v, (list, str))
                                                              else _require(v, "array", "reverse"))),
    ("startswith", 1): _with_arg(_string_method("startswith", lambda v, s: v.startswith(s))),
    ("endswith", 1): _with_arg(_string_method("endswith", lambda v, s: v.endswith(s))),
    ("ltrimstr", 1): _with_arg(_ltrimstr),
    ("rtrimstr", 1): _with_arg(_rtrimstr),
    ("trim", 0): _simple(lambda v: _require(v, "string", "trim").strip()),
    ("ltrim", 0): _simple(lambda v: _require(v, "string", "ltrim").lstrip()),
    ("rtrim", 0): _simple(lambda v: _require(v, "string", "rtrim").rstrip()),
    ("split", 1): _with_arg(_split),
    ("join", 1): _with_arg(_join),
    ("ascii_downcase", 0): _simple(lambda v: _require(v, "string", "ascii_downcase").lower()),
    ("ascii_upcase", 0): _simple(lambda v: _require(v, "string", "ascii_upcase").upper()),
    ("explode", 0): _simple(lambda v: [ord(c) for c in _require(v, "string", "explode")]),
    ("implode", 0): _simple(_implode),
    ("to_entries", 0): _simple(_to_entries),
    ("from_entries", 0): _simple(_from_entries),
    ("with_entries", 1): _with_entries,
    ("tojson", 0): _simple(_tojson),
    ("fromjson", 0): _simple(_fromjson),
    ("first", 0): _simple(lambda v: _index_value(v, 0)),
    ("last", 0): _simple(lambda v: _index_value(v, -1)),
    ("first", 1): _first_of,
    ("last", 1): _last_of,
    ("nth", 1): _nth,
    ("nth", 2): _nth,
    ("limit", 2): _limit,
    ("map", 1): _map,
    ("map_values", 1): _map_values,
    ("select", 1): _select,
    ("recurse", 0): _recurse,
    ("recurse", 1): _recurse,
    ("error", 0): _error,
    ("error", 1): _error,
    ("getpath", 1): _with_arg(_getpath),
    ("index", 1): _with_arg(_index_of(False)),
    ("rindex", 1): _with_arg(_index_of(True)),
    ("test", 1): _with_arg(_test),
    ("tojson", 1): _with_arg(lambda v, _: _tojson(v)),
    ("arrays", 0): _type_filter("array"),
    ("objects", 0): _type_filter("object"),
    ("iterables", 0): _type_filter("array", "object"),
    ("booleans", 0): _type_filter("boolean"),
    ("numbers", 0): _type_filter("number"),
    ("strings", 0): _type_filter("string"),
    ("nulls", 0): _type_filter("null"),
    ("scalars", 0): _type_filter("null", "boolean", "number", "string"),
    ("true", 0): lambda args: _const(True),
    ("false", 0): lambda args: _const(False),
    ("null", 0): lambda args: _const(None),
    ("isnan", 0): _simple(lambda v: isinstance(v, float) and math.isnan(v)),
    ("ascii", 0): _simple(lambda v: chr(int(v))),
}


def _builtin(name: str, args: list[Fn]) -> Fn:
    make = BUILTINS.get((name, len(args)))
    if make is None:
        arities = sorted(a for (n, a) in BUILTINS if n == name)
        if arities:
            raise JqError(f"jq: {name}/{len(args)} is not defined (available: "
                          + ", ".join(f"{name}/{a}" for a in arities) + ")")
        if name in ("env", "input", "inputs", "debug", "stderr", "input_filename", "halt", "halt_error",
                    "builtins", "now", "splits", "sub", "gsub", "match", "capture", "scan", "paths",
                    "path", "del", "setpath", "delpaths", "leaf_paths", "tostream", "fromstream",
                    "truncate_stream", "input_line_number", "walk"):
            raise JqError(f"jq: {name} is not supported by this jq implementation")
        raise JqError(f"jq: {name}/{len(args)} is not defined")
    return make(args)


# ====================================================================== public API
@functools.lru_cache(maxsize=512)
def compile_program(program: str) -> Fn:
    """Compile a jq program (cached) into a generator function ``fn(input, env)``."""
    if not isinstance(program, str):
        raise JqError("jq: the expression must be a string")
    if len(program) > 10_000:
        raise JqError("jq: program is too long")
    parser = _Parser(_lex(program), program)
    fn = parser.pipe()
    if not parser.at("eof"):
        raise parser.error("unexpected token")
    return fn


def run(program: str, value: Any) -> list:
    """Every output of ``program`` applied to ``value``, as a list (Kestra's jq filter contract)."""
    fn = compile_program(program)
    env = Env({}, [0])
    previous = getattr(_running, "env", None)
    _running.env = env
    try:
        return list(fn(value, env))
    except JqError:
        raise
    except RecursionError:
        raise JqError("jq: program or input nested too deeply") from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. limit("a"; .[]) or huge numbers
        raise JqError(f"jq: {program!r} failed: {exc}") from None
    finally:
        _running.env = previous
