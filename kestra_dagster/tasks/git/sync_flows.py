"""``io.kestra.plugin.git.SyncFlows``: make the flows directory match a Git branch's
``gitDirectory`` (``_flows``) for ``targetNamespace``.

Each ``.yml``/``.yaml`` file there (sub-folders too with ``includeChildNamespaces``: a folder is
a child namespace) gets ``namespace: <targetNamespace>[.<folder>]``, is validated as our code
location would (an invalid flow fails the task naming its Git path and line, or is skipped with
a warning with ``ignoreInvalidFlows``) and written over the flow file with the same namespace and
id, or as ``<flows dir>/<namespace>/<id>.yml``. With ``delete`` the namespace's flows that are not
in Git are removed (never the flow running this task). New flows appear when the code location
reloads. ``dryRun`` only reports. Output ``flows``: a diff file, one ``{gitPath, syncState
(ADDED/UPDATED/UNCHANGED/DELETED), namespace, flowId, flowsDirPath}`` per line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import FlowValidationError, TaskFailed
from kestra_dagster.tasks.git._git import inside
from kestra_dagster.tasks.git._sync import GitSyncTask, flows_dir, in_namespace, index_flows, write_diff


class SyncFlows(GitSyncTask):
    """Write the flows of a Git branch's folder into the flows directory (add, update, delete)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.git.SyncFlows"

    gitDirectory: str = "_flows"
    targetNamespace: str = "{{ flow.namespace }}"
    includeChildNamespaces: bool | str = False
    delete: bool | str = False
    ignoreInvalidFlows: bool | str = False
    failOnMissingDirectory: bool | str = True

    def run(self, ctx) -> dict[str, Any]:
        from kestra_dagster.model.loader import parse_flow

        namespace = (ctx.render_str(self.targetNamespace, "targetNamespace") or "").strip()
        children = ctx.render_bool(self.includeChildNamespaces, "includeChildNamespaces")
        dry = ctx.render_bool(self.dryRun, "dryRun")
        ignore_invalid = ctx.render_bool(self.ignoreInvalidFlows, "ignoreInvalidFlows")
        git_dir = (ctx.render_str(self.gitDirectory, "gitDirectory") or "").strip().strip("/")
        root = flows_dir()
        existing = index_flows(root)
        rows: list[dict[str, Any]] = []
        work = self.workspace()
        try:
            with self.session(ctx) as git:
                repo, branch, exists = self.clone(ctx, git, work)
                base = inside(repo, git_dir, "gitDirectory") if git_dir else repo
                if not exists or not base.is_dir():
                    if ctx.render_bool(self.failOnMissingDirectory, "failOnMissingDirectory"):
                        raise TaskFailed(f"folder {git_dir!r} does not exist on branch {branch} "
                                         "(set failOnMissingDirectory: false to sync nothing)")
                    base = None
                seen: set[tuple[str, str]] = set()
                pending = []  # every flow is validated before any is written: a bad one changes nothing
                files = sorted(base.rglob("*") if children else base.glob("*")) if base else []
                for path in files:
                    if path.suffix not in (".yml", ".yaml") or not path.is_file() or ".git" in path.relative_to(repo).parts:
                        continue
                    rel = path.relative_to(base)
                    flow_ns = ".".join([namespace, *rel.parts[:-1]])
                    git_path = path.relative_to(repo).as_posix()
                    text = re.sub(r"(?m)^namespace:.*$", f"namespace: {flow_ns}", path.read_text(encoding="utf-8"),
                                  count=1).rstrip() + "\n"
                    try:
                        loaded = parse_flow(text, file=git_path)
                    except FlowValidationError as exc:
                        if ignore_invalid:
                            ctx.logger.warning(f"invalid flow skipped (ignoreInvalidFlows): {exc}")
                            continue
                        raise TaskFailed(f"invalid flow in Git (branch {branch}), nothing synced: {exc}") from None
                    pending.append((git_path, (loaded.flow.namespace, loaded.flow.id), text))
                for git_path, key, text in pending:
                    seen.add(key)
                    dest = existing.get(key) or root / key[0] / f"{key[1]}.yml"
                    before = dest.read_text(encoding="utf-8") if dest.is_file() else None
                    state = "ADDED" if before is None else ("UNCHANGED" if before.strip() == text.strip() else "UPDATED")
                    if state != "UNCHANGED" and not dry:
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        dest.write_text(text, encoding="utf-8")
                    rows.append({"gitPath": git_path, "syncState": state, "namespace": key[0], "flowId": key[1],
                                 "flowsDirPath": str(dest.relative_to(root)) if dest.is_relative_to(root) else str(dest)})
                if ctx.render_bool(self.delete, "delete"):
                    for key, path in sorted(existing.items()):
                        if key in seen or not in_namespace(key[0], namespace, children):
                            continue
                        if key == (ctx.namespace, ctx.flow_id):
                            continue  # never the flow running this sync
                        if not dry:
                            path.unlink(missing_ok=True)
                        rows.append({"gitPath": None, "syncState": "DELETED", "namespace": key[0], "flowId": key[1],
                                     "flowsDirPath": str(path.relative_to(root))})
        finally:
            self.remove(work)
        counts = {s: sum(1 for r in rows if r["syncState"] == s) for s in ("ADDED", "UPDATED", "UNCHANGED", "DELETED")}
        ctx.logger.info(f"{'dry run: ' if dry else ''}flows of {namespace} synced into {root}: "
                        + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()))
        return {"flows": write_diff(ctx, rows, "flows-diff.ion")}
