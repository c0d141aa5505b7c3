"""``io.kestra.plugin.core.storage.LocalFiles`` (deprecated in Kestra, used by its tests and older flows).

Writes ``inputs`` (file name → content or ``kestra://`` URI) into the task's working directory
(inside a WorkingDirectory: the shared one) and stores the working-directory files matching the
``outputs`` globs, output ``uris`` (file name → ``kestra://`` URI).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.safe_files import UnsafePathError, store_inside, walk_files
from kestra_dagster.tasks.base import RunnableTask


def _glob(pattern: str):
    from kestra_dagster.sdk.values import glob_regex

    return glob_regex(pattern)


class LocalFiles(RunnableTask):
    """Create files in the working directory (``inputs``) and/or store some of its files (``outputs``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.LocalFiles"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.LocalFiles",)
    compute_kind: ClassVar[str | None] = "storage"

    inputs: dict[str, Any] | str | None = None
    outputs: list[str] | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        if self.inputs is not None:
            files = ctx.render(self.inputs, "inputs")
            if isinstance(files, str):
                try:
                    files = json.loads(files) if files.strip() else {}
                except ValueError as exc:
                    raise TaskFailed(f"property 'inputs' must be a map or a JSON object: {exc}") from None
            if not isinstance(files, dict):
                raise TaskFailed("property 'inputs' must be a map of file name → content")
            for name, content in files.items():
                target = (workdir / str(name)).resolve()
                if workdir.resolve() not in target.parents:
                    raise TaskFailed(f"inputs entry {name!r} points outside the working directory")
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, str) and content.strip().lower().startswith("kestra://"):
                    target.write_bytes(ctx.storage.read_bytes(content.strip()))
                else:
                    target.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        uris: dict[str, str] = {}
        if self.outputs is not None:
            patterns = ctx.render(self.outputs, "outputs")
            patterns = [patterns] if isinstance(patterns, str) else [str(p) for p in patterns]
            regexes = [_glob(p) for p in patterns]
            refused: list[tuple[str, str]] = []
            names = walk_files(workdir, skip_dir=lambda d: d.startswith(".kestra-"),
                               refused=lambda rel, why: refused.append((rel, why)))
            for rel, why in refused:
                if any(rx.match(rel) for rx in regexes):
                    ctx.logger.warning(f"outputs: {rel!r} not collected: {why}")
            for rel in names:
                if any(rx.match(rel) for rx in regexes):
                    try:
                        uris[rel] = store_inside(ctx.storage, workdir, rel)
                    except UnsafePathError as exc:
                        raise TaskFailed(f"outputs: {exc}") from None
        return {"uris": uris}
