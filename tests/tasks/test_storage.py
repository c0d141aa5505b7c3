"""engine.storage: Kestra-style URIs on the local filesystem."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_dagster.engine.storage import (
    LocalStorage,
    StorageError,
    StorageFileNotFound,
    default_storage,
    default_storage_path,
)


def test_task_file_uri_layout_and_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "s")
    task = storage.for_task("company.team", "my_flow", "ex1", "step", "tr1")
    src = tmp_path / "report.csv"
    src.write_text("a,b\n")

    uri = task.put_file(src)
    assert uri == "kestra:///company/team/my_flow/executions/ex1/tasks/step/tr1/report.csv"
    assert task.read_bytes(uri) == b"a,b\n"
    assert task.local_path(uri) == (tmp_path / "s" / "company/team/my_flow/executions/ex1/tasks/step/tr1/report.csv").resolve()

    uri2 = task.put_bytes(b"x", "sub/dir/out.txt")
    assert uri2.endswith("/tasks/step/tr1/sub/dir/out.txt")
    assert storage.read_bytes(uri2) == b"x"


def test_names_with_spaces_are_encoded_and_decoded(tmp_path: Path) -> None:
    task = LocalStorage(tmp_path).for_task("ns", "f", "e", "t", "r")
    uri = task.put_bytes(b"1", "my file.txt")
    assert uri.endswith("/my%20file.txt")
    assert task.read_bytes(uri) == b"1"


def test_execution_input_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "s")
    src = tmp_path / "in.json"
    src.write_text("{}")
    uri = storage.put_execution_file("a.b.c", "flow", "ex9", src)
    assert uri == "kestra:///a/b/c/flow/executions/ex9/inputs/in.json"
    assert storage.read_bytes(uri) == b"{}"


@pytest.mark.parametrize(
    "uri",
    [
        "kestra:///../outside.txt",
        "kestra:///ns/../../etc/passwd",
        "kestra:///ns/%2e%2e/%2e%2e/secret",
        "kestra://..\\..\\x",
    ],
)
def test_uris_escaping_the_base_are_refused(tmp_path: Path, uri: str) -> None:
    storage = LocalStorage(tmp_path / "s")
    with pytest.raises(StorageError, match="escapes the storage root"):
        storage.local_path(uri)


def test_symlink_out_of_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "s"
    (base / "ns").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("no")
    (base / "ns" / "link").symlink_to(tmp_path)
    with pytest.raises(StorageError, match="outside the storage root"):
        LocalStorage(base).read_bytes("kestra:///ns/link/secret.txt")


def test_bad_names_and_schemes(tmp_path: Path) -> None:
    task = LocalStorage(tmp_path).for_task("ns", "f", "e", "t", "r")
    with pytest.raises(StorageError, match=r"'\.\.' is not allowed"):
        task.put_bytes(b"", "../x")
    with pytest.raises(StorageError, match="must be relative"):
        task.put_bytes(b"", "/abs")
    with pytest.raises(StorageError, match="not an internal storage URI"):
        task.local_path("s3://bucket/key")
    with pytest.raises(StorageFileNotFound, match="file not found"):
        task.local_path("kestra:///ns/f/nothing.txt")
    with pytest.raises(StorageError):
        LocalStorage(tmp_path).for_task("ns", "f", "..", "t", "r")


def test_default_storage_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "explicit"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    assert default_storage_path() == tmp_path / "explicit"
    monkeypatch.delenv("KESTRA_STORAGE_PATH")
    assert default_storage().base_path == (tmp_path / "dh" / "storage" / "kestra").resolve()
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_storage_path() == tmp_path / ".kestra_storage"
