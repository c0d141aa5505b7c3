"""Kestra flow → Dagster job, through one overridable translator (in the spirit of dagster-dbt's).

Subclass ``KestraTranslator`` and override any ``get_*`` hook to change names, tags, descriptions,
the executor or the Launchpad schema; ``build_job`` assembles the graph described in
``compiler.ops``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml
from dagster import (
    Any as DagsterAny,
    ConfigMapping,
    DependencyDefinition,
    DynamicOut,
    Field,
    GraphDefinition,
    In,
    JobDefinition,
    MultiDependencyDefinition,
    Noneable,
    NodeInvocation,
    OpDefinition,
    Out,
    Permissive,
    ResourceDefinition,
    in_process_executor,
)

from kestra_dagster.approvals import gate as gate_ops
from kestra_dagster.approvals.gate import split_at_gates
from kestra_dagster.compiler import ops
from kestra_dagster.compiler.compat import clone_op
from kestra_dagster.compiler.naming import dagster_name, label_tag
from kestra_dagster.engine.execution import ExecutionState, utcnow_iso
from kestra_dagster.engine.inputs import resolve_inputs
from kestra_dagster.model.common import Task, is_dynamic
from kestra_dagster.model.flow import Flow
from kestra_dagster.model.loader import LoadedFlow


_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~4x faster op descriptions


def _noop(context, inputs):  # prototypes are always cloned with a real compute function
    yield from ()


# One prototype per op shape; every task op is a cheap copy of one of these (see compat.py).
_TASK_OUTS = {ops.OK: Out(is_required=False), ops.FAILED: Out(is_required=False), ops.FAILURE: DynamicOut(is_required=False)}
_FIRST = OpDefinition(name="kestra_first_task", compute_fn=_noop, required_resource_keys={ops.RESOURCE_KEY},
                      outs=_TASK_OUTS)
_CHAINED = OpDefinition(name="kestra_task", compute_fn=_noop, required_resource_keys={ops.RESOURCE_KEY},
                        ins={ops.CTX: In()}, outs=_TASK_OUTS)
_RESUME = OpDefinition(name="kestra_gate_resume", compute_fn=_noop, required_resource_keys={ops.RESOURCE_KEY},
                       outs={**_TASK_OUTS, gate_ops.STOP: Out(is_required=False)})
_MARKER = OpDefinition(name="kestra_failed_marker", compute_fn=_noop, ins={ops.CTX: In()})
_END = OpDefinition(name="kestra_end", compute_fn=_noop, required_resource_keys={ops.RESOURCE_KEY},
                    ins={ops.CTX: In()}, outs={ops.OK: Out(is_required=False)})


@dataclass
class CompiledFlow:
    """A flow plus what its ops need at run time (the jobs, the catalog for subflows).

    The Dagster jobs are built on first use, not when the flow is loaded: a run worker needs one
    job of a code location, and building all of them costs ~5-10 ms per flow (Dagster's graph and
    job validation), i.e. seconds for every run of a location with a thousand flows. The job
    names are known without building (``job_names``), which is what a lazy repository needs.
    """

    loaded: LoadedFlow
    translator: "KestraTranslator"
    catalog: dict[str, "CompiledFlow"] = field(default_factory=dict)
    _built: list[JobDefinition] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _jobs(self) -> list[JobDefinition]:
        if self._built is None:
            with self._lock:  # subflows in Parallel branches may ask from several threads
                if self._built is None:
                    self._built = self.translator.build_jobs(self)
        return self._built

    @property
    def job(self) -> JobDefinition:
        return self._jobs()[0]

    @property
    def parts(self) -> list[JobDefinition]:
        """Jobs after each top-level Pause/Approval gate, in order (empty for flows without gates)."""
        return self._jobs()[1:]

    @property
    def jobs(self) -> list[JobDefinition]:
        return list(self._jobs())

    @property
    def is_built(self) -> bool:
        return self._built is not None

    @property
    def job_names(self) -> list[str]:
        """The names of ``jobs``, without building them."""
        return self.translator.get_job_names(self.flow)

    @property
    def flow(self) -> Flow:
        return self.loaded.flow

    def new_execution(self, context) -> ExecutionState:
        setup: ops.RunSetup = getattr(context.resources, ops.RESOURCE_KEY)
        if self.flow.disabled:
            from dagster import Failure

            raise Failure(description=f"flow {self.flow.uid} is disabled (disabled: true); enable it to run it")
        self.translator.enforce_concurrency(context, self.flow)
        return ExecutionState(
            execution_id=context.run_id, namespace=self.flow.namespace, flow_id=self.flow.id,
            start_date=utcnow_iso(), inputs=setup.inputs, trigger=setup.trigger, labels=dict(setup.labels),
        )

    def run_config(self, inputs: dict[str, Any] | None = None, trigger: dict[str, Any] | None = None,
                   labels: dict[str, str] | None = None) -> dict[str, Any]:
        """Run config for this job from raw inputs (CLI strings, rendered trigger or subflow values).

        The Launchpad schema is typed (Int/Float/Bool fields), so scalar inputs given as text
        are coerced first; a value that does not coerce is passed as given, and the run rejects
        it with the input's own message.
        """
        given = dict(inputs or {})
        for inp in self.flow.inputs:
            if inp.id in given and getattr(inp, "launchpad_type", str) in (int, float, bool):
                try:
                    given[inp.id] = inp.coerce(given[inp.id])
                except ValueError:
                    pass
        config: dict[str, Any] = {"inputs": given}
        if trigger:
            config["trigger"] = trigger
        if labels:
            config["labels"] = labels
        return config

    def subflow_launcher(self, context) -> Callable[..., dict]:
        from kestra_dagster.compiler.subflow import SubflowLauncher

        return SubflowLauncher(self, context)


class KestraTranslator:
    """Maps Kestra concepts to Dagster ones. Every ``get_*`` method is a hook to override."""

    # ------------------------------------------------------------------ names
    def get_job_name(self, flow: Flow) -> str:
        return dagster_name(f"{flow.namespace}__{flow.id}")

    def get_node_name(self, task: Task) -> str:
        return dagster_name(task.id)

    def get_op_name(self, flow: Flow, task: Task) -> str:
        return f"{self.get_job_name(flow)}__{self.get_node_name(task)}"

    # ------------------------------------------------------------------ presentation
    def get_job_description(self, loaded: LoadedFlow) -> str:
        flow = loaded.flow
        lines = [flow.description or f"Kestra flow `{flow.uid}`", "", f"Source: `{loaded.file}`"]
        return "\n".join(lines)

    def get_job_tags(self, flow: Flow) -> dict[str, str]:
        tags = {"kestra/namespace": flow.namespace, "kestra/flow_id": flow.id, "kestra/flow": flow.uid}
        for key, value in flow.label_dict().items():
            tags[label_tag(key)] = str(value)[:255]
        return tags

    def get_job_metadata(self, loaded: LoadedFlow) -> dict[str, Any]:
        return {"kestra/source_file": loaded.file, "kestra/flow": loaded.flow.uid}

    def get_op_description(self, task: Task) -> str:
        snippet = yaml.dump(task.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True),
                            Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)
        first = task.description or task.type
        return f"{first}\n\n```yaml\n{snippet}```"

    def get_op_tags(self, task: Task) -> dict[str, str]:
        kind = getattr(type(task), "compute_kind", None) or task.type.rsplit(".", 1)[-1]
        return {"kestra/type": task.type, "kestra/task_id": task.id, "dagster/compute_kind": kind}

    # ------------------------------------------------------------------ execution
    def get_executor(self, flow: Flow):
        # Kestra flows are mostly sequential and Parallel/ForEach run on threads inside one op;
        # the in-process executor costs ~40 ms per op against ~1 s per op for multiprocess.
        return in_process_executor

    def get_inputs_config(self, flow: Flow) -> dict[str, Field]:
        """The Launchpad schema: one typed field per input, defaults filled in."""
        fields: dict[str, Field] = {}
        for inp in flow.inputs:
            py_type = getattr(inp, "launchpad_type", str)
            dagster_type = {str: str, int: int, float: float, bool: bool}.get(py_type, DagsterAny)
            description = inp.description or inp.displayName or f"{inp.type} input"
            default = inp.defaults
            if default is not None and not is_dynamic(default):
                if dagster_type is str and not isinstance(default, str):
                    default = yaml.safe_dump(default).strip() if isinstance(default, (dict, list)) else str(default)
                fields[inp.id] = Field(Noneable(dagster_type), default_value=default, description=description)
            else:
                required = inp.required and default is None
                fields[inp.id] = Field(Noneable(dagster_type) if not required else dagster_type,
                                       is_required=required, description=description)
        return fields

    def enforce_concurrency(self, context, flow: Flow) -> None:
        from kestra_dagster.compiler.concurrency import enforce

        enforce(context, flow, self.get_job_name(flow))

    # ------------------------------------------------------------------ assembly
    def build_job(self, loaded: LoadedFlow, catalog: dict[str, CompiledFlow] | None = None) -> CompiledFlow:
        """The flow's job; a flow with top-level Pause/Approval gates becomes one part job per gate
        (``compiled.job`` is the first, ``compiled.parts`` the rest; see ``approvals.gate``)."""
        compiled = self.plan_job(loaded, catalog)
        compiled.jobs  # noqa: B018 - build now
        return compiled

    def plan_job(self, loaded: LoadedFlow, catalog: dict[str, CompiledFlow] | None = None) -> CompiledFlow:
        """Like ``build_job``, but the Dagster jobs are built when first used."""
        return CompiledFlow(loaded=loaded, translator=self, catalog=catalog if catalog is not None else {})

    def get_job_names(self, flow: Flow) -> list[str]:
        _, gates = split_at_gates([t for t in flow.tasks if not t.disabled])
        return [self.get_job_name(flow)] + [self.get_part_job_name(flow, gate) for gate in gates]

    def build_jobs(self, compiled: CompiledFlow) -> list[JobDefinition]:
        flow = compiled.flow
        segments, gates = split_at_gates([t for t in flow.tasks if not t.disabled])
        names = self.get_job_names(flow)
        jobs = []
        for k, segment in enumerate(segments):
            before = gates[k - 1] if k else None
            after = gates[k] if k < len(gates) else None
            jobs.append(self._build_part(compiled, names[k], segment, before, after, k, names[k + 1] if after else None))
        return jobs

    def get_part_job_name(self, flow: Flow, gate: Task) -> str:
        return f"{self.get_job_name(flow)}__after_{self.get_node_name(gate)}"

    def _build_part(self, compiled: CompiledFlow, name: str, segment: list[Task], before: Task | None,
                    after: Task | None, part: int, next_job: str | None) -> JobDefinition:
        flow, loaded = compiled.flow, compiled.loaded
        builder = _GraphBuilder(self, compiled, name)
        main = [builder.gate(before, "resume", None, part, None)] if before else []
        main += builder.chain(segment, "tasks", upstream=[(main[-1], ops.OK)] if main else None)
        if after:
            main.append(builder.gate(after, "pause", [(main[-1], ops.OK)] if main else None, part, next_job))
        errors = []
        if flow.errors and main:
            errors = builder.chain([t for t in flow.errors if not t.disabled], "errors",
                                   upstream=[(n, ops.FAILED) for n in main])
        stops = [(main[0], gate_ops.STOP)] if before else []
        # A list's outcomes: its last `ok` (the state accumulates along the chain) and every
        # `failed`. Each node is a source, so a fan-in over them waits for the whole list.
        # `finally` runs only where the execution ends: not when this part stops at a gate.
        ended = _outcomes(main, ends_here=after is None) + _outcomes(errors) + stops
        finals = []
        if flow.finally_:
            finals = builder.chain([t for t in flow.finally_ if not t.disabled], "finally", upstream=ended)
        # kestra_end always runs: it folds the state, PAUSED included, when the part stops at a gate.
        builder.add_end(_outcomes(main) + _outcomes(errors) + stops + _outcomes(finals))
        builder.chain([t for t in flow.afterExecution if not t.disabled], "afterExecution",
                      upstream=[(ops.END_NODE, ops.OK)], markers=False)

        if before is None:
            inputs_config = self.get_inputs_config(flow)
            config_schema = {
                "inputs": Field(inputs_config, is_required=any(f.is_required for f in inputs_config.values())),
                "trigger": Field(Permissive(), is_required=False, description="Trigger variables (set by schedules, sensors)"),
                "labels": Field(Permissive(), is_required=False, description="Execution labels"),
            }
            resource, config_fn = _setup_resource(flow), _to_resource_config
            description = self.get_job_description(loaded)
        else:
            config_schema, config_fn = gate_ops.resume_config_schema(), gate_ops.to_resume_resource_config
            resource = gate_ops.resume_resource()
            description = (f"Part {part + 1} of Kestra flow `{flow.uid}`: runs after a decision on `{before.id}` "
                           f"(started by the flow's resume sensor).\n\nSource: `{loaded.file}`")
        tags = self.get_job_tags(flow)
        if before is not None or after is not None:
            tags["kestra/part"] = str(part + 1)
        graph = GraphDefinition(name=name, node_defs=builder.defs, dependencies=builder.deps, description=description)
        return graph.to_job(
            name=name,
            description=description,
            tags=tags,
            metadata=self.get_job_metadata(loaded),
            executor_def=self.get_executor(flow),
            resource_defs={ops.RESOURCE_KEY: resource},
            config=ConfigMapping(config_fn=config_fn, config_schema=config_schema),
        )


class _GraphBuilder:
    def __init__(self, translator: KestraTranslator, compiled: CompiledFlow, job_name: str):
        self.t = translator
        self.compiled = compiled
        self.job_name = job_name
        self.defs: list[OpDefinition] = []
        self.deps: dict[NodeInvocation, dict[str, Any]] = {}
        self.node_names: set[str] = set()

    def _unique(self, name: str) -> str:
        base, n = name, 2
        while name in self.node_names:
            name = f"{base}_{n}"
            n += 1
        self.node_names.add(name)
        return name

    def chain(self, tasks: list[Task], branch: str, upstream: list[tuple[str, str]] | None, markers: bool = True) -> list[str]:
        nodes: list[str] = []
        for i, task in enumerate(tasks):
            node = self._unique(self.t.get_node_name(task))
            first = i == 0 and upstream is None
            op_def = clone_op(
                _FIRST if first else _CHAINED,
                name=f"{self.job_name}__{node}",
                description=self.t.get_op_description(task),
                tags=self.t.get_op_tags(task),
                compute_fn=ops.make_task_fn(self.compiled, task, branch),
            )
            self.defs.append(op_def)
            if first:
                dep: dict[str, Any] = {}
            elif i == 0:
                dep = {ops.CTX: _fan_in(upstream)}
            else:
                dep = {ops.CTX: DependencyDefinition(nodes[-1], ops.OK)}
            self.deps[NodeInvocation(op_def.name, alias=node)] = dep
            nodes.append(node)
            if markers:
                self._marker(node, task)
        return nodes

    def gate(self, task: Task, half: str, upstream: list[tuple[str, str]] | None, part: int,
             next_job: str | None) -> str:
        """A Pause/Approval op: the ``pause`` half ends a part, the ``resume`` half starts the next."""
        node = self._unique(self.t.get_node_name(task))
        if half == "resume":
            prototype, fn = _RESUME, gate_ops.make_resume_fn(self.compiled, task)
        else:
            prototype = _FIRST if upstream is None else _CHAINED
            fn = gate_ops.make_pause_fn(self.compiled, task, part, next_job)
        op_def = clone_op(prototype, name=f"{self.job_name}__{node}", description=self.t.get_op_description(task),
                          tags=self.t.get_op_tags(task), compute_fn=fn)
        self.defs.append(op_def)
        self.deps[NodeInvocation(op_def.name, alias=node)] = {ops.CTX: _fan_in(upstream)} if upstream else {}
        self._marker(node, task)
        return node

    def _marker(self, node: str, task: Task) -> None:
        name = self._unique(f"{node}{ops.MARKER_SUFFIX}")
        op_def = clone_op(
            _MARKER, name=f"{self.job_name}__{name}",
            description=f"Fails the run (red) when task `{task.id}` ends FAILED; errors and finally still run.",
            tags={"dagster/compute_kind": "failed", "kestra/task_id": task.id},
            compute_fn=ops.make_marker_fn(task.id),
        )
        self.defs.append(op_def)
        self.deps[NodeInvocation(op_def.name, alias=name)] = {ops.CTX: DependencyDefinition(node, ops.FAILURE)}

    def add_end(self, upstream: list[tuple[str, str]]) -> None:
        self.node_names.add(ops.END_NODE)
        op_def = clone_op(
            _END, name=f"{self.job_name}__{ops.END_NODE}",
            description="Folds Kestra's final state, renders the flow outputs and tags the run.",
            tags={"dagster/compute_kind": "kestra"}, compute_fn=ops.make_end_fn(self.compiled),
        )
        self.defs.append(op_def)
        self.deps[NodeInvocation(op_def.name, alias=ops.END_NODE)] = {ops.CTX: _fan_in(upstream)}


def _outcomes(nodes: list[str], ends_here: bool = True) -> list[tuple[str, str]]:
    """Fan-in sources covering a chain: every node's ``failed``, and the last node's ``ok``."""
    if not nodes:
        return []
    return [(n, ops.FAILED) for n in nodes] + ([(nodes[-1], ops.OK)] if ends_here else [])


def _fan_in(sources: list[tuple[str, str]] | None):
    return MultiDependencyDefinition([DependencyDefinition(node, out) for node, out in sources or []])


def _to_resource_config(config: dict) -> dict:
    return {"resources": {ops.RESOURCE_KEY: {"config": {
        "inputs": config.get("inputs") or {}, "trigger": config.get("trigger") or {}, "labels": config.get("labels") or {},
    }}}}


def _setup_resource(flow: Flow) -> ResourceDefinition:
    def init(init_context) -> ops.RunSetup:
        cfg = init_context.resource_config or {}
        inputs = resolve_inputs(flow, cfg.get("inputs") or {}, {"trigger": cfg.get("trigger") or {}})
        return ops.RunSetup(inputs=inputs, trigger=dict(cfg.get("trigger") or {}),
                            labels={str(k): str(v) for k, v in (cfg.get("labels") or {}).items()})

    return ResourceDefinition(resource_fn=init, config_schema=Permissive(),
                              description="Validated inputs and trigger data of the execution")
