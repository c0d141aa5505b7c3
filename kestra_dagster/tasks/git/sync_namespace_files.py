"""``io.kestra.plugin.git.SyncNamespaceFiles``: make a namespace's files match a Git branch's
``gitDirectory`` (``_files``): files are added or overwritten (byte comparison decides), and with
``delete`` namespace files that are not in Git are removed. ``dryRun`` only reports. Output
``files``: a diff file, one ``{gitPath, syncState (ADDED/OVERWRITTEN/UNCHANGED/DELETED),
kestraPath}`` per line.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.git._git import inside
from kestra_dagster.tasks.git._sync import GitSyncTask, write_diff


class SyncNamespaceFiles(GitSyncTask):
    """Write the files of a Git branch's folder into a namespace's files (add, overwrite, delete)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.git.SyncNamespaceFiles"

    namespace: str = "{{ flow.namespace }}"
    gitDirectory: str = "_files"
    delete: bool | str = False
    failOnMissingDirectory: bool | str = True

    def run(self, ctx) -> dict[str, Any]:
        from kestra_dagster.namespace_files import NamespaceFiles, NamespaceFilesError

        namespace = (ctx.render_str(self.namespace, "namespace") or "").strip()
        dry = ctx.render_bool(self.dryRun, "dryRun")
        git_dir = (ctx.render_str(self.gitDirectory, "gitDirectory") or "").strip().strip("/")
        store = NamespaceFiles()
        rows: list[dict[str, Any]] = []
        work = self.workspace()
        try:
            try:
                store.folder(namespace)
            except NamespaceFilesError as exc:
                raise TaskFailed(f"property 'namespace': {exc}") from None
            with self.session(ctx) as git:
                repo, branch, exists = self.clone(ctx, git, work)
                base = inside(repo, git_dir, "gitDirectory") if git_dir else repo
                if not exists or not base.is_dir():
                    if ctx.render_bool(self.failOnMissingDirectory, "failOnMissingDirectory"):
                        raise TaskFailed(f"folder {git_dir!r} does not exist on branch {branch} "
                                         "(set failOnMissingDirectory: false to sync nothing)")
                    base = None
                seen = set()
                for path in sorted(base.rglob("*")) if base else []:
                    if not path.is_file() or ".git" in path.relative_to(repo).parts:
                        continue
                    rel = path.relative_to(base).as_posix()
                    seen.add(rel)
                    data = path.read_bytes()
                    if store.exists(namespace, rel):
                        state = "UNCHANGED" if store.read(namespace, rel) == data else "OVERWRITTEN"
                    else:
                        state = "ADDED"
                    if state != "UNCHANGED" and not dry:
                        store.write(namespace, rel, data)
                    rows.append({"gitPath": path.relative_to(repo).as_posix(), "syncState": state, "kestraPath": rel})
                if ctx.render_bool(self.delete, "delete"):
                    for rel in store.list(namespace):
                        if rel in seen:
                            continue
                        if not dry:
                            store.delete(namespace, rel, delete_empty_parents=True)
                        rows.append({"gitPath": None, "syncState": "DELETED", "kestraPath": rel})
        finally:
            self.remove(work)
        counts = {s: sum(1 for r in rows if r["syncState"] == s) for s in ("ADDED", "OVERWRITTEN", "UNCHANGED", "DELETED")}
        ctx.logger.info(f"{'dry run: ' if dry else ''}namespace files of {namespace} synced: "
                        + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()))
        return {"files": write_diff(ctx, rows, "files-diff.ion")}
