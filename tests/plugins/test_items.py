"""core.storage.FilterItems / DeduplicateItems over ION files (one struct per line), with the real
expression engine, and the ION text reader they use."""

from __future__ import annotations

import math

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import render_value
from kestra_dagster.tasks.core.storage._ion import IonError, loads
from kestra_dagster.tasks.core.storage.deduplicate_items import DeduplicateItems
from kestra_dagster.tasks.core.storage.filter_items import FilterItems

# what Kestra's CsvToIon writes for the orders example of its docs (every CSV value a string)
ORDERS = "\n".join([
    '{order_id:"1",customer_name:"Kelly Olsen",customer_email:"kelly@example.com",product_id:"20",price:"166.89"}',
    '{order_id:"2",customer_name:"Miguel Moore",customer_email:"mccarthylee@example.net",product_id:"14",price:"171.63"}',
    '{order_id:"3",customer_name:"Kelly Olsen",customer_email:"kelly@example.com",product_id:"20",price:"166.89"}',
    '{order_id:"4",customer_name:"Jessica White",customer_email:"jessica@example.com",product_id:"12",price:"50.62"}',
    '{order_id:"5",customer_name:"Jessica White",customer_email:"jessica@example.com",product_id:"12",price:"50.62"}',
]) + "\n"


def make(cls, **props):
    return cls.model_validate({"id": "t", "type": cls.kestra_type, **props})


@pytest.fixture
def ctx(make_ctx):
    return make_ctx(renderer=render_value, variables={"wanted": "12"})


def stored_lines(ctx, uri: str) -> list[str]:
    assert uri.endswith(".ion")
    return ctx.storage.read_bytes(uri).decode().splitlines()


def ids(ctx, uri: str) -> list[str]:
    return [loads(line)["order_id"] for line in stored_lines(ctx, uri)]


def test_filter_items_include_and_exclude(ctx):
    src = ctx.storage.put_bytes(ORDERS.encode(), "orders.ion")
    out = make(FilterItems, **{"from": src}, filterCondition="{{ (product_id | number) == 20 }}").run(ctx)
    assert (out["processedItemsTotal"], out["droppedItemsTotal"]) == (5, 3)
    assert ids(ctx, out["uri"]) == ["1", "3"]
    assert stored_lines(ctx, out["uri"])[0] == ORDERS.splitlines()[0]  # items are copied unchanged
    # flow variables stay visible next to the item's fields
    out = make(FilterItems, **{"from": src}, filterCondition="{{ product_id == wanted }}", filterType="EXCLUDE").run(ctx)
    assert ids(ctx, out["uri"]) == ["1", "2", "3"] and out["droppedItemsTotal"] == 2


def test_filter_items_typed_ion_values(ctx):
    data = ('{id:1,price:9.5,tags:["a","b"],at:2024-01-01T00:00:00Z,ok:true}\n'
            "\n"  # blank lines are not items
            '{id:2,price:12e0,tags:[],at:2024-06-01T00:00:00Z,ok:false}\n')
    src = ctx.storage.put_bytes(data.encode(), "typed.ion")
    out = make(FilterItems, **{"from": src}, filterCondition="{{ price > 10 or ok }}").run(ctx)
    assert [loads(line)["id"] for line in stored_lines(ctx, out["uri"])] == [1, 2]
    out = make(FilterItems, **{"from": src}, filterCondition="{{ tags | length > 0 }}").run(ctx)
    assert out["processedItemsTotal"] == 2 and [loads(line)["id"] for line in stored_lines(ctx, out["uri"])] == [1]


def test_filter_items_error_or_null_behavior(ctx):
    src = ctx.storage.put_bytes(b'{a:"1",b:"x"}\n{a:"2"}\n', "partial.ion")
    with pytest.raises(TaskFailed, match=r"filterCondition on item 2 of .*errorOrNullBehavior"):
        make(FilterItems, **{"from": src}, filterCondition="{{ b == 'x' }}").run(ctx)
    kept = make(FilterItems, **{"from": src}, filterCondition="{{ b == 'x' }}", errorOrNullBehavior="INCLUDE").run(ctx)
    assert [loads(line)["a"] for line in stored_lines(ctx, kept["uri"])] == ["1", "2"]
    dropped = make(FilterItems, **{"from": src}, filterCondition="{{ b == 'x' }}", errorOrNullBehavior="EXCLUDE").run(ctx)
    assert [loads(line)["a"] for line in stored_lines(ctx, dropped["uri"])] == ["1"] and dropped["droppedItemsTotal"] == 1


def test_filter_items_bad_input_is_named(ctx):
    src = ctx.storage.put_bytes(b'{a:1}\n{a:2\n', "broken.ion")
    with pytest.raises(TaskFailed, match=r"line 2 is not ION: expected ',' or '\}' in struct"):
        make(FilterItems, **{"from": src}, filterCondition="{{ true }}").run(ctx)
    scalars = ctx.storage.put_bytes(b'"just a string"\n', "scalar.ion")
    with pytest.raises(TaskFailed, match="line 1 is a str, not an ION struct"):
        make(FilterItems, **{"from": scalars}, filterCondition="{{ true }}").run(ctx)
    with pytest.raises(TaskFailed, match="'filterType' must be one of INCLUDE, EXCLUDE"):
        make(FilterItems, **{"from": src}, filterCondition="{{ true }}", filterType="KEEP").run(ctx)
    with pytest.raises(TaskFailed, match="'from': cannot read"):
        make(FilterItems, **{"from": "kestra:///company/team/flow/missing.ion"}, filterCondition="{{ true }}").run(ctx)
    with pytest.raises(TaskFailed, match="must be an internal storage URI"):
        make(FilterItems, **{"from": "/etc/passwd"}, filterCondition="{{ true }}").run(ctx)


def test_deduplicate_items_keeps_the_last_of_each_key_in_order(ctx):
    src = ctx.storage.put_bytes(ORDERS.encode(), "orders.ion")
    out = make(DeduplicateItems, **{"from": src}, expr="{{ customer_email }}").run(ctx)
    assert ids(ctx, out["uri"]) == ["2", "3", "5"]
    assert (out["numKeys"], out["processedItemsTotal"], out["droppedItemsTotal"]) == (3, 5, 2)
    # a composite key
    out = make(DeduplicateItems, **{"from": src}, expr="{{ product_id }}-{{ price }}").run(ctx)
    assert out["numKeys"] == 3
    with pytest.raises(Exception, match="no_such_field"):
        make(DeduplicateItems, **{"from": src}, expr="{{ no_such_field }}").run(ctx)


def test_deduplicate_then_filter_in_a_flow(tmp_path):
    """Kestra's documented pipeline shape, run through the compiler and Dagster (old type names too):
    the item expressions reach the tasks unrendered and see each item's fields."""
    from kestra_dagster.compiler.runner_cli import run_flow_file

    flow = tmp_path / "items.yaml"
    flow.write_text("""
id: items
namespace: company.team
inputs:
  - id: product
    type: INT
    defaults: 12
tasks:
  - id: orders
    type: io.kestra.plugin.core.storage.Write
    content: |
""" + "".join(f"      {line}\n" for line in ORDERS.splitlines()) + """
  - id: dedup
    type: io.kestra.core.tasks.storages.DeduplicateItems
    from: "{{ outputs.orders.uri }}"
    expr: "{{ customer_email }}"
  - id: filter
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{{ outputs.dedup.uri }}"
    filterCondition: "{{ (product_id | number) != inputs.product }}"
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["dedup"]["numKeys"] == 3
    assert (result["outputs"]["filter"]["processedItemsTotal"], result["outputs"]["filter"]["droppedItemsTotal"]) == (3, 1)


@pytest.mark.parametrize("text, expected", [
    ('{a:1,b:-2.5,c:1.5e3,d:0x1F,e:1_000,f:2024-01-02,g:null.int,h:\'quoted sym\',i:"t\\u00e9\\n"}',
     {"a": 1, "b": -2.5, "c": 1500.0, "d": 31, "e": 1000, "f": "2024-01-02", "g": None, "h": "quoted sym", "i": "té\n"}),
    ('ann::{"s":[1,(+ 1 x)],t:{{aGk=}},u:{{"c"}},v:\'\'\'a\'\'\' \'\'\'b\'\'\'} // note',
     {"s": [1, ["+", 1, "x"]], "t": b"hi", "u": "c", "v": "ab"}),
    ("[true, false, null, sym, +inf]", [True, False, None, "sym", math.inf]),
])
def test_ion_reader(text, expected):
    assert loads(text) == expected


@pytest.mark.parametrize("text", ["{a:1", "{a:1} {b:2}", '{a:"x}', "{a:1x}", "{a 1}", '"\\q"'])
def test_ion_reader_refuses_malformed_text(text):
    with pytest.raises(IonError, match="at column"):
        loads(text)
