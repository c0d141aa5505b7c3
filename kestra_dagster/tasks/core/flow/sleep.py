"""``io.kestra.plugin.core.flow.Sleep``: wait for a duration (interruptible by timeout or kill)."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.model.common import Duration, parse_duration
from kestra_dagster.tasks.base import RunnableTask


class Sleep(RunnableTask):
    """Pause this branch of the flow for ``duration``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Sleep"

    duration: Duration

    def run(self, ctx):
        seconds = parse_duration(ctx.render_str(self.duration, prop="duration")).total_seconds()
        ctx.sleep(seconds)
        return {}
