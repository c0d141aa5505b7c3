"""io.kestra.plugin.core.kv.{Set,Get,Delete,GetKeys} against a real SQLite KV store."""

from __future__ import annotations

import time

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.kv import Delete, Get, GetKeys, Set


def _set(**props):
    return Set(id="set", type=Set.kestra_type, **props)


def test_set_then_get_defaults_to_flow_namespace(make_ctx, kv) -> None:
    ctx = make_ctx()
    assert _set(key="orders", value={"n": 3}).run(ctx) == {}
    assert kv.get("company.team", "orders") == {"n": 3}
    assert Get(id="get", type=Get.kestra_type, key="orders").run(make_ctx()) == {"value": {"n": 3}}


def test_properties_are_rendered(make_ctx, kv) -> None:
    ctx = make_ctx(variables={"flow": {"namespace": "company.team"}, "k": "rendered_key", "v": "hello"})
    _set(key="{{ k }}", value="{{ v }}", namespace="{{ flow.namespace }}.sub").run(ctx)
    assert kv.get("company.team.sub", "rendered_key") == "hello"


def test_explicit_namespace_and_kv_type(make_ctx, kv) -> None:
    ctx = make_ctx()
    _set(key="n", value="42", kvType="NUMBER", namespace="other").run(ctx)
    _set(key="b", value="TRUE", kvType="BOOLEAN", namespace="other").run(ctx)
    _set(key="j", value='{"a": [1]}', kvType="JSON", namespace="other").run(ctx)
    assert kv.get("other", "n") == 42
    assert kv.get("other", "b") is True
    assert kv.get("other", "j") == {"a": [1]}
    with pytest.raises(TaskFailed, match="not a valid NUMBER"):
        _set(key="bad", value="x1", kvType="NUMBER").run(ctx)


def test_overwrite_false_fails_when_key_exists(make_ctx, kv) -> None:
    ctx = make_ctx()
    _set(key="k", value="first", overwrite=False).run(ctx)
    with pytest.raises(TaskFailed, match="already exists and `overwrite` is set to `false`"):
        _set(key="k", value="second", overwrite=False).run(ctx)
    assert kv.get("company.team", "k") == "first"
    _set(key="k", value="third").run(ctx)  # overwrite defaults to true
    assert kv.get("company.team", "k") == "third"


def test_ttl_expiry(make_ctx) -> None:
    ctx = make_ctx()
    _set(key="short", value="v", ttl="PT0.3S").run(ctx)
    get = Get(id="get", type=Get.kestra_type, key="short")
    assert get.run(ctx) == {"value": "v"}
    time.sleep(0.45)
    assert get.run(ctx) == {"value": None}


def test_ttl_must_be_a_duration() -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        _set(key="k", value="v", ttl="10 seconds")


def test_get_missing_with_and_without_error_on_missing(make_ctx) -> None:
    ctx = make_ctx()
    assert Get(id="g", type=Get.kestra_type, key="nope").run(ctx) == {"value": None}
    with pytest.raises(TaskFailed, match="No value found for key 'nope' in namespace 'company.team'"):
        Get(id="g", type=Get.kestra_type, key="nope", errorOnMissing=True).run(ctx)


def test_delete(make_ctx, kv) -> None:
    ctx = make_ctx()
    kv.set("company.team", "d", 1)
    delete = Delete(id="d", type=Delete.kestra_type, key="d")
    assert delete.run(ctx) == {"deleted": True}
    assert delete.run(ctx) == {"deleted": False}
    with pytest.raises(TaskFailed, match="No value found"):
        Delete(id="d", type=Delete.kestra_type, key="d", errorOnMissing=True).run(ctx)


def test_get_keys_with_prefix(make_ctx, kv) -> None:
    for key in ("app.a", "app.b", "other"):
        kv.set("company.team", key, 1)
    task = GetKeys(id="k", type=GetKeys.kestra_type, prefix="app.")
    assert task.run(make_ctx()) == {"keys": ["app.a", "app.b"]}


@pytest.mark.parametrize("key", ["-dash-first", "has space", "a/b", "{{ missing }}"])
def test_invalid_keys_are_refused(make_ctx, key) -> None:
    with pytest.raises(TaskFailed, match="invalid KV key"):
        _set(key=key, value="v").run(make_ctx())
