"""Functions: built-ins, runtime-provided ones through ``__functions__``, and render()."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest

from kestra_dagster.errors import ExpressionError, TaskKilled
from kestra_dagster.expressions import FUNCTIONS, contextual, render, render_typed


def test_now_is_timezone_aware():
    value = render_typed("{{ now() }}", {})
    assert isinstance(value, datetime) and value.tzinfo is not None
    assert abs((value - datetime.now(timezone.utc)).total_seconds()) < 5
    assert render_typed("{{ now(timeZone='Asia/Tokyo') }}", {}).utcoffset().total_seconds() == 9 * 3600


def test_from_json_and_deprecated_json():
    assert render("{{ fromJson('{\"a\": [1, 2]}').a[1] }}", {}) == "2"
    assert render("{{ json(body).id }}", {"body": '{"id": 5}'}) == "5"
    assert render("{{ json(taskrun.value).k }}", {"taskrun": {"value": '{"k": "v"}'}}) == "v"
    with pytest.raises(ExpressionError, match="invalid JSON"):
        render("{{ fromJson('{nope') }}", {})
    with pytest.raises(ExpressionError, match="nested too deeply"):
        render("{{ fromJson(s) }}", {"s": "[" * 100_000})


def test_yaml_function():
    assert render("{{ yaml('a: [1, 2]').a[1] }}", {}) == "2"
    with pytest.raises(ExpressionError, match="invalid YAML"):
        render("{{ yaml('a: [') }}", {})


def test_ids():
    assert uuid.UUID(render("{{ uuid() }}", {}))
    assert re.fullmatch(r"[0-9A-Za-z]{22}", render("{{ id() }}", {}))


def test_random_int_and_range_min_max():
    assert 1 <= int(render("{{ randomInt(1, 3) }}", {})) < 3
    assert render("{{ range(1, 5, 2) }} {{ range(3, 1, -1) }} {{ range('a', 'c') }}", {}) == '[1,3,5] [3,2,1] ["a","b","c"]'
    assert render("{{ max(1, 7, 3) }} {{ min([4, 2, 9]) }} {{ max('a', 'b') }}", {}) == "7 2 b"
    with pytest.raises(ExpressionError, match="'upper' must be greater"):
        render("{{ randomInt(3, 1) }}", {})
    with pytest.raises(ExpressionError, match="compares numbers"):
        render("{{ max(1, 'a') }}", {})


def test_render_function_renders_again_with_the_same_variables():
    ctx = {"vars": {"greeting": "Hello {{ name }}", "chain": "{{ vars.greeting }}"}, "name": "Ada"}
    assert render("{{ vars.greeting }}", ctx) == "Hello {{ name }}"  # no recursive rendering by default
    assert render("{{ render(vars.greeting) }}", ctx) == "Hello Ada"
    assert render("{{ render(vars.chain) }}", ctx) == "Hello Ada"  # recursive until stable
    assert render("{{ renderOnce(vars.chain) }}", ctx) == "Hello {{ name }}"
    assert render("{{ render(vars.chain, recursive=false) }}", ctx) == "Hello {{ name }}"
    assert render("{{ render(3) }}", ctx) == "3"


def test_render_sees_set_variables():
    assert render("{% set who = 'Bob' %}{{ render('hi {{ who }}') }}", {}) == "hi Bob"


def test_runtime_functions_extend_and_override():
    calls = []

    def kv(key, namespace=None, errorOnMissing=True):  # noqa: N803 - Kestra's argument name
        calls.append((key, namespace, errorOnMissing))
        return {"field": "value"}

    ctx = {"__functions__": {"kv": kv, "now": lambda: "frozen"}}
    assert render("{{ kv('my-key').field }}", ctx) == "value"
    assert render("{{ kv('k', namespace='ns', errorOnMissing=false) ?? 'x' }}", ctx) == '{"field":"value"}'
    assert calls == [("my-key", None, True), ("k", "ns", False)]
    assert render("{{ now() }}", ctx) == "frozen"


def test_runtime_only_functions_fail_clearly_without_a_runtime():
    for name in ("kv", "read"):
        with pytest.raises(ExpressionError, match=rf"{name}\(\) is not available here"):
            render(f"{{{{ {name}('x') }}}}", {})


def test_runtime_function_errors_are_wrapped():
    def read(path):
        raise OSError("disk on fire")

    with pytest.raises(ExpressionError, match=r"read\(\) failed: OSError: disk on fire"):
        render("{{ read('x') }}", {"__functions__": {"read": read}})
    with pytest.raises(ExpressionError, match=r"read\(\): takes 1 positional argument but 2 were given"):
        render("{{ read('x', 'y') }}", {"__functions__": {"read": read}})


def test_unknown_function_suggests_a_name():
    with pytest.raises(ExpressionError, match=r"unknown function 'fromJsn\(\)' \(did you mean 'fromJson'\?\)"):
        render("{{ fromJsn('1') }}", {})


def test_contextual_functions_receive_the_context():
    @contextual
    def whoami(ctx):
        return ctx.lookup("user")

    FUNCTIONS["whoami"] = whoami
    try:
        assert render("{{ whoami() }}", {"user": "ada"}) == "ada"
    finally:
        del FUNCTIONS["whoami"]


def test_current_each_output():
    outputs = {"o": {"x": {"y": {"value": "xy"}}}}
    ctx = {"outputs": outputs, "parents": [{"taskrun": {"value": "x"}}], "taskrun": {"value": "y"}}
    assert render("{{ currentEachOutput(outputs.o).value }}", ctx) == "xy"
    nested = {"outputs": {"o": {"p1": {"p0": {"v": {"value": 1}}}}},
              "parents": [{"taskrun": {"value": "p0"}}, {"taskrun": {"value": "p1"}}], "taskrun": {"value": "v"}}
    assert render("{{ currentEachOutput(outputs.o).value }}", nested) == "1"
    with pytest.raises(ExpressionError, match="only be used inside a ForEach"):
        render("{{ currentEachOutput(outputs.o) }}", {"outputs": outputs})


def test_a_kill_noticed_by_a_runtime_function_is_not_turned_into_an_expression_error():
    def read(path):
        raise TaskKilled("task 't' was stopped")

    with pytest.raises(TaskKilled):
        render("{{ read('x') }}", {"__functions__": {"read": read}})
