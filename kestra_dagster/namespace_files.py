"""Namespace files: files stored per namespace (scripts, SQL, configs) that tasks can use.

Kestra keeps a file tree per namespace (the editor's "Files"); script tasks copy it into their
working directory with ``namespaceFiles: {enabled: true}`` and ``core.namespace.*`` tasks upload,
download and delete files in it. Here the tree of namespace ``company.team`` is the folder
``<root>/company.team/`` where ``<root>`` is ``$KESTRA_NAMESPACE_FILES_DIR`` (the variable the
script tasks read), else ``$DAGSTER_HOME/storage/namespace-files``, else
``./.kestra_namespace_files``.

A project keeps its namespace files in Git and syncs them with::

    python -m kestra_dagster.namespace_files sync ./namespace-files/company.team --namespace company.team [--delete]
    python -m kestra_dagster.namespace_files list company.team

Paths are relative, ``/``-separated; anything that would leave the namespace folder (``..``,
absolute paths, symlinks pointing outside) is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kestra_dagster.errors import KestraDagsterError

ROOT_ENV = "KESTRA_NAMESPACE_FILES_DIR"
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class NamespaceFilesError(KestraDagsterError, ValueError):
    """A namespace or file name is invalid, or a file is missing."""


def namespace_files_root() -> Path:
    explicit = os.environ.get(ROOT_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home).expanduser() / "storage" / "namespace-files"
    return Path.cwd() / ".kestra_namespace_files"


def _glob_regex(pattern: str) -> re.Pattern:
    """Java-style glob (``*`` one segment, ``**`` any depth, ``?``, ``[..]``, ``{a,b}``) on relative paths."""
    from kestra_dagster.sdk.values import glob_regex

    return glob_regex(pattern)


def matches(rel: str, include: Iterable[str] | None, exclude: Iterable[str] | None) -> bool:
    """Kestra's include/exclude: globs, or regexes when the pattern is not a plain glob."""
    def any_match(patterns: Iterable[str]) -> bool:
        for pattern in patterns:
            pattern = str(pattern).strip()
            if not pattern:
                continue
            if _glob_regex(pattern).match(rel) or _glob_regex(pattern.lstrip("/")).match(rel):
                return True
            if pattern.startswith(".*") or pattern.startswith("^"):
                try:
                    if re.fullmatch(pattern, rel) or re.fullmatch(pattern, "/" + rel):
                        return True
                except re.error:
                    pass
        return False

    include = list(include or [])
    if include and not any_match(include):
        return False
    return not any_match(exclude or [])


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted")


class NamespaceFiles:
    """The namespace files store rooted at ``root`` (default: ``namespace_files_root()``)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else namespace_files_root()

    # ------------------------------------------------------------------ paths
    def folder(self, namespace: str) -> Path:
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace) or ".." in namespace:
            raise NamespaceFilesError(f"invalid namespace {namespace!r} (lower-case letters, digits, '.', '_' and '-')")
        return self.root / namespace

    @staticmethod
    def clean(rel: str) -> str:
        """``/scripts//a.py`` → ``scripts/a.py``; refuses ``..`` and empty names."""
        if not isinstance(rel, str):
            raise NamespaceFilesError(f"file name must be a string, got {type(rel).__name__}")
        parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            raise NamespaceFilesError(f"file name {rel!r} names no file")
        if any(p == ".." or "\x00" in p for p in parts):
            raise NamespaceFilesError(f"file name {rel!r} leaves the namespace ('..' is not allowed)")
        return "/".join(parts)

    def path(self, namespace: str, rel: str) -> Path:
        folder = self.folder(namespace)
        target = folder / self.clean(rel)
        resolved_folder = folder.resolve()
        resolved = target.resolve()
        if resolved_folder not in resolved.parents:
            raise NamespaceFilesError(f"file name {rel!r} resolves outside namespace {namespace!r}")
        return target

    # ------------------------------------------------------------------ reading
    def list(self, namespace: str, include: Iterable[str] | None = None,
             exclude: Iterable[str] | None = None) -> list[str]:
        folder = self.folder(namespace)
        if not folder.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".tmp-") and name.endswith(".part"):
                    continue
                rel = (Path(dirpath) / name).relative_to(folder).as_posix()
                if matches(rel, include, exclude):
                    found.append(rel)
        return found

    def exists(self, namespace: str, rel: str) -> bool:
        try:
            return self.path(namespace, rel).is_file()
        except NamespaceFilesError:
            return False

    def read(self, namespace: str, rel: str) -> bytes:
        path = self.path(namespace, rel)
        if not path.is_file():
            raise NamespaceFilesError(f"namespace file {self.clean(rel)!r} not found in namespace {namespace!r}")
        return path.read_bytes()

    def read_text(self, namespace: str, rel: str) -> str:
        return self.read(namespace, rel).decode("utf-8")

    # ------------------------------------------------------------------ writing
    def write(self, namespace: str, rel: str, data: bytes) -> str:
        """Store ``data`` atomically at ``rel``; returns the clean relative name."""
        target = self.path(namespace, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(bytes(data))
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return self.clean(rel)

    def delete(self, namespace: str, rel: str, delete_empty_parents: bool = False) -> bool:
        path = self.path(namespace, rel)
        if not path.is_file():
            return False
        path.unlink()
        if delete_empty_parents:
            folder = self.folder(namespace)
            parent = path.parent
            while parent != folder and folder in parent.parents and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        return True

    def sync_from_directory(self, source: str | os.PathLike, namespace: str, delete: bool = False,
                            include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> SyncReport:
        """Make the namespace's files equal to ``source``'s (files only; ``delete`` removes extras)."""
        source = Path(source)
        if not source.is_dir():
            raise NamespaceFilesError(f"{source} is not a directory")
        report = SyncReport()
        wanted: set[str] = set()
        from kestra_dagster.safe_files import UnsafePathError, read_inside, walk_files

        for rel in walk_files(source, skip_dir=lambda d: d == ".git"):
            if True:
                if not matches(rel, include, exclude):
                    continue
                try:
                    data = read_inside(source, rel)  # a link out of the synced folder is never read
                except UnsafePathError:
                    continue
                wanted.add(rel)
                if self.exists(namespace, rel):
                    if hashlib.sha256(self.read(namespace, rel)).digest() == hashlib.sha256(data).digest():
                        report.unchanged.append(rel)
                        continue
                    report.updated.append(rel)
                else:
                    report.added.append(rel)
                self.write(namespace, rel, data)
        if delete:
            for rel in self.list(namespace, include, exclude):
                if rel not in wanted:
                    self.delete(namespace, rel, delete_empty_parents=True)
                    report.deleted.append(rel)
        return report

    def purge_namespace(self, namespace: str) -> None:
        shutil.rmtree(self.folder(namespace), ignore_errors=True)


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kestra_dagster.namespace_files",
                                     description="Manage namespace files (" + ROOT_ENV + " sets where they live).")
    parser.add_argument("--root", help=f"store root (default: ${ROOT_ENV}, else $DAGSTER_HOME/storage/namespace-files)")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="copy a directory's files into a namespace")
    sync.add_argument("directory")
    sync.add_argument("--namespace", required=True)
    sync.add_argument("--delete", action="store_true", help="also delete namespace files absent from the directory")
    sync.add_argument("--include", action="append")
    sync.add_argument("--exclude", action="append")
    listing = sub.add_parser("list", help="list a namespace's files")
    listing.add_argument("namespace")
    args = parser.parse_args(argv)
    store = NamespaceFiles(args.root)
    try:
        if args.command == "sync":
            report = store.sync_from_directory(args.directory, args.namespace, delete=args.delete,
                                               include=args.include, exclude=args.exclude)
            print(f"{args.namespace}: {report.summary()} ({store.folder(args.namespace)})")
        else:
            for rel in store.list(args.namespace):
                print(rel)
    except NamespaceFilesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
