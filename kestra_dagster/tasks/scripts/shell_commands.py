"""``io.kestra.plugin.scripts.shell.Commands``: run shell commands, one per list item."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._exec import AbstractExecScript, as_list


class ShellCommands(AbstractExecScript):
    """Run a list of shell commands (joined by newlines, run by the interpreter, ``/bin/sh -c``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.scripts.shell.Commands"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    default_image: ClassVar[str | None] = "ubuntu"  # Kestra's shell DEFAULT_IMAGE

    commands: list[str] | str

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        return as_list(render(self.commands, "commands"), "commands")
