"""``io.kestra.plugin.git.Push`` (deprecated in Kestra, still in blueprints): commit and push files.

As in Kestra: with ``url`` the branch is cloned first (depth 1; the default branch when
``branch`` does not exist yet, which is then created) and every tracked file is removed, so the
commit holds exactly what this task adds; without ``url`` the repository already in
``directory`` (e.g. from a Clone in the same WorkingDirectory) is used. ``inputFiles`` and
``namespaceFiles`` are written, ``addFilesPattern`` (default ``.``) is added, a commit is made
with ``commitMessage`` and ``author`` and pushed to ``branch``. Nothing to commit → no push and
``commitId`` null. ``flows`` (when given and enabled) adds the namespace's flows from the flows
directory the code location loads (``childNamespaces``: sub-namespaces too) under
``flows.gitDirectory``, one ``<id>.yml`` per flow (a child namespace's in its sub-folder, as
``PushFlows`` lays them out).
Outputs: ``commitId``, ``commitURL`` (null here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.git._git import GitSession, inside
from kestra_dagster.tasks.git.clone import AbstractGitTask, Clone


class Author(KestraModel):
    name: str | None = None
    email: str | None = None


class FlowFiles(KestraModel):
    enabled: bool | str = True
    childNamespaces: bool | str = True
    gitDirectory: str = "_flows"


class NamespaceFilesSpec(KestraModel):
    enabled: bool | str = True
    include: list[str] | None = None
    exclude: list[str] | None = None
    ifExists: str | None = None
    folderPerNamespace: bool | str | None = None
    namespaces: list[str] | None = None


class Push(AbstractGitTask):
    """Commit files (inputFiles, namespace files, the working tree) and push them to a branch."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.git.Push"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    directory: str | None = None
    branch: str
    commitMessage: str
    inputFiles: dict[str, Any] | str | None = None
    namespaceFiles: NamespaceFilesSpec | None = None
    flows: FlowFiles | None = None
    addFilesPattern: list[str] | str | None = None
    author: Author | None = None
    dryRun: bool | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        with self.session(ctx) as git:
            base = self.target_dir(ctx, self.directory)
            branch = (ctx.render_str(self.branch, prop="branch") or "").strip()
            if not branch:
                raise TaskFailed("property 'branch' is required")
            url = self.rendered_url(ctx, git) if self.url else None
            if url:
                exists = self._remote_has_branch(git, url, branch)
                if not exists:
                    ctx.logger.info(f"Branch {branch} does not exist, creating it")
                clone = Clone.model_validate({
                    "id": self.id, "type": Clone.kestra_type, "url": self.url, "directory": self.directory,
                    "username": self.username, "password": self.password, "privateKey": self.privateKey,
                    "passphrase": self.passphrase, "trustedCaPemPath": self.trustedCaPemPath, "noProxy": self.noProxy,
                    "connectTimeout": self.connectTimeout, "readTimeout": self.readTimeout,
                    "cloneSubmodules": self.cloneSubmodules, "depth": 1, "branch": branch if exists else None,
                })
                clone.run(ctx)
            if not (base / ".git").exists():
                raise TaskFailed(f"{base} is not a Git repository: set 'url', or clone it first in the same WorkingDirectory")
            current = git.run(["rev-parse", "--abbrev-ref", "HEAD"], cwd=base, check=False).stdout.strip()
            if current != branch:
                git.run(["checkout", "--quiet", "-B", branch], cwd=base, what=f"checkout of branch {branch}")
            if url:
                # Kestra replaces the whole content: the commit holds exactly the files added below
                git.run(["rm", "-r", "-q", "--ignore-unmatch", "--", "."], cwd=base, what="git rm")
            self._write_input_files(ctx, base)
            self._copy_namespace_files(ctx, base)
            if self.flows is not None and ctx.render_bool(self.flows.enabled, "flows.enabled"):
                self._write_flows(ctx, base)

            patterns = self.addFilesPattern if self.addFilesPattern is not None else ["."]
            rendered = ctx.render(patterns, "addFilesPattern")
            if isinstance(rendered, str):
                rendered = [rendered]
            git.run(["add", "--all", "--", *[str(p) for p in rendered]], cwd=base, what="git add")
            if not git.run(["diff", "--cached", "--quiet"], cwd=base, check=False).returncode:
                ctx.logger.info("No changes to commit. Skipping push.")
                return {"commitId": None, "commitURL": None}
            message = ctx.render_str(self.commitMessage, prop="commitMessage") or ""
            args = ["commit", "--quiet", "-m", message]
            author = self._author(ctx)
            if author:
                args += ["--author", author]
            git.run(args, cwd=base, what="git commit")
            commit_id = git.run(["rev-parse", "HEAD"], cwd=base).stdout.strip()
            if self.dryRun is not None and ctx.render_bool(self.dryRun, "dryRun"):
                ctx.logger.info(f"dryRun: commit {commit_id} made, not pushed")
                return {"commitId": commit_id, "commitURL": None}
            remote_url = url or git.run(["remote", "get-url", "origin"], cwd=base, check=False).stdout.strip()
            ctx.logger.info(git.mask(f"Pushing to {remote_url} branch {branch}"))
            git.run(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], cwd=base, what="git push", url=remote_url)
            return {"commitId": commit_id, "commitURL": None}

    def _write_flows(self, ctx, base: Path) -> None:
        from kestra_dagster.tasks.git._sync import flows_dir, in_namespace, index_flows

        children = ctx.render_bool(self.flows.childNamespaces, "flows.childNamespaces")
        folder = inside(base, ctx.render_str(self.flows.gitDirectory, "flows.gitDirectory") or "_flows", "flows.gitDirectory")
        count = 0
        for (namespace, flow_id), path in sorted(index_flows(flows_dir()).items()):
            if in_namespace(namespace, ctx.namespace, children):
                target = folder.joinpath(*namespace[len(ctx.namespace) + 1:].split(".")) if namespace != ctx.namespace else folder
                target.mkdir(parents=True, exist_ok=True)
                (target / f"{flow_id}.yml").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
                count += 1
        ctx.logger.info(f"{count} flow(s) of {ctx.namespace} written under {folder.relative_to(base)}")

    def _remote_has_branch(self, git: GitSession, url: str, branch: str) -> bool:
        out = git.run(["ls-remote", "--heads", url, f"refs/heads/{branch}"], what="git ls-remote", url=url).stdout
        return bool(out.strip())

    def _author(self, ctx) -> str | None:
        if self.author is None:
            return None
        email = ctx.render_str(self.author.email, prop="author.email") if self.author.email else None
        name = ctx.render_str(self.author.name, prop="author.name") if self.author.name else None
        if email and not name and self.username:
            name = ctx.render_str(self.username, prop="username")
        return f"{name} <{email}>" if name and email else None

    def _write_input_files(self, ctx, base: Path) -> None:
        if self.inputFiles is None:
            return
        files = ctx.render(self.inputFiles, "inputFiles")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError as exc:
                raise TaskFailed(f"property 'inputFiles' must be a map or a JSON object: {exc}") from None
        if not isinstance(files, dict):
            raise TaskFailed("property 'inputFiles' must be a map of file name → content")
        for name, content in files.items():
            target = inside(base, str(name), "inputFiles")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str) and content.strip().startswith("kestra://"):
                target.write_bytes(ctx.storage.read_bytes(content.strip()))
            else:
                target.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")

    def _copy_namespace_files(self, ctx, base: Path) -> None:
        spec = self.namespaceFiles
        if spec is None or not ctx.render_bool(spec.enabled, "namespaceFiles.enabled"):
            return
        from kestra_dagster.namespace_files import NamespaceFiles

        store = NamespaceFiles()
        namespaces = ctx.render(spec.namespaces, "namespaceFiles.namespaces") if spec.namespaces else [ctx.namespace]
        include = ctx.render(spec.include, "namespaceFiles.include") if spec.include else None
        exclude = ctx.render(spec.exclude, "namespaceFiles.exclude") if spec.exclude else None
        count = 0
        for namespace in namespaces:
            for rel in store.list(namespace, include=include, exclude=exclude):
                target = inside(base, rel, "namespaceFiles")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(store.read(namespace, rel))
                count += 1
        ctx.logger.debug(f"{count} namespace file(s) written for the commit")
