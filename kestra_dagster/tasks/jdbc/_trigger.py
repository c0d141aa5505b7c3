"""Kestra's JDBC polling ``Trigger``: run ``sql`` every ``interval``; when it returns rows, start
one execution with ``trigger.rows`` (FETCH, the default), ``trigger.row`` (FETCH_ONE) or
``trigger.uri`` (STORE), and ``trigger.size``. ``afterSQL`` (e.g. marking the rows processed)
runs in the query's transaction, as in Kestra.

Exactly once per row set, as our other polling triggers: the sensor cursor keeps a digest of
the last row set that became a run, so a poll returning the very same rows again (nothing was
marked processed) starts nothing; a different row set is a new run. The run key is derived from
the digest and a sequence number kept in the cursor, so a tick re-evaluated after a crash asks
for the same run, which Dagster drops. (A crash after ``afterSQL`` committed but before Dagster
recorded the run request loses that row set: the same window Kestra has.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import model_validator

from kestra_dagster.model.common import Duration, is_dynamic
from kestra_dagster.model.triggers import Trigger

QUERY_PROPS = ("url", "username", "password", "timeZoneId", "sql", "afterSQL", "fetchType", "fetchSize",
               "parameters", "store", "fetch", "fetchOne")


class JdbcTrigger(Trigger):
    """Shared model of the JDBC polling triggers (no ``kestra_type``: not a trigger itself)."""

    kestra_family: ClassVar[str] = "jdbc"
    #: the Query task class of the same database, which runs the poll's query
    query_class: ClassVar[type]

    interval: Duration = "PT60S"
    url: str | None = None
    username: str | None = None
    password: str | None = None
    timeZoneId: str | None = None
    sql: str
    afterSQL: str | None = None
    fetchType: str = "FETCH"
    fetchSize: int | str = 10_000
    parameters: dict[str, Any] | str | None = None
    connectionPooling: bool | str | None = None
    connectionPoolSize: int | str | None = None
    store: bool = False
    fetch: bool = False
    fetchOne: bool = False
    inputs: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check_fetch_type(self) -> "JdbcTrigger":
        if not is_dynamic(self.fetchType):
            value = self.fetchType.strip().upper()
            if value == "NONE":
                raise ValueError("fetchType NONE is not valid for a trigger: it would never fire. "
                                 "Use FETCH, FETCH_ONE or STORE")
            if value not in ("FETCH", "FETCH_ONE", "STORE"):
                raise ValueError(f"fetchType must be FETCH, FETCH_ONE or STORE, got {self.fetchType!r}")
        return self

    def query_task(self):
        props = {name: getattr(self, name) for name in QUERY_PROPS if getattr(self, name) is not None}
        return self.query_class.model_validate({"id": self.id, "type": self.query_class.kestra_type, **props})

    def build_sensor(self, compiled):
        """The Dagster sensor for this trigger (``compiler.triggers.build_triggers`` calls it)."""
        return build_jdbc_sensor(compiled, self)


# ----------------------------------------------------------------------------- polling
@dataclass
class RowSetCursor:
    last: str | None = None  # digest of the last row set that became a run
    seq: int = 0

    @classmethod
    def load(cls, raw: str | None) -> "RowSetCursor":
        data = json.loads(raw) if raw else {}
        return cls(last=data.get("last"), seq=int(data.get("seq") or 0))

    def dump(self) -> str:
        return json.dumps({"last": self.last, "seq": self.seq}, sort_keys=True)


def digest(result: dict[str, Any], stored_path: Callable[[str], Path]) -> str:
    """SHA-256 of the row set: of the stored file (read in chunks) or of the rows' JSON."""
    h = hashlib.sha256()
    if result.get("uri"):
        with open(stored_path(result["uri"]), "rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(json.dumps(result.get("rows", result.get("row")), sort_keys=True, default=str).encode())
    return h.hexdigest()


def poll(result: dict[str, Any], cursor: RowSetCursor, stored_path: Callable[[str], Path]
         ) -> tuple[RowSetCursor, tuple[str, dict[str, Any]] | None]:
    """Decide on one query result: ``(cursor, (run_key, trigger variables) | None)``."""
    size = int(result.get("size") or 0)
    if size == 0:
        return RowSetCursor(last=None, seq=cursor.seq), None
    key = digest(result, stored_path)
    if key == cursor.last:
        return cursor, None
    seq = cursor.seq + 1
    variables = {k: result[k] for k in ("row", "rows", "uri", "size") if k in result}
    return RowSetCursor(last=key, seq=seq), (f"jdbc-{key[:32]}-{seq}", variables)


# ----------------------------------------------------------------------------- Dagster sensor
class _SensorLogger:
    def __init__(self, log):
        self.log = log

    def debug(self, msg: str) -> None:
        self.log.debug(msg)

    def info(self, msg: str) -> None:
        self.log.info(msg)

    def warning(self, msg: str) -> None:
        self.log.warning(msg)

    def error(self, msg: str) -> None:
        self.log.error(msg)


def run_trigger_query(trigger: JdbcTrigger, variables: dict[str, Any], storage, logger,
                      workdir: Path) -> dict[str, Any]:
    """Run the trigger's query once, as its Query task would (outputs: row/rows/uri/size)."""
    from kestra_dagster.engine.context import TaskContext, TaskRunInfo
    from kestra_dagster.triggers.render import render

    flow = variables.get("flow") or {}
    ctx = TaskContext(task_id=trigger.id, task_type=trigger.type, variables=variables, logger=logger,
                      working_dir=workdir, storage=storage, kv=None, namespace=flow.get("namespace", ""),
                      flow_id=flow.get("id", ""), execution_id="", renderer=render,
                      taskrun=TaskRunInfo(id=trigger.id, task_id=trigger.id, start_date=""))
    return trigger.query_task().run(ctx)


def build_jdbc_sensor(compiled, trigger: JdbcTrigger):
    from dagster import SkipReason, sensor

    from kestra_dagster.compiler.triggers import _flow_vars, _render, _status, instigator_name, make_run_request
    from kestra_dagster.engine.storage import TaskStorage, default_storage, namespace_parts
    from kestra_dagster.errors import KestraDagsterError
    from kestra_dagster.model.common import parse_duration

    flow = compiled.flow
    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))
    name = instigator_name(compiled, trigger)

    @sensor(name=name, job=compiled.job, minimum_interval_seconds=interval, default_status=_status(trigger),
            description=f"Kestra {trigger.type.rsplit('.', 2)[-2]}.Trigger `{trigger.id}` of `{flow.uid}`: "
                        f"runs its query every {trigger.interval}, one run per new row set")
    def _jdbc_poll(context):
        variables = _flow_vars(flow)
        storage = default_storage()
        cursor = RowSetCursor.load(context.cursor)
        prefix = [*namespace_parts(flow.namespace), flow.id, "triggers", trigger.id, f"poll-{cursor.seq + 1}"]
        workdir = Path(tempfile.mkdtemp(prefix="kd-jdbc-trigger-"))
        try:
            result = run_trigger_query(trigger, variables, TaskStorage(storage, prefix),
                                       _SensorLogger(context.log), workdir)
        except KestraDagsterError as exc:
            return SkipReason(f"the trigger's query failed: {exc}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        new_cursor, fire = poll(result, cursor, storage.local_path)
        context.update_cursor(new_cursor.dump())
        if fire is None:
            if result.get("uri"):
                storage.delete(result["uri"])  # the same rows as the last run: nothing new to keep
            return SkipReason("no rows" if not result.get("size") else "the same rows as the last run")
        run_key, trig = fire
        inputs = _render(trigger.inputs, {**variables, "trigger": trig}) if trigger.inputs else {}
        return [make_run_request(compiled, trigger, trig, run_key=run_key, inputs=inputs,
                                 tags={"kestra/rows": str(trig.get("size", 0))})]

    return _jdbc_poll
