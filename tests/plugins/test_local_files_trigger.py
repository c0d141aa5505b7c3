"""fs.local.Trigger against a real directory: new/changed files, MOVE/DELETE/NONE, exactly once
across re-evaluations and a restart (the Dagster instance and the persisted sensor cursor)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kestra_dagster.triggers.local_files import FilesCursor, LocalFilesTrigger, poll, trigger_variables


def trig(**props) -> LocalFilesTrigger:
    return LocalFilesTrigger.model_validate({"id": "watch", "type": LocalFilesTrigger.kestra_type, **props})


def props_of(t: LocalFilesTrigger) -> dict:
    return {"from": t.from_, "regExp": t.regExp, "recursive": t.recursive, "moveDirectory": t.moveDirectory}


class Harness:
    """Polls like the sensor: a cursor string persisted between polls, runs recorded by run key."""

    def __init__(self, t: LocalFilesTrigger, tmp: Path):
        self.t, self.tmp = t, tmp
        self.cursor: str | None = None
        self.runs: dict[str, list[dict]] = {}
        self.stored: dict[str, bytes] = {}

    def store(self, batch: str, rel: str, path: Path) -> str:
        uri = f"kestra:///t/{batch}/{rel}"
        self.stored[uri] = path.read_bytes()
        return uri

    def poll(self, launch: bool = True, persist: bool = True):
        result = poll(self.t, props_of(self.t), FilesCursor.load(self.cursor), lambda k: k in self.runs, self.store)
        if persist:
            self.cursor = result.cursor.dump()
        new = []
        for run_key, files in result.requests:
            if launch and run_key not in self.runs:  # Dagster drops a request whose run key already ran
                self.runs[run_key] = files
                new.append(trigger_variables(files))
        return new, result


def write(path: Path, text: str, mtime: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_new_and_changed_files_fire_once_with_action_none(tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "a.csv", "1", mtime=1_700_000_000)
    write(inbox / "skip.txt", "x")
    h = Harness(trig(**{"from": str(inbox)}, regExp=r".*\.csv", interval="PT1S"), tmp_path)
    [first], _ = h.poll()
    assert first["count"] == 1
    [f] = first["files"]
    assert f["name"] == "a.csv" and f["changeType"] == "CREATE" and f["size"] == 1
    assert h.stored[f["uri"]] == b"1"
    assert h.poll()[0] == []  # unchanged: nothing
    write(inbox / "a.csv", "22", mtime=1_700_000_100)
    write(inbox / "b.csv", "3")
    [second], _ = h.poll()
    assert sorted((x["name"], x["changeType"]) for x in second["files"]) == [("a.csv", "UPDATE"), ("b.csv", "CREATE")]
    assert (inbox / "a.csv").exists()  # NONE leaves files in place


def test_on_create_ignores_updates_and_recursive_lists_subfolders(tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "sub" / "deep.csv", "1", mtime=1_700_000_000)
    flat = Harness(trig(**{"from": str(inbox)}), tmp_path)
    assert flat.poll()[0] == []
    h = Harness(trig(**{"from": str(inbox)}, recursive=True, on="CREATE"), tmp_path)
    [run], _ = h.poll()
    assert run["files"][0]["localPath"] == str(inbox / "sub" / "deep.csv")
    write(inbox / "sub" / "deep.csv", "changed", mtime=1_700_000_500)
    assert h.poll()[0] == []


def test_move_happens_only_after_the_run_exists_and_survives_a_crash(tmp_path):
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    write(inbox / "a.csv", "1")
    h = Harness(trig(**{"from": str(inbox)}, action="MOVE", moveDirectory=str(archive)), tmp_path)
    # the daemon dies after evaluating but before the cursor is saved and the run launched
    lost, result = h.poll(launch=False, persist=False)
    [(key_before_crash, _)] = result.requests
    assert (inbox / "a.csv").exists()
    # restart: the same poll asks for the same run key, which runs once
    _, result = h.poll(launch=False)
    assert [k for k, _ in result.requests] == [key_before_crash]
    assert (inbox / "a.csv").exists()  # the run does not exist yet: not moved
    [run], _ = h.poll()  # pending batch re-requested, launched now
    assert len(h.runs) == 1
    assert h.poll()[0] == []  # run exists → MOVE applied, nothing new
    assert not (inbox / "a.csv").exists() and (archive / "a.csv").read_text() == "1"
    assert h.poll()[0] == [] and len(h.runs) == 1


def test_delete_action_and_missing_directory(tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "a.csv", "1")
    h = Harness(trig(**{"from": str(inbox)}, action="DELETE"), tmp_path)
    assert len(h.poll()[0]) == 1
    h.poll()
    assert not (inbox / "a.csv").exists()
    write(inbox / "a.csv", "again")  # the same name arriving again is a new file
    assert len(h.poll()[0]) == 1
    gone = Harness(trig(**{"from": str(tmp_path / "nope")}), tmp_path)
    new, result = gone.poll()
    assert new == [] and "does not exist" in result.problems[0]


def test_model_validation():
    with pytest.raises(ValueError, match="moveDirectory"):
        trig(**{"from": "/x"}, action="MOVE")
    with pytest.raises(ValueError, match="regExp"):
        trig(**{"from": "/x"}, regExp="(")


def test_sensor_on_a_dagster_instance_runs_once_across_a_restart(tmp_path, monkeypatch):
    from dagster import DagsterInstance, build_sensor_context

    from kestra_dagster.compiler.definitions import load_catalog

    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    write(inbox / "orders.csv", "id\n1\n")
    flow = tmp_path / "flows" / "watch.yaml"
    write(flow, f"""
id: watch
namespace: company.team
tasks:
  - id: name
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.files[0].name }}}} {{{{ trigger.count }}}}"
triggers:
  - id: inbox
    type: io.kestra.plugin.fs.local.Trigger
    from: "{inbox}"
    interval: PT1S
    action: MOVE
    moveDirectory: "{archive}"
""")
    catalog = load_catalog([str(flow)])
    compiled = catalog.by_file(str(flow))
    from kestra_dagster.compiler.triggers import build_triggers

    [sensor_def] = [s for s in build_triggers(catalog)[1] if s.name.endswith("inbox")]  # compiled like every trigger
    home = tmp_path / "home"
    home.mkdir()

    def evaluate(instance, cursor):
        context = build_sensor_context(instance=instance, cursor=cursor, sensor_name=sensor_def.name)
        data = sensor_def.evaluate_tick(context)
        return data.run_requests or [], data.cursor

    with DagsterInstance.local_temp(str(home)) as instance:
        [request], cursor = evaluate(instance, None)
        tags = {**request.tags, "dagster/run_key": request.run_key, "dagster/sensor_name": sensor_def.name}
        result = compiled.job.execute_in_process(run_config=request.run_config, instance=instance, tags=tags,
                                                 raise_on_error=False)
        assert result.success
    # "daemon restart": a new instance object on the same home, the cursor as Dagster persisted it
    with DagsterInstance.local_temp(str(home)) as instance:
        again, cursor = evaluate(instance, cursor)
        assert again == []
        assert not (inbox / "orders.csv").exists() and (archive / "orders.csv").exists()
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].tags["dagster/run_key"] == request.run_key


def test_a_tick_whose_cursor_dagster_never_stored_does_not_run_its_files_again(tmp_path):
    """The daemon is killed after a tick launched its run but before Dagster stored the tick's
    cursor; a file arrives meanwhile. The next tick starts from the older cursor, yet the first
    file does not run again: the cursor the tick made was written before its run was requested."""
    from dagster import DagsterInstance, build_sensor_context

    from kestra_dagster.compiler.definitions import load_catalog
    from kestra_dagster.compiler.triggers import build_triggers

    inbox = tmp_path / "inbox"
    write(inbox / "a.csv", "1")
    flow = tmp_path / "flows" / "watch.yaml"
    write(flow, f"""
id: watch
namespace: company.team
tasks:
  - {{id: hi, type: io.kestra.plugin.core.log.Log, message: hi}}
triggers:
  - {{id: inbox, type: io.kestra.plugin.fs.local.Trigger, from: "{inbox}", interval: PT1S, action: NONE}}
""")
    catalog = load_catalog([str(flow)])
    compiled = catalog.by_file(str(flow))
    [sensor_def] = [s for s in build_triggers(catalog)[1] if s.name.endswith("inbox")]
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        def tick(cursor):
            data = sensor_def.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor,
                                                                 sensor_name=sensor_def.name))
            return data.run_requests or []

        [first] = tick(None)
        tags = {**first.tags, "dagster/run_key": first.run_key, "dagster/sensor_name": sensor_def.name}
        assert compiled.job.execute_in_process(run_config=first.run_config, instance=instance, tags=tags).success
        write(inbox / "b.csv", "2")
        [second] = tick(None)  # Dagster's stored cursor is still the one before the first tick
        assert [f["name"] for f in second.run_config["trigger"]["files"]] == ["b.csv"]
