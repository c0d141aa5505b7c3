"""The example tasks: a pydantic model per Kestra type, with a ``run(ctx) -> outputs`` method."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster import RunnableTask, TaskFailed


class Greet(RunnableTask):
    """Say hello to ``name`` (rendered); outputs ``message``."""

    # The type flows use, and older names that should keep working.
    kestra_type: ClassVar[str] = "io.example.greetings.Greet"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.example.Greet",)
    compute_kind: ClassVar[str | None] = "greeting"

    # Properties: the flow's YAML keys, validated when the flow loads (unknown keys are errors).
    name: str
    greeting: str = "Hello"

    def run(self, ctx) -> dict[str, Any]:
        name = ctx.render_str(self.name, prop="name")  # expressions, e.g. "{{ inputs.user }}"
        if not name:
            raise TaskFailed("property 'name' rendered to an empty string")  # a clear, expected failure
        message = f"{ctx.render_str(self.greeting, prop='greeting')}, {name}!"
        ctx.logger.info(message)
        return {"message": message}  # becomes outputs.<task id>.message


class Shout(RunnableTask):
    """Upper-case ``text`` and store it as a file; outputs ``uri``."""

    kestra_type: ClassVar[str] = "io.example.greetings.Shout"

    text: str

    def run(self, ctx) -> dict[str, Any]:
        loud = ctx.render_str(self.text, prop="text").upper()
        uri = ctx.storage.put_bytes(loud.encode(), "shout.txt")  # a kestra:// URI other tasks can read
        return {"uri": uri, "length": len(loud)}
