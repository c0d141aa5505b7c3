"""aws.s3.* tasks against moto's S3 server on loopback: a whole flow, then bad input."""

from __future__ import annotations

import json

import pytest

from kd_testing import moto_checks_credentials
from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws.s3.download import Download
from kestra_dagster.tasks.aws.s3.upload import Upload

CONNECTION = """
    endpointOverride: "{endpoint}"
    region: us-east-1
    accessKeyId: test
    secretKeyId: test"""


def connection(endpoint: str) -> str:
    return CONNECTION.format(endpoint=endpoint)


def flow_text(endpoint: str) -> str:
    c = connection(endpoint)
    return f"""
id: s3_round_trip
namespace: company.team
tasks:
  - id: bucket
    type: io.kestra.plugin.aws.s3.CreateBucket
    bucket: data-ops-flow{c}
  - id: a
    type: io.kestra.plugin.core.storage.Write
    content: "alpha,1\\n"
    extension: .csv
  - id: b
    type: io.kestra.plugin.core.storage.Write
    content: "beta,2\\n"
  - id: upload
    type: io.kestra.plugin.aws.s3.Upload
    bucket: "{{{{ outputs.bucket.bucket }}}}"
    key: raw/alpha.csv
    from: "{{{{ outputs.a.uri }}}}"
    contentType: text/csv
    metadata: {{team: data}}{c}
  - id: upload_many
    type: io.kestra.plugin.aws.s3.Upload
    bucket: data-ops-flow
    key: raw/many
    from:
      first.txt: "{{{{ outputs.a.uri }}}}"
      second.txt: "{{{{ outputs.b.uri }}}}"{c}
  - id: list
    type: io.kestra.plugin.aws.s3.List
    bucket: data-ops-flow
    prefix: raw/
    regexp: ".*\\\\.txt"{c}
  - id: download
    type: io.kestra.plugin.aws.s3.Download
    bucket: data-ops-flow
    key: raw/alpha.csv{c}
  - id: copy
    type: io.kestra.plugin.aws.s3.Copy
    from: {{bucket: data-ops-flow, key: raw/alpha.csv}}
    to: {{key: archive/alpha.csv}}{c}
  - id: downloads
    type: io.kestra.plugin.aws.s3.Downloads
    bucket: data-ops-flow
    prefix: raw/many/
    action: MOVE
    moveTo: {{key: done}}{c}
  - id: delete
    type: io.kestra.plugin.aws.s3.Delete
    bucket: data-ops-flow
    key: archive/alpha.csv{c}
  - id: delete_rest
    type: io.kestra.plugin.aws.s3.DeleteList
    bucket: data-ops-flow
    prefix: ""
    errorOnEmpty: true{c}
  - id: check
    type: io.kestra.plugin.core.storage.Size
    uri: "{{{{ outputs.download.uri }}}}"
"""


def test_s3_tasks_round_trip_in_a_flow(tmp_path, s3_server):
    endpoint, s3 = s3_server
    flow = tmp_path / "s3.yaml"
    flow.write_text(flow_text(endpoint))
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    out = result["outputs"]
    assert out["bucket"]["bucket"] == "data-ops-flow"
    assert out["upload"]["key"] == "raw/alpha.csv" and out["upload"]["eTag"].strip('"')
    assert sorted(out["upload_many"]["files"]) == ["first.txt", "second.txt"]
    assert out["upload_many"]["files"]["second.txt"]["key"] == "raw/many/second.txt"
    assert [o["key"] for o in out["list"]["objects"]] == ["raw/many/first.txt", "raw/many/second.txt"]
    assert out["list"]["objects"][0]["size"] == 8 and out["list"]["objects"][0]["lastModified"].endswith("Z")
    assert out["download"]["contentType"] == "text/csv" and out["download"]["metadata"] == {"team": "data"}
    assert out["download"]["contentLength"] == 8
    assert out["check"]["size"] == 8
    assert out["copy"]["key"] == "archive/alpha.csv" and out["copy"]["bucket"] == "data-ops-flow"
    assert sorted(out["downloads"]["outputFiles"]) == ["raw/many/first.txt", "raw/many/second.txt"]
    assert all(o["uri"].startswith("kestra://") for o in out["downloads"]["objects"])
    # MOVE put them under done/, Delete removed the copy, DeleteList the rest (3 objects)
    assert out["delete_rest"]["count"] == 3 and out["delete_rest"]["size"] == 8 + 8 + 7
    assert s3.list_objects_v2(Bucket="data-ops-flow").get("KeyCount") == 0
    s3.delete_bucket(Bucket="data-ops-flow")


def test_missing_bucket_and_key_fail_clearly_and_leave_no_file(make_ctx, s3_server, tmp_path):
    endpoint, s3 = s3_server
    conn = {"endpointOverride": endpoint, "region": "us-east-1", "accessKeyId": "test", "secretKeyId": "test"}
    ctx = make_ctx("get")
    task = Download.model_validate({"id": "get", "type": Download.kestra_type, "bucket": "inbox",
                                    "key": "nope/missing.csv", **conn})
    with pytest.raises(TaskFailed) as err:
        task.run(ctx)
    assert "s3://inbox/nope/missing.csv" in str(err.value) and "NoSuchKey" in str(err.value)
    assert list(ctx.working_dir.iterdir()) == []  # the partial download is gone

    ctx = make_ctx("put")
    source = ctx.storage.put_bytes(b"x", "x.txt")
    task = Upload.model_validate({"id": "put", "type": Upload.kestra_type, "bucket": "no-such-bucket",
                                  "key": "k", "from": source, **conn})
    with pytest.raises(TaskFailed) as err:
        task.run(ctx)
    assert "s3://no-such-bucket/k" in str(err.value) and "NoSuchBucket" in str(err.value)

    task = Upload.model_validate({"id": "put", "type": Upload.kestra_type, "bucket": "inbox",
                                  "key": "k", "from": "kestra:///company/team/none.txt", **conn})
    with pytest.raises(TaskFailed, match="property 'from'"):
        task.run(make_ctx("put"))


def test_wrong_credentials_are_refused_without_showing_the_secret(tmp_path, s3_server, capfd):
    endpoint, _ = s3_server
    flow = tmp_path / "bad.yaml"
    flow.write_text(f"""
id: s3_bad_credentials
namespace: company.team
tasks:
  - id: list
    type: io.kestra.plugin.aws.s3.List
    bucket: inbox
    endpointOverride: "{endpoint}"
    region: us-east-1
    accessKeyId: AKIAWRONGWRONGWRONG1
    secretKeyId: "{{{{ secret('S3_SECRET') }}}}"
""")
    secret = "wrong-secret-value-1234567890"
    import base64
    import os
    os.environ["SECRET_S3_SECRET"] = base64.b64encode(secret.encode()).decode()
    moto_checks_credentials(endpoint, True)
    try:
        result = run_flow_file(str(flow), {})
    finally:
        moto_checks_credentials(endpoint, False)
        os.environ.pop("SECRET_S3_SECRET", None)
    assert result["state"] == "FAILED"
    out, err = capfd.readouterr()
    logs = out + err
    assert "S3 ListObjectsV2 of bucket 'inbox' failed: AWS refused it (HTTP 403, InvalidAccessKeyId)" in logs
    assert secret not in logs and secret not in json.dumps(result)


def test_download_by_prefix_and_downloads_with_delete(tmp_path, s3_server):
    endpoint, s3 = s3_server
    for key in ("batch/a.csv", "batch/b.csv", "batch/skip.txt"):
        s3.put_object(Bucket="inbox", Key=key, Body=key.encode())
    c = connection(endpoint)
    flow = tmp_path / "batch.yaml"
    flow.write_text(f"""
id: s3_batch
namespace: company.team
tasks:
  - id: some
    type: io.kestra.plugin.aws.s3.Download
    bucket: inbox
    prefix: batch/
    regexp: ".*\\\\.csv"{c}
  - id: take
    type: io.kestra.plugin.aws.s3.Downloads
    bucket: inbox
    prefix: batch/
    action: DELETE{c}
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    files = result["outputs"]["some"]["files"]
    assert sorted(files) == ["batch/a.csv", "batch/b.csv"] and files["batch/a.csv"]["contentLength"] == 11
    assert sorted(result["outputs"]["take"]["outputFiles"]) == ["batch/a.csv", "batch/b.csv", "batch/skip.txt"]
    assert "Contents" not in s3.list_objects_v2(Bucket="inbox", Prefix="batch/")
