"""``kestra-dagster image build``: the code image (package + flows) from ``deploy/Dockerfile``.

The build context is assembled in a temporary directory (project sources, the flows, the
Dockerfile, optionally a wheelhouse), so nothing else from the checkout (virtualenvs, caches) is
sent to the daemon. With ``wheelhouse=True`` every dependency is built into wheels here and the
image installs with ``pip --no-index`` (for builders without index access).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from kestra_dagster.errors import KestraDagsterError


class ImageBuildError(KestraDagsterError):
    pass


def project_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "deploy" / "Dockerfile").is_file() else None


def _docker() -> str:
    # The Debian client (20.10) builds through the daemon; a newer client without buildx would
    # refuse DOCKER_BUILDKIT=1, so the legacy builder is used explicitly.
    for cand in (os.environ.get("DOCKER"), "/usr/bin/docker", shutil.which("docker")):
        if cand and Path(cand).exists():
            return cand
    raise ImageBuildError("the docker CLI was not found")


def assemble_context(dest: Path, source: Path, flows_dir: Path, wheelhouse: bool,
                     echo: Callable[[str], None] = print, extras: tuple[str, ...] = ()) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")
    shutil.copy2(source / "pyproject.toml", dest / "pyproject.toml")
    readme = source / "README.md"
    (dest / "README.md").write_text(readme.read_text(encoding="utf-8") if readme.exists() else "kestra-dagster\n")
    shutil.copytree(source / "kestra_dagster", dest / "kestra_dagster", ignore=ignore)
    shutil.copy2(source / "deploy" / "Dockerfile", dest / "Dockerfile")
    if not flows_dir.is_dir():
        raise ImageBuildError(f"flows directory {flows_dir} does not exist")
    shutil.copytree(flows_dir, dest / "flows", ignore=ignore)
    wheels = dest / "wheels"
    wheels.mkdir()
    (wheels / ".keep").write_text("")
    if wheelhouse:
        echo(f"image: building wheels for {source.name} and its dependencies")
        for args in (["wheel", "--quiet", _with_extras(str(dest), extras), "-w", str(wheels)],
                     ["download", "--quiet", "setuptools>=68", "wheel", "-d", str(wheels)]):
            proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
            if proc.returncode != 0:
                raise ImageBuildError(f"pip {args[0]} failed:\n{proc.stderr[-3000:]}")


def _with_extras(requirement: str, extras: tuple[str, ...]) -> str:
    return f"{requirement}[{','.join(extras)}]" if extras else requirement


def check_extras(extras: tuple[str, ...], source: Path) -> tuple[str, ...]:
    """The package's optional extras to install in the image; an unknown name is refused here,
    not after minutes of ``docker build`` (pip only warns about it)."""
    import tomllib

    known = set(tomllib.loads((source / "pyproject.toml").read_text())["project"].get("optional-dependencies", {}))
    unknown = sorted(set(extras) - known)
    if unknown:
        raise ImageBuildError(f"unknown extra(s) {', '.join(unknown)}; the package offers {', '.join(sorted(known))}")
    return tuple(dict.fromkeys(extras))


def docker_build_argv(docker: str, tag: str, context: Path, base_image: str | None = None,
                      wheelhouse: bool = False, extras: tuple[str, ...] = ()) -> list[str]:
    argv = [docker, "build", "--rm", "--force-rm", "-t", tag]
    if base_image:
        argv += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if wheelhouse:
        argv += ["--build-arg", "PIP_EXTRA_ARGS=--no-index"]
    if extras:
        argv += ["--build-arg", f"EXTRAS={','.join(extras)}"]
    return [*argv, str(context)]


def build_image(tag: str, flows_dir: str, base_image: str | None = None, wheelhouse: bool = False,
                source: str | None = None, echo: Callable[[str], None] = print, timeout: float = 1800,
                extras: tuple[str, ...] = ()) -> str:
    """Build ``tag`` (with the package's optional ``extras``, e.g. ``k8s``); returns the image id."""
    src = Path(source).resolve() if source else project_root()
    if src is None or not (src / "deploy" / "Dockerfile").is_file():
        raise ImageBuildError("no project checkout with deploy/Dockerfile found (pass --source)")
    extras = check_extras(tuple(extras), src)
    with tempfile.TemporaryDirectory(prefix="kd-image-") as tmp:
        ctx = Path(tmp)
        assemble_context(ctx, src, Path(flows_dir).resolve(), wheelhouse, echo, extras)
        argv = docker_build_argv(_docker(), tag, ctx, base_image, wheelhouse, extras)
        echo(f"image: {' '.join(argv[1:-1])} <context>")
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ImageBuildError(f"docker build did not finish in {timeout:.0f}s") from None
        if proc.returncode != 0:
            raise ImageBuildError(f"docker build exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    out = subprocess.run([_docker(), "image", "inspect", "-f", "{{.Id}}", tag], capture_output=True, text=True)
    if out.returncode != 0:
        raise ImageBuildError(f"built image {tag} not found: {out.stderr.strip()}")
    return out.stdout.strip()
