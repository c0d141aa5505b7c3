"""The pure-Python jq subset behind Kestra's ``jq`` filter."""

from __future__ import annotations

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions.jq import JqError, run

DATA = {
    "items": [{"id": 1, "name": "a", "tags": ["x"]}, {"id": 2, "name": "b", "tags": []}, {"id": 3, "name": None}],
    "meta": {"total": 3, "next": None},
    "weird-key": True,
}


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (".", [DATA]),
        (".meta.total", [3]),
        (".items[0].name", ["a"]),
        (".items[-1].id", [3]),
        (".items[].id", [1, 2, 3]),
        (".items[1:].id" if False else "[.items[1:][].id]", [[2, 3]]),
        ('."weird-key"', [True]),
        ('.["meta"]["total"]', [3]),
        (".missing.deeper", [None]),
        (".items | length", [3]),
        (".meta | keys", [["next", "total"]]),
        ("[.items[] | select(.id > 1) | .name]", [["b", None]]),
        (".items | map(.id * 10)", [[10, 20, 30]]),
        (".items[] | select(.name == null) | .id", [3]),
        (".meta.next // \"none\"", ["none"]),
        (".items[0] | has(\"tags\")", [True]),
        ("[.items[].tags[]?]", [["x"]]),
        (".items | first | .name, .id", ["a", 1]),
        ("[.items[] | .name // empty]", [["a", "b"]]),
        ("{total: .meta.total, ids: [.items[].id]}", [{"total": 3, "ids": [1, 2, 3]}]),
        ('"\\(.meta.total) items"', ["3 items"]),
        ("if .meta.total > 2 then \"many\" elif .meta.total > 0 then \"some\" else \"none\" end", ["many"]),
        ("reduce .items[] as $i (0; . + $i.id)", [6]),
        (".items[] as $i | $i.id", [1, 2, 3]),
        ("[.items[].id] | add", [6]),
        ("[.items[].id] | sort | reverse", [[3, 2, 1]]),
        (".items | sort_by(.name) | map(.id)", [[3, 1, 2]]),
        (".items | group_by(.tags | length) | length", [2]),
        (".meta | to_entries | map(.key)", [["total", "next"]]),
        (".meta | with_entries(.value |= 1)" if False else ".meta | to_entries | from_entries", [DATA["meta"]]),
        ('"a,b" | split(",")', [["a", "b"]]),
        ('["a","b"] | join("-")', ["a-b"]),
        ('"abc" | test("b+")', [True]),
        ('"Hello" | ascii_downcase, ascii_upcase', ["hello", "HELLO"]),
        ("[range(3)]", [[0, 1, 2]]),
        ("[limit(2; .items[])] | length", [2]),
        ("first(.items[]).id", [1]),
        ("try error(\"boom\") catch .", ["boom"]),
        (".items[0].id | tostring", ["1"]),
        ('"12" | tonumber', [12]),
        (".meta | tojson", ['{"total":3,"next":null}']),
        ("[.items[] | .id] | @csv", ["1,2,3"]),
        ('"a b" | @uri', ["a%20b"]),
        ("1 + 2 * 3, 7 / 2, 7 % 3", [7, 3.5, 1]),
        ('{"a": 1} + {"b": 2}', [{"a": 1, "b": 2}]),
        ("[1, 2, 3] - [2]", [[1, 3]]),
        ("null | length", [0]),
        ("[.[] | type]", [["array", "object", "boolean"]]),
        ("[..] | length", [18]),
        ("[.items[] | .id] | any(. > 2), all(. > 2)", [True, False]),
    ],
)
def test_jq_programs(program, expected):
    assert run(program, DATA) == expected


@pytest.mark.parametrize(
    ("program", "message"),
    [
        (".items.id", "cannot index array"),
        (".meta[]?.x" if False else ".meta.total[]", "cannot iterate over number"),
        (".[", "jq: expected"),
        ("nosuchfn", "nosuchfn/0 is not defined"),
        ("$ENV.HOME", "$ENV is not available"),
        ("env", "env is not supported"),
        (".a = 1", "assignment operators are not supported"),
        ("[range(100000000)]", "exceeded"),
        ("1 / 0", "divisor is zero"),
        ('"x" | test("(a)\\\\1")', "back-references"),
    ],
)
def test_jq_errors(program, message):
    with pytest.raises(JqError, match=message.replace("$", "\\$").replace("[", "\\[")):
        run(program, DATA)


def test_jq_errors_are_expression_errors():
    assert issubclass(JqError, ExpressionError)


def test_try_does_not_swallow_the_step_budget():
    with pytest.raises(JqError, match="exceeded"):
        run("try [range(100000000)] catch 0", None)
