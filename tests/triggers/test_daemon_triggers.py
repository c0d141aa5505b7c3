"""Triggers under a real ``dagster-daemon``: webhook → run, Flow triggers, S3 actions, Git polling.

Uses the session deployment of ``conftest.py`` (moto S3 server, bare Git repo, daemon, intake).
Each sensor assertion waits at most ~15 s (the sensor loop runs every 0.5 s here).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from kestra_dagster.compiler.triggers import run_outputs
from kestra_dagster.testing import wait_until

from kd_testing import S3_BUCKET as BUCKET

from .conftest import git

pytestmark = pytest.mark.slow
WAIT = 60  # run created + finished; generous for a loaded 2-core machine (runs start in ~3 s when idle)


def _post(dep, flow_id, payload, namespace="demo.chain", key="up-key"):
    r = httpx.post(f"{dep.url}/api/v1/executions/webhook/{namespace}/{flow_id}/{key}", json=payload, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _value(dep, run, task):
    return run_outputs(dep.instance, run.run_id)[0][task]["value"]


def test_webhook_delivery_runs_once_and_flow_triggers_fire_on_the_right_states(deployment):
    dep = deployment
    ok_id = _post(dep, "upstream-ok", {"name": "world"})
    fail_id = _post(dep, "upstream-fail", {})
    (ok_run,) = dep.wait_for_runs(WAIT, finished=True, tags={"kestra/delivery_id": ok_id})
    (fail_run,) = dep.wait_for_runs(WAIT, finished=True, tags={"kestra/delivery_id": fail_id})
    assert ok_run.tags["kestra/state"] == "SUCCESS" and fail_run.tags["kestra/state"] == "FAILED"
    assert _value(dep, ok_run, "ret") == "hello world"  # trigger.body reached the task
    status = httpx.get(f"{dep.url}/api/v1/webhook-deliveries/{ok_id}").json()
    assert status["runId"] == ok_run.run_id

    # Flow trigger on SUCCESS of upstream-ok, with trigger.outputs in its inputs
    (after_ok,) = dep.wait_for_runs(WAIT, finished=True, job_name="demo_chain__on_success")
    assert _value(dep, after_ok, "seen") == f"hello world|upstream-ok|SUCCESS|{ok_run.run_id}"
    assert after_ok.tags["kestra/trigger_execution_id"] == ok_run.run_id
    # Flow trigger on FAILED in the namespace: fires for upstream-fail only
    (after_failure,) = dep.wait_for_runs(WAIT, finished=True, job_name="demo_chain__on_failure")
    assert _value(dep, after_failure, "seen") == "upstream-fail FAILED"
    time.sleep(3)  # later sensor ticks must not add runs
    assert len(dep.runs(job_name="demo_chain__on_success")) == 1
    assert len(dep.runs(job_name="demo_chain__on_failure")) == 1
    assert len(dep.runs(tags={"kestra/delivery_id": ok_id})) == 1


def _keys(client, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_s3_objects_trigger_exactly_once_with_each_action(deployment, s3_server):
    dep = deployment
    _, s3 = s3_server
    s3.put_object(Bucket=BUCKET, Key="move/a.csv", Body=b"id,name\n1,alice\n")
    s3.put_object(Bucket=BUCKET, Key="move/skip.txt", Body=b"not matching the regexp")
    s3.put_object(Bucket=BUCKET, Key="delete/d1.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="delete/d2.json", Body=b"[]")
    s3.put_object(Bucket=BUCKET, Key="none/n1.txt", Body=b"n1")

    (move_run,) = dep.wait_for_runs(WAIT, finished=True, job_name="demo_s3__s3_move")
    objects = move_run.run_config["trigger"]["objects"]
    assert [o["key"] for o in objects] == ["move/a.csv"]
    assert objects[0]["uri"].startswith("kestra:///demo/s3/s3-move/triggers/watch/") and objects[0]["size"] == 16
    assert _value(dep, move_run, "content") == "id,name\n1,alice\n"  # the copy in internal storage
    (delete_run,) = dep.wait_for_runs(WAIT, job_name="demo_s3__s3_delete")
    assert sorted(o["key"] for o in delete_run.run_config["trigger"]["objects"]) == ["delete/d1.json", "delete/d2.json"]
    (none_run,) = dep.wait_for_runs(WAIT, job_name="demo_s3__s3_none")

    # actions happen once the run exists
    wait_until(lambda: _keys(s3, "move/") == ["move/skip.txt"] and _keys(s3, "archive/") == ["archive/a.csv"], 15,
               what="MOVE to archive/")
    wait_until(lambda: _keys(s3, "delete/") == [], 15, what="DELETE")
    assert _keys(s3, "none/") == ["none/n1.txt"]  # NONE leaves it, and never runs it again

    # the daemon dies (SIGKILL) and comes back: processed objects do not run again, new ones run once
    dep.kill("daemon")
    s3.put_object(Bucket=BUCKET, Key="none/n2.txt", Body=b"n2")
    dep.start_daemon()
    runs = dep.wait_for_runs(WAIT + 15, count=2, job_name="demo_s3__s3_none")
    newest = max(runs, key=lambda r: r.run_config["trigger"]["objects"][0]["key"])
    assert [o["key"] for o in newest.run_config["trigger"]["objects"]] == ["none/n2.txt"]
    time.sleep(4)
    assert len(dep.runs(job_name="demo_s3__s3_none")) == 2
    assert len(dep.runs(job_name="demo_s3__s3_move")) == 1
    assert len(dep.runs(job_name="demo_s3__s3_delete")) == 1


def test_git_polling_runs_once_per_new_matching_tag(deployment, git_repo):
    dep = deployment
    _, work = git_repo
    # the first poll records what exists (v0.1) without running anything
    wait_until(lambda: "first poll" in dep.log_text("daemon"), 20, what="the first git poll")
    assert dep.runs(job_name="demo_git__git_poll") == []
    (work / "README").write_text("two\n")
    git("commit", "-am", "two", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work).strip()
    git("tag", "-a", "v1.0", "-m", "release 1.0", cwd=work)
    git("tag", "nightly", cwd=work)  # does not match v*
    git("push", "origin", "main", "--tags", cwd=work)
    (run,) = dep.wait_for_runs(WAIT, finished=True, job_name="demo_git__git_poll")
    assert _value(dep, run, "ref") == f"tag v1.0 {commit}"
    time.sleep(3)
    assert len(dep.runs(job_name="demo_git__git_poll")) == 1  # a branch push and 'nightly' started nothing


def _call(dep, flow_id, key, **kwargs):
    return httpx.post(f"{dep.url}/api/v1/executions/webhook/demo.wait/{flow_id}/{key}", timeout=150, **kwargs)


def test_webhook_wait_answers_when_the_execution_ends(deployment):
    dep = deployment
    # returnOutputs: the flow's outputs are the answer, with the status responseCode renders
    r = _call(dep, "wait-outputs", "out-key", json={"name": "teapot"})
    assert (r.status_code, r.json()) == (418, {"response": "teapot"}), r.text
    (run,) = dep.runs(job_name="demo_wait__wait_outputs")
    assert run.is_finished and run.tags["kestra/trigger_id"] == "json"
    # text/plain: e.g. a validation handshake echoing a token
    r = _call(dep, "wait-outputs", "text-key", params={"validationToken": "tok-42"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == '{"response": "tok-42"}'  # the outputs map as text, as Kestra sends a non-string body
    # wait without returnOutputs: the execution summary; 500 because the execution failed
    r = _call(dep, "wait-fail", "fail-key", json={})
    body = r.json()
    assert r.status_code == 500 and body["state"] == "FAILED", r.text
    (failed,) = dep.runs(tags={"kestra/delivery_id": body["deliveryId"]})
    assert body["runId"] == failed.run_id and body["executionId"]


def _forkservers_in_session_of(pid: int) -> list[int]:
    """Run-worker fork servers (``compiler.run_workers``) among the processes of ``pid``'s session."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"multiprocessing.forkserver" in cmdline and os.getsid(int(entry.name)) == os.getsid(pid):
                found.append(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return found


def test_run_workers_come_from_the_preloaded_fork_server(deployment, monkeypatch):
    dep = deployment
    r = _call(dep, "wait-outputs", "out-key", json={"name": "forked"})  # answers once its run has ended
    assert (r.status_code, r.json()) == (201, {"response": "forked"}), r.text
    assert _forkservers_in_session_of(dep.processes["daemon"].pid)  # the code server's fork server is up

    from kestra_dagster.compat import code_server_class

    DagsterApiServer = code_server_class(import_it=True)  # noqa: N806

    from kestra_dagster.compiler.run_workers import start_runs_from_forkserver

    monkeypatch.setenv("KESTRA_RUN_WORKER_START", "spawn")
    assert start_runs_from_forkserver() is False  # the opt-out leaves Dagster's spawn alone
    monkeypatch.delenv("KESTRA_RUN_WORKER_START")
    assert start_runs_from_forkserver() and start_runs_from_forkserver()  # idempotent
    assert DagsterApiServer.StartRun._kestra_forkserver
