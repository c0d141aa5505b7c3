"""The parse cache: a reloaded code location (a new process) re-parses only the flow files that
changed; code or plugin changes, broken files and unsafe directories never serve stale entries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kestra_dagster.compiler.definitions import load_catalog
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model import parse_cache as pc
from kestra_dagster.model.parse_cache import ParseCache

FLOW = "id: f{n}\nnamespace: company.team\ntasks:\n  - {{id: hi, type: io.kestra.plugin.core.log.Log, message: \"{msg}\"}}\n"


def _flows(folder: Path, count: int, msg: str = "hi") -> Path:
    folder.mkdir(exist_ok=True)
    for n in range(count):
        (folder / f"f{n}.yaml").write_text(FLOW.format(n=n, msg=msg))
    return folder


def test_a_second_load_parses_only_the_changed_file(tmp_path):
    flows = _flows(tmp_path / "flows", 5)
    cold = ParseCache(tmp_path / "cache")
    assert len(load_catalog([flows], parse_cache=cold).flows) == 5
    assert (cold.hits, cold.misses) == (0, 5)
    (flows / "f3.yaml").write_text(FLOW.format(n=3, msg="changed"))
    warm = ParseCache(tmp_path / "cache")  # what a new code-server process gets
    catalog = load_catalog([flows], parse_cache=warm)
    assert (warm.hits, warm.misses) == (4, 1)
    assert catalog.flows["company.team.f3"].flow.tasks[0].message == "changed"
    assert catalog.flows["company.team.f1"].flow.tasks[0].message == "hi"


def test_a_reload_in_a_new_process_reads_the_cache(tmp_path):
    flows = _flows(tmp_path / "flows", 3)
    script = ("from kestra_dagster.model.parse_cache import ParseCache\n"
              "from kestra_dagster.compiler.definitions import load_catalog\n"
              f"c = ParseCache.for_instance_home(); load_catalog([{str(flows)!r}], parse_cache=c); print(c.hits, c.misses)")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["0", "3"], ["3", "0"]], [r.stderr[-2000:] for r in runs]


def test_a_code_change_misses_the_cache(tmp_path, monkeypatch):
    flows = _flows(tmp_path / "flows", 2)
    load_catalog([flows], parse_cache=ParseCache(tmp_path / "cache"))
    monkeypatch.setattr(pc, "code_fingerprint", lambda: "another version of our code")
    again = ParseCache(tmp_path / "cache")
    load_catalog([flows], parse_cache=again)
    assert (again.hits, again.misses) == (0, 2)


def test_an_edited_plugin_changes_the_fingerprint_without_a_new_version(tmp_path, monkeypatch):
    """A plugin installed editable changes its code but not its version: its sources are stamped."""
    from kestra_dagster import registry

    package = tmp_path / "src" / "acme_tasks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("TASKS = []\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    plugin = registry.PluginEntryPoint("acme", "acme_tasks", "acme-tasks", "1.0")
    monkeypatch.setattr(registry, "plugin_entry_points", lambda: [plugin])
    before = pc.code_fingerprint()
    assert pc.code_fingerprint() == before
    (package / "models.py").write_text("class Changed: pass\n")
    assert pc.code_fingerprint() != before


def test_broken_files_are_not_cached_and_keep_their_located_errors(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "bad.yaml").write_text("id: bad\nnamespace: company.team\ntasks:\n  - {id: x, type: io.kestra.plugin.core.log.Log}\n")
    for _ in range(2):
        cache = ParseCache(tmp_path / "cache")
        catalog = load_catalog([flows], parse_cache=cache)
        assert "bad.yaml:4" in catalog.broken[str(flows / "bad.yaml")]
        assert (cache.hits, cache.misses) == (0, 0)
    with pytest.raises(FlowValidationError):
        ParseCache(tmp_path / "cache").load(flows / "bad.yaml")


def test_a_directory_others_can_write_is_not_used(tmp_path):
    """Attack: entries unpickle as code, so a cache others can write must be ignored (without the
    check, a planted entry would be loaded as the flow)."""
    flows = _flows(tmp_path / "flows", 1)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    cache = ParseCache(shared)
    assert cache.directory is None
    load_catalog([flows], parse_cache=cache)
    assert not list(shared.iterdir()) and cache.misses == 0  # parsed directly, nothing written


def test_entries_unused_for_two_weeks_are_pruned_and_used_ones_kept(tmp_path):
    flows = _flows(tmp_path / "flows", 2)
    load_catalog([flows], parse_cache=ParseCache(tmp_path / "cache"))
    entries = sorted((tmp_path / "cache").glob("*.pickle"))
    assert len(entries) == 2
    month_ago = __import__("time").time() - 30 * 86400
    for entry in entries:
        os.utime(entry, (month_ago, month_ago))
    (flows / "f1.yaml").unlink()  # f0 is still loaded, f1 is gone
    cache = ParseCache(tmp_path / "cache")  # a starting code location prunes...
    assert not any((tmp_path / "cache").glob("*.pickle"))
    load_catalog([flows], parse_cache=cache)
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 1  # ...and the load writes what it uses
    (entry,) = (tmp_path / "cache").glob("*.pickle")
    ten_days_ago = __import__("time").time() - 10 * 86400
    os.utime(entry, (ten_days_ago, ten_days_ago))
    again = ParseCache(tmp_path / "cache")  # 10 days idle: kept
    load_catalog([flows], parse_cache=again)
    assert (again.hits, again.misses) == (1, 0)
    assert entry.stat().st_mtime > ten_days_ago + 86400  # the hit refreshed it
