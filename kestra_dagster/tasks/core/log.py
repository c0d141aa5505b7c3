"""``io.kestra.plugin.core.log.Log``: write a message (or several) to the execution log."""

from __future__ import annotations

from typing import ClassVar, Literal

from kestra_dagster.tasks.base import RunnableTask

LEVELS = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


def emit(ctx, level: str, message: str) -> None:
    write = {"TRACE": ctx.logger.debug, "DEBUG": ctx.logger.debug, "INFO": ctx.logger.info,
             "WARN": ctx.logger.warning, "ERROR": ctx.logger.error}[level]
    write(ctx.mask(message))


class Log(RunnableTask):
    """Log a message, or a list of messages, at a level."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.log.Log"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.log.Log",)

    message: str | list[str]
    level: LEVELS = "INFO"

    def run(self, ctx):
        messages = self.message if isinstance(self.message, list) else [self.message]
        for i, message in enumerate(messages):
            emit(ctx, self.level, ctx.render_str(message, prop=f"message[{i}]" if isinstance(self.message, list) else "message"))
        return {}
