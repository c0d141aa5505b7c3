"""Kestra flow → Dagster job, through one overridable translator (in the spirit of dagster-dbt's).

Subclass ``KestraTranslator`` and override any ``get_*`` hook to change names (``get_job_name``,
``get_node_name``, ``get_op_name``), tags, descriptions, which flowables become sub-graphs
(``get_block_shape``), the executor, the run's services or the Launchpad schema; ``build_job``
assembles the shape described in ``compiler.graph`` from the ops in ``compiler.ops``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import yaml
from dagster import (
    Any as DagsterAny,
    ConfigMapping,
    DependencyDefinition,
    Field,
    GraphDefinition,
    JobDefinition,
    Noneable,
    Permissive,
    ResourceDefinition,
    in_process_executor,
)

from kestra_dagster.compiler import ops
from kestra_dagster.compat import clone_op
from kestra_dagster.compiler import steps
from kestra_dagster.compiler.steps import KESTRA_STEP_TAG, TaskFailure
from kestra_dagster.compiler.resources import SERVICES_KEY, KestraServices
from kestra_dagster.compiler.graph import LIST_GRAPHS, GraphBuilder, Level, Placement, fan_in, outcomes, prototype
from kestra_dagster.compiler.naming import dagster_name, label_tag
from kestra_dagster.engine.execution import ExecutionState, utcnow_iso
from kestra_dagster.engine.inputs import flatten_given, nest_inputs, resolve_inputs
from kestra_dagster.errors import KestraDagsterError
from kestra_dagster.model.common import Task, is_dynamic
from kestra_dagster.model.flow import Flow
from kestra_dagster.model.inputs import conditional_inputs
from kestra_dagster.model.loader import LoadedFlow


_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~4x faster op descriptions

#: Top-level tasks of these types split a flow into part jobs (``compiler.gates`` builds their ops).
PAUSE_TYPE = "io.kestra.plugin.core.flow.Pause"
APPROVAL_TYPE = "io.kestra.plugin.core.flow.Approval"
GATE_TYPES = (PAUSE_TYPE, APPROVAL_TYPE)


def split_at_gates(tasks: list[Task]) -> tuple[list[list[Task]], list[Task]]:
    """([tasks before gate 1, between gates 1 and 2, …, after the last], [gates])."""
    segments: list[list[Task]] = [[]]
    gates: list[Task] = []
    for task in tasks:
        if task.type in GATE_TYPES:
            gates.append(task)
            segments.append([])
        else:
            segments[-1].append(task)
    return segments, gates


def _gate_ops():
    """``compiler.gates``, imported by the first gated flow: the approval records and models it
    brings cost every other code location ~10 ms at start."""
    from kestra_dagster.compiler import gates

    return gates


# Every op the compiler builds opts into Kestra's step rules (failed tasks red, errors/finally
# still run): see ``compat.install_step_rules``.
steps.install()


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
    def gated(self) -> bool:
        """Split at a Pause/Approval gate into part jobs (told without building them)."""
        return len(self.job_names) > 1

    @property
    def flow(self) -> Flow:
        return self.loaded.flow

    def new_execution(self, context) -> ExecutionState:
        """A new execution, once the flow's inputs, ``disabled`` and ``concurrency`` allow it.

        A refused input fails the start step with the input's own message (the CLI's words) and
        tags the run ``kestra/state=FAILED``: no task runs.
        """
        setup: ops.RunSetup = getattr(context.resources, ops.RESOURCE_KEY)
        if self.flow.disabled:
            _refuse(context, f"flow {self.flow.uid} is disabled (disabled: true); enable it to run it")
        try:
            inputs = resolve_inputs(self.flow, setup.inputs, {"trigger": setup.trigger})
        except (KestraDagsterError, ValueError) as exc:
            _refuse(context, str(exc))
        self.translator.enforce_concurrency(context, self.flow)
        return ExecutionState(
            execution_id=context.run_id, namespace=self.flow.namespace, flow_id=self.flow.id,
            start_date=utcnow_iso(), inputs=inputs, trigger=setup.trigger, labels=dict(setup.labels),
        )

    def run_config(self, inputs: dict[str, Any] | None = None, trigger: dict[str, Any] | None = None,
                   labels: dict[str, str] | None = None) -> dict[str, Any]:
        """Run config for this job from raw inputs (CLI strings, rendered trigger or subflow values).

        The Launchpad schema is typed (Int/Float/Bool fields), so scalar inputs given as text
        are coerced first; a value that does not coerce is passed as given, and the run rejects
        it with the input's own message.
        """
        given = flatten_given(self.flow, dict(inputs or {}))
        for inp in self.flow.inputs:
            if inp.id in given and getattr(inp, "launchpad_type", str) in (int, float, bool):
                try:
                    given[inp.id] = inp.coerce(given[inp.id])
                except ValueError:
                    pass
        given = nest_inputs(given)  # the Launchpad's shape: dotted ids nest (get_inputs_config)
        config: dict[str, Any] = {"inputs": given}
        if trigger:
            config["trigger"] = trigger
        if labels:
            config["labels"] = labels
        return config

    def subflow_launcher(self, context) -> Callable[..., dict]:
        from kestra_dagster.compiler.subflow import SubflowLauncher

        return SubflowLauncher(self, context)


def _refuse(context, message: str):
    context.instance.add_run_tags(context.run_id, {"kestra/state": "FAILED"})
    context.log.error(message)
    raise TaskFailure(message)


class KestraTranslator:
    """Maps Kestra concepts to Dagster ones. Every ``get_*`` method is a hook to override."""

    # ------------------------------------------------------------------ names
    def get_job_name(self, flow: Flow) -> str:
        return dagster_name(f"{flow.namespace}__{flow.id}")

    def get_node_name(self, task: Task) -> str:
        return dagster_name(task.id)

    def get_op_name(self, flow: Flow, task: Task, job_name: str | None = None) -> str:
        """The op (or sub-graph) definition's name: unique in the code location, as Dagster requires.

        ``job_name`` is the (part) job being built: errors/finally tasks appear in every part job.
        """
        return f"{job_name or self.get_job_name(flow)}__{self.get_node_name(task)}"

    def get_loop_body(self, task: Task) -> Task | None:
        """For a ForEach whose items become mapped steps (Dagster dynamic mapping): its one child.

        Kestra's default ``concurrencyLimit: 1`` runs items one after another, as Dagster's
        in-process executor runs mapped steps, and a single child is what a Dagster mapping can
        fold back (no fan-in inside a mapped region). Loops with several children, their own
        errors/finally or concurrent items stay one op.
        """
        from kestra_dagster.tasks.core.flow.foreach import _Loop

        if not isinstance(task, _Loop) or task.limit() != 1 or task.errors or task.finally_:
            return None
        children = [t for t in task.tasks if not t.disabled]
        return children[0] if len(children) == 1 else None

    def get_block_shape(self, task: Task) -> dict[str, list[Task]] | None:
        """For a flowable whose children become steps of their own: its branches by output name.

        ``None`` keeps the flowable as one op that runs its children inside (with threads where
        Kestra runs them side by side). Sequential and AllowFailure expand (``go``), If into
        ``then``/``else``, Switch into its cases and ``defaults``. Parallel, Dag and ForEach stay
        one op: Dagster's in-process executor runs steps one at a time, so as steps their
        children would lose Kestra's concurrency (override this with a concurrent executor).
        """
        from kestra_dagster.tasks.core.flow.conditional import If, Switch
        from kestra_dagster.tasks.core.flow.sequential import AllowFailure, Sequential

        if isinstance(task, (Sequential, AllowFailure)):
            return {ops.GO: task.tasks}
        if isinstance(task, (If, Switch)):
            return task.branches()
        return None

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

    def get_services_resource(self, flow: Flow):
        """The run's storage and scratch space (``compiler.resources``); override to hand runs others."""
        return KestraServices()

    def get_inputs_config(self, flow: Flow) -> dict[str, Field]:
        """The Launchpad schema: one typed field per input, defaults filled in.

        A dotted id nests, as it does in ``{{ inputs.request.name }}``: ``request.name`` is field
        ``name`` of a ``request`` section, which is what a Dagster user types in run config YAML
        (dotted keys would read as one opaque name there). An input a ``dependsOn.condition`` may
        disable is never a required field: Kestra does not ask for it then.
        """
        conditional = conditional_inputs(flow.inputs)
        tree: dict[str, Any] = {}
        for inp in flow.inputs:
            *parents, leaf = inp.id.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = self._input_field(inp, inp.id in conditional)
        return _nested_fields(tree)

    def _input_field(self, inp, conditional: bool) -> Field:
        py_type = getattr(inp, "launchpad_type", str)
        dagster_type = {str: str, int: int, float: float, bool: bool}.get(py_type, DagsterAny)
        description = inp.description or inp.displayName or f"{inp.type} input"
        if conditional:
            description += f" (asked only when its dependsOn condition holds: {inp.dependsOn.condition or 'see the inputs it depends on'})"
        default = inp.defaults
        if default is not None and not is_dynamic(default):
            if dagster_type is str and not isinstance(default, str):
                default = yaml.safe_dump(default).strip() if isinstance(default, (dict, list)) else str(default)
            return Field(Noneable(dagster_type), default_value=default, description=description)
        required = inp.required and default is None and not conditional
        return Field(Noneable(dagster_type) if not required else dagster_type, is_required=required,
                     description=description)

    def enforce_concurrency(self, context, flow: Flow) -> None:
        from kestra_dagster.compiler.concurrency import enforce

        enforce(context, flow, self.get_job_name(flow))

    # ------------------------------------------------------------------ assembly
    def build_job(self, loaded: LoadedFlow, catalog: dict[str, CompiledFlow] | None = None) -> CompiledFlow:
        """The flow's job; a flow with top-level Pause/Approval gates becomes one part job per gate
        (``compiled.job`` is the first, ``compiled.parts`` the rest; see ``compiler.gates``)."""
        compiled = self.plan_job(loaded, catalog)
        compiled.jobs  # noqa: B018 - build now
        return compiled

    def plan_job(self, loaded: LoadedFlow, catalog: dict[str, CompiledFlow] | None = None) -> CompiledFlow:
        """Like ``build_job``, but the Dagster jobs are built when first used."""
        return CompiledFlow(loaded=loaded, translator=self, catalog=catalog if catalog is not None else {})

    def get_job_names(self, flow: Flow) -> list[str]:
        """The flow's job, then one part job after each top-level gate."""
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
        gate_ops = _gate_ops() if before is not None or after is not None else None
        builder = GraphBuilder(self, compiled, name)
        level = Level()
        top = Placement()
        if before is None:
            entry = builder.start(level)
            main: list[str] = []
            upstream = [(entry, ops.OK)]
        else:
            entry = self._gate(builder, level, before, "resume", None, part, None)
            main = [entry]
            upstream = [(entry, ops.OK)]
        main += builder.chain(level, segment, top, upstream=upstream)
        if after:
            main.append(self._gate(builder, level, after, "pause", level.oks(main[-1]) if main else upstream,
                                   part, next_job))
        errors = builder.list_graph(level, flow.errors, replace(top, branch="errors"),
                                    [f for n in main for f in level.fails(n)], LIST_GRAPHS["errors"])
        stops = [(main[0], gate_ops.STOP)] if before else []
        # A list's outcomes: its last `ok` (the state accumulates along the chain) and every
        # `failed`. Each node is a source, so a fan-in over them waits for the whole list.
        # `finally` runs only where the execution ends: not when this part stops at a gate.
        ended = outcomes(level, main, ends_here=after is None) + errors + stops
        if not main:  # a flow of disabled tasks: finally and the end follow the start directly
            ended = upstream
        finals = builder.list_graph(level, flow.finally_, replace(top, branch="finally"), ended,
                                    LIST_GRAPHS["finally"])
        # kestra_end always runs: it folds the state, PAUSED included, when the part stops at a gate.
        # Where the execution ends here, `finally` already waited for everything and carries the
        # merged state: the end hangs off it alone (fewer crossing edges in the graph).
        if finals and after is None:
            builder.end(level, finals)
        else:
            builder.end(level, (outcomes(level, main) if main else upstream) + errors + stops + finals)
        builder.list_graph(level, flow.afterExecution, Placement("afterExecution", may_fail_run=False),
                           [(ops.END_NODE, ops.OK)], LIST_GRAPHS["afterExecution"])

        if before is None:
            inputs_config = self.get_inputs_config(flow)
            config_schema = {
                "inputs": Field(inputs_config, is_required=any(f.is_required for f in inputs_config.values())),
                "trigger": Field(Permissive(), is_required=False, description="Trigger variables (set by schedules, sensors)"),
                "labels": Field(Permissive(), is_required=False, description="Execution labels"),
            }
            resource, config_fn = _setup_resource(), _to_resource_config
            description = self.get_job_description(loaded)
        else:
            config_schema, config_fn = gate_ops.resume_config_schema(), gate_ops.to_resume_resource_config
            resource = gate_ops.resume_resource()
            description = (f"Part {part + 1} of Kestra flow `{flow.uid}`: runs after a decision on `{before.id}` "
                           f"(started by the flow's resume sensor).\n\nSource: `{loaded.file}`")
        tags = self.get_job_tags(flow)
        if before is not None or after is not None:
            tags["kestra/part"] = str(part + 1)
        graph = GraphDefinition(name=name, node_defs=level.defs, dependencies=level.deps, description=description)
        return graph.to_job(
            name=name,
            description=description,
            tags=tags,
            metadata=self.get_job_metadata(loaded),
            executor_def=self.get_executor(flow),
            resource_defs={ops.RESOURCE_KEY: resource, SERVICES_KEY: self.get_services_resource(flow)},
            config=ConfigMapping(config_fn=config_fn, config_schema=config_schema),
        )

    def _gate(self, builder: GraphBuilder, level: Level, task: Task, half: str, upstream, part: int,
              next_job: str | None) -> str:
        """A Pause/Approval op: the ``pause`` half ends a part, the ``resume`` half starts the next."""
        node = level.unique(self.get_node_name(task))
        gate_ops = _gate_ops()
        if half == "resume":
            shape, fn = ((), (ops.OK, ops.FAILED, gate_ops.STOP)), gate_ops.make_resume_fn(builder.compiled, task)
        else:
            shape, fn = ((ops.CTX,), (ops.OK, ops.FAILED)), gate_ops.make_pause_fn(builder.compiled, task, part, next_job)
        op_def = clone_op(prototype(*shape), name=self.get_op_name(builder.compiled.flow, task, builder.job_name),
                          description=self.get_op_description(task),
                          tags={**self.get_op_tags(task), KESTRA_STEP_TAG: "1"}, compute_fn=fn)
        dep = ({ops.CTX: DependencyDefinition(*upstream[0]) if len(upstream) == 1 else fan_in(upstream)}
               if upstream else {})
        return level.add(op_def, node, dep)


def _nested_fields(tree: dict[str, Any]) -> dict[str, Field]:
    """Fields from a tree of fields: a section is required when one of its fields is."""
    out: dict[str, Field] = {}
    for name, node in tree.items():
        if isinstance(node, dict):
            inner = _nested_fields(node)
            out[name] = Field(inner, is_required=any(f.is_required for f in inner.values()))
        else:
            out[name] = node
    return out


def _to_resource_config(config: dict) -> dict:
    return {"resources": {ops.RESOURCE_KEY: {"config": {
        "inputs": config.get("inputs") or {}, "trigger": config.get("trigger") or {}, "labels": config.get("labels") or {},
    }}}}


def _setup_resource() -> ResourceDefinition:
    def init(init_context) -> ops.RunSetup:
        cfg = init_context.resource_config or {}
        return ops.RunSetup(inputs=dict(cfg.get("inputs") or {}), trigger=dict(cfg.get("trigger") or {}),
                            labels={str(k): str(v) for k, v in (cfg.get("labels") or {}).items()})

    return ResourceDefinition(resource_fn=init, config_schema=Permissive(),
                              description="The execution's inputs (checked by kestra_start), trigger data and labels")
