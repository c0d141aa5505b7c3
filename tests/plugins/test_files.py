"""core.storage.* tasks, the namespace files store (synced from a directory) and core.namespace.* tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.namespace_files import NamespaceFiles, NamespaceFilesError, main as nsfiles_main
from kestra_dagster.tasks.core.namespace import DeleteFiles, DownloadFiles, UploadFiles
from kestra_dagster.tasks.core.storage.concat import Concat
from kestra_dagster.tasks.core.storage.delete import Delete
from kestra_dagster.tasks.core.storage.local_files import LocalFiles
from kestra_dagster.tasks.core.storage.purge_current_execution_files import PurgeCurrentExecutionFiles
from kestra_dagster.tasks.core.storage.reverse import Reverse
from kestra_dagster.tasks.core.storage.size import Size
from kestra_dagster.tasks.core.storage.split import Split
from kestra_dagster.tasks.core.storage.write import Write


def make(cls, **props):
    return cls.model_validate({"id": "t", "type": cls.kestra_type, **props})


# --------------------------------------------------------------------------- core.storage
def test_write_concat_size_reverse_delete(make_ctx):
    ctx = make_ctx()
    a = make(Write, content="a1\na2\n", extension=".txt").run(ctx)["uri"]
    b = make(Write, content="b1\n{{ flow.id }}\n").run(ctx)["uri"]
    assert a.startswith("kestra:///company/team/flow/executions/exec1/tasks/t/") and a.endswith(".txt")
    assert b.endswith(".ion")
    joined = make(Concat, files=[a, b]).run(ctx)["uri"]
    assert ctx.storage.read_bytes(joined) == b"a1\na2\nb1\nflow\n"
    joined2 = make(Concat, files=json.dumps([a, b]), separator="--\n", extension="csv").run(ctx)["uri"]
    assert ctx.storage.read_bytes(joined2) == b"a1\na2\n--\nb1\nflow\n" and joined2.endswith(".csv")
    assert make(Size, uri=joined).run(ctx) == {"size": 14}
    rev = make(Reverse, **{"from": joined}).run(ctx)["uri"]
    assert ctx.storage.read_bytes(rev) == b"flow\nb1\na2\na1\n"
    assert make(Delete, uri=joined).run(ctx) == {"uri": joined, "deleted": True}
    assert make(Delete, uri=joined).run(ctx)["deleted"] is False
    with pytest.raises(TaskFailed, match="Unable to find file"):
        make(Delete, uri=joined, errorOnMissing=True).run(ctx)
    with pytest.raises(TaskFailed, match="cannot read"):
        make(Size, uri=joined).run(ctx)
    with pytest.raises(TaskFailed, match="internal storage URI"):
        make(Concat, files=["/etc/passwd"]).run(ctx)


def test_split_by_rows_partitions_and_bytes(make_ctx):
    ctx = make_ctx()
    src = make(Write, content="".join(f"line{i}\n" for i in range(10)), extension=".csv").run(ctx)["uri"]
    rows = make(Split, **{"from": src}, rows=4).run(ctx)["uris"]
    assert [ctx.storage.read_bytes(u).count(b"\n") for u in rows] == [4, 4, 2]
    assert all(u.endswith(".csv") for u in rows)
    parts = make(Split, **{"from": src}, partitions=3).run(ctx)["uris"]
    assert ctx.storage.read_bytes(parts[0]) == b"line0\nline3\nline6\nline9\n"
    chunks = make(Split, **{"from": src}, bytes="12B").run(ctx)["uris"]
    assert len(chunks) == 5 and b"".join(ctx.storage.read_bytes(u) for u in chunks).count(b"line") == 10
    with pytest.raises(TaskFailed, match="exactly one"):
        make(Split, **{"from": src}, rows=1, partitions=2).run(ctx)


def test_local_files_inputs_and_outputs(make_ctx):
    ctx = make_ctx()
    stored = ctx.storage.put_bytes(b"from storage", "s.txt")
    make(LocalFiles, inputs={"out/a.txt": "hello {{ flow.id }}", "b.txt": stored}).run(ctx)
    assert (ctx.working_dir / "out" / "a.txt").read_text() == "hello flow"
    out = make(LocalFiles, outputs=["out/*", "b.txt"]).run(make_ctx(working_dir=ctx.working_dir))
    assert sorted(out["uris"]) == ["b.txt", "out/a.txt"]
    assert ctx.storage.read_bytes(out["uris"]["b.txt"]) == b"from storage"
    with pytest.raises(TaskFailed, match="outside the working directory"):
        make(LocalFiles, inputs={"../escape.txt": "x"}).run(ctx)


def test_purge_current_execution_files(make_ctx):
    ctx = make_ctx()
    uri = make(Write, content="x").run(ctx)["uri"]
    other = make_ctx(execution_id="exec2")
    kept = make(Write, content="y").run(other)["uri"]
    out = make(PurgeCurrentExecutionFiles).run(make_ctx())
    assert uri in out["uris"]
    assert not ctx.storage.exists(uri) and other.storage.exists(kept)


# --------------------------------------------------------------------------- namespace files
def test_store_sync_from_a_directory(tmp_path):
    src = tmp_path / "repo"
    (src / "scripts").mkdir(parents=True)
    (src / "scripts" / "etl.py").write_text("print('etl')\n")
    (src / "queries.sql").write_text("select 1\n")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ignored")
    store = NamespaceFiles(tmp_path / "store")
    report = store.sync_from_directory(src, "company.team")
    assert sorted(report.added) == ["queries.sql", "scripts/etl.py"]
    assert store.read_text("company.team", "/scripts/etl.py") == "print('etl')\n"
    (src / "queries.sql").write_text("select 2\n")
    (src / "scripts" / "etl.py").unlink()
    report = store.sync_from_directory(src, "company.team", delete=True)
    assert report.updated == ["queries.sql"] and report.deleted == ["scripts/etl.py"]
    assert store.list("company.team") == ["queries.sql"]
    assert not (tmp_path / "store" / "company.team" / "scripts").exists()  # emptied folders go too
    with pytest.raises(NamespaceFilesError, match="leaves the namespace"):
        store.write("company.team", "../other/x", b"")
    with pytest.raises(NamespaceFilesError, match="invalid namespace"):
        store.folder("../etc")


def test_store_command_line(tmp_path, capsys):
    src = tmp_path / "files"
    src.mkdir()
    (src / "a.txt").write_text("a")
    root = tmp_path / "root"
    assert nsfiles_main(["--root", str(root), "sync", str(src), "--namespace", "dev.team"]) == 0
    assert "1 added" in capsys.readouterr().out
    assert nsfiles_main(["--root", str(root), "list", "dev.team"]) == 0
    assert capsys.readouterr().out.split() == ["a.txt"]
    assert nsfiles_main(["--root", str(root), "sync", str(tmp_path / "missing"), "--namespace", "dev.team"]) == 2


@pytest.fixture
def ns_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "nsfiles"
    monkeypatch.setenv("KESTRA_NAMESPACE_FILES_DIR", str(root))
    return root


def test_upload_download_delete_tasks(make_ctx, ns_root):
    ctx = make_ctx()
    uri = ctx.storage.put_bytes(b"select 1", "q.sql")
    (ctx.working_dir / "scripts").mkdir()
    (ctx.working_dir / "scripts" / "main.py").write_text("print(1)")
    (ctx.working_dir / "notes.md").write_text("no")
    out = make(UploadFiles, files=[uri, "scripts/**"], destination="/code").run(ctx)
    assert sorted(out["files"]) == ["code/q.sql", "code/scripts/main.py"]
    make(UploadFiles, files={"sql/renamed.sql": uri}).run(ctx)
    store = NamespaceFiles()
    assert store.list("company.team") == ["code/q.sql", "code/scripts/main.py", "sql/renamed.sql"]
    with pytest.raises(TaskFailed, match="already exists"):
        make(UploadFiles, files={"sql/renamed.sql": uri}, conflict="ERROR").run(ctx)
    assert make(UploadFiles, files={"sql/renamed.sql": uri}, conflict="SKIP").run(ctx)["files"] == {}

    got = make(DownloadFiles, files=["code/**"]).run(ctx)["files"]
    assert sorted(got) == ["code/q.sql", "code/scripts/main.py"]
    assert ctx.storage.read_bytes(got["code/q.sql"]) == b"select 1"
    other_ns = make(DownloadFiles, namespace="other.ns", files="**").run(ctx)["files"]
    assert other_ns == {}

    deleted = make(DeleteFiles, files=["code/**"], deleteParentFolder=True).run(ctx)["files"]
    assert sorted(deleted) == ["code/q.sql", "code/scripts/main.py"]
    assert not (ns_root / "company.team" / "code").exists()
    with pytest.raises(TaskFailed, match="no namespace file"):
        make(DeleteFiles, files=["code/**"], errorOnMissing=True).run(ctx)


def test_script_tasks_see_synced_namespace_files(make_ctx, ns_root, tmp_path):
    from kestra_dagster.registry import get_registry

    Commands = get_registry().resolve("io.kestra.plugin.scripts.shell.Commands").cls

    src = tmp_path / "checkout"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "hello.sh").write_text("echo hello from the namespace\n")
    NamespaceFiles().sync_from_directory(src, "company.team")
    ctx = make_ctx()
    Commands.model_validate({"id": "sh", "type": Commands.kestra_type, "namespaceFiles": {"enabled": True},
                             "taskRunner": {"type": "io.kestra.plugin.core.runner.Process"},
                             "commands": ["sh bin/hello.sh"]}).run(ctx)
    assert "hello from the namespace" in ctx.logger.text()
