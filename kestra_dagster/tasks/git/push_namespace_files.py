"""``io.kestra.plugin.git.PushNamespaceFiles``: commit a namespace's files (the namespace-file
store) to a Git branch under ``gitDirectory`` (``_files``). ``files`` (globs, default all)
selects; ``errorOnMissing`` fails when nothing matches; with ``delete`` (default) files under
``gitDirectory`` that are no longer namespace files are removed. ``dryRun`` commits without
pushing. Outputs ``commitId``, ``commitURL`` and ``files``, a diff file (``{file, additions,
deletions, changes}`` per line).
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.git._git import inside
from kestra_dagster.tasks.git._sync import PushTask, glob_list, write_diff


class PushNamespaceFiles(PushTask):
    """Commit and push a namespace's files to a Git branch."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.git.PushNamespaceFiles"

    namespace: str = "{{ flow.namespace }}"
    gitDirectory: str = "_files"
    files: list[str] | str | None = None
    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        from kestra_dagster.namespace_files import NamespaceFiles, NamespaceFilesError

        namespace = (ctx.render_str(self.namespace, "namespace") or "").strip()
        globs = glob_list(ctx, self.files, "files") or ["**"]
        store = NamespaceFiles()
        try:
            selected = store.list(namespace, include=globs)
        except NamespaceFilesError as exc:
            raise TaskFailed(f"property 'namespace': {exc}") from None
        if not selected and ctx.render_bool(self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(f"no namespace file of {namespace} matches {globs} (errorOnMissing is true)")
        ctx.logger.info(f"{len(selected)} namespace file(s) of {namespace} to push")
        git_dir = (ctx.render_str(self.gitDirectory, "gitDirectory") or "").strip().strip("/")
        work = self.workspace()
        try:
            with self.session(ctx) as git:
                repo, branch, _ = self.clone(ctx, git, work)
                base = inside(repo, git_dir, "gitDirectory") if git_dir else repo
                wanted = set()
                for rel in selected:
                    dest = inside(base, rel, "files")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(store.read(namespace, rel))
                    wanted.add(rel)
                if ctx.render_bool(self.delete, "delete") and base.is_dir():
                    from kestra_dagster.namespace_files import matches

                    for old in sorted(base.rglob("*")):
                        rel = old.relative_to(base).as_posix()
                        if (old.is_file() and rel not in wanted and ".git" not in old.relative_to(repo).parts
                                and matches(rel, globs, None)):
                            old.unlink()
                message = ctx.render_str(self.commitMessage, "commitMessage") if self.commitMessage \
                    else f"Add files from {namespace} namespace"
                commit, rows = self.commit_and_push(ctx, git, repo, branch, message, *self.author(ctx))
                return {"commitId": commit, "commitURL": self.commit_url(ctx, git, commit),
                        "files": write_diff(ctx, rows, "files-diff.ion")}
        finally:
            self.remove(work)
