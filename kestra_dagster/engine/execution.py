"""The state of one execution, as plain data that travels between Dagster ops.

``ExecutionState`` holds what Kestra's Execution holds that later tasks can see: outputs (keyed
by ForEach values, like Kestra), every task run with its state, labels set at run time. It is a
dataclass of JSON-able values so that it pickles through any IO manager and merges at fan-ins.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from kestra_dagster.engine.encryption import decrypt_text, encrypt_text, is_sealed, seal, unseal
from kestra_dagster.engine.states import State, guess_final_state


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class TaskRunRecord:
    task_id: str
    values: tuple[str, ...]  # the enclosing ForEach values, outermost first
    state: str
    attempts: int = 1
    started: str = ""
    ended: str = ""
    error: str | None = None
    parent: str | None = None  # id of the enclosing flowable, None at flow level
    branch: str = "tasks"  # tasks | errors | finally | afterExecution
    #: Metrics the task emitted over its attempts (``TaskContext.metrics``: name, type, value in
    #: seconds for timers, count, tags); empty for most tasks.
    metrics: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExecutionState:
    execution_id: str
    namespace: str
    flow_id: str
    start_date: str = field(default_factory=utcnow_iso)
    inputs: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    task_runs: list[TaskRunRecord] = field(default_factory=list)
    flow_outputs: dict[str, Any] = field(default_factory=dict)
    final_state: str | None = None
    #: Names (never values) of secrets read so far: later ops resolve them again to mask them.
    secret_names: list[str] = field(default_factory=list)
    #: Values of secret outputs (tokens from credential tasks, ``ctx.secret_output``): later ops mask
    #: them too. They travel here beside the outputs that already hold them, nowhere else.
    masked_values: list[str] = field(default_factory=list)
    #: Start times of blocks whose children run as steps of their own (``Runner.open_block``).
    open_blocks: dict[str, str] = field(default_factory=dict)
    #: Steps that already failed the Dagster run for a FAILED/KILLED task (so the end node knows).
    failed_steps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        revealed = getattr(self.inputs, "revealed", None)  # engine.inputs.ResolvedInputs
        if revealed:
            self.add_masked(sorted(revealed))
        if type(self.inputs) is not dict:
            self.inputs = dict(self.inputs)

    # ------------------------------------------------------------- outputs
    def set_outputs(self, task_id: str, values: tuple[str, ...], outputs: dict[str, Any]) -> None:
        """Store outputs like Kestra: ``outputs[task]`` or ``outputs[task][value]…`` inside loops."""
        if not values:
            self.outputs[task_id] = outputs
            return
        node = self.outputs.setdefault(task_id, {})
        for value in values[:-1]:
            node = node.setdefault(value, {})
        node[values[-1]] = outputs

    def add_masked(self, values) -> None:
        self.masked_values.extend(v for v in values if v not in self.masked_values)

    def record(self, rec: TaskRunRecord) -> None:
        self.task_runs.append(rec)

    # ------------------------------------------------------------- states
    def states_for(self, branch: str = "tasks", parent: str | None = None) -> list[State]:
        return [State(r.state) for r in self.task_runs if r.branch == branch and r.parent == parent]

    def kestra_state(self) -> State:
        """The flow's final state over its main tasks (``errors``/``finally`` cannot rescue it)."""
        states = self.states_for("tasks") + self.states_for("finally")
        return guess_final_state(states)

    def task_states(self) -> dict[str, Any]:
        """``{task_id: state}``, or ``{task_id: {value: state}}`` for tasks inside ForEach."""
        out: dict[str, Any] = {}
        for rec in self.task_runs:
            if not rec.values:
                out[rec.task_id] = rec.state
                continue
            node = out.setdefault(rec.task_id, {})
            if not isinstance(node, dict):
                node = out[rec.task_id] = {}
            for value in rec.values[:-1]:
                node = node.setdefault(value, {})
            node[rec.values[-1]] = rec.state
        return out

    # ------------------------------------------------------------- merging
    def merged(self, others: list["ExecutionState"]) -> "ExecutionState":
        """Union of several snapshots of the same execution (a Dagster fan-in)."""
        result = copy.deepcopy(self)
        seen = {_rec_key(r) for r in result.task_runs}
        for other in others:
            for rec in other.task_runs:
                if _rec_key(rec) not in seen:
                    result.task_runs.append(copy.deepcopy(rec))
                    seen.add(_rec_key(rec))
            _deep_merge(result.outputs, other.outputs)
            result.labels.update(other.labels)
            result.secret_names.extend(n for n in other.secret_names if n not in result.secret_names)
            result.add_masked(other.masked_values)
            result.open_blocks.update(other.open_blocks)
            result.failed_steps.extend(s for s in other.failed_steps if s not in result.failed_steps)
        return result

    def copy(self) -> "ExecutionState":
        return copy.deepcopy(self)

    # ------------------------------------------------------------- at rest
    # Secret outputs (``masked_values``) are clear in memory and encrypted whenever the state is
    # stored: pickled by Dagster's IO manager between ops, or kept as JSON by a gate.
    def __getstate__(self) -> dict:
        return _sealed(dict(self.__dict__))

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(_unsealed(state))

    def __deepcopy__(self, memo: dict) -> "ExecutionState":
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, copy.deepcopy(value, memo))
        return clone

    def to_json(self) -> dict:
        return _sealed(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExecutionState":
        """The inverse of ``to_json`` (a gate stores the execution; the next part restores it)."""
        data = _unsealed(dict(data))
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["task_runs"] = [TaskRunRecord(**{**r, "values": tuple(r.get("values") or ())})
                               for r in data.get("task_runs", [])]
        return cls(**kwargs)


_SEALED_FIELDS = ("inputs", "trigger", "outputs", "flow_outputs", "labels")


def _sealed(state: dict) -> dict:
    secrets = [v for v in state.get("masked_values") or [] if not is_sealed(v)]
    if not secrets:
        return state
    for name in _SEALED_FIELDS:
        if name in state:
            state[name] = seal(state[name], secrets)
    state["masked_values"] = [encrypt_text(v) for v in secrets]
    return state


def _unsealed(state: dict) -> dict:
    if not any(is_sealed(v) for v in state.get("masked_values") or []):
        return state
    state["masked_values"] = [decrypt_text(v) if is_sealed(v) else v for v in state["masked_values"]]
    for name in _SEALED_FIELDS:
        if name in state:
            state[name] = unseal(state[name])
    return state


def _rec_key(rec: TaskRunRecord) -> tuple:
    return (rec.task_id, rec.values, rec.started, rec.branch)


def _deep_merge(into: dict, other: dict) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
