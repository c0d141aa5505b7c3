"""Runs a ``Subflow`` task's child flow as its own Dagster run, tagged with its parent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kestra_dagster.compiler.ops import END_NODE, OK
from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.flow import label_map

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


class SubflowLauncher:
    """Called by the Subflow task; the child run shares the parent's Dagster instance."""

    def __init__(self, parent: "CompiledFlow", context):
        self.parent = parent
        self.context = context

    def __call__(self, namespace: str, flow_id: str, inputs: dict, labels: Any = None, wait: bool = True,
                 inherit_labels: bool = False) -> dict:
        child = self.parent.catalog.get(f"{namespace}.{flow_id}")
        if child is None or child.job is None:
            known = ", ".join(sorted(self.parent.catalog)) or "none"
            raise TaskFailed(f"flow {namespace}.{flow_id} is not loaded (known flows: {known})")
        child_labels = {**(self.parent.flow.label_dict() if inherit_labels else {}),
                        **{str(k): str(v) for k, v in label_map(labels).items()}}
        run_config = child.run_config(inputs, labels=child_labels, trigger={
            "executionId": self.context.run_id, "namespace": self.parent.flow.namespace, "flowId": self.parent.flow.id,
        })
        tags = {"kestra/parent_run_id": self.context.run_id, "kestra/parent_flow": self.parent.flow.uid}
        if not wait:
            self.context.log.info("wait: false — the subflow still runs to its end here, its result is not used")
        try:
            result = child.job.execute_in_process(
                run_config=run_config, instance=self.context.instance, tags=tags, raise_on_error=False,
            )
        except Exception as exc:  # invalid run config (inputs) is reported like Kestra: the task fails
            raise TaskFailed(f"subflow {namespace}.{flow_id} could not start: {exc}") from None
        state, outputs = "FAILED", {}
        try:
            execution = result.output_for_node(END_NODE, OK)
            state, outputs = execution.final_state or "FAILED", execution.flow_outputs
        except Exception:  # the child failed before its end node (e.g. rejected inputs)
            pass
        if not wait:
            return {"executionId": result.run_id, "state": None}
        return {"executionId": result.run_id, "state": state, "outputs": outputs}
