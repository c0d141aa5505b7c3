"""``io.kestra.plugin.dbt.cli.Setup``: prepare a WorkingDirectory for the dbt tasks after it.

As in Kestra: a Python virtual environment in the working directory (``./bin/dbt`` for Build/Run/
Test), ``requirements`` installed into it, ``profiles`` (YAML text or a map) written to
``.profile/profiles.yml``, ``inputFiles`` written. The environment also sees the packages
installed with kestra-dagster (a ``.pth`` file), so requirements already there (dbt-core, your
adapter) are satisfied without a download.
"""

from __future__ import annotations

import shlex
import site
import sys
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.tasks.dbt._common import DbtScript
from kestra_dagster.tasks.scripts._docker_runner import wants_docker
from kestra_dagster.sdk.values import as_list


class Setup(DbtScript):
    """Create a Python venv with dbt and its adapter in the working directory; write profiles."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.dbt.cli.Setup"

    profiles: str | dict[str, Any]
    pythonPath: str = "python"
    requirements: list[str] | str | None = None
    exitOnFailed: bool | str = True
    containerImage: str | None = "python"
    dockerOptions: dict[str, Any] | None = None
    parseRunResults: bool | str = False

    def project_dir(self, ctx) -> Path:
        return Path(ctx.working_dir)

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        self.write_profiles(ctx, workdir / ".profile", self.profiles)

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        python = ctx.render_str(self.pythonPath, "pythonPath")
        requirements = as_list(render(self.requirements, "requirements"), "requirements") if self.requirements else []
        if wants_docker(self, ctx):  # Kestra's way, inside the image
            commands = [f"{shlex.quote(python)} -m venv --system-site-packages {shlex.quote(str(workdir))} > /dev/null"]
            if requirements:
                commands.append("./bin/pip install " + " ".join(shlex.quote(r) for r in requirements) + " > /dev/null")
            return commands
        if python == "python":
            python = sys.executable  # Kestra's image default: here, our own interpreter
        ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
        venv_site = f"{workdir}/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
        commands = [f"{shlex.quote(python)} -m venv --without-pip {shlex.quote(str(workdir))} > /dev/null",
                    f"printf '%s\\n' {' '.join(shlex.quote(p) for p in ours)} > {shlex.quote(venv_site)}/kestra-dagster.pth"]
        if requirements:
            commands.append(f"{shlex.quote(sys.executable)} -m pip --python ./bin/python install --quiet "
                            + " ".join(shlex.quote(r) for r in requirements))
        # ./bin/dbt: the dbt of the packages this venv sees
        commands.append("printf '#!%s\\nfrom dbt.cli.main import cli\\nimport sys\\nsys.exit(cli())\\n' "
                        "\"$PWD/bin/python\" > bin/dbt && chmod +x bin/dbt")
        return commands
