"""Evaluation semantics: Kestra idioms, strict undefined, operators, tags, output format."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import SecretResolver, render

CTX = {
    "outputs": {
        "t1": {"value": "hello"},
        "each": {"a": {"value": "A"}, "b": {"value": "B"}, "1": {"value": "one"}},
        "http": {"body": '{"items": [{"id": 7}, {"id": 8}]}'},
        "build": {"imageId": "sha256:abc", "tags": ["v1", "latest"]},
    },
    "inputs": {"name": None, "count": 3, "flag": True},
    "taskrun": {"value": "a"},
    "trigger": {"date": "2024-03-10T10:00:00Z"},
}


# ====================================================================== Kestra idioms
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ outputs.t1.value }}", "hello"),
        ("Hello {{ inputs.name ?? 'world' }}", "Hello world"),
        ("{{ taskrun.value }}", "a"),
        ("{{ outputs.each[taskrun.value].value }}", "A"),
        ("{{ trigger.date | dateAdd(-1, 'DAYS') | date('yyyy-MM-dd') }}", "2024-03-09"),
        ("{{ outputs.http.body | jq('.items[].id') | first }}", "7"),
        ("{{ 'a' ~ 1 }}", "a1"),
        ("{% for x in [1,2] %}{{x}}{% endfor %}", "12"),
        ("{{ outputs['build'].tags[0] }}", "v1"),
        ("{{ inputs.count + 1 }}", "4"),
        ("{{ outputs.each[1].value }}", "one"),  # ForEach outputs are keyed by the stringified value
    ],
)
def test_kestra_idioms(template, expected):
    assert render(template, CTX) == expected


def test_now_formats_with_java_patterns():
    assert render('{{ now() | date("yyyy-MM-dd") }}', {}) == datetime.now(timezone.utc).strftime("%Y-%m-%d")


def test_secret_from_base64_env_var():
    resolver = SecretResolver(env={"SECRET_API": base64.b64encode(b"s3cr3t").decode()})
    assert render("{{ secret('API') }}", {"__secrets__": resolver}) == "s3cr3t"


# ====================================================================== strict undefined
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ foo }}", "variable 'foo' is undefined"),
        ("{{ outputs.build.imageID }}", "'outputs.build' has no attribute 'imageID' (available: imageId, tags)"),
        ("{{ outputs.each['zz'].value }}", "'outputs.each' has no key 'zz'"),
        ("{{ outputs.build.tags[5] }}", "index 5 is out of range for 'outputs.build.tags' (length 2)"),
        ("{{ inputs.name.first }}", "'inputs.name' is null; cannot read attribute 'first'"),
        ("{{ inputs.count.value }}", "'inputs.count' is a integer; it has no attribute 'value'"),
        ("{{ outptus.t1 }}", "variable 'outptus' is undefined (did you mean 'outputs'?)"),
    ],
)
def test_undefined_is_an_error_naming_the_path(template, message):
    with pytest.raises(ExpressionError) as info:
        render(template, CTX)
    assert message in str(info.value)
    assert info.value.expression == template


def test_error_names_the_failing_snippet_not_the_whole_template():
    with pytest.raises(ExpressionError) as info:
        render("ok {{ outputs.t1.value }} then {{ nope }} end", CTX)
    assert info.value.expression == "{{ nope }}"


def test_coalescing_operators():
    ctx = {"n": None, "v": "x"}
    assert render("{{ missing ?? 'd' }}|{{ n ?? 'd' }}|{{ v ?? 'd' }}", ctx) == "d|d|x"
    assert render("{{ missing ??? 'd' }}|{{ n ??? 'd' }}|{{ v ??? 'd' }}", ctx) == "d||x"
    assert render("{{ a.b.c ?? b.c ?? 'last' }}", {}) == "last"


def test_defined_and_null_tests():
    ctx = {"n": None}
    assert render("{{ n is defined }} {{ missing is defined }} {{ missing is not defined }}", ctx) == "true false true"
    assert render("{{ n is null }} {{ n is not null }}", ctx) == "true false"
    with pytest.raises(ExpressionError, match="undefined"):
        render("{{ missing is null }}", ctx)


def test_default_filter_accepts_undefined_null_and_empty():
    assert render("{{ missing | default('a') }}{{ n | default('b') }}{{ '  ' | default('c') }}", {"n": None}) == "abc"
    assert render("{{ x | default('d') }}", {"x": 0}) == "0"


def test_ternary_branches_are_lazy():
    # Kestra flows use an undefined name as a deliberate failure in the branch not taken
    assert render("{{ ok ? 'yes' : ko }}", {"ok": True}) == "yes"
    with pytest.raises(ExpressionError, match="'ko' is undefined"):
        render("{{ ok ? 'yes' : ko }}", {"ok": False})


# ====================================================================== operators
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 7 / 2 }}", "3"),  # Java long division
        ("{{ -7 / 2 }}", "-3"),
        ("{{ 7.0 / 2 }}", "3.5"),
        ("{{ -7 % 3 }}", "-1"),  # Java remainder keeps the dividend's sign
        ("{{ 2 * 3.5 }}", "7.0"),
        ("{{ -(3) }} {{ +3 }}", "-3 3"),
        ("{{ 1 + '1' }}", "11"),  # Pebble: + concatenates when a side is a string
        ("{{ [1, 2] + 3 }} {{ [1, 2] + [3] }} {{ [1, 2, 3] - 2 }}", "[1,2,3] [1,2,3] [1,3]"),
        ("{{ 1 == 1.0 }} {{ 1 == '1' }} {{ true == 1 }} {{ null == null }}", "true false false true"),
        ("{{ 'b' > 'a' }} {{ 2 >= 2 }} {{ 1.5 < 2 }} {{ null < 1 }}", "true true true false"),
        ("{{ 'abc' contains 'bc' }} {{ [1, 2] contains [2, 1] }} {{ {'k': 1} contains 'k' }}", "true true true"),
        ("{{ [1] contains 2 }} {{ null contains 1 }}", "false false"),
        ("{{ 'a' equals 'a' }}", "true"),
        ("{{ 1..3 }} {{ 'a'..'c' }}", '[1,2,3] ["a","b","c"]'),
        ("{{ not '' }} {{ not 'false' }} {{ not 'x' }} {{ not [] }}", "true true false true"),
    ],
)
def test_operators(template, expected):
    assert render(template, {}) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ 'a' - 1 }}", "'-' needs numbers"),
        ("{{ {} + 1 }}", "use '~' to concatenate"),
        ("{{ 'a' < 1 }}", "cannot compare string 'a' with integer 1"),
        ("{{ 9223372036854775807 + 1 }}", "integer overflow"),
        ("{{ 5 contains 1 }}", "'contains' needs a string, list or map"),
        ("{{ -'x' }}", "unary '-' needs a number"),
    ],
)
def test_operator_errors(template, message):
    with pytest.raises(ExpressionError, match=message):
        render(template, {})


def test_float_division_by_zero_follows_java():
    assert render("{{ 1.0 / 0 }} {{ -1.0 / 0 }} {{ 0.0 / 0 }}", {}) == "Infinity -Infinity NaN"


# ====================================================================== output format
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.0, "1.0"),
        (0.1, "0.1"),
        (1e20, "1.0E20"),
        (1.5e-5, "1.5E-5"),
        (12345678.9, "1.23456789E7"),
        ({"a": [1, None], "b": "é"}, '{"a":[1,null],"b":"é"}'),
        ([datetime(2024, 1, 1, tzinfo=timezone.utc)], '["2024-01-01T00:00:00+00:00"]'),
        (datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=timezone.utc), "2024-01-01T10:00:00.123456+00:00"),
    ],
)
def test_output_formatting(value, expected):
    assert render("{{ v }}", {"v": value}) == expected


# ====================================================================== tags
def test_if_elseif_else():
    t = "{% if n > 10 %}big{% elseif n > 1 %}mid{% elif n == 1 %}one{% else %}small{% endif %}"
    assert [render(t, {"n": n}) for n in (20, 5, 1, 0)] == ["big", "mid", "one", "small"]


def test_if_uses_kestra_truthiness():
    t = "{% if v %}T{% else %}F{% endif %}"
    assert [render(t, {"v": v}) for v in ("false", "0", "", "no", None, [], [0], 0, 2)] == list("FFFTFFTFT")


def test_for_loop_variables():
    t = "{% for x in items %}{{ loop.index }}:{{ x }}{% if loop.first %}^{% endif %}{% if loop.last %}${% endif %}/{{ loop.length }},{% endfor %}"
    assert render(t, {"items": ["a", "b", "c"]}) == "0:a^/3,1:b/3,2:c$/3,"


def test_for_else_and_null_iterable():
    t = "{% for x in items %}{{ x }}{% else %}empty{% endfor %}"
    assert render(t, {"items": []}) == "empty"
    assert render(t, {"items": None}) == "empty"


def test_for_over_maps():
    ctx = {"m": {"b": 2, "a": 1}}
    assert render("{% for e in m %}{{ e.key }}={{ e.value }};{% endfor %}", ctx) == "b=2;a=1;"
    assert render("{% for k, v in m %}{{ k }}={{ v }};{% endfor %}", ctx) == "b=2;a=1;"


def test_for_over_json_string_from_foreach_value():
    t = "{% for entry in json(taskrun.value) %}{{ entry.key }}{% endfor %}"
    assert render(t, {"taskrun": {"value": '{"NEW_MONTH": 1}'}}) == "NEW_MONTH"


def test_for_over_a_string_is_an_error():
    with pytest.raises(ExpressionError, match="cannot loop over a string"):
        render("{% for c in 'abc' %}{{ c }}{% endfor %}", {})


def test_set_and_scoping():
    t = "{% set x = 1 %}{% for i in [1, 2] %}{% set x = i * 10 %}{{ x }},{% endfor %}{{ x }}"
    assert render(t, {}) == "10,20,1"  # a set inside the loop stays in the loop's scope


def test_set_never_mutates_the_callers_variables():
    variables = {"a": 1}
    assert render("{% set a = 2 %}{% set b = 3 %}{{ a }}{{ b }}", variables) == "23"
    assert variables == {"a": 1}


def test_filter_block():
    assert render("{% filter upper | trim %}  hi {{ name }} {% endfilter %}", {"name": "bob"}) == "HI BOB"


# ====================================================================== properties & methods
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ s.length }} {{ s.length() }} {{ s.toUpperCase() }}", "5 5 HELLO"),
        ("{{ s.substring(1, 3) }} {{ s.startsWith('he') }} {{ s.replace('l', 'L') }}", "el true heLLo"),
        ("{{ l.size() }} {{ l.size }} {{ l.get(0) }} {{ l.contains(2) }} {{ l.0 }}", "2 2 1 true 1"),
        ("{{ m.size() }} {{ m.get('k') }} {{ m.containsKey('k') }} {{ m.keySet() }}", '1 v true ["k"]'),
        ("{{ d.year }} {{ d.monthValue }} {{ d.dayOfWeek }} {{ d.getHour() }}", "2024 3 SUNDAY 10"),
        ("{{ d.plusDays(1) | date('yyyy-MM-dd') }}", "2024-03-11"),
    ],
)
def test_whitelisted_properties_and_methods(template, expected):
    ctx = {"s": "hello", "l": [1, 2], "m": {"k": "v"}, "d": datetime(2024, 3, 10, 10, tzinfo=timezone.utc)}
    assert render(template, ctx) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ s.upper() }}", "has no method 'upper()'"),  # Python methods are not reachable
        ("{{ s.format('x') }}", "has no method 'format()'"),
        ("{{ s.__class__ }}", "access to '__class__' is not allowed"),
        ("{{ l.__len__() }}", "access to '__len__' is not allowed"),
        ("{{ l._private }}", "access to '_private' is not allowed"),
        ("{{ __secrets__ }}", "access to '__secrets__' is not allowed"),
        ("{{ m['__functions__'] }}", "access to '__functions__' is not allowed"),
        ("{{ s.substring(9) }}", "out of range"),
    ],
)
def test_sandbox_refuses_python_internals(template, message):
    ctx = {"s": "hello", "l": [1], "m": {"__functions__": 1}}
    with pytest.raises(ExpressionError, match=re.escape(message)):
        render(template, ctx)


def test_map_keys_with_one_underscore_are_data():
    assert render("{{ hit._id }} {{ hit['_source'].name }}", {"hit": {"_id": "1", "_source": {"name": "n"}}}) == "1 n"
