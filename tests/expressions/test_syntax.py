"""Lexer and parser: literals, precedence, delimiters, whitespace control, syntax errors."""

from __future__ import annotations

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import check_template
from kestra_dagster.expressions.evaluator import compile_template


def test_text_without_delimiters_is_returned_unchanged(r):
    assert r("plain } text { with braces") == "plain } text { with braces"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 42 }}", "42"),
        ("{{ 42L }}", "42"),
        ("{{ 1.5 }}", "1.5"),
        ("{{ 'single' }}{{ \"double\" }}", "singledouble"),
        ("{{ true }} {{ FALSE }} {{ null }}|{{ none }}", "true false |"),
        ("{{ [1, 'a', [true]] }}", '[1,"a",[true]]'),
        ("{{ {'a': {'b': 1}} }}", '{"a":{"b":1}}'),  # '}}' inside brackets does not close the print
        ("{{ [1, 2,] }}", "[1,2]"),
    ],
)
def test_literals(r, template, expected):
    assert r(template) == expected


def test_string_escapes_follow_pebble(r):
    # only the quote and the backslash are unescaped; '\n' stays two characters
    assert r("{{ 'it\\'s' }}") == "it's"
    assert r('{{ "say \\"hi\\"" }}') == 'say "hi"'
    assert r("{{ 'a\\\\b' }}") == "a\\b"
    assert r("{{ '\\n' | length }}") == "2"


def test_double_quoted_strings_interpolate(r):
    assert r('{{ "n=#{ n + 1 }!" }}', n=1) == "n=2!"
    assert r("{{ 'no #{interpolation}' }}") == "no #{interpolation}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 1 + 2 * 3 }}", "7"),
        ("{{ (1 + 2) * 3 }}", "9"),
        ("{{ 'a' ~ 'b' | upper }}", "AB"),  # ~ (110) binds tighter than | (100)
        ("{{ missing ?? 'd' == 'd' }}", "true"),  # ?? (120) binds tighter than ==
        ("{{ 'x' ~ missing ?? 'y' }}", "xy"),
        ("{{ not false and false }}", "false"),
        ("{{ true or false and false }}", "true"),
        ("{{ 1 + 1 == 2 }}", "true"),
        ("{{ 10 - 2 - 3 }}", "5"),  # left-associative
        ("{{ [1, 2] contains 1 and true }}", "true"),
        ("{{ 2 is even == true }}", "true"),
    ],
)
def test_operator_precedence_matches_pebble(r, template, expected):
    assert r(template) == expected


def test_ternary_nests_and_elvis(r):
    t = "{{ n == 0 ? 'zero' : n == 1 ? 'one' : 'many' }}"
    assert [r(t, n=i) for i in (0, 1, 5)] == ["zero", "one", "many"]
    assert r("{{ x ?: 'fallback' }}", x="") == "fallback"
    assert r("{{ missing ?: 'fallback' }}") == "fallback"
    assert r("{{ x ?: 'fallback' }}", x="set") == "set"


def test_named_and_positional_arguments(r):
    assert r('{{ d | date("yyyy", timeZone="UTC") }}', d="2024-05-01T00:00:00Z") == "2024"
    with pytest.raises(ExpressionError, match="positional arguments must come before named"):
        check_template("{{ d | date(format='y', 'UTC') }}")


def test_whitespace_control(r):
    assert r("a  {{- 'x' -}}  b") == "axb"
    assert r("a\n  {%- if true -%}\n  y\n  {%- endif -%}\n  z") == "ayz"
    assert r("a {#- note -#} b") == "ab"


def test_comments_raw_and_verbatim(r):
    assert r("a{# {{ not evaluated }} #}b") == "ab"
    assert r("{% raw %}{{ kept }} {% if %}{% endraw %}") == "{{ kept }} {% if %}"
    assert r("{% verbatim %}{{ kept }}{% endverbatim %}") == "{{ kept }}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 1 }", "unexpected token '}' at column 6"),
        ("{{ foo(1 }}", "unexpected token '}' (expected ')') at column 10"),
        ("{{ }}", "empty expression"),
        ("{{ 1 + }}", "unexpected token '}}' (expected an expression) at column 8"),
        ("{{ a b }}", "unexpected token 'b' (expected '}}') at column 6"),
        ("{{ 'open }}", "unclosed string literal at column 4"),
        ("{{ 1", "unclosed '{{'"),
        ("{# never closed", "unclosed comment"),
        ("{% if true %}x", "missing '{% endif %}'"),
        ("{% endif %}", "without a matching opening tag"),
        ("{% for x %}{% endfor %}", "expected 'in'"),
        ("{% macro m() %}{% endmacro %}", "tag 'macro' is not supported"),
        ("{% frobnicate %}", "unknown tag 'frobnicate'"),
        ("{% set true = 1 %}", "cannot assign to 'true'"),
        ("{{ x | uper }}", "unknown filter 'uper' (did you mean 'upper'?)"),
        ("{{ x is nul }}", "unknown test 'nul' (did you mean 'null'?)"),
        ("{{ 99999999999999999999 }}", "number literal out of range"),
        ("{{ 1 ! 2 }}", "unexpected character '!'"),
        ("{% raw %}x", "unclosed '{% raw %}'"),
    ],
)
def test_syntax_errors_are_located(template, message):
    with pytest.raises(ExpressionError) as info:
        check_template(template)
    assert message in str(info.value)
    assert "in expression" in str(info.value)


def test_multiline_errors_give_line_and_column():
    with pytest.raises(ExpressionError, match="at line 3, column 8"):
        check_template("line one\nline two\n{{ a + }}")


def test_long_template_error_shows_only_the_offending_line():
    template = ("x" * 5000) + "\n{{ a + }}\n" + ("y" * 5000)
    with pytest.raises(ExpressionError) as info:
        check_template(template)
    assert info.value.expression == "…{{ a + }}…"


@pytest.mark.parametrize(
    "template",
    [
        "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
        "{{ " + "[" * 300 + "]" * 300 + " }}",
        "{{ " + "not " * 300 + "true }}",
        "{{ 1" + " + 1" * 5000 + " }}",
        "{{ a" + ".b" * 5000 + " }}",
        "{{ x" + " | upper" * 1000 + " }}",
        "{% if true %}" * 300 + "{% endif %}" * 300,
        '{{ "' + "#{" * 200 + "}" * 200 + '" }}',
    ],
)
def test_deep_nesting_is_an_expression_error_not_a_recursion_error(template):
    with pytest.raises(ExpressionError, match="nested too deeply|unexpected|unclosed"):
        check_template(template)


def test_reasonable_nesting_is_fine(r):
    assert r("{{ " + "(" * 30 + "1" + ")" * 30 + " }}") == "1"
    assert r("{{ 1" + " + 1" * 50 + " }}") == "51"


def test_parsed_templates_are_cached():
    source = "{{ cached.template | upper }}"
    assert compile_template(source) is compile_template(source)


def test_word_operators_need_word_boundaries(r):
    assert r("{{ organization ~ notes ~ isbn }}", organization="o", notes="n", isbn="i") == "oni"
    assert r("{{ m.contains }}", m={"contains": 1}) == "1"  # operator words are fine as keys
