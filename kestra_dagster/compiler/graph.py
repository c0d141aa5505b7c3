"""The shape of a compiled flow: which Dagster nodes and edges a Kestra flow becomes.

What a Kestra user sees in the Dagster UI is the product, so the graph is Kestra's flow:

* ``kestra_start`` → one node per top-level task, in Kestra's order, chained on ``ok`` →
  ``kestra_end``. A failed task's own step is red (``compat.install_step_rules``); the tasks
  after it are SKIPPED.
* ``errors``, ``finally`` and ``afterExecution`` are sub-graphs with those names (collapsed,
  one node each at the top; their tasks are steps inside): ``errors`` fans in over every main
  task's ``failed``, ``finally`` over every outcome, ``kestra_end`` over everything, and
  ``afterExecution`` hangs off ``kestra_end``.
* A flowable whose children Dagster can run as steps of their own is a sub-graph named by its
  task id: ``kestra_start`` (its ``runIf`` and the choice of branch) → its children, chained as
  in Kestra → its own ``errors``/``finally`` → ``kestra_end`` (its state). Sequential and
  AllowFailure run their ``tasks``; If its ``then``/``else`` and Switch its cases through
  optional outputs, so the branch not taken is SKIPPED. The translator's ``get_block_shape``
  decides which flowables expand.
* A ForEach with one child and Kestra's default ``concurrencyLimit: 1`` is a sub-graph whose
  child is mapped over the items (Dagster dynamic mapping, one step per item); the loop can
  also end from its head (``ok_early``/``failed_early``), since a Dagster fan-in cannot mix a
  collect with another source, and a mapped region allows no fan-in (hence one child).
* Flowables that do not expand (Parallel, Dag and concurrent ForEach, whose children Kestra runs
  side by side and Dagster's in-process executor would run one at a time; ForEach with several
  children; WorkingDirectory's shared directory; WaitFor's loop; anything inside those) run their
  children inside their own op; the step lists them in a Markdown table (task, value, state,
  attempts, duration).

Node names are task ids (``get_node_name``); op and graph definitions get repository-unique
names (``get_op_name``), since Dagster requires unique definition names per code location.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dagster import (
    DependencyDefinition,
    DynamicOut,
    GraphDefinition,
    In,
    InputMapping,
    MultiDependencyDefinition,
    NodeInvocation,
    OpDefinition,
    Out,
    OutputMapping,
)

from kestra_dagster.compiler import ops
from kestra_dagster.compat import clone_op, collect_dependency
from kestra_dagster.compiler.steps import KESTRA_STEP_TAG
from kestra_dagster.compiler.resources import SERVICES_KEY
from kestra_dagster.engine.states import State
from kestra_dagster.model.common import Task

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow, KestraTranslator

#: Names of the sub-graphs that hold a flow's (or block's) special lists.
LIST_GRAPHS = {"errors": "errors", "finally": "finally", "afterExecution": "after_execution"}
_STEP_TAGS = {KESTRA_STEP_TAG: "1"}
#: A mapped loop's outputs when it ended from its head, before any item.
EARLY_OK, EARLY_FAILED = "ok_early", "failed_early"


def _noop(context, inputs):  # prototypes are always cloned with a real compute function
    yield from ()


_PROTOTYPES: dict[tuple, OpDefinition] = {}


def prototype(ins: tuple[str, ...], outs: tuple[str, ...], dynamic: tuple[str, ...] = ()) -> OpDefinition:
    """One op definition per shape; every compiled op is a cheap copy of one (see compat.py)."""
    key = (ins, outs, dynamic)
    if key not in _PROTOTYPES:
        _PROTOTYPES[key] = OpDefinition(
            name="kestra_" + "_".join(outs + dynamic), compute_fn=_noop,
            required_resource_keys={ops.RESOURCE_KEY, SERVICES_KEY}, ins={name: In() for name in ins},
            outs={**{name: Out(is_required=False) for name in outs},
                  **{name: DynamicOut(is_required=False) for name in dynamic}},
        )
    return _PROTOTYPES[key]


TASK_SHAPE = ((ops.CTX,), (ops.OK, ops.FAILED))


@dataclass(frozen=True)
class Placement:
    """Where a node is compiled: its list, and whether a failure there fails the Dagster run."""

    branch: str = "tasks"
    may_fail_run: bool = True  # False inside AllowFailure / allowFailure and in afterExecution


class Level:
    """The nodes and edges of one ``GraphDefinition`` being assembled (the job's, or a sub-graph's)."""

    def __init__(self) -> None:
        self.defs: list[Any] = []
        self.deps: dict[NodeInvocation, dict[str, Any]] = {}
        self.names: set[str] = set()
        #: Nodes with more than one ``ok``/``failed`` output (a mapped loop also ends from its head).
        self.routes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def oks(self, node: str) -> Sources:
        return [(node, out) for out in self.routes.get(node, ((ops.OK,), ()))[0]]

    def fails(self, node: str) -> Sources:
        return [(node, out) for out in self.routes.get(node, ((), (ops.FAILED,)))[1]]

    def unique(self, name: str) -> str:
        base, n = name, 2
        while name in self.names:
            name = f"{base}_{n}"
            n += 1
        self.names.add(name)
        return name

    def add(self, definition, alias: str, deps: dict[str, Any]) -> str:
        self.defs.append(definition)
        self.deps[NodeInvocation(definition.name, alias=alias)] = deps
        return alias


Sources = list[tuple[str, str]]


def fan_in(sources: Sources) -> MultiDependencyDefinition:
    return MultiDependencyDefinition([DependencyDefinition(node, out) for node, out in sources])


def outcomes(level: "Level", nodes: list[str], ends_here: bool = True) -> Sources:
    """Fan-in sources covering a chain: every node's ``failed``, and the last node's ``ok``."""
    if not nodes:
        return []
    return [s for n in nodes for s in level.fails(n)] + (level.oks(nodes[-1]) if ends_here else [])


def _dep(sources: Sources) -> dict[str, Any]:
    return {ops.CTX: DependencyDefinition(*sources[0]) if len(sources) == 1 else fan_in(sources)}


class GraphBuilder:
    """Compiles task lists into nodes of a ``Level``, recursing into sub-graphs for blocks."""

    def __init__(self, translator: "KestraTranslator", compiled: "CompiledFlow", job_name: str):
        self.t = translator
        self.compiled = compiled
        self.job_name = job_name

    def op_name(self, node: str) -> str:
        return f"{self.job_name}__{node}"

    def task_op_name(self, task: Task) -> str:
        return self.t.get_op_name(self.compiled.flow, task, self.job_name)

    # ------------------------------------------------------------------ lists
    def chain(self, level: Level, tasks: list[Task], place: Placement, upstream: Sources | None) -> list[str]:
        """A Kestra list: each task after the previous one's ``ok``; the first after ``upstream``
        (``None``: the first node is fed by its graph's input)."""
        nodes: list[str] = []
        for task in tasks:
            if nodes:
                dep = _dep(level.oks(nodes[-1]))
            elif upstream is None:
                dep = {}
            else:
                dep = _dep(upstream)
            nodes.append(self.task_node(level, task, place, dep))
        return nodes

    def list_graph(self, level: Level, tasks: list[Task], place: Placement, upstream: Sources,
                   name: str) -> Sources:
        """``errors``/``finally``/``afterExecution`` as one collapsible node; returns its outcomes."""
        tasks = [t for t in tasks if not t.disabled]
        if not tasks or not upstream:
            return []
        inner = Level()
        nodes = self.chain(inner, tasks, place, upstream=None)
        oks = inner.oks(nodes[-1])
        outputs = [(f"{out}_{node}", (node, out)) for n in nodes for node, out in inner.fails(n)]
        outputs += [(ops.OK if len(oks) == 1 else f"{out}_{node}", (node, out)) for node, out in oks]
        alias = level.unique(name)
        graph = self._graph(self.op_name(alias), inner, nodes[0], outputs,
                            f"Kestra's `{place.branch}` tasks of this flow, in order.")
        level.add(graph, alias, {ops.CTX: fan_in(upstream)})
        return [(alias, out) for out, _ in outputs]

    def _graph(self, name: str, inner: Level, entry: str, outputs: list[tuple[str, tuple[str, str]]],
               description: str) -> GraphDefinition:
        return GraphDefinition(
            name=name, node_defs=inner.defs, dependencies=inner.deps, description=description,
            input_mappings=[InputMapping(graph_input_name=ops.CTX, mapped_node_name=entry, mapped_node_input_name=ops.CTX)],
            output_mappings=[OutputMapping(graph_output_name=out, mapped_node_name=node, mapped_node_output_name=src_out)
                             for out, (node, src_out) in outputs],
        )

    # ------------------------------------------------------------------ one task
    def task_node(self, level: Level, task: Task, place: Placement, dep: dict[str, Any]) -> str:
        alias = level.unique(self.t.get_node_name(task))
        shape = self.t.get_block_shape(task) if task.is_flowable else None
        body = self.t.get_loop_body(task) if task.is_flowable else None
        if body is not None:
            definition = self.loop_graph(task, place, body)
            level.routes[alias] = ((ops.OK, EARLY_OK), (ops.FAILED, EARLY_FAILED))
        elif shape is None:
            definition = clone_op(
                prototype(*TASK_SHAPE), name=self.task_op_name(task),
                description=self.t.get_op_description(task), tags={**self.t.get_op_tags(task), **_STEP_TAGS},
                compute_fn=ops.make_task_fn(self.compiled, task, place.branch, place.may_fail_run),
            )
        else:
            definition = self.block_graph(task, place, shape)
        return level.add(definition, alias, dep)

    def block_graph(self, block: Task, place: Placement, routes: dict[str, list[Task]]) -> GraphDefinition:
        """A flowable as a sub-graph: ``kestra_start`` → children per route → errors/finally → ``kestra_end``."""
        inner = Level()
        # A failure inside AllowFailure (or a block with allowFailure) does not fail the execution.
        child = Placement("tasks", place.may_fail_run and not block.allowFailure
                          and block.fold_block_state(State.FAILED) == State.FAILED)  # type: ignore[attr-defined]
        name = self.task_op_name(block)
        route_names = tuple(routes)
        head = inner.add(clone_op(
            prototype((ops.CTX,), (ops.DONE, *route_names)), name=f"{name}__{ops.START_NODE}",
            description=f"Starts `{block.id}`: its runIf and which children run.",
            tags={"dagster/compute_kind": "kestra", "kestra/task_id": block.id, **_STEP_TAGS},
            compute_fn=ops.make_head_fn(self.compiled, block, place.branch, route_names),
        ), inner.unique(ops.START_NODE), {})
        main: list[str] = []
        ends: Sources = []
        for route, tasks in routes.items():
            nodes = self.chain(inner, [t for t in tasks if not t.disabled], child, upstream=[(head, route)])
            main += nodes
            ends += outcomes(inner, nodes)
        errors = self.chain(inner, [t for t in getattr(block, "errors", []) if not t.disabled],
                            replace(child, branch="errors"), [f for n in main for f in inner.fails(n)]) if main else []
        finals = self.chain(inner, [t for t in getattr(block, "finally_", []) if not t.disabled],
                            replace(child, branch="finally"), ends + outcomes(inner, errors)) if ends else []
        tail = inner.add(clone_op(
            prototype(*TASK_SHAPE), name=f"{name}__{ops.END_NODE}",
            description=f"Ends `{block.id}`: folds its state from its children.",
            tags={"dagster/compute_kind": "kestra", "kestra/task_id": block.id, **_STEP_TAGS},
            compute_fn=ops.make_tail_fn(self.compiled, block, place.branch, place.may_fail_run),
        ), inner.unique(ops.END_NODE), {ops.CTX: fan_in([(head, ops.DONE), *ends, *outcomes(inner, errors), *outcomes(inner, finals)])})
        return self._graph(name, inner, head, [(ops.OK, (tail, ops.OK)), (ops.FAILED, (tail, ops.FAILED))],
                           self.t.get_op_description(block))

    def loop_graph(self, loop: Task, place: Placement, body: Task) -> GraphDefinition:
        """A ForEach mapped over its items: ``kestra_start`` → one step of ``body`` per item → ``kestra_end``.

        The loop can end from its head too (no values, ``runIf`` false, bad values): the sub-graph
        then answers on ``ok_early``/``failed_early``, which the next nodes fan in with ``ok``/``failed``
        (a Dagster fan-in cannot mix a collect with another source).
        """
        inner = Level()
        name = self.task_op_name(loop)
        may_fail = place.may_fail_run and not loop.allowFailure
        head = inner.add(clone_op(
            prototype((ops.CTX,), (ops.OK, ops.FAILED), dynamic=(ops.ITEM,)), name=f"{name}__{ops.START_NODE}",
            description=f"Starts `{loop.id}`: its runIf and its values, one item each.",
            tags={"dagster/compute_kind": "kestra", "kestra/task_id": loop.id, **_STEP_TAGS},
            compute_fn=ops.make_loop_head_fn(self.compiled, loop, place.branch, may_fail),
        ), inner.unique(ops.START_NODE), {})
        item = inner.add(clone_op(
            prototype((ops.CTX,), (ops.DONE,)), name=self.task_op_name(body),
            description=self.t.get_op_description(body), tags={**self.t.get_op_tags(body), **_STEP_TAGS},
            compute_fn=ops.make_item_fn(self.compiled, body, may_fail, stop_after_failure=loop.limit() == 1),
        ), inner.unique(self.t.get_node_name(body)), {ops.CTX: DependencyDefinition(head, ops.ITEM)})
        tail = inner.add(clone_op(
            prototype(*TASK_SHAPE), name=f"{name}__{ops.END_NODE}",
            description=f"Ends `{loop.id}`: folds its state from its items.",
            tags={"dagster/compute_kind": "kestra", "kestra/task_id": loop.id, **_STEP_TAGS},
            compute_fn=ops.make_tail_fn(self.compiled, loop, place.branch, may_fail),
        ), inner.unique(ops.END_NODE), {ops.CTX: collect_dependency(item, ops.DONE)})
        return self._graph(name, inner, head, [
            (ops.OK, (tail, ops.OK)), (ops.FAILED, (tail, ops.FAILED)),
            (EARLY_OK, (head, ops.OK)), (EARLY_FAILED, (head, ops.FAILED)),
        ], self.t.get_op_description(loop))

    # ------------------------------------------------------------------ flow ends
    def start(self, level: Level) -> str:
        return level.add(clone_op(
            prototype((), (ops.OK,)), name=self.op_name(ops.START_NODE),
            description="Checks the inputs, the flow's `disabled` and `concurrency`; starts the execution.",
            tags={"dagster/compute_kind": "kestra", **_STEP_TAGS}, compute_fn=ops.make_start_fn(self.compiled),
        ), level.unique(ops.START_NODE), {})

    def end(self, level: Level, upstream: Sources) -> str:
        level.names.add(ops.END_NODE)
        return level.add(clone_op(
            prototype((ops.CTX,), (ops.OK,)),
            name=self.op_name(ops.END_NODE),
            description="Folds Kestra's final state, renders the flow outputs and tags the run.",
            tags={"dagster/compute_kind": "kestra", **_STEP_TAGS}, compute_fn=ops.make_end_fn(self.compiled),
        ), ops.END_NODE, {ops.CTX: fan_in(upstream)})
