"""Runs Kestra tasks with Kestra's semantics, in plain Python.

The compiler gives each top-level task its own Dagster op and calls ``Runner.run_task`` in it;
flowable tasks (If, ForEach, Parallel…) run their children through the same Runner, inside
that op. One implementation of the rules therefore serves every nesting level:

* a list runs in order; a FAILED (or KILLED) task stops it, then the list's ``errors`` run, then
  its ``finally``; the list's state is Kestra's ``guessFinalState`` over its main tasks, so a
  successful ``errors`` branch still leaves it FAILED;
* ``runIf``/``when`` falsy → SKIPPED (the list goes on); ``disabled`` tasks are not run at all;
* ``retry`` (task, else nearest flowable ancestor, else flow) re-runs a failed runnable task
  after the policy's delay while ``maxAttempt``/``maxDuration`` allow (in place, or, for a
  top-level task that is its own executor step, by handing the retry to the executor);
* ``timeout`` stops the attempt (the task sees ``ctx.cancel_event``) and it ends FAILED, retries
  still apply; a Dagster run termination stops everything as KILLED;
* ``allowFailure`` turns FAILED into WARNING, ``allowWarning`` WARNING into SUCCESS.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from kestra_dagster.engine.context import (
    SUB_TASK_OUTPUTS_KEY, KVBackend, TaskContext, TaskLogger, TaskRunInfo, fold_metrics, mask_secrets,
)
from kestra_dagster.engine.execution import ExecutionState, TaskRunRecord, utcnow_iso
from kestra_dagster.engine.kv import format_duration
from kestra_dagster.engine.envs import kestra_envs
from kestra_dagster.engine.states import State, apply_allow, guess_final_state
from kestra_dagster.errors import ExpressionError, KestraDagsterError, TaskFailed, TaskKilled
from kestra_dagster.expressions import SecretResolver, is_truthy, render_typed, render_value
from kestra_dagster.expressions import budget as render_budget
from kestra_dagster.model.common import Task, parse_duration
from kestra_dagster.model.flow import Flow

#: Seconds a task gets to stop by itself after its timeout before the attempt is abandoned.
CANCEL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Scope:
    """Where a task runs: its loop values, parent chain, branch and inherited settings."""

    values: tuple[str, ...] = ()
    parents: tuple[dict, ...] = ()  # Kestra's ``parents``: nearest first
    taskrun_value: str | None = None
    iteration: int | None = None
    parent_task: str | None = None
    branch: str = "tasks"
    working_dir: Path | None = None
    retry: Any = None

    def child(self, parent: Task, **changes: Any) -> "Scope":
        # Kestra's ``parents`` are the enclosing task runs, nearest first, each with its own
        # ``taskrun.value`` (the loop item it runs in); runs without a value are left out.
        if "parents" not in changes and self.taskrun_value is not None:
            changes["parents"] = ({"taskrun": {"value": self.taskrun_value}}, *self.parents)
        return replace(self, parent_task=parent.id, branch="tasks", retry=parent.retry or self.retry, **changes)


@dataclass
class RunServices:
    """What the outside world provides to a run (the compiler fills this from Dagster)."""

    storage: Any  # engine.storage.LocalStorage or engine.storage_s3.S3Storage
    kv: KVBackend
    logger_factory: Callable[[str, tuple[str, ...]], TaskLogger]
    secrets: SecretResolver = field(default_factory=SecretResolver)
    subflow_launcher: Callable[..., dict] | None = None
    log_fetcher: Any = None  # engine.context.LogFetcher
    #: The orchestrator's instance, for system tasks (engine.instance_ops.InstanceOperations).
    instance_ops: Any = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    work_root: Path | None = None
    #: Set when the top-level task is its own executor step that the executor can retry (a
    #: Dagster op): the runner then hands a retry to the executor (``RetryStep``) instead of
    #: waiting in place, so each attempt is a visible step attempt. Nested tasks retry in place.
    step_retry: "StepRetry | None" = None


@dataclass(frozen=True)
class StepRetry:
    """Attempts of this step made before (the executor's retry number) and when the first began."""

    previous_attempts: int
    first_started: float  # epoch seconds: attempts may run in different processes
    task_id: str = ""  # the task that is the step (nested tasks of that task retry in place)


class RetryStep(Exception):
    """The top-level task failed an attempt and its policy wants another in ``delay`` seconds."""

    def __init__(self, delay: float):
        super().__init__(f"retry in {delay:.1f}s")
        self.delay = delay


class Runner:
    def __init__(self, flow: Flow, execution: ExecutionState, services: RunServices):
        self.flow = flow
        self.execution = execution
        self.services = services
        self._lock = threading.RLock()

    # ================================================================ variables & rendering
    def variables(self, scope: Scope, task: Task | None = None, taskrun: TaskRunInfo | None = None) -> dict:
        ex = self.execution
        variables: dict[str, Any] = {
            "flow": {"id": self.flow.id, "namespace": self.flow.namespace, "revision": 1, "tenantId": None},
            "execution": {"id": ex.execution_id, "startDate": ex.start_date, "originalId": ex.execution_id,
                          "state": ex.final_state or State.RUNNING.value},
            "inputs": ex.inputs,
            "vars": self.flow.variables,
            "outputs": ex.outputs,
            "labels": {**self.flow.label_dict(), **ex.labels},
            "trigger": ex.trigger,
            "envs": kestra_envs(),
            "globals": {},
            "__secrets__": self.services.secrets,
            "__functions__": self._functions(),
        }
        if task is not None:
            variables["task"] = {"id": task.id, "type": task.type}
        if taskrun is not None:
            variables["taskrun"] = taskrun.as_variable()
        elif scope.taskrun_value is not None:
            variables["taskrun"] = {"value": scope.taskrun_value, "iteration": scope.iteration}
        if scope.parents:
            variables["parents"] = list(scope.parents)
            variables["parent"] = scope.parents[0]
        if scope.working_dir is not None:
            variables["workingDir"] = str(scope.working_dir)
        return variables

    def _functions(self) -> dict[str, Callable]:
        flow_namespace = self.flow.namespace

        def kv(key: str, namespace: str | None = None, errorOnMissing: bool = True):  # noqa: N803 - Kestra's name
            ns = namespace or flow_namespace
            value = self.services.kv.get(ns, key)
            if value is None and errorOnMissing:
                raise ExpressionError(f"kv() found no key '{key}' in namespace '{ns}'")
            return value

        def read(uri: str):
            _check_readable(uri, "read")
            try:
                return self.services.storage.read_bytes(uri).decode("utf-8")
            except Exception as exc:  # noqa: BLE001 - surfaced as an expression error
                raise ExpressionError(f"read() cannot read {uri!r}: {exc}") from None

        def errorLogs():  # noqa: N802 - Kestra's name
            """Kestra's errorLogs(): the execution's ERROR log entries (here: each failed task run's error)."""
            with self._lock:
                runs = list(self.execution.task_runs)
            return [
                {"taskId": r.task_id, "message": r.error, "level": "ERROR", "timestamp": r.ended,
                 "value": "/".join(r.values) or None, "attemptNumber": r.attempts,
                 "executionId": self.execution.execution_id, "namespace": flow_namespace, "flowId": self.flow.id}
                for r in runs if r.error
            ]

        storage = self.services.storage
        from kestra_dagster.engine.storage import is_storage_uri, namespace_parts

        def _uris(value: Any) -> Iterator[str]:
            if isinstance(value, dict):
                value = list(value.values())
            if isinstance(value, list):
                for item in value:
                    yield from _uris(item)
            elif is_storage_uri(value):
                yield value

        # what a trigger of this flow stored and handed to this run; a URI the trigger merely carries
        # (a webhook body) names no file of this flow's triggers and stays refused
        handed_over = set(_uris(self.execution.trigger or {}))
        trigger_root = [*namespace_parts(flow_namespace), self.flow.id, "triggers"]

        def _check_readable(uri: str, fn: str) -> None:
            """Kestra's rule for file functions: a flow reads its own execution's files, its parent
            execution's (a subflow), and its namespace's ``_files``; nothing of other flows."""
            try:
                parts = storage.relative_parts(uri)
            except Exception as exc:  # noqa: BLE001 - surfaced as an expression error
                raise ExpressionError(f"{fn}() cannot use {uri!r}: {exc}") from None
            allowed = [storage.execution_prefix(flow_namespace, self.flow.id, self.execution.execution_id),
                       [*namespace_parts(flow_namespace), "_files"]]
            trigger = self.execution.trigger or {}
            if trigger.get("executionId") and trigger.get("namespace") and trigger.get("flowId"):
                try:
                    allowed.append(storage.execution_prefix(str(trigger["namespace"]), str(trigger["flowId"]),
                                                            str(trigger["executionId"])))
                except Exception:  # noqa: BLE001 - not a parent execution we can name
                    pass
            if uri in handed_over and parts[:len(trigger_root)] == trigger_root:
                return  # a file this flow's trigger stored for this execution (Kestra keeps those under it)
            if not any(parts[:len(prefix)] == prefix for prefix in allowed):
                raise ExpressionError(f"{fn}() cannot use {uri!r}: a flow reads only the files of its own execution, "
                                      "of its parent execution and of its namespace (as Kestra)")

        def _local(uri: str, fn: str):
            _check_readable(uri, fn)
            try:
                return storage.local_path(uri)
            except Exception as exc:  # noqa: BLE001 - surfaced as an expression error
                raise ExpressionError(f"{fn}() cannot use {uri!r}: {exc}") from None

        def fileExists(uri: str) -> bool:  # noqa: N802 - Kestra's names
            _check_readable(uri, "fileExists")
            return storage.exists(uri)

        def fileSize(uri: str) -> int:  # noqa: N802
            path = _local(uri, "fileSize")
            if not path.is_file():
                raise ExpressionError(f"fileSize(): no file at {uri!r}")
            return path.stat().st_size

        def isFileEmpty(uri: str) -> bool:  # noqa: N802
            return fileSize(uri) == 0

        return {"kv": kv, "read": read, "errorLogs": errorLogs,
                "fileExists": fileExists, "fileSize": fileSize, "isFileEmpty": isFileEmpty}

    def render(self, value: Any, scope: Scope, task: Task | None = None, prop: str = "", typed: bool = False) -> Any:
        variables = self.variables(scope, task)
        try:
            if typed and isinstance(value, str):
                return render_typed(value, variables)
            return render_value(value, variables)
        except ExpressionError as exc:
            raise exc.located(task=task.id if task else "", prop=prop) from None

    def logger(self, task_id: str, scope: Scope) -> TaskLogger:
        return self.services.logger_factory(task_id, scope.values)

    # ================================================================ lists
    def run_list(
        self,
        tasks: Sequence[Task],
        scope: Scope,
        errors: Sequence[Task] = (),
        finally_: Sequence[Task] = (),
    ) -> State:
        """Kestra's sequential list: stop at the first failure, then errors, then finally."""
        states: list[State] = []
        for task in _enabled(tasks):
            if self.services.cancel_event.is_set():
                states.append(State.KILLED)
                break
            state = self.run_task(task, scope)
            states.append(state)
            if state.stops_list:
                break
        return self.finish_list(states, scope, errors, finally_)

    def finish_list(self, states: list[State], scope: Scope, errors: Sequence[Task], finally_: Sequence[Task]) -> State:
        """Run ``errors`` when the list failed, then ``finally``; fold the list's state."""
        result = guess_final_state(states)
        if result == State.FAILED and errors:
            self.run_list(errors, replace(scope, branch="errors"))
        if finally_ and result != State.KILLED:
            finally_state = self.run_list(finally_, replace(scope, branch="finally"))
            result = guess_final_state([result, finally_state])
        return result

    def run_parallel(
        self,
        tasks: Sequence[Task],
        scope: Scope,
        concurrent: int = 0,
        errors: Sequence[Task] = (),
        finally_: Sequence[Task] = (),
    ) -> State:
        """Run tasks side by side (``concurrent`` 0 = all at once); the slowest decides the end."""
        todo = list(_enabled(tasks))
        states = self.map_concurrently(todo, lambda t: self.run_task(t, scope), concurrent)
        return self.finish_list(states, scope, errors, finally_)

    def map_concurrently(self, items: Sequence[Any], fn: Callable[[Any], State], limit: int) -> list[State]:
        if not items:
            return []
        workers = len(items) if limit in (0, None) else max(1, min(limit, len(items)))
        if workers == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kestra-task") as pool:
            return list(pool.map(fn, items))

    # ================================================================ one task
    def run_task(self, task: Task, scope: Scope) -> State:
        log = self.logger(task.id, scope)
        started = utcnow_iso()
        early = self.pre_check(task, scope, log, started)
        if early is not None:
            return early
        if task.is_flowable:
            return self._run_flowable(task, scope, log, started)
        return self._run_runnable(task, scope, log, started)

    def pre_check(self, task: Task, scope: Scope, log: TaskLogger, started: str) -> State | None:
        """What ends a task before it starts (a run being stopped, a false ``runIf``), recorded; else None."""
        if self.services.cancel_event.is_set():  # the execution is being stopped: start nothing more
            return self._record(task, scope, State.KILLED, started, error=self._kill_reason())
        condition = task.run_condition
        if condition is not None:
            try:
                rendered = self.render(condition, scope, task, prop="runIf" if task.runIf is not None else "when")
            except ExpressionError as exc:
                log.error(str(exc))
                return self._record(task, scope, State.FAILED, started, error=str(exc))
            if not is_truthy(rendered):
                log.info(f"skipped: condition {condition!r} is false")
                return self._record(task, scope, State.SKIPPED, started)
        return None

    # ================================================================ a block run as steps
    def open_block(self, task: Task, scope: Scope) -> tuple[State | None, Scope]:
        """Start a flowable whose children the compiler runs as steps of their own.

        Returns ``(state, child_scope)``: a state when the block already ended (``runIf`` false,
        a run being stopped), else None and the scope its children run in.
        """
        log = self.logger(task.id, scope)
        started = utcnow_iso()
        early = self.pre_check(task, scope, log, started)
        with self._lock:
            self.execution.open_blocks[_block_key(task.id, scope.values)] = started
        return early, scope.child(task)

    def fail_block(self, task: Task, scope: Scope, error: str) -> State:
        """The block could not choose its children (a bad condition, values…): it ends FAILED."""
        error = self._masked(error)
        self.logger(task.id, scope).error(error)
        state = apply_allow(State.FAILED, task.allowFailure, task.allowWarning)
        return self._record(task, scope, state, self._block_started(task, scope), error=error)

    def end_block(self, task: Task, scope: Scope, state: State | None = None) -> State:
        """Fold a block's state from its children's task runs, as ``finish_list`` does in place."""
        done = self.block_record(task, scope)
        if done is not None:  # ended before its children (skipped, failed to choose, no branch)
            return State(done.state)
        if state is None:
            depth = len(scope.values)
            mine = [r for r in self.execution.task_runs if r.parent == task.id and r.values[:depth] == scope.values]
            state = guess_final_state(State(r.state) for r in mine if r.branch == "tasks")
            finals = [State(r.state) for r in mine if r.branch == "finally"]
            if finals and state != State.KILLED:
                state = guess_final_state([state, *finals])
            state = task.fold_block_state(state)  # type: ignore[attr-defined]
        state = apply_allow(state, task.allowFailure, task.allowWarning)
        return self._record(task, scope, state, self._block_started(task, scope))

    def block_record(self, task: Task, scope: Scope) -> TaskRunRecord | None:
        return next((r for r in reversed(self.execution.task_runs)
                     if r.task_id == task.id and r.values == scope.values), None)

    def _block_started(self, task: Task, scope: Scope) -> str:
        return self.execution.open_blocks.get(_block_key(task.id, scope.values)) or utcnow_iso()

    def _run_flowable(self, task: Task, scope: Scope, log: TaskLogger, started: str) -> State:
        try:
            state = task.execute(self, scope)  # type: ignore[attr-defined]
            error = None
        except (TaskFailed, ExpressionError, KestraDagsterError) as exc:
            state, error = State.FAILED, self._masked(str(exc))
            log.error(error)
        state = apply_allow(State(state), task.allowFailure, task.allowWarning)
        return self._record(task, scope, state, started, error=error)

    def _run_runnable(self, task: Task, scope: Scope, log: TaskLogger, started: str) -> State:
        policy = task.retry or scope.retry or self.flow.retry
        step = self.services.step_retry
        step = step if step is not None and step.task_id == task.id else None  # its own executor step
        first_attempt = step.first_started if step else time.time()
        attempt = step.previous_attempts if step else 0
        metrics: list[dict[str, Any]] = []  # over every attempt, into the task run's record
        while True:
            attempt += 1
            taskrun = TaskRunInfo(
                id=_short_id(), task_id=task.id, start_date=utcnow_iso(), attempts_count=attempt,
                value=scope.taskrun_value, iteration=scope.iteration,
            )
            state, outputs, error = self._attempt(task, scope, taskrun, log, metrics)
            if state in (State.SUCCESS, State.WARNING, State.KILLED) or self.services.cancel_event.is_set():
                break
            delay = _retry_delay(policy, attempt, time.time() - first_attempt)
            if delay is None:
                break
            # Kestra writes durations as ISO-8601 (PT0.25S); so do we, exactly (no rounding to 0.2s).
            log.warning(f"attempt {attempt} failed: {error}; retrying in {format_duration(timedelta(seconds=delay))}")
            if step is not None:
                raise RetryStep(delay)
            if self.services.cancel_event.wait(delay):
                state = State.KILLED
                break
        if state == State.SUCCESS and attempt > 1 and policy is not None and policy.warningOnRetry:
            state = State.WARNING
        if outputs is not None:
            sub_tasks = outputs.pop(SUB_TASK_OUTPUTS_KEY, None) or {}
            with self._lock:
                self.execution.set_outputs(task.id, scope.values, outputs)
                for sub_task_id, sub_outputs in sub_tasks.items():
                    self.execution.set_outputs(sub_task_id, scope.values, sub_outputs)
        final = apply_allow(state, task.allowFailure, task.allowWarning)
        if final != state and state == State.FAILED:
            log.warning(f"failure allowed (allowFailure): task ends {final.value}")
        return self._record(task, scope, final, started, error=error, attempts=attempt, metrics=metrics)

    def _attempt(self, task: Task, scope: Scope, taskrun: TaskRunInfo, log: TaskLogger,
                 metrics: list[dict[str, Any]] | None = None):
        """One attempt, in a worker thread so a timeout or a run termination can stop it."""
        work_dir, owns_dir = self._working_dir(scope)
        cancel = threading.Event()
        ctx = TaskContext(
            task_id=task.id, task_type=task.type, variables=self.variables(scope, task, taskrun), logger=log,
            working_dir=work_dir,
            storage=self.services.storage.for_task(self.flow.namespace, self.flow.id, self.execution.execution_id, task.id, taskrun.id),
            kv=self.services.kv, namespace=self.flow.namespace, flow_id=self.flow.id,
            execution_id=self.execution.execution_id, taskrun=taskrun, renderer=self._renderer(),
            cancel_event=cancel, subflow_launcher=self.services.subflow_launcher,
            log_fetcher=self.services.log_fetcher, instance_ops=self.services.instance_ops,
            secret_values=self.services.secrets.revealed,
        )
        result: dict[str, Any] = {}

        def target() -> None:
            try:
                # rendering inside the task stops at its timeout, or when it is stopped (expressions/budget.py)
                with render_budget.bounded(deadline=time.monotonic() + timeout if timeout is not None else None,
                                           stop=cancel, reason=f"task '{task.id}' timed out while rendering"):
                    result["outputs"] = task.run(ctx) or {}  # type: ignore[attr-defined]
            except BaseException as exc:  # noqa: BLE001 - reported below
                result["error"] = exc

        timeout = None
        if task.timeout:
            try:
                timeout = parse_duration(self.render(task.timeout, scope, task, prop="timeout")).total_seconds()
            except (ValueError, ExpressionError) as exc:
                log.error(f"invalid timeout: {exc}")
                return State.FAILED, None, str(exc)
        worker = threading.Thread(target=target, name=f"kestra-{task.id}", daemon=True)
        started = time.monotonic()
        worker.start()
        try:
            timed_out = self._wait(worker, cancel, timeout, started)
        except BaseException:
            # Dagster is terminating the run: stop the task, then let the interruption through.
            cancel.set()
            self.services.cancel_event.set()
            worker.join(CANCEL_GRACE_SECONDS)
            raise
        finally:
            if owns_dir:
                _remove_tree(work_dir)
        if metrics is not None:
            fold_metrics(metrics, ctx.metrics)
        if ctx._labels:
            with self._lock:
                self.execution.labels.update(ctx._labels)
        if ctx._secret_outputs:
            with self._lock:
                self.execution.add_masked(ctx._secret_outputs)
        if timed_out:
            message = f"task '{task.id}' timed out after {task.timeout}"
            log.error(message)
            return State.FAILED, None, message
        if self.services.cancel_event.is_set() and "outputs" not in result:
            reason = self._kill_reason()
            log.error(reason)
            return State.KILLED, None, reason
        if "error" in result:
            exc = result["error"]
            if isinstance(exc, TaskKilled) and self.services.cancel_event.is_set():
                return State.KILLED, None, str(exc)
            message = self._masked(_describe(exc))
            log.error(message)
            outputs = exc.outputs if isinstance(exc, TaskFailed) and exc.outputs else None
            return State.FAILED, outputs, message
        outputs = result.get("outputs", {})
        state = State.WARNING if ctx._warnings else State.SUCCESS
        return state, outputs, None

    def _wait(self, worker: threading.Thread, cancel: threading.Event, timeout: float | None, started: float) -> bool:
        """Wait for the attempt; True when its timeout elapsed (the task is then cancelled)."""
        while worker.is_alive():
            worker.join(0.1)
            if self.services.cancel_event.is_set():
                cancel.set()
            if timeout is not None and time.monotonic() - started > timeout and worker.is_alive():
                cancel.set()
                worker.join(CANCEL_GRACE_SECONDS)
                return True
        return False

    def _kill_reason(self) -> str:
        """Why the run-wide cancel event is set: a reason it carries (an SLA), else a plain kill."""
        return getattr(self.services.cancel_event, "reason", None) or "killed"

    def _renderer(self) -> Callable[[Any, dict], Any]:
        return render_value

    def _working_dir(self, scope: Scope) -> tuple[Path, bool]:
        if scope.working_dir is not None:
            return scope.working_dir, False
        root = self.services.work_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        import tempfile

        return Path(tempfile.mkdtemp(prefix="kestra-task-", dir=root)), True

    def _masked(self, text: str) -> str:
        return mask_secrets(text, self.services.secrets.revealed)

    def _record(self, task: Task, scope: Scope, state: State, started: str, error: str | None = None, attempts: int = 1,
                metrics: list[dict[str, Any]] | None = None) -> State:
        rec = TaskRunRecord(
            task_id=task.id, values=scope.values, state=state.value, attempts=attempts, started=started,
            ended=utcnow_iso(), error=error, parent=scope.parent_task, branch=scope.branch, metrics=list(metrics or []),
        )
        with self._lock:
            self.execution.record(rec)
        return state

    def record_outputs(self, task: Task, scope: Scope, outputs: dict[str, Any]) -> None:
        """Flowables (If, Switch…) publish their own outputs through this."""
        with self._lock:
            self.execution.set_outputs(task.id, scope.values, outputs)


# ==================================================================== helpers


def _block_key(task_id: str, values: tuple[str, ...]) -> str:
    return "/".join((task_id, *values))


def _enabled(tasks: Sequence[Task]) -> list[Task]:
    return [t for t in tasks if not t.disabled]


def _retry_delay(policy: Any, attempt: int, elapsed: float) -> float | None:
    """Seconds to wait before the next attempt, or None when the policy is exhausted."""
    if policy is None or policy.behavior == "CREATE_NEW_EXECUTION":
        return None
    if policy.maxAttempt is not None and attempt >= policy.maxAttempt:
        return None
    delay = policy.delay(attempt).total_seconds()
    if policy.maxDuration is not None and elapsed + delay > parse_duration(policy.maxDuration).total_seconds():
        return None
    if policy.maxAttempt is None and policy.maxDuration is None:
        return None if attempt >= 2 else delay  # Kestra needs a bound; never loop forever
    return delay


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KestraDagsterError):
        return str(exc)
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _short_id() -> str:
    return uuid.uuid4().hex[:22]


#: Never exposed through ``envs``: configuration (may hold passwords) and our secret backend.
def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
