"""``io.kestra.plugin.scripts.python.Script``: run an inline Python script.

As in Kestra's plugin-scripts, the rendered script is written to a ``.py`` file in the working
directory and run as ``python <file>`` after ``beforeCommands``; nothing is prepended to it.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._exec import as_text, script_file
from kestra_dagster.tasks.scripts._python import AbstractPythonExecScript


class PythonScript(AbstractPythonExecScript):
    """Run a multi-line Python script given inline (``script``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.scripts.python.Script"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    script: str

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        code = as_text(render(self.script, "script"))
        path = script_file(ctx, workdir)
        path.write_text(self._localize_uris(ctx, code, workdir), encoding="utf-8")
        return [f"python {shlex.quote(str(path))}"]
