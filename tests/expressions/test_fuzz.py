"""Fuzzing: whatever the template and the data, rendering returns text or raises
ExpressionError (never another exception, never an internal error, never a hang)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import SecretResolver, render, render_typed, render_value

NAMES = ["a", "b", "items", "outputs", "inputs", "loop", "x", "taskrun", "value", "key", "_id", "__class__"]
FILTERS = ["upper", "lower", "length", "first", "last", "join(',')", "default('d')", "toJson", "json", "keys",
           "jq('.')", "jq('.[]?')", "date('yyyy')", "dateAdd(1, 'DAYS')", "split(',')", "replace({'a': 'b'})",
           "slice(0, 1)", "sort", "number", "abs", "trim", "title", "slugify", "timestamp", "flatten",
           "chunk(2)", "merge([1])", "yaml", "base64encode", "sha256", "indent(2)", "distinct", "reverse"]
FRAGMENTS = [
    "{{", "}}", "{%", "%}", "{#", "#}", "{{-", "-}}", "{%-", "-%}", " ", "(", ")", "[", "]", "{", "}", ",", ":",
    ".", "'", '"', "#{", "|", "~", "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "??", "???", "?", "?:", "..",
    "and", "or", "not", "is", "is not", "contains", "equals", "defined", "null", "empty", "even", "json",
    "if", "elseif", "else", "endif", "for", "in", "endfor", "set", "=", "raw", "endraw", "filter", "endfilter",
    "true", "false", "null", "0", "1", "-1", "2.5", "9223372036854775807", "'s'", '"t"', "\\", "\n",
    "now()", "range(1, 3)", "fromJson('[1]')", "render(a)", "secret('S')", "kv('k')", "min(1, 2)", "uuid()",
    *NAMES, *[f"| {f}" for f in FILTERS],
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["{{ a }}", "{% for %}", "2024-01-01T00:00:00Z", "[1, 2]", '{"k": 1}', "a,b", "false"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(NAMES), children, max_size=3),
    ),
    max_leaves=8,
)
variables = st.dictionaries(st.sampled_from(NAMES), values, max_size=5)
random_templates = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=25).map("".join)


@st.composite
def expressions(draw, depth: int = 0) -> str:
    """Syntactically plausible expressions, so evaluation (not just parsing) gets fuzzed."""
    if depth > 3 or draw(st.booleans()):
        return draw(st.sampled_from([*NAMES, "a.b", "items[0]", "outputs[x]", "'s'", "1", "2.5", "null", "true",
                                     "[1, 'a']", "{'k': a}", "now()", "range(1, 4)", "fromJson(a)"]))
    left = draw(expressions(depth + 1))
    kind = draw(st.sampled_from(["binary", "filter", "test", "unary", "ternary", "paren"]))
    if kind == "binary":
        op = draw(st.sampled_from(["~", "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", "??",
                                   "???", "contains", "..", "?:"]))
        return f"{left} {op} {draw(expressions(depth + 1))}"
    if kind == "filter":
        return f"{left} | {draw(st.sampled_from(FILTERS))}"
    if kind == "test":
        return f"{left} is {draw(st.sampled_from(['defined', 'null', 'empty', 'even', 'iterable', 'map', 'json']))}"
    if kind == "unary":
        return f"{draw(st.sampled_from(['not ', '-']))}{left}"
    if kind == "ternary":
        return f"{left} ? {draw(expressions(depth + 1))} : {draw(expressions(depth + 1))}"
    return f"({left})"


@st.composite
def structured_templates(draw) -> str:
    expr = draw(expressions())
    shape = draw(st.sampled_from([
        "{{ %s }}", "x{{- %s -}}y", "{%% if %s %%}T{%% else %%}F{%% endif %%}",
        "{%% for v in %s %%}{{ v }}{{ loop.index }}{%% else %%}E{%% endfor %%}", "{%% set z = %s %%}{{ z }}",
        "{%% filter upper %%}{{ %s }}{%% endfilter %%}",
    ]))
    return shape % expr


def _context(data: dict) -> dict:
    return {**data, "__secrets__": SecretResolver(env={"KESTRA_SECRET_S": "s3cret"})}


def _check(call) -> None:
    try:
        result = call()
    except ExpressionError as exc:
        assert "internal error" not in str(exc), str(exc)
        return
    return result


FUZZ = settings(deadline=2000, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(template=random_templates, data=variables)
def test_random_text_renders_or_raises_expression_error(template, data):
    result = _check(lambda: render(template, _context(data)))
    assert result is None or isinstance(result, str)


@FUZZ
@given(template=structured_templates(), data=variables)
def test_random_expressions_render_or_raise_expression_error(template, data):
    result = _check(lambda: render(template, _context(data)))
    assert result is None or isinstance(result, str)


@FUZZ
@given(expr=expressions(), data=variables)
def test_render_typed_and_render_value_never_leak_other_exceptions(expr, data):
    _check(lambda: render_typed("{{ %s }}" % expr, _context(data)))
    result = _check(lambda: render_value({"k": ["{{ %s }}" % expr, 1]}, _context(data)))
    assert result is None or isinstance(result, dict)
