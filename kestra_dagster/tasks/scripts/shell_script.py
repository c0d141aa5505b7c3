"""``io.kestra.plugin.scripts.shell.Script``: run an inline shell script."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._exec import AbstractExecScript, as_text


class ShellScript(AbstractExecScript):
    """Run a multi-line shell script given inline (``script``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.scripts.shell.Script"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    default_image: ClassVar[str | None] = "ubuntu"  # Kestra's shell DEFAULT_IMAGE

    script: str

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        return [as_text(render(self.script, "script"))]
