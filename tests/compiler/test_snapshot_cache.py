"""The repository snapshot cache (compiler/snapshot_cache.py): what its key covers, when jobs are
left unbuilt, and that nobody else can plant a snapshot."""

from __future__ import annotations

import os

import pytest

from kestra_dagster.compat import serialized_repository_snap
from kestra_dagster.compiler import snapshot_cache
from kestra_dagster.compiler.definitions import build_repository
from kestra_dagster.compiler.translator import KestraTranslator

FLOW = "id: {id}\nnamespace: company.cache\ntasks:\n  - {{id: {task}, type: io.kestra.plugin.core.log.Log, message: hi}}\n"


@pytest.fixture()
def flows(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "a.yaml").write_text(FLOW.format(id="a", task="hi"))
    return directory


def _entries(tmp_path):
    return sorted((tmp_path / "home" / ".kestra-cache" / "snapshots").glob("*.json"))


def _built(repository) -> int:
    """Jobs the repository's lazy index has built so far."""
    return len(repository._repository_data._jobs._definition_cache)


def test_a_stored_snapshot_is_answered_as_is_and_no_job_is_built(flows, tmp_path):
    first = build_repository([flows])
    first.load_all_definitions()  # nothing stored yet: every job is built, as Dagster does
    assert _built(first) == 1
    text = snapshot_cache.repository_snapshot(first, defer_snapshots=True)
    assert text == serialized_repository_snap(first, defer_snapshots=True)
    assert len(_entries(tmp_path)) == 1

    again = build_repository([flows])  # what a reloaded code server builds
    again.load_all_definitions()
    assert _built(again) == 0  # the stored snapshot stands in for them
    assert snapshot_cache.repository_snapshot(again, defer_snapshots=True) == text
    assert _built(again) == 0
    # then the webserver asks for each job's full snapshot: stored by the first code server
    full = snapshot_cache.job_snapshot(first, "company_cache__a")
    assert snapshot_cache.job_snapshot(again, "company_cache__a") == full and _built(again) == 0
    # a job needed to run is built, with the snapshot id the stored snapshots list
    job = again.get_job("company_cache__a")
    assert job.get_job_snapshot_id() in text


def test_the_key_follows_the_flows_and_the_settings(flows, tmp_path, monkeypatch):
    before = snapshot_cache.repository_snapshot(build_repository([flows]), defer_snapshots=True)
    (flows / "a.yaml").write_text(FLOW.format(id="a", task="changed"))
    edited = build_repository([flows])
    assert not snapshot_cache.is_stored(edited)
    after = snapshot_cache.repository_snapshot(edited, defer_snapshots=True)
    assert after != before and edited.get_job("company_cache__a").get_job_snapshot_id() in after
    (stored,) = _entries(tmp_path)  # the older key's entry went when the new one was stored
    monkeypatch.setenv("KESTRA_CONCURRENCY_QUEUE_TIMEOUT", "60")
    assert not snapshot_cache.is_stored(build_repository([flows]))


def test_another_location_keeps_its_entries(flows, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.yaml").write_text(FLOW.format(id="b", task="hi"))
    snapshot_cache.repository_snapshot(build_repository([flows]), defer_snapshots=True)
    snapshot_cache.repository_snapshot(build_repository([other]), defer_snapshots=True)
    (other / "b.yaml").write_text(FLOW.format(id="b", task="changed"))
    snapshot_cache.repository_snapshot(build_repository([other]), defer_snapshots=True)
    assert len(_entries(tmp_path)) == 2 and snapshot_cache.is_stored(build_repository([flows]))


def test_a_custom_translator_is_never_cached(flows, tmp_path):
    class Mine(KestraTranslator):
        pass

    repository = build_repository([flows], translator=Mine())
    repository.load_all_definitions()
    assert _built(repository) == 1
    snapshot_cache.repository_snapshot(repository, defer_snapshots=True)
    assert _entries(tmp_path) == []


def test_a_snapshot_planted_where_others_can_write_is_ignored(flows, tmp_path):
    repository = build_repository([flows])
    real = snapshot_cache.repository_snapshot(repository, defer_snapshots=True)
    (entry,) = _entries(tmp_path)
    entry.write_text(real.replace("company_cache__a", "company_cache__planted"))
    os.chmod(entry.parent, 0o777)
    snapshot_cache._caches.clear()  # a new code server process
    again = build_repository([flows])
    assert not snapshot_cache.is_stored(again)
    assert snapshot_cache.repository_snapshot(again, defer_snapshots=True) == real


def test_without_an_instance_home_nothing_is_keyed_and_jobs_load_as_dagster_loads_them(flows, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME")
    repository = build_repository([flows])
    assert repository not in snapshot_cache._locations
    repository.load_all_definitions()
    assert _built(repository) == 1
