"""Every filter and test: one happy path each, plus the error paths."""

from __future__ import annotations

import hashlib
import re

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import FILTERS, TESTS, render
from kestra_dagster.expressions.regex import compile_safe_regex

V = {"l": [3, 1, 2], "m": {"b": 2, "a": 1}, "s": "Hello World", "n": None, "json": '{"a": {"b": [1, 2]}}'}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # strings
        ("{{ s | lower }} {{ s | upper }}", "hello world HELLO WORLD"),
        ("{{ 'hello wORLD' | title }} {{ 'hello' | capitalize }}", "Hello WORLD Hello"),
        ("{{ '  x  ' | trim }}", "x"),
        ("{{ 'abcdefgh' | abbreviate(6) }} {{ 'abc' | abbreviate(6) }}", "abc... abc"),
        ("{{ 'aXbX' | replace({'X': '-'}) }}", "a-b-"),
        ("{{ 'a1b22' | replace({'(\\\\d+)': '<$1>'}, regexp=true) }}", "a<1>b<22>"),
        ("{{ {'k': 'aa', 'l': ['a']} | replace({'a': 'b'}) }}", '{"k":"bb","l":["b"]}'),
        ("{{ 'a,b,,c,,' | split(',') }}", '["a","b","","c"]'),
        ("{{ 'a1b22c' | split('\\\\d+') }} {{ 'a.b' | split('\\\\.') }}", '["a","b","c"] ["a","b"]'),
        ("{{ 'a,b,c' | split(',', 2) }}", '["a","b,c"]'),
        ("{{ s | startsWith('Hell') }} {{ s | endsWith('x') }}", "true false"),
        ("{{ 'a.b.c' | substringBefore('.') }} {{ 'a.b.c' | substringBeforeLast('.') }}", "a a.b"),
        ("{{ 'a.b.c' | substringAfter('.') }} {{ 'a.b.c' | substringAfterLast('.') }}", "b.c c"),
        ("{{ 'abc' | substringAfter('x') }}|{{ 'abc' | substringBefore('x') }}", "|abc"),
        ("{{ 'Héllo Wörld! 2024' | slugify }}", "hello-world-2024"),
        ("{{ \"it's\" | escapeChar('single') }} {{ 'say \"x\"' | escapeChar('double') }}", "it\\'s say \\\"x\\\""),
        ("{{ \"it's\" | escapeChar('shell') }}", "it'\\''s"),
        ("{{ '<a href=\"x\">' | escape }}", "&lt;a href=&quot;x&quot;&gt;"),
        ("{{ 'a\\nb' | raw }}", "a\\nb"),
        ("x{{ 'a\nb' | indent(2) }}", "xa\n  b"),
        ("x{{ 'a\nb' | nindent(2) }}", "x\n  a\n  b"),
        ("{{ 'a\nb' | indent(1, '>') }}", "a\n>b"),
        ("{{ 'hello' | base64encode }} {{ 'aGVsbG8=' | base64decode }}", "aGVsbG8= hello"),
        ("{{ 'a b/c~*' | urlencode }} {{ 'a+b%2Fc' | urldecode }}", "a+b%2Fc%7E* a b/c"),
        ("{{ 5 | string ~ 1 }}", "51"),
        # numbers
        ("{{ -3 | abs }} {{ -2.5 | abs }}", "3 2.5"),
        ("{{ '42' | number }} {{ '4.5' | number }} {{ '0x1F' | number }} {{ '7' | number('DOUBLE') }}", "42 4.5 31 7.0"),
        ("{{ 1234567.891 | numberformat('#,##0.00') }} {{ 3 | numberformat('000') }}", "1,234,567.89 003"),
        ("{{ 0.5 | numberformat('0.#') }} {{ 2.345 | numberformat('0.00') }}", "0.5 2.34"),
        # collections
        ("{{ l | length }} {{ s | length }} {{ m | length }} {{ n | length }}", "3 11 2 0"),
        ("{{ l | first }} {{ l | last }} {{ s | first }} {{ [] | first }}", "3 2 H "),
        ("{{ l | join(', ') }} {{ l | join }}", "3, 1, 2 312"),
        ("{{ m | keys }} {{ m | values }} {{ l | keys }}", '["b","a"] [2,1] [0,1,2]'),
        ("{{ l | sort }} {{ l | rsort }} {{ ['b', 'a'] | sort }}", '[1,2,3] [3,2,1] ["a","b"]'),
        ("{{ l | reverse }} {{ 'abc' | reverse }}", "[2,1,3] cba"),
        ("{{ 'abcdef' | slice(1, 3) }} {{ l | slice(1) }}", "bc [1,2]"),
        ("{{ [1] | merge([2]) }} {{ m | merge({'c': 3}) }}", '[1,2] {"b":2,"a":1,"c":3}'),
        ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", "[[1,2],[3,4],[5]]"),
        ("{{ [1, [2, 3], [[4]]] | flatten }}", "[1,2,3,[4]]"),
        ("{{ [1, 2, 1, '1'] | distinct }}", '[1,2,"1"]'),
        ("{{ n | default('d') }} {{ [] | default('d') }} {{ 'x' | default('d') }}", "d d x"),
        # JSON / YAML / jq
        ("{{ m | toJson }} {{ n | toJson }} {{ 'q\"' | toJson }}", '{"b":2,"a":1} null "q\\""'),
        ("{{ m | json }}", '{"b":2,"a":1}'),  # Kestra's deprecated json *filter* serialises
        ("{{ m | yaml }}", "b: 2\na: 1\n"),
        ("{{ json | jq('.a.b[]') }}", "[1,2]"),
        ("{{ m | jq('.a') | first }}", "1"),
        ("{{ json | jq('.a.b | length') | first }}", "2"),
        # dates
        ("{{ '2024-03-10T10:00:00Z' | date('yyyy-MM-dd HH:mm') }}", "2024-03-10 10:00"),
        ("{{ '2024-03-10T10:00:00Z' | dateFormat('dd/MM/yyyy') }}", "10/03/2024"),
        ("{{ '2024-03-10T10:00:00Z' | dateAdd(2, 'HOURS', format='HH:mm') }}", "12:00"),
        ("{{ '2024-03-10T10:00:00Z' | timestamp }} {{ '2024-03-10T10:00:00Z' | timestampMilli }}",
         "1710064800 1710064800000"),
        ("{{ '2024-03-10T10:00:00.5Z' | timestampMicro }} {{ '2024-03-10T10:00:00Z' | timestampNano }}",
         "1710064800500000 1710064800000000000"),
        # misc
        ("{{ 'x' | className }} {{ 1 | className }} {{ m | className }}", "java.lang.String java.lang.Integer java.util.LinkedHashMap"),
        ("{{ true | ternary('yes', 'no') }} {{ 'false' | ternary('yes', 'no') }}", "yes no"),
    ],
)
def test_filters(template, expected):
    assert render(template, V) == expected


def test_digest_filters():
    for algo in ("md5", "sha1", "sha256", "sha512"):
        assert render(f"{{{{ 'abc' | {algo} }}}}", {}) == hashlib.new(algo, b"abc").hexdigest()


def test_most_filters_pass_null_through():
    for name in ("lower", "upper", "trim", "title", "capitalize", "split", "replace", "date", "jq", "first",
                 "join", "keys", "reverse", "sort", "slugify", "base64encode", "md5", "number", "slice"):
        args = {"split": "(',')", "replace": "({'a': 'b'})", "jq": "('.')"}.get(name, "")
        assert render(f"{{{{ n | {name}{args} }}}}", {"n": None}) == "", name


def test_filters_do_not_mutate_their_input():
    data = {"l": [3, 1, 2], "m": {"a": 1}}
    render("{{ l | sort }}{{ l | reverse }}{{ m | merge({'b': 2}) }}{{ l + [4] }}{{ l | replace({'1': '9'}) }}", data)
    assert data == {"l": [3, 1, 2], "m": {"a": 1}}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' | replace('a', 'b') }}", "'replace' expects a map"),
        ("{{ 'x' | split }}", "'split' needs a delimiter"),
        ("{{ 'x' | abbreviate('a') }}", "argument 'length' must be an integer"),
        ("{{ 'abc' | slice(2, 1) }}", "toIndex must be greater than fromIndex"),
        ("{{ 'abc' | slice(0, 9) }}", "toIndex must be <= the input length"),
        ("{{ 'abc' | number }}", "'number': 'abc' is not a valid number"),
        ("{{ 'abc' | number('WEIRD') }}", "unknown type"),
        ("{{ 'abc' | abs }}", "'abs' expects a number"),
        ("{{ 3 | length }}", "'length' expects a string, list or map"),
        ("{{ [1, 'a'] | sort }}", "cannot sort a list mixing integer, string"),
        ("{{ 'a' | join }}", "'join' expects a list"),
        ("{{ [1] | chunk(0) }}", "'chunk' expects a size >= 1"),
        ("{{ 1 | merge([1]) }}", "cannot merge a list into a integer"),
        ("{{ '%%%' | base64decode }}", "not valid base64"),
        ("{{ 'x' | escapeChar('weird') }}", "'single', 'double' or 'shell'"),
        ("{{ 'x' | jq(1) }}", "'jq' expects a jq expression string"),
        ("{{ 'not json' | jq('.') }}", "jq: invalid JSON"),
        ("{{ '{}' | jq('.[') }}", "jq: "),
        ("{{ 'x' | date('yyyy') }}", "cannot parse 'x' as an ISO-8601 date"),
        ("{{ 'x' | dateAdd(1) }}", "'dateAdd' expects an amount and a unit"),
        ("{{ 'x' | upper(1) }}", "filter 'upper': takes 1 positional argument but 2 were given"),
        ("{{ 'x' | lower(bogus=1) }}", "filter 'lower': got an unexpected keyword argument 'bogus'"),
        ("{{ 'a' | split('([a-') }}", "invalid regex"),
    ],
)
def test_filter_errors(template, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        render(template, V)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ n is null }} {{ 1 is null }}", "true false"),
        ("{{ '' is empty }} {{ ' ' is empty }} {{ [] is empty }} {{ {} is empty }} {{ 'x' is empty }}",
         "true true true true false"),
        ("{{ 4 is even }} {{ 4 is odd }} {{ 3 is odd }} {{ -3 is odd }}", "true false true true"),
        ("{{ l is iterable }} {{ m is iterable }} {{ 'x' is iterable }}", "true false false"),
        ("{{ m is map }} {{ l is map }}", "true false"),
        ("{{ json is json }} {{ 'nope' is json }} {{ 1 is json }}", "true false false"),
        ("{{ 4 is not even }}", "false"),
    ],
)
def test_tests(template, expected):
    assert render(template, V) == expected


def test_even_on_a_string_is_an_error():
    with pytest.raises(ExpressionError, match="'is even' expects a number"):
        render("{{ 'x' is even }}", {})


def test_registries_are_extensible():
    FILTERS["shout"] = lambda value, times=1: str(value).upper() + "!" * times
    TESTS["short"] = lambda value: len(value) < 3
    try:
        assert render("{{ 'hi' | shout(2) }} {{ 'hi' is short }}", {}) == "HI!! true"
    finally:
        del FILTERS["shout"], TESTS["short"]


def test_filter_exceptions_become_expression_errors():
    def broken(value):
        raise KeyError("boom")

    FILTERS["broken"] = broken
    try:
        with pytest.raises(ExpressionError, match="filter 'broken' failed: KeyError"):
            render("{{ 1 | broken }}", {})
    finally:
        del FILTERS["broken"]


@pytest.mark.parametrize("pattern", [r"\d+", r"(ab)+c", r"[a-z]+@(x|y)\.com", r"(a+)?b", r"^\s*$"])
def test_safe_regex_accepts_ordinary_patterns(pattern):
    compile_safe_regex(pattern)


@pytest.mark.parametrize("pattern", [r"(a+)+", r"(a*)*b", r"(a|a)+", r"(\w+\s?)+$", r"(.*){2,}"])
def test_backtracking_shapes_compile_on_re2_and_match_in_linear_time(pattern):
    compile_safe_regex(pattern).search("a" * 100_000 + "!")  # returns at once: no backtracking


@pytest.mark.parametrize("pattern", [r"(x)\1", r"a(?=b)", r"(?<!a)b"])
def test_regexes_re2_cannot_run_are_refused(pattern):
    with pytest.raises(ExpressionError, match="back-references or look-around"):
        compile_safe_regex(pattern)


def test_nested_repetition_regexes_run_on_re2():
    """Formerly refused as catastrophic; RE2 matches them in linear time (tests/security/test_expr_budget.py)."""
    assert render("{{ 'aaaa' | split('(a+)+') }}", {}) == "[]"
    assert render("{{ 'aaaa' | replace({'(a|aa)*b': ''}, regexp=true) }}", {}) == "aaaa"
