"""``io.kestra.plugin.core.debug.Return`` and ``Echo``: render a value (handy for tests and wiring)."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.log import LEVELS, emit


class Return(RunnableTask):
    """Render ``format`` and return it as the ``value`` output."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.debug.Return"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.debugs.Return",)

    format: str | None = None

    def run(self, ctx):
        value = ctx.render_str(self.format, prop="format") if self.format is not None else None
        ctx.logger.debug(ctx.mask(f"returned: {value}"))
        return {"value": value}


class Echo(RunnableTask):
    """Deprecated: log ``format`` at ``level`` (use Log)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.debug.Echo"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.debugs.Echo",)

    format: str
    level: LEVELS = "INFO"

    def run(self, ctx):
        emit(ctx, self.level, ctx.render_str(self.format, prop="format"))
        return {}
