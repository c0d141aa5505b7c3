"""Functions (``name(args)``): Pebble's ``min``/``max``/``range`` plus Kestra's.

Registered in :data:`FUNCTIONS` by template name. The runtime can add or override functions
per render through ``variables["__functions__"]`` (that is how ``kv()`` and ``read()`` reach
the KV store and internal storage); those are plain callables. Functions that need the
evaluation context (``render``, ``secret``, ``currentEachOutput``, ``range``) are marked
:func:`~kestra_dagster.expressions.values.contextual` and receive it first.

``kv``, ``read`` and the other storage-backed functions only exist when the runtime
provides them; called anywhere else they raise a clear :class:`ExpressionError`.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Callable, Mapping

import yaml

from kestra_dagster.errors import ExpressionError

import kestra_dagster.expressions.dates as dates
from .filters import parse_json
from .values import contextual, is_number, plain, short, to_text, type_name

FUNCTIONS: dict[str, Callable[..., Any]] = {}

#: Provided only by the runtime (``variables["__functions__"]``).
RUNTIME_ONLY = ("kv", "read", "fileURI", "fileSize", "fileExists", "isFileEmpty", "errorLogs", "encrypt",
                "decrypt", "http", "fetchContext", "printContext", "tasksWithState", "iterationOutput",
                "parentOutput")


def function(*names: str) -> Callable[[Callable], Callable]:
    def deco(fn: Callable) -> Callable:
        for name in names:
            FUNCTIONS[name] = fn
        return fn
    return deco


def _unavailable(name: str) -> Callable[..., Any]:
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise ExpressionError(f"{name}() is not available here: it needs a running execution "
                              "(the runtime provides it through variables['__functions__'])")
    fn.__name__ = f"unavailable_{name}"
    return fn


for _name in RUNTIME_ONLY:
    FUNCTIONS[_name] = _unavailable(_name)


# ====================================================================== values
@function("now")
def fn_now(timeZone: Any = None) -> Any:  # noqa: N803 - Kestra's argument name
    """The current instant as a timezone-aware datetime (UTC unless ``timeZone`` is given)."""
    return dates.now(timeZone)


@function("fromJson", "json", "jsonDecode")
def fn_from_json(json: Any = None) -> Any:  # noqa: A002 - Kestra's argument name
    """Parse a JSON string (``json()`` is Kestra's deprecated alias)."""
    return parse_json(json, "fromJson")


@function("yaml")
def fn_yaml(yaml_text: Any = None) -> Any:
    """Parse a YAML string (safe loader: plain data only)."""
    if yaml_text is None:
        return None
    if not isinstance(yaml_text, str):
        return plain(yaml_text)
    if len(yaml_text) > 1_000_000:  # PyYAML is pure Python: keep parsing time bounded
        raise ExpressionError("yaml(): input is too large (over 1 MB)")
    try:
        return yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise ExpressionError(f"yaml(): invalid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ExpressionError("yaml(): YAML is nested too deeply") from None


@function("uuid")
def fn_uuid() -> str:
    return str(uuid.uuid4())


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@function("id")
def fn_id() -> str:
    """A short random id like Kestra's ``IdUtils.create()`` (base62 UUID, 22 characters)."""
    n = uuid.uuid4().int
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(reversed(out)).rjust(22, "0")


@function("randomInt")
def fn_random_int(lower: Any = None, upper: Any = None) -> int:
    """A random integer in ``[lower, upper)``."""
    for name, v in (("lower", lower), ("upper", upper)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ExpressionError(f"randomInt(): '{name}' must be an integer, not {short(v)}")
    if lower >= upper:
        raise ExpressionError("randomInt(): 'upper' must be greater than 'lower'")
    return random.randrange(lower, upper)


def _numbers(args: tuple, name: str) -> list:
    values = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
    if not values:
        raise ExpressionError(f"{name}() needs at least one value")
    if all(is_number(v) for v in values) or all(isinstance(v, str) for v in values):
        return values
    raise ExpressionError(f"{name}() compares numbers (or strings), got "
                          + ", ".join(sorted({type_name(v) for v in values})))


@function("min")
def fn_min(*args: Any) -> Any:
    return min(_numbers(args, "min"))


@function("max")
def fn_max(*args: Any) -> Any:
    return max(_numbers(args, "max"))


@function("range")
@contextual
def fn_range(ctx: Any, start: Any = None, end: Any = None, step: Any = 1) -> list:
    """Pebble's inclusive ``range(1, 3)`` → ``[1, 2, 3]``; also single characters."""
    return make_range(start, end, step, ctx.limits.max_iterations)


def make_range(start: Any, end: Any, step: Any, max_items: int) -> list:
    if isinstance(step, bool) or not isinstance(step, int) or step == 0:
        raise ExpressionError("range(): 'step' must be a non-zero integer")
    if isinstance(start, str) and isinstance(end, str) and len(start) == 1 and len(end) == 1:
        codes = _int_range(ord(start), ord(end), step, max_items)
        return [chr(c) for c in codes]
    for name, v in (("start", start), ("end", end)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ExpressionError(f"range(): '{name}' must be an integer (or a single character), not {short(v)}")
    return _int_range(start, end, step, max_items)


def _int_range(start: int, end: int, step: int, max_items: int) -> list:
    if (step > 0 and start > end) or (step < 0 and start < end):
        return []
    count = abs(end - start) // abs(step) + 1
    if count > max_items:
        raise ExpressionError(f"range() would produce {count} items (limit {max_items})")
    return list(range(start, end + (1 if step > 0 else -1), step))


# ====================================================================== context-aware
@function("secret")
@contextual
def fn_secret(ctx: Any, key: Any = None, namespace: Any = None, subkey: Any = None) -> str:
    """A secret value (see :mod:`.secrets`); ``subkey`` picks a field of a JSON secret."""
    if not isinstance(key, str) or not key:
        raise ExpressionError("secret() expects the secret name as a string, e.g. secret('API_KEY')")
    resolver = ctx.secrets
    getter = getattr(resolver, "get", None) or resolver  # a SecretResolver, a mapping or a callable
    value = getter(key)
    if value is None:
        raise ExpressionError(f"secret '{key}' is not defined")
    if not isinstance(value, str):
        value = to_text(value)
    if subkey is None:
        return value
    try:
        data = parse_json(value, "secret")
    except ExpressionError:
        raise ExpressionError(f"secret '{key}' is not a JSON object, so it has no subkey '{subkey}'") from None
    if not isinstance(data, Mapping) or subkey not in data:
        raise ExpressionError(f"secret '{key}' has no subkey '{subkey}'")
    result = to_text(data[subkey])
    remember = getattr(resolver, "remember", None)
    if remember is not None:
        remember(result)
    return result


@function("render")
@contextual
def fn_render(ctx: Any, template: Any = None, recursive: Any = True) -> Any:
    """Render a string again with the same variables (until stable unless ``recursive=false``)."""
    if not isinstance(template, str):
        return template  # nothing to render
    if not isinstance(recursive, bool):
        raise ExpressionError("render(): 'recursive' must be true or false")
    return ctx.render_nested(template, recursive=recursive)


@function("renderOnce")
@contextual
def fn_render_once(ctx: Any, template: Any = None) -> Any:
    if not isinstance(template, str):
        return template
    return ctx.render_nested(template, recursive=False)


@function("currentEachOutput")
@contextual
def fn_current_each_output(ctx: Any, outputs: Any = None) -> Any:
    """``outputs.task[parent values…][taskrun.value]`` for the current ForEach iteration."""
    if not isinstance(outputs, Mapping):
        raise ExpressionError("currentEachOutput() expects task outputs (a map), e.g. "
                              "currentEachOutput(outputs.my_task)")
    parents = ctx.lookup_optional("parents") or []
    if isinstance(parents, (list, tuple)):
        for parent in reversed(parents):
            taskrun = parent.get("taskrun") if isinstance(parent, Mapping) else None
            if isinstance(taskrun, Mapping) and "value" in taskrun:
                nxt = outputs.get(taskrun["value"])
                if not isinstance(nxt, Mapping):
                    raise ExpressionError("currentEachOutput(): no outputs for the current task run path")
                outputs = nxt
    taskrun = ctx.lookup_optional("taskrun")
    if not isinstance(taskrun, Mapping) or "value" not in taskrun:
        raise ExpressionError("currentEachOutput() can only be used inside a ForEach (taskrun.value is undefined)")
    value = outputs.get(taskrun["value"])
    if value is None:
        raise ExpressionError(f"currentEachOutput(): no outputs for value {short(taskrun['value'])}")
    return value
