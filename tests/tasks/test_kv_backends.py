"""KV backends: SQLiteKV and the Dagster-instance-backed DagsterInstanceKV."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from kestra_dagster.instance_kv import DagsterInstanceKV
from kestra_dagster.engine.kv import KVError, SQLiteKV


def _exercise(kv) -> None:
    kv.set("company.team", "k1", {"a": [1, 2]})
    kv.set("company.team", "k.2", "text")
    kv.set("company_team", "other", 1)  # '_' must not act as a LIKE wildcard for 'company.team'
    assert kv.get("company.team", "k1") == {"a": [1, 2]}
    assert kv.get("company.team", "missing") is None
    assert kv.keys("company.team") == ["k.2", "k1"]
    kv.set("company.team", "k1", 42)
    assert kv.get("company.team", "k1") == 42
    assert kv.delete("company.team", "k1") is True
    assert kv.delete("company.team", "k1") is False
    assert kv.get("company.team", "k1") is None
    assert kv.keys("company.team") == ["k.2"]
    assert kv.keys("company_team") == ["other"]


def _exercise_ttl(kv) -> None:
    kv.set("ns", "short", "v", ttl_seconds=0.3)
    kv.set("ns", "long", "v", ttl_seconds=60)
    assert kv.get("ns", "short") == "v"
    time.sleep(0.45)
    assert kv.get("ns", "short") is None
    assert kv.keys("ns") == ["long"]
    assert kv.delete("ns", "short") is False


def test_sqlite_kv_crud(tmp_path: Path) -> None:
    _exercise(SQLiteKV(tmp_path / "kv.db"))


def test_sqlite_kv_ttl(tmp_path: Path) -> None:
    _exercise_ttl(SQLiteKV(tmp_path / "kv.db"))


def test_sqlite_kv_persists_across_objects(tmp_path: Path) -> None:
    SQLiteKV(tmp_path / "kv.db").set("ns", "k", [1])
    assert SQLiteKV(tmp_path / "kv.db").get("ns", "k") == [1]


def test_key_validation(tmp_path: Path) -> None:
    kv = SQLiteKV(":memory:")
    for bad in ["", "-x", "a/b", "a b", "é"]:
        with pytest.raises(KVError):
            kv.set("ns", bad, 1)


def test_dagster_ephemeral_instance_kv() -> None:
    with DagsterInstance.ephemeral() as instance:
        _exercise(DagsterInstanceKV(instance))


def test_dagster_instance_kv_ttl() -> None:
    with DagsterInstance.ephemeral() as instance:
        _exercise_ttl(DagsterInstanceKV(instance))


@pytest.mark.timeout(60)
def test_dagster_persistent_instance_kv_survives_new_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.local_temp(str(home)) as first:
        kv = DagsterInstanceKV(first)
        kv.set("company.team", "persisted", {"n": 1})
        kv.set("company.team", "gone", 1)
        kv.delete("company.team", "gone")
    with DagsterInstance.local_temp(str(home)) as second:
        kv2 = DagsterInstanceKV(second)
        assert kv2.get("company.team", "persisted") == {"n": 1}
        assert kv2.keys("company.team") == ["persisted"]
        # entries sit in Dagster's own key/value table under the documented prefix
        raw = second.run_storage.get_cursor_values({"kestra/kv/company.team/persisted"})
        assert '"value": {"n": 1}' in raw["kestra/kv/company.team/persisted"]
