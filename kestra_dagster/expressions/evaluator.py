"""Tree-walking evaluator for parsed templates, with Kestra's strict semantics and sandbox limits.

Sandbox rules:

* only map keys, list indices and a short whitelist of side-effect-free properties/methods
  (``str.length``, ``list.size()``, ``now().year``…) are reachable; nothing starting with
  ``__`` (and nothing starting with ``_`` outside a map) can be read; Python attributes and
  methods of context objects are never touched;
* values are data: a string from a webhook is never parsed as a template unless it is passed
  to ``render()`` explicitly;
* every render has budgets (:class:`Limits`): output size, loop iterations, ``render()``
  nesting, template length; parse depth is bounded by the parser, so Python's recursion
  limit is never the thing that stops a hostile template;
* errors are :class:`ExpressionError` naming the failing ``{{ … }}`` snippet; secret values
  revealed during the render are masked out of error messages.
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping

from kestra_dagster.errors import ExpressionError, TaskKilled

import kestra_dagster.expressions.dates as dates
import kestra_dagster.expressions.parser as P
import kestra_dagster.expressions.budget as render_budget
from .filters import FILTERS, TESTS, _java_split
from .regex import compile_safe_regex
from .functions import FUNCTIONS, make_range
from .lexer import syntax_error
from .secrets import SecretResolver
from .values import UndefinedError, is_number, pebble_equals, plain, short, to_text, truthy, type_name

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_CACHED_TEMPLATE = 65_536  # longer templates are parsed every time rather than pinned in the cache


@dataclass(frozen=True)
class Limits:
    """Per-call sandbox budgets (a call = one ``render``/``render_value``/``render_typed``)."""

    max_output: int = 10_000_000  # characters produced by one template
    max_iterations: int = 100_000  # for-loop iterations in total, and items a range() may build
    max_render_depth: int = 8  # nested render()/renderOnce() calls
    max_template_length: int = 1_000_000  # characters in one template
    max_value_depth: int = 100  # nesting of the structures given to render_value
    max_seconds: float = 30.0  # wall clock for one render (see budget.py); a task's timeout may end it sooner


DEFAULT_LIMITS = Limits()
DEFAULT_SECRET_RESOLVER = SecretResolver()


# ====================================================================== parsing (cached)
def _children(node: P.Node) -> list:
    if isinstance(node, (P.Literal, P.Name, P.Text)):
        return []
    if isinstance(node, P.ListExpr):
        return list(node.items)
    if isinstance(node, P.MapExpr):
        return [x for pair in node.pairs for x in pair]
    if isinstance(node, P.Attr):
        return [node.obj]
    if isinstance(node, P.Item):
        return [node.obj, node.key]
    if isinstance(node, P.Method):
        return [node.obj, *node.args]
    if isinstance(node, P.Call):
        return [*node.args, *node.kwargs.values()]
    if isinstance(node, P.FilterCall):
        return [node.node, *node.args, *node.kwargs.values()]
    if isinstance(node, P.TestCall):
        return [node.node, *node.args]
    if isinstance(node, P.Unary):
        return [node.operand]
    if isinstance(node, (P.BinOp, P.Coalesce, P.Elvis)):
        return [node.left, node.right]
    if isinstance(node, P.Ternary):
        return [node.cond, node.then, node.otherwise]
    if isinstance(node, P.Output):
        return [node.expr]
    if isinstance(node, P.If):
        out = [x for cond, body in node.branches for x in (cond, *body)]
        return out + list(node.otherwise or [])
    if isinstance(node, P.For):
        return [node.iterable, *node.body, *(node.otherwise or [])]
    if isinstance(node, P.Set):
        return [node.expr]
    if isinstance(node, P.FilterBlock):
        return list(node.body)
    return []


def _suggest(name: str, options) -> str:
    match = difflib.get_close_matches(name, [o for o in options if not o.startswith("__")], n=1, cutoff=0.7)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _validate(tpl: P.Template) -> None:
    """Unknown filters and tests are template errors, reported before anything runs."""
    stack = list(tpl.body)
    while stack:
        node = stack.pop()
        if isinstance(node, P.FilterCall) and node.name not in FILTERS:
            raise syntax_error(tpl.source, f"unknown filter '{node.name}'{_suggest(node.name, FILTERS)}", node.pos)
        if isinstance(node, P.FilterBlock):
            for name, _args, _kwargs, pos in node.filters:
                if name not in FILTERS:
                    raise syntax_error(tpl.source, f"unknown filter '{name}'{_suggest(name, FILTERS)}", pos)
        if isinstance(node, P.TestCall) and node.name not in TESTS:
            raise syntax_error(tpl.source, f"unknown test '{node.name}'{_suggest(node.name, TESTS)}", node.pos)
        stack.extend(_children(node))


@functools.lru_cache(maxsize=2048)
def _compile_cached(source: str) -> P.Template:
    tpl = P.parse(source)
    _validate(tpl)
    return tpl


def compile_template(source: str, limits: Limits = DEFAULT_LIMITS) -> P.Template:
    """Parse and validate a template (cached by text); raises :class:`ExpressionError`."""
    if not isinstance(source, str):
        raise ExpressionError(f"a template must be a string, not {type_name(source)}")
    if len(source) > limits.max_template_length:
        raise ExpressionError(f"template is too long ({len(source)} characters, limit {limits.max_template_length})")
    if len(source) > MAX_CACHED_TEMPLATE:
        tpl = P.parse(source)
        _validate(tpl)
        return tpl
    return _compile_cached(source)


# ====================================================================== context
class _Budget:
    __slots__ = ("iterations", "depth", "clock")

    def __init__(self) -> None:
        self.iterations = 0
        self.depth = 0
        self.clock = render_budget.UNBOUNDED  # this render's deadline/stop (budget.py), set by run_guarded


class _Writer:
    __slots__ = ("parts", "size", "limit")

    def __init__(self, limit: int):
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limit:
            raise ExpressionError(f"rendered output exceeds {self.limit} characters")
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


class Context:
    """Everything one evaluation needs; the evaluator never touches global state."""

    __slots__ = ("scopes", "runtime_functions", "secrets", "limits", "budget")

    def __init__(self, variables: Mapping, limits: Limits = DEFAULT_LIMITS, budget: _Budget | None = None,
                 scopes: list | None = None):
        if not isinstance(variables, Mapping):
            raise ExpressionError(f"variables must be a map, not {type_name(variables)}")
        self.scopes: list[Mapping] = scopes if scopes is not None else [variables, {}]
        runtime = variables.get("__functions__")
        self.runtime_functions: Mapping = runtime if isinstance(runtime, Mapping) else {}
        secrets = variables.get("__secrets__")
        self.secrets = secrets if secrets is not None else DEFAULT_SECRET_RESOLVER
        self.limits = limits
        self.budget = budget or _Budget()

    @property
    def variables(self) -> Mapping:
        return self.scopes[0]

    def child(self) -> "Context":
        """A context for a nested render: same budgets and functions, its own ``set`` scope."""
        ctx = Context.__new__(Context)
        ctx.scopes = [*self.scopes, {}]
        ctx.runtime_functions = self.runtime_functions
        ctx.secrets = self.secrets
        ctx.limits = self.limits
        ctx.budget = self.budget
        return ctx

    def fresh(self) -> "Context":
        """Same budgets, pristine scopes (each string of ``render_value`` starts clean)."""
        ctx = self.child()
        ctx.scopes = [self.scopes[0], {}]
        return ctx

    # ------------------------------------------------------------------ variables
    def lookup(self, name: str) -> Any:
        if name.startswith("__"):
            raise ExpressionError(f"access to '{name}' is not allowed")
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        names = {k for scope in self.scopes for k in scope if isinstance(k, str)}
        raise UndefinedError(f"variable '{name}' is undefined{_suggest(name, names)}")

    def lookup_optional(self, name: str, default: Any = None) -> Any:
        try:
            return self.lookup(name)
        except ExpressionError:
            return default

    # ------------------------------------------------------------------ budgets
    def tick(self) -> None:
        budget = self.budget
        budget.iterations += 1
        if not budget.iterations & 15:
            budget.clock.check()
        if budget.iterations > self.limits.max_iterations:
            raise ExpressionError(f"loops ran more than {self.limits.max_iterations} iterations in one render")

    # ------------------------------------------------------------------ nested rendering
    def render_nested(self, template: str, recursive: bool = False) -> str:
        """``render()``/``renderOnce()``: render a string again with these variables."""
        budget = self.budget
        budget.depth += 1
        try:
            if budget.depth > self.limits.max_render_depth:
                raise ExpressionError(f"render() nested more than {self.limits.max_render_depth} levels deep")
            current = template
            for _ in range(self.limits.max_render_depth if recursive else 1):
                result = self.child().render_string(current)
                if not recursive or result == current:
                    return result
                current = result
            if recursive and ("{{" in current or "{%" in current):
                raise ExpressionError(f"render() did not settle after {self.limits.max_render_depth} passes")
            return current
        finally:
            budget.depth -= 1

    def render_string(self, template: str) -> str:
        tpl = compile_template(template, self.limits)
        out = _Writer(self.limits.max_output)
        render_nodes(tpl.body, self, out, tpl.source)
        return out.text()

    def evaluate_typed(self, template: str) -> Any:
        tpl = compile_template(template, self.limits)
        single = tpl.single_output()
        if single is None:
            out = _Writer(self.limits.max_output)
            render_nodes(tpl.body, self, out, tpl.source)
            return out.text()
        try:
            return plain(ev(single.expr, self))
        except ExpressionError as exc:
            raise _locate(exc, tpl.source, single.start, single.end) from None


# ====================================================================== errors
def _locate(exc: ExpressionError, source: str, start: int, end: int) -> ExpressionError:
    """Attach the failing ``{{ … }}``/``{% … %}`` snippet, unless a deeper one is already there."""
    if not exc.expression:
        snippet = source[start:end]
        if len(snippet) > 160:
            snippet = snippet[:159] + "…"
        exc.expression = snippet
        exc.args = (exc._format(),)
    return exc


def _call(fn: Callable, label: str, args: tuple, kwargs: dict, ctx: Context) -> Any:
    clock = ctx.budget.clock  # filters and functions are where the time goes: check the clock often
    clock.counter += 1
    if not clock.counter & 7:
        clock.check()
    if getattr(fn, "needs_context", False):
        args = (ctx, *args)
    try:
        return fn(*args, **kwargs)
    except (ExpressionError, TaskKilled):  # a kill noticed by a runtime function stays a kill
        raise
    except RecursionError:
        raise ExpressionError(f"{label} recursed too deeply") from None
    except TypeError as exc:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            # raised while binding the arguments, before the function body ran
            message = str(exc).split("() ", 1)[-1]
            raise ExpressionError(f"{label}: {message}") from None
        raise ExpressionError(f"{label} failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - plugin/runtime functions may raise anything
        raise ExpressionError(f"{label} failed: {type(exc).__name__}: {exc}") from None


# ====================================================================== template nodes
def render_nodes(nodes: list, ctx: Context, out: _Writer, source: str) -> None:
    clock = ctx.budget.clock
    for node in nodes:
        clock.counter += 1
        if not clock.counter & 15:
            clock.check()
        kind = node.__class__
        if kind is P.Text:
            out.write(node.text)
        elif kind is P.Output:
            try:
                value = ev(node.expr, ctx)
                out.write(value if value.__class__ is str else to_text(value, ctx.limits.max_output))
            except ExpressionError as exc:
                raise _locate(exc, source, node.start, node.end) from None
        elif kind is P.If:
            _render_if(node, ctx, out, source)
        elif kind is P.For:
            _render_for(node, ctx, out, source)
        elif kind is P.Set:
            try:
                ctx.scopes[-1][node.name] = ev(node.expr, ctx)  # type: ignore[index]
            except ExpressionError as exc:
                raise _locate(exc, source, node.start, node.end) from None
        elif kind is P.FilterBlock:
            _render_filter_block(node, ctx, out, source)
        else:  # pragma: no cover - the parser only produces the node types above
            raise ExpressionError(f"cannot render {kind.__name__}")


def _render_if(node: P.If, ctx: Context, out: _Writer, source: str) -> None:
    for cond, body in node.branches:
        try:
            ok = truthy(ev(cond, ctx))
        except ExpressionError as exc:
            raise _locate(exc, source, node.start, node.end) from None
        if ok:
            render_nodes(body, ctx, out, source)
            return
    if node.otherwise is not None:
        render_nodes(node.otherwise, ctx, out, source)


def _render_for(node: P.For, ctx: Context, out: _Writer, source: str) -> None:
    try:
        items = _iteration_items(ev(node.iterable, ctx), node)
    except ExpressionError as exc:
        raise _locate(exc, source, node.start, node.end) from None
    if not items:
        if node.otherwise is not None:
            render_nodes(node.otherwise, ctx, out, source)
        return
    scope: dict = {}
    ctx.scopes.append(scope)
    try:
        n = len(items)
        targets = node.targets
        for i, item in enumerate(items):
            ctx.tick()
            if len(targets) == 1:
                scope[targets[0]] = item
            else:
                if not isinstance(item, (list, tuple)) or len(item) != 2:
                    raise _locate(ExpressionError(f"cannot unpack {short(item)} into '{targets[0]}, {targets[1]}'"),
                                  source, node.start, node.end)
                scope[targets[0]], scope[targets[1]] = item
            scope["loop"] = {"index": i, "revindex": n - i - 1, "first": i == 0, "last": i == n - 1, "length": n}
            render_nodes(node.body, ctx, out, source)
    finally:
        ctx.scopes.pop()


def _iteration_items(value: Any, node: P.For) -> list:
    if value is None:
        return []
    if isinstance(value, Mapping):
        if len(node.targets) == 2:
            return list(value.items())
        return [{"key": k, "value": v} for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    raise ExpressionError(f"cannot loop over a {type_name(value)} ('{P.describe(node.iterable)}')")


def _render_filter_block(node: P.FilterBlock, ctx: Context, out: _Writer, source: str) -> None:
    inner = _Writer(ctx.limits.max_output)
    render_nodes(node.body, ctx, inner, source)
    value: Any = inner.text()
    try:
        for name, args, kwargs, _pos in node.filters:
            fn = FILTERS.get(name)
            if fn is None:
                raise ExpressionError(f"unknown filter '{name}'")
            value = _call(fn, f"filter '{name}'", (value, *[ev(a, ctx) for a in args]),
                          {k: ev(v, ctx) for k, v in kwargs.items()}, ctx)
        out.write(to_text(value, ctx.limits.max_output))
    except ExpressionError as exc:
        raise _locate(exc, source, node.start, min(node.end, node.start + 80)) from None


# ====================================================================== expressions
def ev(node: P.Node, ctx: Context) -> Any:
    return _EVAL[node.__class__](node, ctx)


def _ev_literal(node: P.Literal, ctx: Context) -> Any:
    return node.value


def _ev_list(node: P.ListExpr, ctx: Context) -> Any:
    return [ev(item, ctx) for item in node.items]


def _ev_map(node: P.MapExpr, ctx: Context) -> Any:
    out = {}
    for key_node, value_node in node.pairs:
        key = ev(key_node, ctx)
        if not (key is None or isinstance(key, (str, int, float, bool))):
            raise ExpressionError(f"map keys must be strings or numbers, not {type_name(key)}")
        out[key] = ev(value_node, ctx)
    return out


def _ev_name(node: P.Name, ctx: Context) -> Any:
    return ctx.lookup(node.name)


def _keys_hint(obj: Mapping) -> str:
    keys = [str(k) for k in obj.keys() if not str(k).startswith("__")]
    if not keys:
        return " (it is empty)"
    shown = ", ".join(sorted(keys)[:10])
    more = f", … ({len(keys)} keys)" if len(keys) > 10 else ""
    return f" (available: {shown}{more})"


def _ev_attr(node: P.Attr, ctx: Context) -> Any:
    obj = ev(node.obj, ctx)
    return get_attribute(obj, node.name, node.obj)


def get_attribute(obj: Any, name: str, obj_node: P.Node) -> Any:
    if name.startswith("__"):
        raise ExpressionError(f"access to '{name}' is not allowed")
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
        raise UndefinedError(f"'{P.describe(obj_node)}' has no attribute '{name}'{_keys_hint(obj)}")
    if obj is None:
        raise UndefinedError(f"'{P.describe(obj_node)}' is null; cannot read attribute '{name}'")
    if name.startswith("_"):
        raise ExpressionError(f"access to '{name}' is not allowed")
    if isinstance(obj, (list, tuple)) and name.isdigit():
        return _index(obj, int(name), obj_node)
    props = _properties(obj)
    if props is not None and name in props:
        return props[name](obj)
    raise UndefinedError(f"'{P.describe(obj_node)}' is a {type_name(obj)}; it has no attribute '{name}'")


def _index(seq: Any, i: int, obj_node: P.Node) -> Any:
    if 0 <= i < len(seq):
        return seq[i]
    raise UndefinedError(f"index {i} is out of range for '{P.describe(obj_node)}' (length {len(seq)})")


def _ev_item(node: P.Item, ctx: Context) -> Any:
    obj = ev(node.obj, ctx)
    key = ev(node.key, ctx)
    if isinstance(obj, Mapping):
        if isinstance(key, str) and key.startswith("__"):
            raise ExpressionError(f"access to '{key}' is not allowed")
        if key is None or isinstance(key, (str, int, float, bool)):
            if key in obj:
                return obj[key]
            if not isinstance(key, str):
                alt = to_text(key)  # ForEach outputs are keyed by the stringified value
                if alt in obj:
                    return obj[alt]
            raise UndefinedError(f"'{P.describe(node.obj)}' has no key {short(key)}{_keys_hint(obj)}")
        raise ExpressionError(f"cannot use a {type_name(key)} as a map key")
    if isinstance(obj, (list, tuple)):
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        if isinstance(key, bool) or not isinstance(key, int):
            raise ExpressionError(f"list index must be an integer, not {type_name(key)} {short(key)}")
        return _index(obj, key, node.obj)
    if obj is None:
        raise UndefinedError(f"'{P.describe(node.obj)}' is null; cannot read {short(key)}")
    if isinstance(key, str):
        return get_attribute(obj, key, node.obj)
    raise UndefinedError(f"'{P.describe(node.obj)}' is a {type_name(obj)}; it cannot be indexed")


def _ev_method(node: P.Method, ctx: Context) -> Any:
    obj = ev(node.obj, ctx)
    if node.name.startswith("_"):
        raise ExpressionError(f"access to '{node.name}' is not allowed")
    args = [ev(a, ctx) for a in node.args]
    table = _methods(obj)
    fn = table.get(node.name) if table else None
    if fn is None:
        raise ExpressionError(f"'{P.describe(node.obj)}' ({type_name(obj)}) has no method '{node.name}()'"
                              + _suggest(node.name, table or {}))
    return _call(fn, f"method '{node.name}()'", (obj, *args), {}, ctx)


def _ev_call(node: P.Call, ctx: Context) -> Any:
    name = node.name
    fn = ctx.runtime_functions.get(name) or FUNCTIONS.get(name)
    if fn is None:
        options = set(FUNCTIONS) | set(ctx.runtime_functions)
        raise ExpressionError(f"unknown function '{name}()'{_suggest(name, options)}")
    args = tuple(ev(a, ctx) for a in node.args)
    kwargs = {k: ev(v, ctx) for k, v in node.kwargs.items()}
    return _call(fn, f"{name}()", args, kwargs, ctx)


def _ev_filter(node: P.FilterCall, ctx: Context) -> Any:
    fn = FILTERS.get(node.name)
    if fn is None:
        raise ExpressionError(f"unknown filter '{node.name}'{_suggest(node.name, FILTERS)}")
    if node.name == "default":
        try:
            value = ev(node.node, ctx)
        except UndefinedError:
            value = None
    else:
        value = ev(node.node, ctx)
    args = tuple(ev(a, ctx) for a in node.args)
    kwargs = {k: ev(v, ctx) for k, v in node.kwargs.items()}
    return _call(fn, f"filter '{node.name}'", (value, *args), kwargs, ctx)


def _ev_test(node: P.TestCall, ctx: Context) -> Any:
    if node.name == "defined":
        try:
            ev(node.node, ctx)
            result = True
        except UndefinedError:
            result = False
    else:
        fn = TESTS.get(node.name)
        if fn is None:
            raise ExpressionError(f"unknown test '{node.name}'{_suggest(node.name, TESTS)}")
        value = ev(node.node, ctx)
        args = tuple(ev(a, ctx) for a in node.args)
        result = bool(_call(fn, f"test '{node.name}'", (value, *args), {}, ctx))
    return not result if node.negated else result


def _ev_unary(node: P.Unary, ctx: Context) -> Any:
    value = ev(node.operand, ctx)
    if node.op == "not":
        return not truthy(value)
    if not is_number(value):
        raise ExpressionError(f"unary '{node.op}' needs a number, got {type_name(value)} {short(value)}")
    return _check_int(-value if node.op == "-" else value)


def _ev_coalesce(node: P.Coalesce, ctx: Context) -> Any:
    try:
        value = ev(node.left, ctx)
    except UndefinedError:
        return ev(node.right, ctx)
    if value is None and not node.undefined_only:
        return ev(node.right, ctx)
    return value


def _ev_ternary(node: P.Ternary, ctx: Context) -> Any:
    return ev(node.then if truthy(ev(node.cond, ctx)) else node.otherwise, ctx)


def _ev_elvis(node: P.Elvis, ctx: Context) -> Any:
    try:
        value = ev(node.left, ctx)
    except UndefinedError:
        return ev(node.right, ctx)
    return value if truthy(value) else ev(node.right, ctx)


def _ev_binop(node: P.BinOp, ctx: Context) -> Any:
    op = node.op
    if op == "and":
        return truthy(ev(node.left, ctx)) and truthy(ev(node.right, ctx))
    if op == "or":
        return truthy(ev(node.left, ctx)) or truthy(ev(node.right, ctx))
    left = ev(node.left, ctx)
    right = ev(node.right, ctx)
    try:
        return _BINARY[op](left, right, ctx)
    except (TypeError, ArithmeticError) as exc:  # defensive: keep Python errors out of messages
        raise ExpressionError(f"cannot apply '{op}' to {type_name(left)} and {type_name(right)}: {exc}") from None


# ---------------------------------------------------------------------- operators
def _check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        raise ExpressionError("integer overflow (results must fit in 64 bits)")
    return value


def _check_text(text: str, ctx: Context) -> str:
    if len(text) > ctx.limits.max_output:
        raise ExpressionError(f"string would exceed {ctx.limits.max_output} characters")
    return text


def _java_string(value: Any) -> str:
    return "null" if value is None else to_text(value)


def _numbers(a: Any, b: Any, op: str) -> tuple:
    if not (is_number(a) and is_number(b)):
        hint = " (use '~' to concatenate strings)" if op == "+" else ""
        raise ExpressionError(f"'{op}' needs numbers, got {type_name(a)} {short(a)} and {type_name(b)} {short(b)}{hint}")
    if isinstance(a, Decimal) != isinstance(b, Decimal):
        a, b = Decimal(str(a)), Decimal(str(b))
    return a, b


def _op_concat(a: Any, b: Any, ctx: Context) -> str:
    left, right = to_text(a, ctx.limits.max_output), to_text(b, ctx.limits.max_output)
    if len(left) + len(right) > ctx.limits.max_output:
        raise ExpressionError(f"string would exceed {ctx.limits.max_output} characters")
    return left + right


def _op_add(a: Any, b: Any, ctx: Context) -> Any:
    if isinstance(a, str) or isinstance(b, str):  # Pebble: '+' concatenates when either side is a string
        return _check_text(_java_string(a) + _java_string(b), ctx)
    if isinstance(a, (list, tuple)):
        extra = list(b) if isinstance(b, (list, tuple)) else [b]
        if len(a) + len(extra) > ctx.limits.max_iterations * 10:
            raise ExpressionError("list would be too large")
        return [*a, *extra]
    a, b = _numbers(a, b, "+")
    return _check_int(a + b)


def _op_sub(a: Any, b: Any, ctx: Context) -> Any:
    if isinstance(a, (list, tuple)):
        remove = list(b) if isinstance(b, (list, tuple)) else [b]
        if len(a) * len(remove) > 10 * ctx.limits.max_iterations * 100:
            raise ExpressionError(f"list difference of {len(a)} by {len(remove)} items is too costly")
        kept = []
        for x in a:
            render_budget.tick()
            if not any(pebble_equals(x, y) for y in remove):
                kept.append(x)
        return kept
    a, b = _numbers(a, b, "-")
    return _check_int(a - b)


def _op_mul(a: Any, b: Any, ctx: Context) -> Any:
    a, b = _numbers(a, b, "*")
    return _check_int(a * b)


def _op_div(a: Any, b: Any, ctx: Context) -> Any:
    a, b = _numbers(a, b, "/")
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise ExpressionError("division by zero")
        q = abs(a) // abs(b)  # Java long division truncates toward zero
        return _check_int(q if (a >= 0) == (b >= 0) else -q)
    if b == 0:
        if isinstance(a, Decimal):
            raise ExpressionError("division by zero")
        return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _op_mod(a: Any, b: Any, ctx: Context) -> Any:
    a, b = _numbers(a, b, "%")
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise ExpressionError("division by zero")
        r = abs(a) % abs(b)  # Java: the remainder takes the dividend's sign
        return -r if a < 0 else r
    if b == 0:
        return math.nan
    return math.fmod(a, b) if not isinstance(a, Decimal) else a % b


def _op_eq(a: Any, b: Any, ctx: Context) -> bool:
    return pebble_equals(a, b)


def _op_ne(a: Any, b: Any, ctx: Context) -> bool:
    return not pebble_equals(a, b)


def _comparable(a: Any, b: Any, op: str) -> tuple:
    if is_number(a) and is_number(b):
        return _numbers(a, b, op)
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            raise ExpressionError("cannot compare a datetime with a time zone to one without")
        return a, b
    if isinstance(a, date) and isinstance(b, date) and not isinstance(a, datetime) and not isinstance(b, datetime):
        return a, b
    raise ExpressionError(f"cannot compare {type_name(a)} {short(a)} with {type_name(b)} {short(b)} using '{op}'")


def _comparison(op: str, test: Callable[[Any, Any], bool]) -> Callable[[Any, Any, Context], bool]:
    def fn(a: Any, b: Any, ctx: Context) -> bool:
        if a is None or b is None:
            return False  # Pebble: comparisons with null are false
        x, y = _comparable(a, b, op)
        return test(x, y)
    return fn


def _op_contains(a: Any, b: Any, ctx: Context) -> bool:
    if a is None:
        return False
    if isinstance(a, Mapping):
        keys = list(b) if isinstance(b, (list, tuple)) else [b]
        for key in keys:
            if not (key is None or isinstance(key, (str, int, float, bool))):
                return False
            if key not in a and (isinstance(key, str) or to_text(key) not in a):
                return False
        return True
    if isinstance(a, (list, tuple, set, frozenset)):
        wanted = list(b) if isinstance(b, (list, tuple)) else [b]
        return all(any(pebble_equals(x, y) for x in a) for y in wanted)
    if isinstance(a, str):
        if b is None:
            return False
        return to_text(b) in a
    raise ExpressionError(f"'contains' needs a string, list or map on its left, got {type_name(a)}")


def _op_range(a: Any, b: Any, ctx: Context) -> list:
    return make_range(a, b, 1, ctx.limits.max_iterations)


_BINARY: dict[str, Callable[[Any, Any, Context], Any]] = {
    "~": _op_concat,
    "+": _op_add,
    "-": _op_sub,
    "*": _op_mul,
    "/": _op_div,
    "%": _op_mod,
    "==": _op_eq,
    "!=": _op_ne,
    "<": _comparison("<", lambda x, y: x < y),
    ">": _comparison(">", lambda x, y: x > y),
    "<=": _comparison("<=", lambda x, y: x <= y),
    ">=": _comparison(">=", lambda x, y: x >= y),
    "contains": _op_contains,
    "..": _op_range,
}

_EVAL: dict[type, Callable[[Any, Context], Any]] = {
    P.Literal: _ev_literal,
    P.ListExpr: _ev_list,
    P.MapExpr: _ev_map,
    P.Name: _ev_name,
    P.Attr: _ev_attr,
    P.Item: _ev_item,
    P.Method: _ev_method,
    P.Call: _ev_call,
    P.FilterCall: _ev_filter,
    P.TestCall: _ev_test,
    P.Unary: _ev_unary,
    P.BinOp: _ev_binop,
    P.Coalesce: _ev_coalesce,
    P.Ternary: _ev_ternary,
    P.Elvis: _ev_elvis,
}


# ====================================================================== properties & methods
_DT_PROPS: dict[str, Callable[[Any], Any]] = {
    "year": lambda d: d.year,
    "monthValue": lambda d: d.month,
    "month": lambda d: dates.MONTHS[d.month - 1].upper(),
    "dayOfMonth": lambda d: d.day,
    "dayOfWeek": lambda d: dates.DAYS[d.weekday()].upper(),
    "dayOfYear": lambda d: d.timetuple().tm_yday,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
    "nano": lambda d: d.microsecond * 1000,
    "zone": lambda d: getattr(d.tzinfo, "key", None) or (d.tzname() if d.tzinfo else None),
    "offset": lambda d: dates.format_pattern(d, "XXX") if d.tzinfo else None,
}
_DATE_PROPS = {k: _DT_PROPS[k] for k in ("year", "monthValue", "month", "dayOfMonth", "dayOfWeek", "dayOfYear")}
_STR_PROPS: dict[str, Callable[[Any], Any]] = {
    "length": len,
    "empty": lambda s: len(s) == 0,
    "blank": lambda s: not s.strip(),
}
_LIST_PROPS: dict[str, Callable[[Any], Any]] = {
    "size": len,
    "empty": lambda s: len(s) == 0,
}


def _properties(obj: Any) -> dict | None:
    if isinstance(obj, str):
        return _STR_PROPS
    if isinstance(obj, (list, tuple)):
        return _LIST_PROPS
    if isinstance(obj, datetime):
        return _DT_PROPS
    if isinstance(obj, date):
        return _DATE_PROPS
    return None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExpressionError(f"{what} must be an integer, not {short(value)}")
    return value


def _substring(s: str, begin: Any, end: Any = None) -> str:
    b = _int(begin, "substring() begin index")
    e = len(s) if end is None else _int(end, "substring() end index")
    if b < 0 or e > len(s) or b > e:
        raise ExpressionError(f"substring({b}, {e}) is out of range for a string of length {len(s)}")
    return s[b:e]


def _char_at(s: str, i: Any) -> str:
    i = _int(i, "charAt() index")
    if not 0 <= i < len(s):
        raise ExpressionError(f"charAt({i}) is out of range for a string of length {len(s)}")
    return s[i]


def _concat(s: str, other: Any) -> str:
    text = s + to_text(other)
    if len(text) > DEFAULT_LIMITS.max_output:
        raise ExpressionError("string would be too large")
    return text


def _str_replace(s: str, old: Any, new: Any) -> str:
    old, new = to_text(old), to_text(new)
    count = s.count(old) if old else len(s) + 1
    if len(s) + count * (len(new) - len(old)) > DEFAULT_LIMITS.max_output:
        raise ExpressionError("string would be too large")
    return s.replace(old, new)


def _list_get(seq: Any, i: Any) -> Any:
    i = _int(i, "get() index")
    if not 0 <= i < len(seq):
        raise UndefinedError(f"index {i} is out of range (length {len(seq)})")
    return seq[i]


def _index_of(seq: Any, item: Any) -> int:
    for i, x in enumerate(seq):
        if pebble_equals(x, item):
            return i
    return -1


def _map_get(m: Mapping, key: Any, default: Any = None) -> Any:
    if isinstance(key, str) and key.startswith("__"):
        raise ExpressionError(f"access to '{key}' is not allowed")
    try:
        return m[key] if key in m else default
    except TypeError:
        return default


def _plus(unit: str, sign: int) -> Callable[[datetime, Any], datetime]:
    def fn(d: datetime, amount: Any) -> datetime:
        if not isinstance(d, datetime):
            d = datetime.combine(d, datetime.min.time())
            return dates.add(d, sign * _int(amount, "amount"), unit).date()  # type: ignore[return-value]
        return dates.add(d, sign * _int(amount, "amount"), unit)
    return fn


_STR_METHODS: dict[str, Callable[..., Any]] = {
    "length": len,
    "isEmpty": lambda s: len(s) == 0,
    "isBlank": lambda s: not s.strip(),
    "toUpperCase": lambda s: s.upper(),
    "toLowerCase": lambda s: s.lower(),
    "trim": lambda s: s.strip(),
    "strip": lambda s: s.strip(),
    "startsWith": lambda s, p: s.startswith(to_text(p)),
    "endsWith": lambda s, p: s.endswith(to_text(p)),
    "contains": lambda s, p: to_text(p) in s,
    "indexOf": lambda s, p: s.find(to_text(p)),
    "lastIndexOf": lambda s, p: s.rfind(to_text(p)),
    "substring": _substring,
    "charAt": _char_at,
    "replace": _str_replace,
    "split": lambda s, regex, limit=0: _java_split(s, to_text(regex), _int(limit, "split() limit")),
    "matches": lambda s, regex: compile_safe_regex(to_text(regex)).fullmatch(s) is not None,
    "equals": lambda s, o: pebble_equals(s, o),
    "equalsIgnoreCase": lambda s, o: isinstance(o, str) and s.lower() == o.lower(),
    "concat": _concat,
    "toString": lambda s: s,
}
_LIST_METHODS: dict[str, Callable[..., Any]] = {
    "size": len,
    "isEmpty": lambda s: len(s) == 0,
    "get": _list_get,
    "contains": lambda s, x: any(pebble_equals(y, x) for y in s),
    "indexOf": _index_of,
    "equals": lambda s, o: pebble_equals(s, o),
    "toString": to_text,
}
_MAP_METHODS: dict[str, Callable[..., Any]] = {
    "size": len,
    "isEmpty": lambda m: len(m) == 0,
    "get": _map_get,
    "getOrDefault": _map_get,
    "containsKey": lambda m, k: (k is None or isinstance(k, (str, int, float, bool))) and k in m,
    "containsValue": lambda m, v: any(pebble_equals(x, v) for x in m.values()),
    "keySet": lambda m: list(m.keys()),
    "values": lambda m: list(m.values()),
    "equals": lambda m, o: pebble_equals(m, o),
    "toString": to_text,
}
_DT_METHODS: dict[str, Callable[..., Any]] = {
    **{f"get{k[0].upper()}{k[1:]}": fn for k, fn in _DT_PROPS.items()},
    "toEpochSecond": lambda d: dates.epoch(dates.to_datetime(d)),
    "toString": lambda d: d.isoformat(),
    "equals": lambda d, o: pebble_equals(d, o),
    **{f"plus{u.title().replace('_', '')}": _plus(u, 1) for u in ("SECONDS", "MINUTES", "HOURS", "DAYS", "WEEKS",
                                                                   "MONTHS", "YEARS")},
    **{f"minus{u.title().replace('_', '')}": _plus(u, -1) for u in ("SECONDS", "MINUTES", "HOURS", "DAYS",
                                                                    "WEEKS", "MONTHS", "YEARS")},
}
_NUMBER_METHODS: dict[str, Callable[..., Any]] = {
    "intValue": lambda n: int(n),
    "longValue": lambda n: int(n),
    "doubleValue": lambda n: float(n),
    "toString": to_text,
    "equals": lambda n, o: pebble_equals(n, o),
}


def _methods(obj: Any) -> dict | None:
    if isinstance(obj, str):
        return _STR_METHODS
    if isinstance(obj, (list, tuple)):
        return _LIST_METHODS
    if isinstance(obj, Mapping):
        return _MAP_METHODS
    if isinstance(obj, (datetime, date)):
        return _DT_METHODS
    if is_number(obj):
        return _NUMBER_METHODS
    return None


# ====================================================================== top level
def _scrub(exc: ExpressionError, ctx: Context | None) -> ExpressionError:
    """Mask secret values that may have leaked into an error message."""
    revealed = getattr(ctx.secrets, "revealed", None) if ctx is not None else None
    if revealed:
        changed = False
        for secret in sorted(revealed, key=len, reverse=True):
            if len(secret) >= 3:
                for attr in ("reason", "expression"):
                    text = getattr(exc, attr, "")
                    if text and secret in text:
                        setattr(exc, attr, text.replace(secret, "******"))
                        changed = True
        if changed:
            exc.args = (exc._format(),)
    return exc


def run_guarded(work: Callable[[Context], Any], variables: Mapping, limits: Limits | None) -> Any:
    """Run ``work`` with a fresh context; only :class:`ExpressionError` escapes (and
    :class:`TaskKilled`, when a runtime function noticed that the task is being stopped)."""
    ctx = None
    limits = limits or DEFAULT_LIMITS
    try:
        ctx = Context(variables, limits)
        with render_budget.bounded(limits.max_seconds):
            ctx.budget.clock = render_budget.current()
            return work(ctx)
    except ExpressionError as exc:
        raise _scrub(exc, ctx) from None
    except TaskKilled:
        raise
    except RecursionError:
        raise _scrub(ExpressionError("template or value nested too deeply"), ctx) from None
    except MemoryError:
        raise ExpressionError("out of memory while rendering") from None
    except Exception as exc:  # a bug in this package: still an ExpressionError for callers
        raise _scrub(ExpressionError(f"internal error while rendering: {type(exc).__name__}: {exc}"), ctx) from exc
