"""python.Script ``dependencies``: installed offline from the machine's index settings, cached per flow."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zipfile
from pathlib import Path

import pytest

from kd_testing import unavailable
from kestra_dagster.errors import TaskFailed
from kestra_dagster.registry import get_registry
from kestra_dagster.tasks.scripts._dependencies import UV_INDEX_SETTINGS, find_uv, pip_index_settings


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
    """The machine's pip settings say: no index, a local wheel folder. uv gets no settings of its own."""
    links = tmp_path / "wheels"
    links.mkdir()
    build_wheel(links)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    for name in (*UV_INDEX_SETTINGS, "UV_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "deps-cache"
    monkeypatch.setenv("KESTRA_PYTHON_DEPS_CACHE", str(cache))
    return cache


def require_uv() -> None:
    if find_uv(os.environ.get("PATH")) is None:
        unavailable("uv is not installed (pip install -e '.[test]' installs the uv wheel)")


@pytest.fixture(params=["UV", "PIP"])
def manager(request) -> str:
    """Each test runs with uv and with pip."""
    if request.param == "UV":
        require_uv()
    return request.param


def script(**props):
    cls = get_registry().resolve("io.kestra.plugin.scripts.python.Script").cls
    return cls.model_validate({"id": "py", "type": cls.kestra_type,
                               "script": "import kd_demo_dep\nprint('value', kd_demo_dep.VALUE)", **props})


def test_dependencies_are_installed_offline_and_cached_per_flow(make_ctx, offline_index, manager):
    ctx = make_ctx()
    started = time.monotonic()
    assert script(dependencies=["kd-demo-dep==1.0"], packageManager=manager).run(ctx)["exitCode"] == 0
    print(f"{manager}: first run with install {time.monotonic() - started:.2f}s")
    assert "value 42" in ctx.logger.text()
    assert f"Installing python dependencies with {manager.lower()}" in ctx.logger.text()
    [env_dir] = [p for p in (offline_index / "company.team").iterdir() if not p.name.startswith(".")]
    assert env_dir.name.startswith("flow-")
    again = make_ctx()
    script(dependencies=["kd-demo-dep==1.0"], packageManager=manager).run(again)
    assert "value 42" in again.logger.text()
    assert "Installing" not in again.logger.text() and "using the cached environment" in again.logger.text()
    other_flow = make_ctx(flow_id="other")
    script(dependencies="kd-demo-dep", packageManager=manager).run(other_flow)  # one string is one requirement
    dirs = [p.name.split("-")[0] for p in (offline_index / "company.team").iterdir() if not p.name.startswith(".")]
    assert sorted(dirs) == ["flow", "other"]


def test_cache_disabled_installs_in_the_working_directory(make_ctx, offline_index, manager):
    ctx = make_ctx()
    script(dependencies=["kd-demo-dep"], dependencyCacheEnabled=False, packageManager=manager).run(ctx)
    assert "value 42" in ctx.logger.text()
    assert not offline_index.exists()


def test_unknown_dependency_fails_clearly_and_leaves_no_cache(make_ctx, offline_index, manager):
    with pytest.raises(TaskFailed, match=rf"cannot install python dependencies \['kd-no-such-dep'\] with {manager.lower()}"):
        script(dependencies=["kd-no-such-dep"], packageManager=manager).run(make_ctx())
    leftovers = [p.name for p in (offline_index / "company.team").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_uv_settings_of_its_own_win_over_pip_settings(make_ctx, offline_index, tmp_path, monkeypatch):
    require_uv()
    own = tmp_path / "uv-wheels"
    own.mkdir()
    build_wheel(own, value="from uv's own folder")
    monkeypatch.setenv("UV_FIND_LINKS", str(own))
    monkeypatch.setenv("UV_OFFLINE", "1")
    ctx = make_ctx()
    script(dependencies=["kd-demo-dep"]).run(ctx)  # packageManager defaults to UV
    assert "value from uv's own folder" in ctx.logger.text() and "with uv" in ctx.logger.text()


def test_unknown_package_manager_is_refused(make_ctx, offline_index):
    with pytest.raises(TaskFailed, match="'packageManager' must be UV or PIP, got 'conda'"):
        script(dependencies=["kd-demo-dep"], packageManager="conda").run(make_ctx())


def test_index_settings_from_a_pip_config_file(make_ctx, offline_index, manager, tmp_path, monkeypatch):
    """pip.conf (here PIP_CONFIG_FILE, read after the machine's files) rather than PIP_* variables."""
    links = tmp_path / "conf-wheels"
    links.mkdir()
    build_wheel(links, value="from pip.conf")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nno-index = true\nfind-links = {links}\n")
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    ctx = make_ctx()
    script(dependencies=["kd-demo-dep"], packageManager=manager).run(ctx)
    assert "value from pip.conf" in ctx.logger.text() and f"with {manager.lower()}" in ctx.logger.text()


def test_index_url_from_pip_settings_reaches_both_installers(make_ctx, offline_index, manager, tmp_path, monkeypatch):
    """A local PEP 503 index (file://) as PIP_INDEX_URL; uv gets it through UV_INDEX_URL, not its command line."""
    wheel = build_wheel(tmp_path, value="from the index")
    project = tmp_path / "simple" / "kd-demo-dep"
    project.mkdir(parents=True)
    wheel.rename(project / wheel.name)
    (project / "index.html").write_text(f'<html><body><a href="{wheel.name}">{wheel.name}</a></body></html>')
    (tmp_path / "simple" / "index.html").write_text('<html><body><a href="kd-demo-dep/">kd-demo-dep</a></body></html>')
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # only this index: none of the machine's own settings
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "simple").as_uri())
    options, variables = pip_index_settings(dict(os.environ))
    assert variables == {"UV_INDEX_URL": (tmp_path / "simple").as_uri()} and options == []
    ctx = make_ctx()
    script(dependencies=["kd-demo-dep"], packageManager=manager).run(ctx)
    assert "value from the index" in ctx.logger.text() and f"with {manager.lower()}" in ctx.logger.text()
