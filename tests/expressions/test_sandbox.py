"""Sandbox budgets: hostile templates and hostile data end in ExpressionError, quickly."""

from __future__ import annotations

import time

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import Limits, render, render_value


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        ("{{ 'a' * 1000000000 }}", {}, "'*' needs numbers"),
        ("{% for i in range(1, 1000000000) %}x{% endfor %}", {}, "would produce"),
        ("{% for i in range(1, 1000) %}{% for j in range(1, 1000) %}{% endfor %}{% endfor %}", {}, "iterations"),
        ("{% set s = 'ab' %}{% for i in range(1, 64) %}{% set s = s ~ s %}{% endfor %}{{ s }}", {}, "exceed"),
        ("{% set s = 'ab' %}{% for i in range(1, 64) %}{% set s = s + s %}{% endfor %}{{ s }}", {}, "exceed"),
        ("{% set l = [1] %}{% for i in range(1, 64) %}{% set l = [l, l] %}{% if loop.last %}{{ l }}{% endif %}"
         "{% endfor %}", {}, "too large"),
        ("{{ render(t) }}", {"t": "{{ render(t) }}"}, "nested more than"),
        ("{{ render(t) }}", {"t": "x{{ t }}"}, "did not settle"),
        ("{{ x | replace({'a': 'aaaaaaaaaaaaaaaaaaaa'}) }}", {"x": "a" * 1_000_000}, "exceed"),
        ("{{ x | indent(1000000) }}", {"x": "\n" * 1000}, "exceed"),
        ("{{ deep }}", {"deep": None}, ""),
    ],
)
def test_budgets(template, variables, message):
    started = time.monotonic()
    if template == "{{ deep }}":
        deep: list = []
        for _ in range(10_000):
            deep = [deep]
        variables = {"deep": deep}
        message = "nested too deeply"
    with pytest.raises(ExpressionError, match=message):
        render(template, variables)
    assert time.monotonic() - started < 5


def test_output_size_cap():
    limits = Limits(max_output=1000)
    with pytest.raises(ExpressionError, match="rendered output exceeds 1000 characters"):
        render("{% for i in range(1, 100) %}{{ x }}{% endfor %}", {"x": "y" * 50}, limits=limits)


def test_template_length_cap():
    with pytest.raises(ExpressionError, match="template is too long"):
        render("{{ 1 }}" + "x" * 2_000_000, {})


def test_iteration_budget_is_shared_by_render_value():
    limits = Limits(max_iterations=10)
    with pytest.raises(ExpressionError, match="more than 10 iterations"):
        render_value(["{% for i in range(1, 6) %}{% endfor %}"] * 3, {}, limits=limits)


def test_render_value_depth_cap():
    deep: dict = {}
    for _ in range(500):
        deep = {"k": deep}
    with pytest.raises(ExpressionError, match="nested too deeply"):
        render_value(deep, {})


def test_circular_context_data_cannot_hang():
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ExpressionError, match="refers to itself"):
        render("{{ data }}", {"data": loop})
    assert render("{{ data.self.self.self is defined }}", {"data": loop}) == "true"


def test_values_are_data_never_templates():
    body = {"msg": "{{ secret('ADMIN') }}{% for i in range(1, 99999999) %}{% endfor %}"}
    assert render("{{ trigger.body.msg }}", {"trigger": {"body": body}}) == body["msg"]
    assert render_value("{{ trigger.body }}", {"trigger": {"body": body}}) == (
        '{"msg":"{{ secret(\'ADMIN\') }}{% for i in range(1, 99999999) %}{% endfor %}"}')


def test_huge_integers_in_context_are_handled():
    with pytest.raises(ExpressionError, match="overflow"):
        render("{{ n * n }}", {"n": 10**30})
    assert render("{{ n is defined }}", {"n": 10**5000}) == "true"


def test_non_string_template_and_bad_variables():
    with pytest.raises(ExpressionError, match="template must be a string"):
        render(123, {})  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="variables must be a map"):
        render("{{ x }}", ["not", "a", "map"])  # type: ignore[arg-type]


BILLION_LAUGHS = "\n".join(
    ["a: &a ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
       f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
)


@pytest.mark.parametrize(
    "template",
    [
        "{{ yaml(doc).i }}",
        "{{ yaml(doc).i | toJson }}",
        "{{ yaml(doc).i | yaml }}",
        "{{ yaml(doc).i | jq('.') }}",
        "{{ yaml(doc).i | replace({'lol': 'LOL'}) }}",
        "{{ yaml(doc).i | escapeChar('single') }}",
        "{{ yaml(doc).i | join(',') }}",
        "{{ yaml(doc).i == yaml(doc).i }}",
        "{{ yaml(doc).i | distinct }}",
    ],
)
def test_shared_reference_bombs_are_bounded(template):
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="too large"):
        render(template, {"doc": BILLION_LAUGHS})
    assert time.monotonic() - started < 5


def test_shared_reference_bombs_in_render_typed_and_render_value():
    import yaml

    from kestra_dagster.expressions import render_typed

    bomb = yaml.safe_load(BILLION_LAUGHS)
    started = time.monotonic()
    assert len(render_typed("{{ v.i }}", {"v": bomb})) == 9  # copied once per distinct list
    with pytest.raises(ExpressionError, match="more than"):
        render_value(bomb, {})
    assert time.monotonic() - started < 5


def test_jq_programs_cannot_build_bombs():
    from kestra_dagster.expressions.jq import JqError, run

    with pytest.raises(JqError, match="exceed"):
        run('"ab" | ' + " | ".join(["(. + .)"] * 40), None)
    with pytest.raises(JqError, match="exceeded|too large"):
        run("[1] | " + " | ".join(["[., .]"] * 40) + " | tojson", None)
