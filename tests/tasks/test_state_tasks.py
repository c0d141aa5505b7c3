"""io.kestra.plugin.core.state.{Set,Get,Delete} against a real LocalStorage: scoping and merging."""

from __future__ import annotations

import json

import pytest

from kestra_dagster.engine.context import TaskRunInfo
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.state import Delete, Get, Set


def _set(**props):
    return Set(id="set", type=Set.kestra_type, **props)


def _get(**props):
    return Get(id="get", type=Get.kestra_type, **props)


def _in_each(make_ctx, value: str, **overrides):
    return make_ctx(taskrun=TaskRunInfo(id="r", task_id="t", start_date="2024-01-01T00:00:00Z", value=value), **overrides)


def test_set_merges_nested_maps_and_get_reads_back(make_ctx, storage) -> None:
    out = _set(data={"a": 1, "nested": {"x": 1, "y": 2}}).run(make_ctx())
    assert out["count"] == 2
    assert out["uri"] == "kestra:///company/team/flow/states/default/default.json"
    out = _set(data={"b": "{{ flow.id }}", "nested": {"y": 3}}).run(make_ctx())
    assert out["count"] == 3
    expected = {"a": 1, "b": "flow", "nested": {"x": 1, "y": 3}}
    assert json.loads(storage.read_bytes(out["uri"])) == expected
    assert _get().run(make_ctx()) == {"count": 3, "data": expected}


def test_states_are_per_flow_unless_namespace_and_per_value_unless_disabled(make_ctx) -> None:
    _set(name="s", data={"v": "flow"}).run(make_ctx())
    _set(name="s", data={"v": "ns"}, namespace=True).run(make_ctx())
    _set(name="s", data={"v": "a"}).run(_in_each(make_ctx, "a"))
    assert _get(name="s").run(make_ctx(flow_id="other")) == {"count": 0, "data": {}}
    assert _get(name="s", namespace="true").run(make_ctx(flow_id="other"))["data"] == {"v": "ns"}
    assert _get(name="s").run(_in_each(make_ctx, "a"))["data"] == {"v": "a"}
    assert _get(name="s").run(_in_each(make_ctx, "b"))["data"] == {}
    assert _get(name="s", taskrunValue=False).run(_in_each(make_ctx, "b"))["data"] == {"v": "flow"}


def test_delete_and_error_on_missing(make_ctx) -> None:
    _set(name="gone", data={"k": 1}).run(make_ctx())
    delete = Delete(id="d", type=Delete.kestra_type, name="gone")
    assert delete.run(make_ctx()) == {"deleted": True}
    assert delete.run(make_ctx()) == {"deleted": False}
    with pytest.raises(TaskFailed, match="Unable to find the state file 'gone'"):
        Delete(id="d", type=Delete.kestra_type, name="gone", errorOnMissing=True).run(make_ctx())
    with pytest.raises(TaskFailed, match="Unable to find the state file 'gone'"):
        _get(name="gone", errorOnMissing=True).run(make_ctx())


@pytest.mark.parametrize("name", ["a/b", "..", "  "])
def test_bad_names_are_refused_with_the_property(make_ctx, name) -> None:
    with pytest.raises(TaskFailed, match="property 'name'"):
        _set(name=name, data={"k": 1}).run(make_ctx())


def test_data_must_be_a_map_and_a_corrupt_file_is_reported(make_ctx, storage) -> None:
    with pytest.raises(TaskFailed, match="property 'data' must be a map"):
        _set(data="[1, 2]").run(make_ctx())
    uri = _set(data={"k": 1}).run(make_ctx())["uri"]
    storage.path_for(uri).write_text("not json")
    with pytest.raises(TaskFailed, match="is not valid JSON.*delete it with state.Delete"):
        _get().run(make_ctx())
