"""Internal storage on S3 (``kestra.storage.type: s3``) against moto's S3 server on loopback.

A real flow writes a script's ``outputFiles`` to the bucket and later tasks read them back
(``inputFiles`` downloads, ``read()``, ``fileSize()``); wrong credentials fail the task with an
error that says what to change and never shows the secret.
"""

from __future__ import annotations

import os
import uuid

import pytest

from kd_testing import S3_BUCKET, moto_checks_credentials
from kestra_dagster.config import export_process_env, parse_config
from kestra_dagster.engine.storage import StorageError, StorageFileNotFound, default_storage

from .conftest import dump

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The variables ``kestra.storage.type: s3`` exports to every process, pointing at moto."""
    endpoint, client = s3_server
    config = parse_config({"kestra": {"storage": {"type": "s3", "s3": {
        "bucket": S3_BUCKET, "endpoint": endpoint, "region": "us-east-1",
        "access-key": "test", "secret-key": "test"}}}}, env={})
    for name, value in config.process_env().items():
        monkeypatch.setenv(name, value)
    return endpoint, client


def _keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_flow_files_go_to_the_bucket_and_come_back(run_flow, s3_env, storage_dir):
    _, client = s3_env
    outcome = run_flow("storage", "s3_files.yaml")
    assert outcome.state == "SUCCESS", dump(outcome)
    uri = outcome.outputs["produce"]["outputFiles"]["report.csv"]
    assert uri.startswith("kestra:///acme/storage/s3_files/executions/") and uri.endswith("/report.csv")
    key = uri[len("kestra:///"):]
    assert key in _keys(client, "acme/storage/s3_files/executions/")
    body = client.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    assert body == b"id,name\n1,alice\n2,bob\n"
    assert outcome.outputs["consume"]["vars"]["rows"] == 3  # inputFiles downloaded the object
    assert outcome.outputs["check"]["value"] == f"id,name\n1,alice\n2,bob|{len(body)}|true"
    assert not storage_dir.exists() or not any(p.is_file() for p in storage_dir.rglob("*"))  # nothing on local disk


def test_s3_storage_reads_lists_and_deletes(s3_env):
    storage = default_storage()
    assert type(storage).__name__ == "S3Storage" and default_storage() is storage  # one client per process
    execution = uuid.uuid4().hex[:12]
    task = storage.for_task("acme.unit", "f", execution, "t", "r1")
    uri = task.put_bytes(b"first", "dir/a.txt")
    assert uri == f"kestra:///acme/unit/f/executions/{execution}/tasks/t/r1/dir/a.txt"
    assert storage.exists(uri) and storage.read_bytes(uri) == b"first"
    cached = storage.local_path(uri)
    assert cached.read_bytes() == b"first" and storage.local_path(uri) == cached
    task.put_bytes(b"second version", "dir/a.txt")  # a rewritten object is downloaded again
    assert storage.local_path(uri).read_bytes() == b"second version"
    other = task.put_bytes(b"x", "b.txt")
    assert storage.list_uris(storage.execution_prefix("acme.unit", "f", execution)) == sorted([uri, other])
    assert storage.delete(other) is True and storage.delete(other) is False and not storage.exists(other)
    with pytest.raises(StorageFileNotFound, match="file not found in internal storage"):
        storage.read_bytes(other)
    assert storage.delete_execution("acme.unit", "f", execution) == [uri]
    assert not storage.exists(uri)
    with pytest.raises(StorageError, match="escapes the storage root"):
        storage.read_bytes("kestra:///acme/../../etc/passwd")


def test_missing_bucket_is_named(s3_env, monkeypatch):
    monkeypatch.setenv("KESTRA_STORAGE_S3_BUCKET", "no-such-bucket")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist .*fix kestra.storage.s3.bucket"):
        default_storage().for_task("a", "f", "e", "t", "r").put_bytes(b"x", "x.txt")


def test_bad_credentials_fail_the_task_clearly_without_the_secret(run_flow, s3_env, monkeypatch):
    endpoint, _ = s3_env
    secret = "wrong-secret-" + uuid.uuid4().hex
    monkeypatch.setenv("KESTRA_STORAGE_S3_ACCESS_KEY", "AKIAWRONGKEY")
    monkeypatch.setenv("KESTRA_STORAGE_S3_SECRET_KEY", secret)
    moto_checks_credentials(endpoint, True)
    try:
        outcome = run_flow("storage", "s3_files.yaml")
    finally:
        moto_checks_credentials(endpoint, False)
    assert outcome.state == "FAILED", dump(outcome)
    assert outcome.task_states["produce"] == "FAILED"
    log = outcome.log_text()
    assert f"s3://{S3_BUCKET} at {endpoint} refused the credentials (InvalidAccessKeyId)" in log, log[-3000:]
    assert "check kestra.storage.s3.access-key / secret-key" in log
    assert secret not in outcome.raw_log


def test_kestra_configuration_alone_selects_s3(s3_server, monkeypatch):
    """Processes Dagster's Helm chart starts get only ``KESTRA_CONFIGURATION``, not our variables."""
    endpoint, client = s3_server
    monkeypatch.delenv("KESTRA_STORAGE_TYPE", raising=False)
    monkeypatch.setenv("KESTRA_CONFIGURATION", f"""
kestra:
  storage:
    type: s3
    s3: {{bucket: {S3_BUCKET}, endpoint: "{endpoint}", access-key: test, secret-key: "${{S3_SECRET}}"}}
""")
    monkeypatch.setenv("S3_SECRET", "test")
    environ = dict(os.environ)
    export_process_env(environ)  # what the code location does to os.environ when it loads
    assert environ["KESTRA_STORAGE_TYPE"] == "s3"
    for name, value in environ.items():
        monkeypatch.setenv(name, value)  # restored after the test
    storage = default_storage()
    assert repr(storage) == f"S3Storage(bucket='{S3_BUCKET}', endpoint='{endpoint}')"
    uri = storage.for_task("acme.cfg", "f", uuid.uuid4().hex[:8], "t", "r").put_bytes(b"via config", "c.txt")
    assert client.get_object(Bucket=S3_BUCKET, Key=uri[len("kestra:///"):])["Body"].read() == b"via config"


def test_state_files_live_in_the_bucket(run_flow, s3_env, storage_dir):
    """state.Set/Get write Kestra's state file as an object: a second run reads what the first left."""
    _, client = s3_env
    first = run_flow("state", "counter.yaml")
    second = run_flow("state", "counter.yaml")
    assert first.state == second.state == "SUCCESS", dump(second)
    assert second.outputs["before"]["data"]["runs"] == "1" and second.outputs["after"]["data"]["runs"] == "2"
    assert _keys(client, "tests/state/") == ["tests/state/counter/states/counter/default.json",
                                              "tests/state/states/counter/default.json"]
    assert not storage_dir.exists() or not any(p.is_file() for p in storage_dir.rglob("*"))
