"""``io.kestra.plugin.scripts.node.Commands``: run commands such as ``node main.js``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._exec import AbstractExecScript, as_list


class NodeCommands(AbstractExecScript):
    """Run Node.js commands (``node main.js``, ``npm run …``); default image ``node``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.scripts.node.Commands"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    compute_kind: ClassVar[str | None] = "node"
    default_image: ClassVar[str | None] = "node"  # Kestra's node DEFAULT_IMAGE

    commands: list[str] | str

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        return as_list(render(self.commands, "commands"), "commands")
