"""``WorkingDirectory``: child tasks share one directory (files written by one are seen by the next)."""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.model.common import Task
from kestra_dagster.safe_files import UnsafePathError, store_inside, walk_files
from kestra_dagster.tasks.base import FlowableTask


class WorkingDirectory(FlowableTask):
    """Run runnable child tasks in one shared directory; ``inputFiles`` in, ``outputFiles`` out."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.WorkingDirectory"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.WorkingDirectory", "io.kestra.core.tasks.flows.Worker")
    child_task_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    tasks: list[Task] = Field(min_length=1)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")
    inputFiles: dict[str, str] | str | None = None
    outputFiles: list[str] | None = None
    namespaceFiles: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None

    def check_flow_rules(self, flow):
        for i, task in enumerate(self.tasks):
            if not task.runs_on_worker:
                yield ("tasks", i), (
                    f"WorkingDirectory can only hold runnable tasks; '{task.id}' ({task.type}) is not one"
                )

    def execute(self, runner, scope):
        root = runner.services.work_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"kestra-wd-{self.id}-", dir=root))
        try:
            self._write_inputs(runner, scope, workdir)
            state = runner.run_list(self.tasks, scope.child(self, working_dir=workdir), self.errors, self.finally_)
            if self.outputFiles:
                runner.record_outputs(self, scope, {"outputFiles": self._collect(runner, scope, workdir)})
            return state
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _write_inputs(self, runner, scope, workdir: Path) -> None:
        files = runner.render(self.inputFiles, scope, self, prop="inputFiles") if self.inputFiles else {}
        if isinstance(files, str):
            import json

            files = json.loads(files)
        for name, content in (files or {}).items():
            target = (workdir / name).resolve()
            if workdir.resolve() not in target.parents:
                raise ValueError(f"inputFiles entry {name!r} escapes the working directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str) and content.startswith("kestra://"):
                target.write_bytes(runner.services.storage.read_bytes(content))
            else:
                target.write_text(str(content), encoding="utf-8")

    def _collect(self, runner, scope, workdir: Path) -> dict[str, str]:
        storage = runner.services.storage.for_task(
            runner.flow.namespace, runner.flow.id, runner.execution.execution_id, self.id, "outputs"
        )
        found: dict[str, str] = {}
        patterns = self.outputFiles or []

        def refused(rel: str, why: str) -> None:
            if any(fnmatch.fnmatch(rel, pattern) for pattern in patterns):
                runner.logger(self.id, scope).warning(f"outputFiles: {rel!r} not collected: {why}")

        for rel in walk_files(workdir, refused=refused):
            if any(fnmatch.fnmatch(rel, pattern) for pattern in patterns):
                try:
                    found[rel] = store_inside(storage, workdir, rel)
                except UnsafePathError as exc:  # swapped for a link after the listing
                    refused(rel, str(exc))
        return found
