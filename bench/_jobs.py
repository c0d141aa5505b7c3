"""Module-level job factories for ``bench_compile_and_run.py`` (``reconstructable`` needs them).

* ``hand_written_chain`` — 52 plain Dagster ops in a chain (as many steps as the compiled job's
  50 tasks plus its start and end), each logging one line through
  ``context.log.info`` and returning a short string to the next op: the minimal Dagster
  equivalent of a Kestra ``log.Log`` task. In-process executor, like the compiled job.
* ``compiled_chain`` — the generated 50-task flow (``$KESTRA_BENCH_FLOW_FILE``) compiled by
  ``kestra_dagster``'s translator. Built once per process (``_CACHE``), as a code server
  would, so a run's wall time never includes YAML parsing or compilation.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import GraphDefinition, In, JobDefinition, OpDefinition, Out, Output, in_process_executor

N_TASKS = int(os.environ.get("KESTRA_BENCH_TASKS", "50"))
FLOW_FILE_ENV = "KESTRA_BENCH_FLOW_FILE"
FLOW_NAMESPACE = "bench"
FLOW_ID = "chain"
#: Jobs built so far (``reconstructable`` refuses lru_cache wrappers, so cache by hand).
_CACHE: dict[str, JobDefinition] = {}


def chain_flow_yaml(n: int = N_TASKS, kind: str = "log") -> str:
    """A flow of ``n`` minimal tasks in sequence (``log`` → log.Log, ``return`` → debug.Return)."""
    lines = [f"id: {FLOW_ID}", f"namespace: {FLOW_NAMESPACE}", "tasks:"]
    for i in range(n):
        lines.append(f"  - id: t{i:03d}")
        if kind == "return":
            lines.append("    type: io.kestra.plugin.core.debug.Return")
            lines.append(f'    format: "value {i}"')
        else:
            lines.append("    type: io.kestra.plugin.core.log.Log")
            lines.append(f'    message: "task {i}"')
    return "\n".join(lines) + "\n"


def _hand_op(i: int, first: bool) -> OpDefinition:
    def compute(context, inputs):
        context.log.info(f"task {i}")
        yield Output(f"value {i}", "result")

    return OpDefinition(
        name=f"hand_t{i:03d}",
        compute_fn=compute,
        ins={} if first else {"previous": In(str)},
        outs={"result": Out(str)},
    )


def hand_written_chain() -> JobDefinition:
    if "hand" in _CACHE:
        return _CACHE["hand"]
    # The compiled job has a start and an end step around its tasks (inputs check, final state):
    # the hand-written job gets the same number of visible steps, N_TASKS + 2.
    steps = N_TASKS + 2
    ops = [_hand_op(i, i == 0) for i in range(steps)]
    deps = {f"hand_t{i:03d}": {"previous": _dep(f"hand_t{i - 1:03d}")} for i in range(1, steps)}
    graph = GraphDefinition(name="hand_written_chain", node_defs=ops, dependencies=deps)
    job = _CACHE["hand"] = graph.to_job(name="hand_written_chain", executor_def=in_process_executor)
    return job


def _dep(node: str):
    from dagster import DependencyDefinition

    return DependencyDefinition(node, "result")


def compiled_chain() -> JobDefinition:
    if "compiled" in _CACHE:
        return _CACHE["compiled"]
    from kestra_dagster.compiler.translator import KestraTranslator
    from kestra_dagster.model.loader import load_flow_file

    path = os.environ.get(FLOW_FILE_ENV)
    if not path:  # standalone use (e.g. `dagster job execute -f bench/_jobs.py`)
        import tempfile

        path = str(Path(tempfile.mkdtemp(prefix="kestra-bench-")) / "chain.yaml")
        Path(path).write_text(chain_flow_yaml(), encoding="utf-8")
    compiled = KestraTranslator().build_job(load_flow_file(path))
    assert compiled.job is not None
    _CACHE["compiled"] = compiled.job
    return compiled.job
