"""``io.kestra.plugin.core.output.OutputValues``: publish rendered values as outputs."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.base import RunnableTask


class OutputValues(RunnableTask):
    """Render every entry of ``values`` and expose them as ``outputs.<id>.values``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.output.OutputValues"

    values: dict[str, Any] = {}

    def run(self, ctx):
        return {"values": ctx.render(self.values, prop="values")}
