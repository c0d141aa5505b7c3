"""The public API: render_value, render_typed, is_truthy, has_expression, check_template, speed."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

import kestra_dagster.expressions as expressions
from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import (
    FILTERS,
    FUNCTIONS,
    TESTS,
    SecretResolver,
    check_template,
    has_expression,
    is_truthy,
    render,
    render_typed,
    render_value,
)

CTX = {"inputs": {"n": 3, "items": [1, 2], "cfg": {"a": None}}, "name": "kd"}


def test_exports():
    for name in ("render", "render_value", "render_typed", "is_truthy", "has_expression", "SecretResolver",
                 "FUNCTIONS", "FILTERS", "TESTS", "ExpressionError"):
        assert hasattr(expressions, name)
    assert expressions.ExpressionError is ExpressionError
    assert {"date", "jq", "toJson"} <= FILTERS.keys() and {"secret", "now"} <= FUNCTIONS.keys()
    assert {"defined", "null", "json"} <= TESTS.keys()


def test_render_value_renders_nested_structures_and_keys():
    value = {"{{ name }}-key": ["{{ inputs.n }}", 4, None, {"deep": "{{ inputs.items }}"}], "flag": True,
             "t": ("{{ name }}",)}
    assert render_value(value, CTX) == {"kd-key": ["3", 4, None, {"deep": "[1,2]"}], "flag": True, "t": ("kd",)}


def test_render_value_keeps_strings_strings():
    assert render_value("{{ inputs.n }}", CTX) == "3"
    assert render_value("  {{ inputs.items }}  ", CTX) == "  [1,2]  "
    assert render_value(5, CTX) == 5 and render_value(None, CTX) is None


def test_render_value_scopes_do_not_leak_between_strings():
    with pytest.raises(ExpressionError, match="'x' is undefined"):
        render_value(["{% set x = 1 %}", "{{ x }}"], {})


def test_render_value_does_not_mutate_input():
    value = {"a": ["{{ name }}"]}
    render_value(value, CTX)
    assert value == {"a": ["{{ name }}"]}


def test_render_typed_keeps_types_of_a_single_expression():
    assert render_typed("{{ inputs.items }}", CTX) == [1, 2]
    assert render_typed("  {{ inputs.n + 1 }}\n", CTX) == 4
    assert render_typed("{{ inputs.cfg }}", CTX) == {"a": None}
    assert render_typed("{{ inputs.n > 1 }}", CTX) is True
    assert render_typed("{{ inputs.cfg.a }}", CTX) is None
    assert isinstance(render_typed("{{ now() }}", {}), datetime)
    assert render_typed("n={{ inputs.n }}", CTX) == "n=3"
    assert render_typed("{{ inputs.n }}{{ inputs.n }}", CTX) == "33"
    assert render_typed("no expression", CTX) == "no expression"


def test_render_typed_returns_detached_copies():
    result = render_typed("{{ inputs.items }}", CTX)
    result.append(99)
    assert CTX["inputs"]["items"] == [1, 2]


def test_render_typed_errors_are_located():
    with pytest.raises(ExpressionError) as info:
        render_typed("{{ inputs.nope }}", CTX)
    assert info.value.expression == "{{ inputs.nope }}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False), (False, False), ("", False), ("  ", False), ("false", False), ("FALSE", False),
        (" False ", False), ("0", False), ("-0", False), (0, False),
        (True, True), ("true", True), ("1", True), ("no", True), ("0.0", True), (1, True), ([], True), ("null", True),
    ],
)
def test_is_truthy(value, expected):
    assert is_truthy(value) is expected


def test_has_expression():
    assert has_expression("a {{ b }}") and has_expression("{% if x %}")
    assert not has_expression("plain {# comment #}") and not has_expression(None) and not has_expression(3)


def test_check_template():
    check_template("{{ outputs.x | jq('.a') | first }}")
    with pytest.raises(ExpressionError, match="unexpected"):
        check_template("{{ outputs.x | }}")


def test_errors_can_be_located_by_the_caller():
    with pytest.raises(ExpressionError) as info:
        render("{{ nope }}", {})
    located = info.value.located(task="t1", prop="message")
    assert str(located) == "task 't1', property 'message': variable 'nope' is undefined in expression '{{ nope }}'"


def test_rendering_the_same_template_10000_times_is_fast():
    template = "Hello {{ inputs.n ?? 0 }} {{ name | upper }} {% if inputs.n > 1 %}many{% endif %}"
    render(template, CTX)
    started = time.perf_counter()
    for _ in range(10_000):
        render(template, CTX)
    assert time.perf_counter() - started < 3.0


def test_concurrent_renders_are_independent():
    from concurrent.futures import ThreadPoolExecutor

    def job(i: int) -> str:
        return render("{% set x = i %}{% for j in range(1, 50) %}{% endfor %}{{ x }}", {"i": i})

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(job, range(200))) == [str(i) for i in range(200)]


def test_secret_resolver_is_exported_and_usable():
    assert render("{{ secret('k') }}", {"__secrets__": SecretResolver(env={"KESTRA_SECRET_K": "v"})}) == "v"
