"""``io.kestra.plugin.core.execution.Fail``, ``Assert`` and ``Labels`` act on the execution itself;
``Resume`` resumes a paused one (``PurgeExecutions`` is in ``purge.py``)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from kestra_dagster.errors import ExpressionError, TaskFailed
from kestra_dagster.expressions import is_truthy
from kestra_dagster.tasks.base import RunnableTask


class Fail(RunnableTask):
    """Fail the execution, always or when ``condition`` renders truthy."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.execution.Fail"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.executions.Fail",)

    condition: str | bool | None = None
    errorMessage: str = "Task failure"

    def run(self, ctx):
        if self.condition is not None:
            if not is_truthy(ctx.render(self.condition, prop="condition")):
                ctx.logger.info("condition is false: not failing")
                return {}
        raise TaskFailed(ctx.render_str(self.errorMessage, prop="errorMessage") or "Task failure")


class Assert(RunnableTask):
    """Check ``conditions`` (each rendered, then Kestra's truthiness); fail the task when one is false.

    Every condition is checked (each failure is logged with its text), so one run names them all;
    the ``success``/``failed`` counters say how many held.
    """

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.execution.Assert"

    conditions: list[str]
    errorMessage: str | None = None

    def run(self, ctx):
        failed = 0
        for i, condition in enumerate(self.conditions):
            try:
                holds = is_truthy(ctx.render(condition, prop=f"conditions[{i}]"))
            except ExpressionError as exc:
                ctx.logger.error(f"assertion `{condition}` failed: it cannot be rendered: {exc}")
                holds = False
            else:
                if not holds:
                    ctx.logger.error(f"assertion `{condition}` failed")
            failed += not holds
        ctx.record_metric("success", "counter", len(self.conditions) - failed)
        ctx.record_metric("failed", "counter", failed)
        if failed:
            extra = ctx.render_str(self.errorMessage, prop="errorMessage") if self.errorMessage else None
            raise TaskFailed(f"{failed} assertion{'s' if failed > 1 else ''} failed" + (f": {extra}" if extra else ""))
        return {}


class Labels(RunnableTask):
    """Add or update labels on the running execution (``labels`` as a map or a key/value list)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.execution.Labels"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.executions.Labels",)

    labels: dict[str, Any] | list[dict[str, Any]] | str

    @field_validator("labels")
    @classmethod
    def _not_system(cls, v):
        keys = v.keys() if isinstance(v, dict) else [i.get("key", "") for i in v] if isinstance(v, list) else []
        for key in keys:
            if str(key).startswith("system."):
                raise ValueError(f"label '{key}' uses the reserved 'system.' prefix")
        return v

    def run(self, ctx):
        rendered = ctx.render(self.labels, prop="labels")
        if isinstance(rendered, str):
            import json

            try:
                rendered = json.loads(rendered)
            except json.JSONDecodeError:
                raise TaskFailed("labels must render to a map or a list of {key, value}") from None
        if isinstance(rendered, list):
            rendered = {str(i.get("key")): i.get("value") for i in rendered if isinstance(i, dict)}
        labels = {str(k): str(v) for k, v in rendered.items()}
        refuse_secret_labels(labels, ctx.secret_values)
        ctx.set_labels(labels)
        ctx.logger.info(f"labels set: {labels}")
        return {}


def refuse_secret_labels(labels, secrets) -> None:
    """Labels become run tags, stored and shown in clear: a label carrying a secret is an error
    (the message names the label, never the value)."""
    if not labels or not secrets:
        return
    from kestra_dagster.engine.encryption import contains_secret
    from kestra_dagster.model.flow import label_map

    for key, value in label_map(labels).items():
        if contains_secret(str(key), secrets) or contains_secret(str(value), secrets):
            raise TaskFailed(f"label '{key if not contains_secret(str(key), secrets) else '******'}' would store a "
                             "secret value in clear as a run tag; labels are never secret: remove the secret from it")


class Resume(RunnableTask):
    """Resume a paused execution: ``executionId``, else the oldest paused execution of
    ``namespace``/``flowId``, else the current one; ``inputs`` are the gate's ``onResume`` values.

    The decision is recorded on the gate like one from the approval page, by
    ``flow <namespace>.<flow> (execution <id>, task <id>)``, and the flow's resume sensor starts the
    rest of the paused execution.
    """

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.execution.Resume"

    executionId: str | None = None
    namespace: str | None = None
    flowId: str | None = None
    inputs: dict[str, Any] | None = None

    def run(self, ctx):
        from kestra_dagster.engine.instance_ops import checked_namespace, required

        ops = required(ctx.instance_ops, self.kestra_type)
        namespace = checked_namespace(ctx.render_str(self.namespace, prop="namespace"), "namespace")
        flow_id = (ctx.render_str(self.flowId, prop="flowId") or "").strip() or None
        execution_id = (ctx.render_str(self.executionId, prop="executionId") or "").strip() or None
        if execution_id is None and self.executionId is not None:
            raise TaskFailed("property 'executionId' rendered empty: name the paused execution to resume")
        if execution_id is None:
            execution_id = ops.paused_execution(namespace, flow_id) if namespace and flow_id else ctx.execution_id
        inputs = ctx.render(self.inputs, prop="inputs") if self.inputs is not None else None
        by = f"flow {ctx.namespace}.{ctx.flow_id} (execution {ctx.execution_id}, task {self.id})"
        resumed = ops.resume(execution_id=execution_id, namespace=namespace, flow_id=flow_id, inputs=inputs, by=by)
        ctx.logger.info(f"resumed execution {resumed['id']} of {resumed['namespace']}.{resumed['flowId']} "
                        f"at '{resumed['task']}'")
        return {}
