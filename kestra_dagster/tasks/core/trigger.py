"""``io.kestra.plugin.core.trigger.Toggle``: enable or disable a flow's trigger from a task.

A trigger is one or more Dagster schedules/sensors; toggling sets their stored status, the one
the daemon obeys and the UI's switch shows, through the run's ``instance_ops``.
"""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask


class Toggle(RunnableTask):
    """Enable (``enabled: true``) or disable (the default) trigger ``trigger`` of the flow
    ``namespace``/``flowId`` (this flow when not set)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.trigger.Toggle"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.trigger.Toggle",)

    trigger: str
    namespace: str | None = None
    flowId: str | None = None
    enabled: bool | str = False

    def run(self, ctx):
        from kestra_dagster.engine.instance_ops import checked_namespace, required

        ops = required(ctx.instance_ops, self.kestra_type)
        namespace = checked_namespace(ctx.render_str(self.namespace, prop="namespace"), "namespace") or ctx.namespace
        flow_id = (ctx.render_str(self.flowId, prop="flowId") or "").strip() if self.flowId is not None else ctx.flow_id
        trigger = (ctx.render_str(self.trigger, prop="trigger") or "").strip()
        if not flow_id or not trigger:
            raise TaskFailed(f"property '{'flowId' if not flow_id else 'trigger'}' rendered empty")
        enabled = ctx.render_bool(self.enabled, prop="enabled")
        names = ops.toggle_trigger(namespace, flow_id, trigger, enabled)
        ctx.logger.info(f"trigger '{trigger}' of {namespace}.{flow_id} {'enabled' if enabled else 'disabled'} "
                        f"({', '.join(names)})")
        return {}
