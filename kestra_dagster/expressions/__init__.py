"""Kestra expressions: a sandboxed evaluator for Kestra's Pebble template dialect.

Kestra renders task properties with Pebble (not Jinja2): ``{{ outputs.t1.value }}``,
``{{ inputs.name ?? 'world' }}``, ``{{ now() | date("yyyy-MM-dd") }}``,
``{% for x in list %}…{% endfor %}``. This package re-implements that dialect in pure
Python (lexer → Pratt parser → tree-walking evaluator) with Kestra's strict semantics:
undefined variables are errors, ``??`` recovers, dates use Java patterns, ``jq`` returns a
list, and everything renders to strings.

Public API::

    render(template, variables) -> str             # text with {{ }}, {% %}, {# #}
    render_value(value, variables)                 # str/list/dict (keys too), recursively
    render_typed(template, variables)              # a lone "{{ expr }}" keeps its type
    is_truthy(rendered) -> bool                    # Kestra's TruthUtils (runIf, If)
    has_expression(s) -> bool
    check_template(template) -> None               # syntax/filter check without rendering
    SecretResolver                                 # secret('X') backends
    FUNCTIONS, FILTERS, TESTS                      # registries (add one entry per function)

Reserved variables: ``__functions__`` (runtime functions such as ``kv``/``read`` that extend
or override :data:`FUNCTIONS`) and ``__secrets__`` (a :class:`SecretResolver`; the default
reads the environment). Every failure is an :class:`~kestra_dagster.errors.ExpressionError`.
"""

from __future__ import annotations

from typing import Any, Mapping

from kestra_dagster.errors import ExpressionError

from .evaluator import DEFAULT_LIMITS, Context, Limits, compile_template, run_guarded
from .filters import FILTERS, TESTS
from .functions import FUNCTIONS
from .secrets import SecretResolver
from .values import MAX_NODES, UndefinedError, contextual, string_truthy, to_text

__all__ = [
    "ExpressionError",
    "UndefinedError",
    "render",
    "render_value",
    "render_typed",
    "is_truthy",
    "has_expression",
    "check_template",
    "SecretResolver",
    "Limits",
    "DEFAULT_LIMITS",
    "FUNCTIONS",
    "FILTERS",
    "TESTS",
    "contextual",
]


def _needs_render(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def render(template: str, variables: Mapping[str, Any], *, limits: Limits | None = None) -> str:
    """Render a template to text. Strings without delimiters are returned unchanged."""
    if isinstance(template, str) and not _needs_render(template):
        return template
    return run_guarded(lambda ctx: ctx.render_string(template), variables, limits)


def render_typed(template: str, variables: Mapping[str, Any], *, limits: Limits | None = None) -> Any:
    """Like :func:`render`, but a template that is exactly one ``{{ expr }}`` (surrounding
    whitespace allowed) returns the evaluated value itself: list, map, number, boolean, None…"""
    if isinstance(template, str) and not _needs_render(template):
        return template
    return run_guarded(lambda ctx: ctx.evaluate_typed(template), variables, limits)


def render_value(value: Any, variables: Mapping[str, Any], *, limits: Limits | None = None) -> Any:
    """Render every string inside ``value`` (map keys included); other scalars pass through.

    A string that is a single ``{{ expr }}`` still renders to a string, as in Kestra.
    """
    if isinstance(value, str) and not _needs_render(value):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value

    def work(ctx: Context) -> Any:
        max_depth = ctx.limits.max_value_depth
        budget = [MAX_NODES]

        def walk(v: Any, depth: int) -> Any:
            budget[0] -= 1
            if budget[0] < 0:  # YAML anchors can make a small document expand enormously
                raise ExpressionError(f"value has more than {MAX_NODES} elements")
            if isinstance(v, str):
                return ctx.fresh().render_string(v) if _needs_render(v) else v
            if depth > max_depth:
                raise ExpressionError(f"value is nested too deeply (more than {max_depth} levels)")
            if isinstance(v, Mapping):
                return {walk(k, depth + 1): walk(x, depth + 1) for k, x in v.items()}
            if isinstance(v, list):
                return [walk(x, depth + 1) for x in v]
            if isinstance(v, tuple):
                return tuple(walk(x, depth + 1) for x in v)
            return v

        return walk(value, 0)

    return run_guarded(work, variables, limits)


def is_truthy(rendered: Any) -> bool:
    """Kestra's ``TruthUtils``: ``None``, ``False``, ``""``, ``"false"``, ``"0"`` and ``"-0"``
    (whitespace-trimmed, ``false`` in any case) are false; everything else is true."""
    if rendered is None:
        return False
    if isinstance(rendered, bool):
        return rendered
    if isinstance(rendered, str):
        return string_truthy(rendered)
    if isinstance(rendered, (int, float)):
        return rendered != 0
    try:
        return string_truthy(to_text(rendered))
    except ExpressionError:
        return True


def has_expression(s: Any) -> bool:
    """Whether ``s`` is a string containing ``{{`` or ``{%``."""
    return isinstance(s, str) and ("{{" in s or "{%" in s)


def check_template(template: str, *, limits: Limits | None = None) -> None:
    """Raise :class:`ExpressionError` if ``template`` does not parse (or uses an unknown
    filter or test); nothing is evaluated. For validating flows before they run."""
    try:
        compile_template(template, limits or DEFAULT_LIMITS)
    except RecursionError:
        raise ExpressionError("template nested too deeply") from None
