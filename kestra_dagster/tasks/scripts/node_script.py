"""``io.kestra.plugin.scripts.node.Script``: run an inline Node.js script.

As in Kestra's plugin-scripts, the rendered script is written to a ``.js`` file in the working
directory and run as ``node <file>`` after ``beforeCommands`` (``npm install …`` there puts
``node_modules`` beside it, so ``require('@kestra-io/libs')`` works). Default image ``node``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._exec import AbstractExecScript, as_text, script_file


class NodeScript(AbstractExecScript):
    """Run a multi-line Node.js script given inline (``script``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.scripts.node.Script"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    compute_kind: ClassVar[str | None] = "node"
    default_image: ClassVar[str | None] = "node"  # Kestra's node DEFAULT_IMAGE

    script: str

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        code = as_text(render(self.script, "script"))
        path = script_file(ctx, workdir, ".js")
        path.write_text(self._localize_uris(ctx, code, workdir), encoding="utf-8")
        return [f"node {shlex.quote(str(path))}"]
