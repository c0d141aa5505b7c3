"""python.Script ``dependencies``: installed offline from the machine's index settings, cached per flow."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.registry import get_registry


def build_wheel(folder: Path, name: str = "kd_demo_dep", version: str = "1.0", value: str = "42") -> Path:
    """A minimal pure-python wheel written by hand (no build tools, no network)."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": f"VALUE = {value!r}\n".encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture
def offline_index(tmp_path, monkeypatch) -> Path:
    links = tmp_path / "wheels"
    links.mkdir()
    build_wheel(links)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the machine's settings: no index, a local wheel folder
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(links))
    cache = tmp_path / "deps-cache"
    monkeypatch.setenv("KESTRA_PYTHON_DEPS_CACHE", str(cache))
    return cache


def script(**props):
    cls = get_registry().resolve("io.kestra.plugin.scripts.python.Script").cls
    return cls.model_validate({"id": "py", "type": cls.kestra_type,
                               "script": "import kd_demo_dep\nprint('value', kd_demo_dep.VALUE)", **props})


def test_dependencies_are_installed_offline_and_cached_per_flow(make_ctx, offline_index):
    ctx = make_ctx()
    assert script(dependencies=["kd-demo-dep==1.0"]).run(ctx)["exitCode"] == 0
    assert "value 42" in ctx.logger.text() and "Installing python dependencies" in ctx.logger.text()
    [env_dir] = [p for p in (offline_index / "company.team").iterdir() if not p.name.startswith(".")]
    assert env_dir.name.startswith("flow-")
    again = make_ctx()
    script(dependencies=["kd-demo-dep==1.0"]).run(again)
    assert "value 42" in again.logger.text()
    assert "Installing" not in again.logger.text() and "using the cached environment" in again.logger.text()
    other_flow = make_ctx(flow_id="other")
    script(dependencies="kd-demo-dep").run(other_flow)  # one string is one requirement
    dirs = [p.name.split("-")[0] for p in (offline_index / "company.team").iterdir() if not p.name.startswith(".")]
    assert sorted(dirs) == ["flow", "other"]


def test_cache_disabled_installs_in_the_working_directory(make_ctx, offline_index):
    ctx = make_ctx()
    script(dependencies=["kd-demo-dep"], dependencyCacheEnabled=False).run(ctx)
    assert "value 42" in ctx.logger.text()
    assert not offline_index.exists()


def test_unknown_dependency_fails_clearly_and_leaves_no_cache(make_ctx, offline_index):
    with pytest.raises(TaskFailed, match=r"cannot install python dependencies \['kd-no-such-dep'\]"):
        script(dependencies=["kd-no-such-dep"]).run(make_ctx())
    leftovers = [p.name for p in (offline_index / "company.team").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
