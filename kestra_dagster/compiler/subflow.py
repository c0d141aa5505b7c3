"""Runs a ``Subflow`` task's child flow as its own Dagster run, tagged with its parent.

``wait: true`` runs the child to its end inside the parent's op and hands back its state and
flow outputs. ``wait: false`` only *starts* the child, as Kestra does, and the task succeeds at
once with the child's ``executionId``:

* under a deployment (the parent run was launched from a code location: ``dagster dev``, the
  webserver, a schedule or sensor of the daemon; or the parent is a ``wait: true`` child running
  inside such a run) the child run is created with that code-location origin and handed to the
  instance's run coordinator (``submit_run``), so the configured coordinator and launcher
  (queue, Docker…) run it like any launched run;
* without one (``execute_in_process``, ``kestra-dagster run``) nothing outside this process
  could pick a run up, so the child runs in a background thread of this process: alongside the
  parent on PostgreSQL, after it on SQLite (see ``_in_memory_turn``).
  ``wait_for_detached`` waits for those; the CLI calls it before it exits so a child is never
  cut off, and reports the children's run ids.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kestra_dagster.compiler.ops import END_NODE, OK
from kestra_dagster.errors import InputError, TaskFailed
from kestra_dagster.model.flow import label_map

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow

log = logging.getLogger("kestra_dagster")

#: Run tags linking a child run to the execution and task that started it.
PARENT_RUN_TAG, PARENT_FLOW_TAG, PARENT_TASK_TAG = "kestra/parent_run_id", "kestra/parent_flow", "kestra/parent_task"
#: How a ``wait: false`` child was started: ``submitted`` (run coordinator) or ``background`` (this process).
DETACHED_TAG = "kestra/subflow_detached"


class SubflowLauncher:
    """Called by the Subflow task; the child run shares the parent's Dagster instance."""

    def __init__(self, parent: "CompiledFlow", context):
        self.parent = parent
        self.context = context

    def __call__(self, namespace: str, flow_id: str, inputs: dict, labels: Any = None, wait: bool = True,
                 inherit_labels: bool = False, task_id: str | None = None) -> dict:
        child = self.parent.catalog.get(f"{namespace}.{flow_id}")
        if child is None or child.job is None:
            known = ", ".join(sorted(self.parent.catalog)) or "none"
            raise TaskFailed(f"flow {namespace}.{flow_id} is not loaded (known flows: {known})")
        child_labels = {**(self.parent.flow.label_dict() if inherit_labels else {}),
                        **{str(k): str(v) for k, v in label_map(labels).items()}}
        trigger = {"executionId": self.context.run_id, "namespace": self.parent.flow.namespace,
                   "flowId": self.parent.flow.id}
        run_config = child.run_config(inputs, labels=child_labels, trigger=trigger)
        tags = {PARENT_RUN_TAG: self.context.run_id, PARENT_FLOW_TAG: self.parent.flow.uid}
        if task_id:
            tags[PARENT_TASK_TAG] = task_id
        if not wait:
            return self._detach(child, run_config, tags)
        try:
            result = child.job.execute_in_process(
                run_config=run_config, instance=self.context.instance, tags=tags, raise_on_error=False,
            )
        except Exception as exc:  # invalid run config (inputs) is reported like Kestra: the task fails
            raise TaskFailed(f"subflow {namespace}.{flow_id} could not start: {exc}") from None
        state, outputs = "FAILED", {}
        try:
            execution = result.output_for_node(END_NODE, OK)
            state, outputs = execution.final_state or "FAILED", execution.flow_outputs
        except Exception:  # the child failed before its end node (e.g. rejected inputs)
            pass
        return {"executionId": result.run_id, "state": state, "outputs": outputs}

    def _detach(self, child: "CompiledFlow", run_config: dict, tags: dict) -> dict:
        """Start the child and return its run id at once (``wait: false``)."""
        from kestra_dagster.engine.inputs import resolve_inputs

        try:  # Kestra rejects the child's inputs when it creates the execution: the task fails
            resolve_inputs(child.flow, run_config.get("inputs"), {"trigger": run_config.get("trigger") or {}})
        except InputError as exc:
            raise TaskFailed(f"subflow {child.flow.uid} could not start: {exc}") from None
        launched = _launched_ancestor(self.context.instance, self.context.run_id)
        if launched is not None:
            run_id = submit_child_run(self.context.instance, launched, child, run_config, tags)
            self.context.log.info(f"subflow {child.flow.uid}: run {run_id} submitted to the run coordinator "
                                  "(wait: false, not waited for)")
        else:
            run_id = start_in_background(self.context.instance, child, run_config, tags, self.context.run_id)
            self.context.log.info(f"subflow {child.flow.uid}: run {run_id} runs in the background of this process "
                                  "(wait: false; no code location to submit it to)")
        return {"executionId": run_id, "state": None}


# ----------------------------------------------------------------------------- under a deployment


def _launched_ancestor(instance, run_id: str, depth: int = 20):
    """This run if it was launched from a code location, else the nearest such ancestor.

    A ``wait: true`` child runs in process inside its parent's run, without an origin of its own;
    its ``wait: false`` children still belong to the parent's code location and are submitted there.
    """
    for _ in range(depth):
        run = instance.get_run_by_id(run_id)
        if run is None:
            return None
        if run.remote_job_origin is not None and run.job_code_origin is not None:
            return run
        run_id = run.tags.get(PARENT_RUN_TAG)
        if not run_id:
            return None
    return None


def submit_child_run(instance, launched, child: "CompiledFlow", run_config: dict, tags: dict) -> str:
    """Create the child run with the code-location origin of ``launched`` and hand it to the coordinator."""
    from dagster import DagsterRunStatus

    from kestra_dagster.compat import job_origins

    job = child.job
    origin, code_origin = job_origins(launched, job.name)
    try:
        run = instance.create_run_for_job(
            job_def=job, run_config=run_config, tags={**job.run_tags, **tags, DETACHED_TAG: "submitted"},
            status=DagsterRunStatus.NOT_STARTED, remote_job_origin=origin, job_code_origin=code_origin,
        )
    except Exception as exc:  # e.g. run config the child's Launchpad schema rejects
        raise TaskFailed(f"subflow {child.flow.uid} could not start: {exc}") from None
    try:  # with the DefaultRunLauncher this returns once the child's process has started (seconds)
        instance.submit_run(run.run_id, _ParentCodeServer(launched))
    except Exception as exc:  # the instance has marked the run FAILURE with the error in its log
        raise TaskFailed(f"subflow {child.flow.uid}: run {run.run_id} could not be submitted: {exc}") from None
    return run.run_id


class _ParentCodeServer:
    """Just enough workspace for Dagster's DefaultRunLauncher: the code server that launched the parent.

    A run worker has no workspace of its own. The DefaultRunLauncher records the gRPC server it
    used in the parent's ``GRPC_INFO_TAG``, and the child belongs to the same code location, so
    the child is launched through that server. Other coordinators/launchers (queued, Docker)
    never ask for a code location, so nothing is connected for them.
    """

    def __init__(self, parent_run):
        self.parent_run = parent_run

    def get_code_location(self, location_name: str):
        from kestra_dagster.compat import code_location_client, grpc_info_tag

        tag = grpc_info_tag()
        raw = self.parent_run.tags.get(tag)
        if not raw:
            raise TaskFailed(f"the parent run {self.parent_run.run_id} has no {tag} tag, so its code "
                             "server is unknown; use a QueuedRunCoordinator to run wait: false subflows")
        return code_location_client(location_name, json.loads(raw))


# ----------------------------------------------------------------------------- in this process


@dataclass
class DetachedRun:
    run_id: str
    flow: str
    thread: threading.Thread
    state: str | None = None  # Kestra state once it ended


_detached: list[DetachedRun] = []
_detached_lock = threading.Lock()


#: Dagster's SQLite storages (in-memory, and the file ones under DAGSTER_HOME) may fail, rather
#: than wait, when two runs of one process write at once ("table is locked", seen in the suite),
#: so on such an instance a detached child starts once its parent run has ended, and one at a
#: time. An instance on PostgreSQL runs it alongside at once.
_in_memory_turn = threading.Lock()
#: How long storage errors may persist while a child waits for its parent (instance disposed?).
_GIVE_UP_AFTER_S = 30.0


def _sqlite(instance) -> bool:
    return type(instance.run_storage).__name__.lower().startswith("sqlite")


def start_in_background(instance, child: "CompiledFlow", run_config: dict, tags: dict, parent_run_id: str) -> str:
    """Run the child in a thread of this process; its run id is known before it starts."""
    from kestra_dagster.compat import new_run_id

    run_id = new_run_id()
    entry = DetachedRun(run_id=run_id, flow=child.flow.uid, thread=None)  # type: ignore[arg-type]

    def execute() -> None:
        child.job.execute_in_process(run_config=run_config, instance=instance, run_id=run_id,
                                     tags={**tags, DETACHED_TAG: "background"}, raise_on_error=False)
        run = instance.get_run_by_id(run_id)
        entry.state = (run.tags.get("kestra/state") if run else None) or "FAILED"

    def target() -> None:
        try:
            if instance.is_persistent and not _sqlite(instance):
                execute()
            elif _wait_until_finished(instance, parent_run_id):
                with _in_memory_turn:
                    execute()
            else:
                entry.state = "FAILED"
                log.error("kestra-dagster: detached subflow %s of %s never started: its parent run %s could not "
                          "be followed (instance disposed?)", run_id, child.flow.uid, parent_run_id)
        except Exception:  # noqa: BLE001 - nobody waits on this thread: report, do not lose it
            entry.state = "FAILED"
            log.exception("kestra-dagster: detached subflow run %s of %s crashed", run_id, child.flow.uid)

    # Not a daemon thread: the interpreter waits for it at exit, so a child is never cut off.
    entry.thread = threading.Thread(target=target, name=f"kestra-subflow-{run_id[:8]}")
    with _detached_lock:
        _detached.append(entry)
    entry.thread.start()
    return run_id


def _wait_until_finished(instance, run_id: str) -> bool:
    """True once the run has ended; False if its storage keeps failing (the instance is gone)."""
    import time

    failing_since = None
    while True:
        try:
            run = instance.get_run_by_id(run_id)
            failing_since = None
            if run is None or run.is_finished:
                return run is not None
        except Exception:  # noqa: BLE001 - a write of the parent holds the table: try again
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > _GIVE_UP_AFTER_S:
                return False
        time.sleep(0.05)


def wait_for_detached(timeout: float | None = None) -> list[DetachedRun]:
    """Wait for every ``wait: false`` child started in this process (their own children too).

    Returns them (and forgets them); a child still running after ``timeout`` has ``state`` None.
    """
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    done: list[DetachedRun] = []
    while True:
        with _detached_lock:
            pending = [d for d in _detached if d not in done]
        if not pending:
            break
        for entry in pending:
            entry.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            done.append(entry)
        if deadline is not None and time.monotonic() >= deadline:
            break
    with _detached_lock:
        for entry in done:
            if not entry.thread.is_alive():
                _detached.remove(entry)
    return done
