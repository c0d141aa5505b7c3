"""Run fixture flows through real Dagster execution and collect Kestra's and Dagster's view of it.

Fixture flows live in ``tests/flows/<feature>/``. ``run_flow`` compiles one file (or a directory,
for subflows), executes the job in process on a Dagster instance, and returns an ``Outcome``:
the Kestra summary (state, task states, outputs, flow outputs), the execution state with every
task run (timestamps, attempts, errors), the Dagster step events and every event-log message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance
from dagster_shared.serdes import serialize_value

from kestra_dagster.compiler.definitions import load_catalog
from kestra_dagster.compiler.ops import END_NODE, OK
from kestra_dagster.compiler.runner_cli import summarise
from kestra_dagster.compiler.subflow import wait_for_detached
from kestra_dagster.engine.execution import ExecutionState, TaskRunRecord

FLOWS = Path(__file__).resolve().parents[1] / "flows"


def flow_path(*parts: str) -> Path:
    path = FLOWS.joinpath(*parts)
    assert path.exists(), path
    return path


def ts(text: str) -> float:
    """An ISO timestamp of a task run as epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Outcome:
    run_id: str
    success: bool  # Dagster's view: the run ended SUCCESS
    summary: dict
    execution: ExecutionState | None  # what kestra_end saw (None when it did not run)
    events: list[tuple[str | None, str]]  # (step key, DagsterEventType value) in order
    messages: list[str]  # every event-log message of the run (user logs and Dagster's own)
    tags: dict[str, str] = field(default_factory=dict)
    raw_log: str = ""  # every event-log entry serialised (messages, metadata, errors)

    @property
    def state(self) -> str:
        return self.summary["state"]

    @property
    def task_states(self) -> dict[str, Any]:
        return self.summary["taskStates"]

    @property
    def outputs(self) -> dict[str, Any]:
        return self.summary["outputs"]

    @property
    def flow_outputs(self) -> dict[str, Any]:
        return self.summary["flowOutputs"]

    def steps(self, event: str) -> list[str]:
        """Step keys that had ``event`` (e.g. "STEP_SKIPPED"), in order."""
        return [step for step, kind in self.events if kind == event and step]

    def step_order(self) -> list[str]:
        return self.steps(DagsterEventType.STEP_START.value)

    def runs(self, task_id: str) -> list[TaskRunRecord]:
        assert self.execution is not None, "kestra_end did not run"
        return [r for r in self.execution.task_runs if r.task_id == task_id]

    def run(self, task_id: str, *values: str) -> TaskRunRecord:
        found = [r for r in self.runs(task_id) if r.values == tuple(values)]
        assert len(found) == 1, (task_id, values, found)
        return found[0]

    def log_text(self) -> str:
        return "\n".join(self.messages)


def execute(path: Path, inputs: dict | None = None, instance: DagsterInstance | None = None,
            labels: dict | None = None, file: Path | None = None, trigger: dict | None = None) -> Outcome:
    """Compile ``path`` (a file, or a directory with ``file`` the flow to run) and execute it."""
    catalog = load_catalog([path])
    assert not catalog.broken, catalog.broken
    target = file or path
    compiled = catalog.by_file(target)
    assert compiled is not None, f"{target} not in {list(catalog.flows)}"
    run_config: dict[str, Any] = {"inputs": inputs or {}}
    if labels:
        run_config["labels"] = labels
    if trigger:
        run_config["trigger"] = trigger
    own = instance is None
    instance = instance or DagsterInstance.ephemeral()
    try:
        result = compiled.job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        tags = dict(run.tags) if run else {}
        entries = instance.all_logs(result.run_id)
        messages = []
        for entry in entries:
            if entry.user_message:
                messages.append(entry.user_message)
            if entry.dagster_event is not None and entry.dagster_event.message:
                messages.append(entry.dagster_event.message)
        events = [(e.step_key, e.event_type_value) for e in result.all_events]
        raw_log = "\n".join(serialize_value(entry) for entry in entries)
        try:
            execution = result.output_for_node(END_NODE, OK)
        except Exception:  # noqa: BLE001 - the end node did not run
            execution = None
        return Outcome(
            run_id=result.run_id, success=result.success, summary=summarise(result, tags),
            execution=execution, events=events, messages=messages, tags=tags, raw_log=raw_log,
        )
    finally:
        if own:
            wait_for_detached()  # `wait: false` children still running on this instance
            instance.dispose()


@pytest.fixture(autouse=True)
def storage_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kestra:// files of the test's runs go under its tmp_path; runs use ephemeral instances."""
    storage = tmp_path / "kestra-storage"
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(storage))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return storage


@pytest.fixture
def run_flow():
    """``run_flow("feature", "file.yaml", inputs={...}) -> Outcome``."""

    def _run(*parts: str, inputs: dict | None = None, instance: DagsterInstance | None = None,
             labels: dict | None = None) -> Outcome:
        return execute(flow_path(*parts), inputs=inputs, instance=instance, labels=labels)

    return _run


def dump(outcome: Outcome) -> str:
    """Readable summary for assertion messages."""
    return json.dumps({"state": outcome.state, "tasks": outcome.task_states, "steps": outcome.events[-12:]},
                      default=str, indent=1)
