"""``io.kestra.plugin.core.flow.ForEachItem``: run a subflow once per batch of an items file.

The ``items`` file is split by lines like ``storage.Split`` (``batch.rows`` 1 by default, or
``batch.bytes``/``batch.partitions``); each batch is stored and the subflow runs with ``inputs``
rendered where ``taskrun.items`` is the batch's URI and ``taskrun.iteration`` its index (from 0).
As in Kestra the results appear as three sub-task runs' outputs: ``<id>_split.splits`` (a file
listing the batch URIs), ``<id>_items`` (``numberOfBatches``, ``iterations``: executions per
state, with Kestra's zero CREATED/RUNNING counts; without ``wait`` every started batch counts as
SUCCESS, as in Kestra) and, when every batch succeeded, ``<id>_merge.subflowOutputs`` (a file with
each subflow's flow outputs, one per line). Batches run one after another here (Kestra starts
them together); ``transmitFailed`` fails the task when a batch's execution fails.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import ClassVar

from pydantic import Field

from kestra_dagster.engine.context import SUB_TASK_OUTPUTS_KEY
from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.core.flow.subflow import CallsFlow
from kestra_dagster.tasks.core.storage._common import read, render_uri
from kestra_dagster.tasks.core.storage.split import split_lines


class Batch(KestraModel):
    rows: int | str | None = None
    bytes: str | int | None = None
    partitions: int | str | None = None
    separator: str = "\n"


class ForEachItem(CallsFlow):
    """Split ``items`` into batches (``batch``) and run flow ``namespace``/``flowId`` per batch with ``inputs``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.ForEachItem"

    items: str
    batch: Batch = Field(default_factory=Batch)

    def run(self, ctx):
        if ctx.subflow_launcher is None:
            raise TaskFailed("ForEachItem needs the Dagster runtime (run the flow through Dagster or `kestra-dagster run`)")
        uri = render_uri(ctx, self.items, "items")
        sep = (ctx.render_str(self.batch.separator, prop="batch.separator") or "\n").encode("utf-8")
        batch = self.batch
        rows = batch.rows if batch.rows is not None or batch.bytes is not None or batch.partitions is not None else 1
        groups = split_lines(ctx, read(ctx, uri, "items"), sep, rows=rows, partitions=batch.partitions, bytes_=batch.bytes)
        ext = "." + uri.rsplit(".", 1)[-1] if "." in uri.rsplit("/", 1)[-1] else ""
        batches = [ctx.storage.put_bytes(sep.join(g) + sep, f"batches/{i}{ext}") for i, g in enumerate(groups, start=1)]
        splits = ctx.storage.put_bytes("".join(b + "\n" for b in batches).encode("utf-8"), "splits.txt")
        namespace = ctx.render_str(self.namespace, prop="namespace")
        flow_id = ctx.render_str(self.flowId, prop="flowId")
        labels = ctx.render(self.labels, prop="labels") if self.labels else None
        states: Counter[str] = Counter({"CREATED": 0, "RUNNING": 0} if self.wait else {"RUNNING": 0})
        merged: list[str] = []
        failed: list[str] = []
        for iteration, batch_uri in enumerate(batches):
            ctx.check_cancelled()
            taskrun = {**ctx.taskrun.as_variable(), "items": batch_uri, "iteration": iteration}
            inputs = ctx.render(self.inputs, prop="inputs", extra={"taskrun": taskrun})
            result = ctx.subflow_launcher(namespace=namespace, flow_id=flow_id, inputs=inputs, labels=labels,
                                          wait=self.wait, inherit_labels=self.inheritLabels, task_id=ctx.task_id)
            if not self.wait:
                states["SUCCESS"] += 1
                continue
            state = result.get("state") or "FAILED"
            states[state] += 1
            merged.append(json.dumps(result.get("outputs") or {}, default=str))
            if state in ("FAILED", "KILLED"):
                failed.append(f"batch {iteration + 1} (execution {result.get('executionId')}) ended {state}")
        sub_tasks = {
            f"{self.id}_split": {"splits": splits},
            f"{self.id}_items": {"numberOfBatches": len(batches), "iterations": dict(states)},
        }
        if self.wait and not (failed and self.transmitFailed):
            data = "".join(line + "\n" for line in merged).encode("utf-8")
            sub_tasks[f"{self.id}_merge"] = {"subflowOutputs": ctx.storage.put_bytes(data, "outputs.ion")}
        outputs = {SUB_TASK_OUTPUTS_KEY: sub_tasks}
        if failed and self.transmitFailed:
            raise TaskFailed(f"subflow {namespace}.{flow_id}: " + "; ".join(failed), outputs=outputs)
        if self.wait and states.get("WARNING"):
            ctx.warn(f"subflow {namespace}.{flow_id}: {states['WARNING']} batch(es) ended WARNING")
        return outputs
