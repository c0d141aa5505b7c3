"""``io.kestra.plugin.core.namespace.*``: upload, download and delete namespace files.

The files live in the namespace files store (``kestra_dagster.namespace_files``), the same tree
script tasks copy with ``namespaceFiles: {enabled: true}``.

* ``UploadFiles``: ``files`` is a list (``kestra://`` URIs, or globs matched against the working
  directory) stored under ``destination`` (default ``/``), or a map ``target path → kestra://
  URI``; ``conflict`` OVERWRITE (default) | ERROR | SKIP. Output ``files`` (path → URI given).
* ``DownloadFiles``: ``files`` globs (or one glob) → output ``files`` (path → ``kestra://`` URI of
  a copy in this execution's storage); ``destination`` prefixes the stored names.
* ``DeleteFiles``: ``files`` globs; ``deleteParentFolder`` removes folders left empty;
  ``errorOnMissing`` fails when nothing matched. Output ``files`` (the deleted paths).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.namespace_files import NamespaceFiles, NamespaceFilesError, matches
from kestra_dagster.safe_files import UnsafePathError, read_inside, walk_files
from kestra_dagster.tasks.base import RunnableTask


def _bool(ctx, value: Any, prop: str) -> bool:
    rendered = ctx.render(value, prop) if isinstance(value, str) else value
    return rendered is True or str(rendered).strip().lower() == "true"


def _patterns(ctx, value: Any, prop: str) -> list[str]:
    rendered = ctx.render(value, prop)
    if isinstance(rendered, str):
        return [rendered]
    if not isinstance(rendered, list):
        raise TaskFailed(f"property '{prop}' must be a list of globs")
    return [str(p) for p in rendered]


class _NamespaceTask(RunnableTask):
    compute_kind: ClassVar[str | None] = "namespace-files"

    namespace: str | None = None

    def _namespace(self, ctx) -> str:
        ns = ctx.render_str(self.namespace, prop="namespace") if self.namespace is not None else ctx.namespace
        return (ns or "").strip()

    @staticmethod
    def _store() -> NamespaceFiles:
        return NamespaceFiles()


class UploadFiles(_NamespaceTask):
    """Store files (kestra:// URIs or working-directory globs) as namespace files."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.namespace.UploadFiles"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    files: list[str] | dict[str, str] | str
    destination: str | None = "/"
    conflict: Literal["OVERWRITE", "ERROR", "SKIP"] | str = "OVERWRITE"

    def run(self, ctx) -> dict[str, Any]:
        namespace = self._namespace(ctx)
        store = self._store()
        conflict = str(ctx.render_str(self.conflict, prop="conflict")).upper()
        if conflict not in ("OVERWRITE", "ERROR", "SKIP"):
            raise TaskFailed(f"property 'conflict' must be OVERWRITE, ERROR or SKIP, got {conflict!r}")
        files = ctx.render(self.files, "files")
        pairs: list[tuple[str, bytes, str]] = []  # (target, data, source)
        if isinstance(files, dict):
            for target, source in files.items():
                source = str(source).strip()
                pairs.append((str(target), self._read_uri(ctx, source), source))
        else:
            items = [files] if isinstance(files, str) else [str(f) for f in files]
            destination = ctx.render_str(self.destination, prop="destination") if self.destination is not None else "/"
            globs = []
            for item in items:
                if item.strip().lower().startswith("kestra://"):
                    name = item.rsplit("/", 1)[-1]
                    pairs.append((f"{destination}/{name}", self._read_uri(ctx, item.strip()), item.strip()))
                else:
                    globs.append(item)
            if globs:
                workdir = Path(ctx.working_dir)
                refused: list[tuple[str, str]] = []
                names = walk_files(workdir, skip_dir=lambda d: d.startswith(".kestra-"),
                                   refused=lambda rel, why: refused.append((rel, why)))
                for rel, why in refused:
                    if matches(rel, globs, None):
                        ctx.logger.warning(f"files: {rel!r} not uploaded: {why}")
                for rel in names:
                    if matches(rel, globs, None):
                        try:
                            data = read_inside(workdir, rel)
                        except UnsafePathError as exc:
                            raise TaskFailed(f"files: {exc}") from None
                        pairs.append((f"{destination}/{rel}", data, rel))
        uploaded: dict[str, str] = {}
        try:
            for target, data, source in pairs:
                clean = store.clean(target)
                if store.exists(namespace, clean):
                    if conflict == "ERROR":
                        raise TaskFailed(f"namespace file '{clean}' already exists in namespace '{namespace}' (conflict: ERROR)")
                    if conflict == "SKIP":
                        ctx.logger.debug(f"namespace file '{clean}' exists: skipped")
                        continue
                store.write(namespace, clean, data)
                uploaded[clean] = source
        except NamespaceFilesError as exc:
            raise TaskFailed(str(exc)) from None
        ctx.logger.info(f"{len(uploaded)} file(s) uploaded to namespace '{namespace}'")
        return {"files": uploaded}

    @staticmethod
    def _read_uri(ctx, uri: str) -> bytes:
        try:
            return ctx.storage.read_bytes(uri)
        except Exception as exc:  # noqa: BLE001
            raise TaskFailed(f"property 'files': cannot read {uri}: {exc}") from None


class DownloadFiles(_NamespaceTask):
    """Copy namespace files matching ``files`` into the execution's storage; output ``files``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.namespace.DownloadFiles"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    files: list[str] | str
    destination: str | None = ""

    def run(self, ctx) -> dict[str, Any]:
        namespace = self._namespace(ctx)
        store = self._store()
        patterns = _patterns(ctx, self.files, "files")
        prefix = (ctx.render_str(self.destination, prop="destination") or "").strip("/")
        out: dict[str, str] = {}
        try:
            for rel in store.list(namespace, include=patterns):
                name = f"{prefix}/{rel}" if prefix else rel
                out[rel] = ctx.storage.put_bytes(store.read(namespace, rel), name)
        except NamespaceFilesError as exc:
            raise TaskFailed(str(exc)) from None
        ctx.logger.info(f"{len(out)} file(s) downloaded from namespace '{namespace}'")
        return {"files": out}


class DeleteFiles(_NamespaceTask):
    """Delete the namespace files matching ``files``; output the deleted ``files``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.namespace.DeleteFiles"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    files: list[str] | str
    deleteParentFolder: bool | str = False
    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        namespace = self._namespace(ctx)
        store = self._store()
        patterns = _patterns(ctx, self.files, "files")
        parents = _bool(ctx, self.deleteParentFolder, "deleteParentFolder")
        try:
            targets = store.list(namespace, include=patterns)
            for rel in targets:
                store.delete(namespace, rel, delete_empty_parents=parents)
        except NamespaceFilesError as exc:
            raise TaskFailed(str(exc)) from None
        if not targets and _bool(ctx, self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(f"no namespace file of namespace '{namespace}' matches {patterns}")
        ctx.logger.info(f"{len(targets)} file(s) deleted from namespace '{namespace}'")
        return {"files": targets}
