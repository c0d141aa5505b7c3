"""``io.kestra.plugin.scripts.python.Commands``: run commands in a Python environment."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._exec import as_list
from kestra_dagster.tasks.scripts._python import AbstractPythonExecScript


class PythonCommands(AbstractPythonExecScript):
    """Run commands such as ``python main.py`` (the ``kestra`` helper library is importable)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.scripts.python.Commands"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    commands: list[str] | str

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        return as_list(render(self.commands, "commands"), "commands")
