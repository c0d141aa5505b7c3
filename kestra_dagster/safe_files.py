"""Read files a task produced without ever following a link out of its directory.

A task controls its working directory: it can plant a symbolic link to ``/etc/passwd``,
``/proc/self/environ`` (the worker's environment, secrets included) or a host folder, then ask
for it through ``outputFiles``, ``LocalFiles.outputs``, ``UploadFiles`` or a namespace-file glob.
Every place that turns a task's files into stored files lists them with :func:`walk_files` and
opens them with :func:`open_inside`:

* a link is followed only when its target stays inside the root (resolved and checked);
* a linked directory is never walked (its files are listed through their real path if inside);
* opening walks the path one component at a time with ``O_NOFOLLOW`` from a descriptor on the
  root, so a link swapped in after the listing is refused too (no check-then-use race);
* only regular files are read (a FIFO or a device would hang or leak).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class UnsafePathError(OSError):
    """A file name that leaves its root, or names something that is not a regular file."""


def _within(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def link_target_inside(root: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """The resolved target of ``path`` when it stays inside ``root``; ``None`` when it escapes."""
    real_root = Path(root).resolve()
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):  # dangling link or a loop
        return None
    return resolved if _within(real_root, resolved) else None


def walk_files(root: str | os.PathLike, *, skip_dir: Callable[[str], bool] | None = None,
               skip_file: Callable[[str], bool] | None = None,
               refused: Callable[[str, str], None] | None = None) -> list[str]:
    """Sorted ``/``-separated relative names of the regular files under ``root``.

    Links to files inside ``root`` are kept (they are read through their target, which is
    checked again when opened); links that leave ``root``, dangling links and linked
    directories are left out and reported to ``refused(rel, reason)``.
    """
    base_root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base_root, followlinks=False):
        base = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            if skip_dir and skip_dir(name):
                continue
            full = base / name
            if full.is_symlink():
                if refused and link_target_inside(base_root, full) is None:
                    refused(full.relative_to(base_root).as_posix(), "a link to a directory outside the working directory")
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if skip_file and skip_file(name):
                continue
            full = base / name
            rel = full.relative_to(base_root).as_posix()
            if full.is_symlink():
                target = link_target_inside(base_root, full)
                if target is None:
                    if refused:
                        refused(rel, "a link that leaves the working directory")
                    continue
                if not target.is_file():
                    if refused:
                        refused(rel, "a link to something that is not a regular file")
                    continue
            elif not full.is_file():
                continue  # FIFO, socket, device: never read
            found.append(rel)
    return found


def _open_no_follow(root_fd: int, parts: list[str]) -> int:
    """Open ``parts`` below ``root_fd`` one component at a time, refusing every link."""
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    return file_fd


def _parts(rel: str) -> list[str]:
    parts = [p for p in str(rel).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise UnsafePathError(f"{rel!r} is not a name inside the directory")
    return parts


@contextlib.contextmanager
def open_inside(root: str | os.PathLike, rel: str) -> Iterator[int]:
    """A read-only descriptor on the regular file ``rel`` below ``root``; links out are refused.

    A final link whose target stays inside ``root`` is followed once (its target is opened the
    same careful way); any other link, anywhere on the path, raises :class:`UnsafePathError`.
    """
    real_root = Path(root).resolve()
    parts = _parts(rel)
    root_fd = os.open(real_root, _DIR_FLAGS)
    try:
        try:
            fd = _open_no_follow(root_fd, parts)
        except OSError as exc:
            if exc.errno not in (getattr(os, "ELOOP", 40), getattr(os, "ENOTDIR", 20)):
                raise
            target = link_target_inside(real_root, real_root.joinpath(*parts))
            if target is None:
                raise UnsafePathError(f"{rel!r} is a link that leaves the directory: refused") from None
            fd = _open_no_follow(root_fd, _parts(target.relative_to(real_root).as_posix()))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafePathError(f"{rel!r} is not a regular file: refused")
            os.set_blocking(fd, True)
            yield fd
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def read_inside(root: str | os.PathLike, rel: str) -> bytes:
    """The bytes of ``rel`` below ``root`` (see :func:`open_inside`)."""
    with open_inside(root, rel) as fd, os.fdopen(os.dup(fd), "rb") as handle:
        return handle.read()


def store_inside(storage, root: str | os.PathLike, rel: str, name: str | None = None) -> str:
    """``storage.put_file`` of ``rel`` below ``root``, through the descriptor :func:`open_inside` checked.

    ``/proc/self/fd/N`` re-opens exactly the file already opened, so nothing can be swapped in
    between the check and the copy.
    """
    with open_inside(root, rel) as fd:
        return storage.put_file(Path(f"/proc/self/fd/{fd}"), name if name is not None else rel)
