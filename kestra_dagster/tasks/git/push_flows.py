"""``io.kestra.plugin.git.PushFlows``: commit the flows of a namespace (from the flows directory)
to a Git branch under ``gitDirectory`` (``_flows``), one ``<id>.yml`` per flow (child namespaces
in sub-folders with ``includeChildNamespaces``), ``namespace:`` rewritten to ``targetNamespace``.
``flows`` (globs on flow ids, default all) selects; with ``delete`` (default) files of flows that
are gone are removed from the branch. ``dryRun`` commits without pushing. Outputs ``commitId``,
``commitURL`` and ``flows``, a diff file (``{file, additions, deletions, changes}`` per line).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.git._git import inside
from kestra_dagster.tasks.git._sync import PushTask, flows_dir, glob_list, in_namespace, index_flows, write_diff


class PushFlows(PushTask):
    """Commit and push a namespace's flows (the flows directory's YAML) to a Git branch."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.git.PushFlows"

    gitDirectory: str = "_flows"
    sourceNamespace: str = "{{ flow.namespace }}"
    targetNamespace: str | None = None
    flows: list[str] | str | None = None
    includeChildNamespaces: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        source = (ctx.render_str(self.sourceNamespace, "sourceNamespace") or "").strip()
        target = (ctx.render_str(self.targetNamespace, "targetNamespace") or "").strip() or source
        children = ctx.render_bool(self.includeChildNamespaces, "includeChildNamespaces")
        globs = glob_list(ctx, self.flows, "flows") or ["**"]
        git_dir = (ctx.render_str(self.gitDirectory, "gitDirectory") or "").strip().strip("/")
        selected = {(ns, fid): path for (ns, fid), path in index_flows(flows_dir()).items()
                    if in_namespace(ns, source, children) and any(fnmatch.fnmatchcase(fid, g) for g in globs)}
        ctx.logger.info(f"{len(selected)} flow(s) of namespace {source} to push from {flows_dir()}")
        work = self.workspace()
        try:
            with self.session(ctx) as git:
                repo, branch, _ = self.clone(ctx, git, work)
                base = inside(repo, git_dir, "gitDirectory") if git_dir else repo
                written: set[Path] = set()
                for (namespace, flow_id), path in sorted(selected.items()):
                    folder = base
                    if namespace != source:
                        folder = base.joinpath(*namespace[len(source) + 1:].split("."))
                    dest = folder / f"{flow_id}.yml"
                    text = path.read_text(encoding="utf-8")
                    text = re.sub(rf"(?m)^(\s*namespace:\s*){re.escape(source)}", lambda m: m.group(1) + target, text, count=1)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(text, encoding="utf-8")
                    written.add(dest.resolve())
                if ctx.render_bool(self.delete, "delete") and base.is_dir():
                    candidates = base.rglob("*") if children else base.glob("*")
                    for old in candidates:
                        if (old.suffix in (".yml", ".yaml") and old.is_file() and old.resolve() not in written
                                and ".git" not in old.relative_to(repo).parts
                                and any(fnmatch.fnmatchcase(old.stem, g) for g in globs)):
                            ctx.logger.info(f"removing {old.relative_to(repo)} (no such flow any more)")
                            old.unlink()
                message = ctx.render_str(self.commitMessage, "commitMessage") if self.commitMessage \
                    else f"Add flows from {source} namespace"
                commit, rows = self.commit_and_push(ctx, git, repo, branch, message, *self.author(ctx))
                return {"commitId": commit, "commitURL": self.commit_url(ctx, git, commit),
                        "flows": write_diff(ctx, rows, "flows-diff.ion")}
        except OSError as exc:
            raise TaskFailed(f"cannot write the flows into the clone: {exc}") from None
        finally:
            self.remove(work)
