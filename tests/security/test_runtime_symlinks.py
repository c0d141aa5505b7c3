"""Attack: a task links host files into its directory and asks for them as outputs.

Each test fails if kestra_dagster.safe_files were bypassed (links followed out of the directory):
the host's /etc/passwd, the worker's own /proc/self/environ (secrets included) or a host folder
would land in internal storage or in the namespace-file store.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kestra_dagster.namespace_files import NamespaceFiles
from kestra_dagster.safe_files import UnsafePathError, open_inside, read_inside, walk_files
from kestra_dagster.tasks.core.namespace import UploadFiles
from kestra_dagster.tasks.core.storage.local_files import LocalFiles
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

pytestmark = pytest.mark.timeout(120)

PASSWD = Path("/etc/passwd").read_bytes()
PLANT = [
    "ln -s /etc/passwd passwd.txt",
    "ln -s /proc/self/environ environ.txt",
    "ln -s /etc hostdir",
    "mkdir -p sub && ln -s ../../../../../../../../etc/shadow sub/shadow.txt",
    'ln -s /etc/passwd "$OUTPUT_DIR/out-passwd.txt"',
    "echo mine > real.txt && ln -s real.txt alias.txt",  # a link that stays inside is fine
]
CANARY = "KD_SECURITY_CANARY_SECRET"


def _stored_bytes(storage_root: Path) -> list[bytes]:
    return [p.read_bytes() for p in storage_root.rglob("*") if p.is_file()]


def _assert_nothing_leaked(storage_root: Path) -> None:
    for data in _stored_bytes(storage_root):
        assert data != PASSWD and b"root:" not in data, "a host file reached internal storage"
        assert CANARY.encode() not in data, "the worker's environment reached internal storage"


@pytest.fixture(autouse=True)
def _canary_in_worker_env(monkeypatch):
    monkeypatch.setenv(CANARY, "s3cr3t-value")  # what /proc/self/environ of the worker would reveal


def test_process_runner_output_files_never_follow_links_out(make_ctx, tmp_path):
    ctx = make_ctx()
    out = ShellCommands(id="sh", type=ShellCommands.kestra_type, commands=PLANT,
                        outputFiles=["*.txt", "**/*", "hostdir/**"]).run(ctx)
    files = out["outputFiles"]
    assert set(files) == {"real.txt", "alias.txt"}, files
    assert ctx.storage.read_bytes(files["alias.txt"]) == b"mine\n"
    _assert_nothing_leaked(tmp_path / "storage")
    assert "passwd.txt" in ctx.logger.text() and "leaves the working directory" in ctx.logger.text()


def test_docker_runner_output_files_never_follow_links_out(docker_daemon, base_image, make_ctx, tmp_path):
    ctx = make_ctx()
    out = ShellCommands(id="sh", type=ShellCommands.kestra_type, containerImage=base_image,
                        taskRunner={"type": "io.kestra.plugin.scripts.runner.docker.Docker", "pullPolicy": "NEVER"},
                        commands=PLANT, outputFiles=["*.txt", "**/*", "hostdir/**"]).run(ctx)
    assert set(out["outputFiles"]) == {"real.txt", "alias.txt"}, out["outputFiles"]
    _assert_nothing_leaked(tmp_path / "storage")


def _plant(workdir: Path) -> None:
    (workdir / "passwd.txt").symlink_to("/etc/passwd")
    (workdir / "environ.txt").symlink_to("/proc/self/environ")
    (workdir / "hostdir").symlink_to("/etc")
    (workdir / "fifo.txt").parent.mkdir(exist_ok=True)
    os.mkfifo(workdir / "fifo.txt")  # reading it would hang the worker
    (workdir / "ok.txt").write_text("ok")


def test_upload_files_never_follows_links_out(make_ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("KESTRA_NAMESPACE_FILES_DIR", str(tmp_path / "nsfiles"))
    ctx = make_ctx()
    _plant(Path(ctx.working_dir))
    out = UploadFiles(id="up", type=UploadFiles.kestra_type, files=["**", "*.txt", "hostdir/**"]).run(ctx)
    assert set(out["files"]) == {"ok.txt"}, out["files"]
    for path in (tmp_path / "nsfiles").rglob("*"):
        if path.is_file():
            assert path.read_bytes() == b"ok"


def test_local_files_outputs_never_follow_links_out(make_ctx, tmp_path):
    ctx = make_ctx()
    _plant(Path(ctx.working_dir))
    out = LocalFiles(id="lf", type=LocalFiles.kestra_type, outputs=["**", "*.txt"]).run(ctx)
    assert set(out["uris"]) == {"ok.txt"}, out["uris"]
    _assert_nothing_leaked(tmp_path / "storage")


def test_namespace_files_sync_and_copy_never_follow_links_out(make_ctx, tmp_path, monkeypatch):
    root = tmp_path / "nsfiles"
    monkeypatch.setenv("KESTRA_NAMESPACE_FILES_DIR", str(root))
    source = tmp_path / "repo"
    source.mkdir()
    _plant(source)
    store = NamespaceFiles(root)
    store.sync_from_directory(source, "company.team")
    assert store.list("company.team") == ["ok.txt"]
    # a link planted in the store itself (e.g. by a shell with access) is not copied into a task
    (root / "company.team" / "planted.txt").symlink_to("/etc/passwd")
    ctx = make_ctx()
    ShellCommands(id="sh", type=ShellCommands.kestra_type, commands=["ls -la"],
                  namespaceFiles={"enabled": True}).run(ctx)
    assert (Path(ctx.working_dir) / "ok.txt").exists()
    assert not (Path(ctx.working_dir) / "planted.txt").exists()


def test_open_inside_refuses_links_swapped_in_after_listing(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("inside")
    assert walk_files(root) == ["sub/f.txt"]
    # race: the directory becomes a link to /etc after it was listed
    (root / "sub" / "f.txt").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to("/etc")
    with pytest.raises(UnsafePathError):
        read_inside(root, "sub/passwd")
    (root / "direct").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePathError):
        with open_inside(root, "direct"):
            pass
    with pytest.raises(UnsafePathError):
        read_inside(root, "../../etc/passwd")


def test_working_directory_output_files_never_follow_links_out(tmp_path, monkeypatch):
    import textwrap

    from runtime.conftest import execute

    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    flow = tmp_path / "wd.yaml"
    flow.write_text(textwrap.dedent("""
        id: wd
        namespace: company.team
        tasks:
          - id: wd
            type: io.kestra.plugin.core.flow.WorkingDirectory
            outputFiles: ["*.txt", "hostdir/*"]
            tasks:
              - id: plant
                type: io.kestra.plugin.scripts.shell.Commands
                taskRunner: {type: io.kestra.plugin.core.runner.Process}
                commands:
                  - ln -s /etc/passwd passwd.txt
                  - ln -s /proc/self/environ environ.txt
                  - ln -s /etc hostdir
                  - echo ok > ok.txt
    """))
    out = execute(flow)
    assert out.state == "SUCCESS", out.log_text()
    assert set(out.outputs["wd"]["outputFiles"]) == {"ok.txt"}, out.outputs["wd"]
    _assert_nothing_leaked(tmp_path / "storage")
