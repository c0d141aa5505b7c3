"""``engine.instance_ops.InstanceOperations`` on the Dagster instance of a run.

* **Executions** are Kestra-tagged runs (``kestra/namespace``, ``kestra/flow_id``). A Pause gate
  splits one execution into part runs that share ``kestra/execution_id``, so executions are
  selected and purged as groups: started (first part created) in ``[startDate, endDate]``, in the
  Kestra state of their latest part. An execution with a part still going, and the purging
  execution itself, are left alone.
* **Log lines** are a run's user log entries; ``PurgeLogs`` deletes those, by level and time,
  and keeps the step events the run page is drawn from (``compat.delete_log_lines``).
* **Resuming** records an approval on the execution's gate, which the flow's resume sensor turns
  into the next part run, as a decision from the approval page or the API does.
* **Triggers** are the flow's Dagster schedules and sensors; toggling writes their stored status
  for the code location that launched this run, the status the daemon and the UI read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from dagster import DagsterEventType, RunsFilter

from kestra_dagster.compat import delete_log_lines
from kestra_dagster.compiler.logs import kestra_level
from kestra_dagster.engine.instance_ops import ExecutionFilter, PurgeResult
from kestra_dagster.errors import TaskFailed

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow

log = logging.getLogger("kestra_dagster")

TAG_NAMESPACE, TAG_FLOW_ID, TAG_EXECUTION = "kestra/namespace", "kestra/flow_id", "kestra/execution_id"


class DagsterInstanceOps:
    """What system tasks may do to the instance that runs ``compiled``'s run ``run_id``."""

    def __init__(self, instance: Any, run_id: str, execution_id: str, compiled: "CompiledFlow", storage: Any):
        self.instance, self.run_id, self.execution_id = instance, run_id, execution_id
        self.compiled, self.storage = compiled, storage

    # ------------------------------------------------------------------ executions
    def _scope_tags(self, which: ExecutionFilter) -> dict[str, Any] | None:
        """Run tags selecting ``which``'s namespace(s) and flow; None when no run can match."""
        if which.flow_id is not None:
            return {TAG_NAMESPACE: which.namespace, TAG_FLOW_ID: which.flow_id}
        known = next((values for key, values in self.instance.get_run_tags(tag_keys=[TAG_NAMESPACE])
                      if key == TAG_NAMESPACE), set())
        namespaces = sorted(ns for ns in known if which.namespace_matches(ns))
        return {TAG_NAMESPACE: namespaces} if namespaces else None

    def _executions(self, which: ExecutionFilter) -> list[list[Any]]:
        """The matching executions, each as the run records of its parts (oldest first)."""
        tags = self._scope_tags(which)
        if tags is None:
            return []
        candidates = self.instance.get_run_records(RunsFilter(tags=tags, created_before=which.end))
        groups: dict[str, dict[str, Any]] = defaultdict(dict)
        for record in candidates:
            run = record.dagster_run
            groups[run.tags.get(TAG_EXECUTION, run.run_id)][run.run_id] = record
        if groups:  # parts created after endDate still belong to the execution (one query for all)
            for record in self.instance.get_run_records(RunsFilter(tags={TAG_EXECUTION: sorted(groups)})):
                groups[record.dagster_run.tags[TAG_EXECUTION]][record.dagster_run.run_id] = record
        found = []
        for parts in groups.values():
            ordered = sorted(parts.values(), key=lambda r: r.create_timestamp)
            if not which.started_in_range(_utc(ordered[0].create_timestamp)):
                continue
            if which.states is not None and _state(ordered[-1].dagster_run) not in which.states:
                continue
            found.append(ordered)
        return found

    def _leave_alone(self, parts: list[Any]) -> str | None:
        """Why this execution must not be purged, or None."""
        runs = [record.dagster_run for record in parts]
        if any(run.run_id == self.run_id or run.tags.get(TAG_EXECUTION) == self.execution_id for run in runs):
            return "it is the purging execution"
        going = next((run for run in runs if not run.is_finished), None)
        return f"its run {going.run_id} is {going.status.value}" if going else None

    def purge_executions(self, which: ExecutionFilter, *, executions: bool, logs: bool, metrics: bool,
                         storage: bool) -> PurgeResult:
        result = PurgeResult()
        for parts in self._executions(which):
            runs = [record.dagster_run for record in parts]
            why = self._leave_alone(parts)
            if why:
                result.skipped += 1
                log.info("kestra-dagster: execution %s left alone: %s", runs[0].tags.get(TAG_EXECUTION, runs[0].run_id), why)
                continue
            for run in runs:
                if metrics or executions:
                    result.metrics += _metric_count(self.instance, run.run_id)
                if executions:
                    result.logs += sum(1 for entry in self.instance.all_logs(run.run_id) if entry.dagster_event is None)
                    self.instance.delete_run(run.run_id)  # its event log and metrics go with it
                elif logs:
                    result.logs += delete_log_lines(self.instance, run.run_id, lambda entry: True)
            if storage:
                first = runs[0]
                result.storages += len(self.storage.delete_execution(
                    first.tags.get(TAG_NAMESPACE, ""), first.tags.get(TAG_FLOW_ID, ""),
                    first.tags.get(TAG_EXECUTION, first.run_id)))
            if executions:
                result.executions += 1
        return result

    def purge_logs(self, which: ExecutionFilter, *, levels: tuple[str, ...] | None) -> int:
        tags = self._scope_tags(which)
        if tags is None:
            return 0
        start = which.start.timestamp() if which.start else None
        end = which.end.timestamp() if which.end else None
        # Dagster has no TRACE level: trace lines are stored as DEBUG, so they go with DEBUG (asking
        # for TRACE alone keeps them rather than deleting DEBUG lines nobody asked to purge)
        wanted = set(levels) if levels is not None else None

        def doomed(entry) -> bool:
            if (start is not None and entry.timestamp < start) or (end is not None and entry.timestamp > end):
                return False
            return wanted is None or kestra_level(entry.level) in wanted

        # a line logged in [start, end] belongs to a run created before end and updated after start
        records = self.instance.get_run_records(RunsFilter(tags=tags, created_before=which.end,
                                                           updated_after=which.start))
        deleted = 0
        for record in records:
            if record.dagster_run.run_id == self.run_id:  # this run's own lines are still being written
                continue
            deleted += delete_log_lines(self.instance, record.dagster_run.run_id, doomed)
        return deleted

    # ------------------------------------------------------------------ paused executions
    def paused_execution(self, namespace: str, flow_id: str) -> str:
        from kestra_dagster.approvals.store import WAITING, ApprovalStore

        waiting = ApprovalStore.for_instance(self.instance).list(status=WAITING, flow_uid=f"{namespace}.{flow_id}")
        if not waiting:
            raise TaskFailed(f"no execution of flow {namespace}.{flow_id} is paused")
        return min(waiting, key=lambda record: record.created_at).execution_id

    def resume(self, *, execution_id: str, namespace: str | None, flow_id: str | None,
               inputs: dict[str, Any] | None, by: str) -> dict[str, Any]:
        from kestra_dagster.approvals.api import decide
        from kestra_dagster.approvals.store import ApprovalStore, DecisionRefused

        record = ApprovalStore.for_instance(self.instance).waiting_for(execution_id)
        if record is None:
            raise TaskFailed(f"execution {execution_id} is not paused: it has no Pause/Approval gate")
        found_ns, _, found_flow = record.flow_uid.rpartition(".")
        if (namespace is not None and namespace != found_ns) or (flow_id is not None and flow_id != found_flow):
            raise TaskFailed(f"execution {execution_id} belongs to flow {record.flow_uid}, not "
                             f"{namespace or found_ns}.{flow_id or found_flow}")
        try:
            decided = decide(self.instance, execution_id, True, by, inputs=inputs)
        except DecisionRefused as exc:
            raise TaskFailed(f"cannot resume: {exc}") from None
        return {"id": execution_id, "namespace": found_ns, "flowId": found_flow, "task": decided.gate_id}

    # ------------------------------------------------------------------ triggers
    def toggle_trigger(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> list[str]:
        from kestra_dagster.compat import set_instigator_running
        from kestra_dagster.compiler.definitions import FlowCatalog
        from kestra_dagster.compiler.triggers import TriggerTranslator

        uid = f"{namespace}.{flow_id}"
        catalog = dict(self.compiled.catalog)
        catalog.setdefault(self.compiled.flow.uid, self.compiled)
        target = catalog.get(uid)
        if target is None:
            raise TaskFailed(f"flow {uid} is not loaded in this code location; make sure the flow exists")
        trigger = next((t for t in target.flow.triggers if t.id == trigger_id), None)
        if trigger is None:
            known = ", ".join(t.id for t in target.flow.triggers) or "none"
            raise TaskFailed(f"flow {uid} has no trigger '{trigger_id}' (its triggers: {known})")
        hook = TriggerTranslator().hook_for(trigger)
        definitions = hook(target, trigger, FlowCatalog(flows=catalog)) if hook else []
        if not definitions:
            raise TaskFailed(f"trigger '{trigger_id}' of {uid} has no Dagster schedule or sensor to toggle")
        origins = self._repository_origins({d.name for d in definitions})
        if not origins:
            raise TaskFailed(
                f"cannot tell which code location runs trigger '{trigger_id}' of {uid}: this run was not launched "
                "from a Dagster deployment (UI, schedule, sensor, webhook), and the trigger's "
                f"schedules/sensors ({', '.join(sorted(d.name for d in definitions))}) have no stored state yet")
        for origin in origins:
            for definition in definitions:
                set_instigator_running(self.instance, origin, definition, enabled)
        return sorted(d.name for d in definitions)

    def _repository_origins(self, names: set[str]) -> list[Any]:
        """The code location(s) the trigger lives in: the one that launched this run, else those where
        its schedules/sensors already have a stored state."""
        from kestra_dagster.compat import instigator_states_named

        run = self.instance.get_run_by_id(self.run_id)
        if run is not None and run.remote_job_origin is not None:
            return [run.remote_job_origin.repository_origin]
        origins: dict[str, Any] = {}
        for state in instigator_states_named(self.instance, names):
            repo = state.origin.repository_origin
            origins[repo.get_id()] = repo
        return list(origins.values())


def _utc(timestamp: Any) -> datetime:
    if isinstance(timestamp, datetime):
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(timestamp), timezone.utc)


def _state(run: Any) -> str:
    from kestra_dagster.compiler.triggers.flow import kestra_state_of

    return kestra_state_of(run)


def _metric_count(instance: Any, run_id: str) -> int:
    """Metric values recorded in a run's step outputs (metadata ``metric/<name>``)."""
    count = 0
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_OUTPUT, limit=100_000).records:
        event = record.event_log_entry.dagster_event
        metadata = event.step_output_data.metadata if event and event.step_output_data else {}
        count += sum(1 for key in metadata if key.startswith("metric/"))
    return count


__all__ = ["DagsterInstanceOps"]
