"""``kestra-dagster run``: one flow, run to its end in this process, summarised as Kestra would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kestra_dagster.compiler.definitions import load_catalog
from kestra_dagster.compiler.ops import END_NODE, FAILED, OK, TrackingSecrets
from kestra_dagster.compiler.subflow import wait_for_detached
from kestra_dagster.engine.context import mask_secrets
from kestra_dagster.instance_schema import open_instance
from kestra_dagster.engine.execution import ExecutionState
from kestra_dagster.engine.inputs import resolve_inputs
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.parse_cache import ParseCache


def run_flow_file(flow_file: str, inputs: dict[str, Any], flows_dir: str | None = None) -> dict:
    """Validate, check inputs (raising InputError before anything runs), execute, summarise."""
    cache = ParseCache.for_instance_home()  # parsed once: the catalog below finds it there
    loaded = cache.load(flow_file)
    if loaded.unsupported:
        # located as `validate` locates them: file:line:column and the caret snippet
        raise FlowValidationError(flow_file, [u.as_issue(flow_file) for u in loaded.unsupported],
                                  unsupported=loaded.unsupported)
    resolve_inputs(loaded.flow, inputs)  # reject bad inputs before a run exists
    paths: list[str | Path] = [flows_dir] if flows_dir else []
    if not any(Path(flow_file).resolve().is_relative_to(Path(p).resolve()) for p in paths):
        paths.append(flow_file)  # (a flow inside flows_dir is loaded once, with the others)
    catalog = load_catalog(paths, parse_cache=cache)
    compiled = catalog.by_file(flow_file) or catalog.flows[loaded.flow.uid]
    # $DAGSTER_HOME's instance (its schema made under a lock: a fresh home may be shared with a
    # daemon starting now), or an ephemeral one
    with open_instance() as instance:
        result = compiled.job.execute_in_process(
            run_config=compiled.run_config(inputs), instance=instance, raise_on_error=False,
        )
        run = instance.get_run_by_id(result.run_id)
        summary = summarise(result, run.tags if run else {})
        # `wait: false` subflows run in the background of this process: wait for them before the
        # instance closes, so none is cut off, and say which runs they were.
        detached = wait_for_detached()
        if detached:
            summary["detachedRuns"] = [{"runId": d.run_id, "flow": d.flow, "state": d.state} for d in detached]
        return summary


def summarise(result, tags: dict) -> dict:
    """Merge every execution snapshot the run's steps produced into Kestra's view of the run."""
    snapshots: list[ExecutionState] = []
    end: ExecutionState | None = None
    for handle in _node_handles(result.job_def.graph):
        for output in (OK, FAILED):
            try:
                value = result.output_for_node(handle, output)
            except Exception:  # noqa: BLE001 - the node did not produce this output
                continue
            if isinstance(value, ExecutionState):
                snapshots.append(value)
                if handle == END_NODE:
                    end = value
    merged = snapshots[0].merged(snapshots[1:]) if snapshots else None
    state = tags.get("kestra/state") or (end.final_state if end else None) or "FAILED"
    summary = {
        "runId": result.run_id,
        "state": state,
        "taskStates": merged.task_states() if merged else {},
        "outputs": merged.outputs if merged else {},
        "flowOutputs": end.flow_outputs if end else {},
        # per task id, the metrics its runs emitted (TaskRunRecord.metrics: counters summed,
        # timers in seconds with a count, gauges last), as the task steps' metadata shows them
        "metrics": {r.task_id: r.metrics for r in (merged.task_runs if merged else []) if r.metrics},
    }
    return _masked(summary, merged.secret_names if merged else [], merged.masked_values if merged else [])


def _node_handles(graph, prefix: str = ""):
    """Every op node of the job, nested sub-graphs included, as ``a.b.c`` handles."""
    from dagster import GraphDefinition

    for node in graph.nodes:
        handle = f"{prefix}{node.name}"
        if isinstance(node.definition, GraphDefinition):
            yield from _node_handles(node.definition, handle + ".")
        else:
            yield handle


def _masked(summary: dict, secret_names: list[str], masked_values: list[str] = ()) -> dict:
    """Secrets read during the run (and secret outputs) are masked in what we print, as in the logs."""
    if not secret_names and not masked_values:
        return summary
    resolver = TrackingSecrets(secret_names)
    text = json.dumps(summary, default=str)
    masked = mask_secrets(text, {json.dumps(v)[1:-1] for v in [*resolver.revealed, *masked_values]})
    return summary if masked == text else json.loads(masked)
