"""``Subflow``: start another flow; with ``wait`` (the default) wait for it and expose its flow ``outputs``.

With ``wait: false`` the task only starts the child execution and succeeds at once with its
``executionId`` (Kestra's semantics: the child's state is not awaited, ``transmitFailed`` does
not apply); see ``compiler.subflow`` for where the child runs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask


class CallsFlow(RunnableTask):
    """What Kestra's tasks that start another flow share (Subflow, ForEachItem): the target, its
    inputs and labels, and whether to wait for it. No ``kestra_type``: not a task of its own."""

    compute_kind: ClassVar[str] = "Subflow"
    runs_on_worker: ClassVar[bool] = False

    namespace: str
    flowId: str
    revision: int | None = None
    inputs: dict[str, Any] = {}
    labels: dict[str, Any] | list[dict[str, Any]] | None = None
    wait: bool = True
    transmitFailed: bool = True
    inheritLabels: bool = False
    scheduleDate: str | None = None

    def check_flow_rules(self, flow):
        if self.namespace == flow.namespace and self.flowId == flow.id:
            yield ("flowId",), f"a flow cannot call itself from {type(self).__name__} ({flow.namespace}.{flow.id})"


class Subflow(CallsFlow):
    """Run flow ``namespace``/``flowId`` with ``inputs``; with ``wait`` its state and outputs come back."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Subflow"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.Subflow", "io.kestra.core.tasks.flows.Flow")

    outputs: dict[str, Any] | None = None  # deprecated: rendered against the child's outputs

    def run(self, ctx):
        if ctx.subflow_launcher is None:
            raise TaskFailed("Subflow needs the Dagster runtime (run the flow through Dagster or `kestra-dagster run`)")
        namespace = ctx.render_str(self.namespace, prop="namespace")
        flow_id = ctx.render_str(self.flowId, prop="flowId")
        inputs = ctx.render(self.inputs, prop="inputs")
        labels = ctx.render(self.labels, prop="labels") if self.labels else None
        if ctx.secret_values:
            from kestra_dagster.engine.encryption import seal
            from kestra_dagster.tasks.core.execution import refuse_secret_labels

            # the child's run_config is stored with the run: secret-derived inputs travel encrypted
            inputs = seal(inputs, ctx.secret_values)
            refuse_secret_labels(labels, ctx.secret_values)
        if self.scheduleDate:
            ctx.logger.warning("scheduleDate is not supported yet: the subflow starts now")
        result = ctx.subflow_launcher(
            namespace=namespace, flow_id=flow_id, inputs=inputs, labels=labels, wait=self.wait,
            inherit_labels=self.inheritLabels, task_id=ctx.task_id,
        )
        outputs = {"executionId": result.get("executionId"), "state": result.get("state")}
        if self.wait:
            outputs["outputs"] = result.get("outputs", {})
            if result.get("state") in ("FAILED", "KILLED") and self.transmitFailed:
                raise TaskFailed(
                    f"subflow {namespace}.{flow_id} ended {result.get('state')} (execution {result.get('executionId')})",
                    outputs=outputs,
                )
            if result.get("state") == "WARNING":
                ctx.warn(f"subflow {namespace}.{flow_id} ended WARNING")
        return outputs
