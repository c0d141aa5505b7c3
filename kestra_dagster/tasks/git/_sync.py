"""What the flow and namespace-file sync tasks share (``PushFlows``, ``SyncFlows``,
``PushNamespaceFiles``, ``SyncNamespaceFiles``).

Kestra keeps flows and namespace files in its database; here flows are the YAML files of the flows
directory the code location loads (``$KESTRA_FLOWS_DIR``, else ``./flows``) and namespace files
are the namespace-file store (``kestra_dagster.namespace_files``). A push clones ``branch`` (made
from the default branch, or in an empty repository, when it does not exist yet), writes the
files under ``gitDirectory``, commits and pushes; a sync clones and writes the other way. Both
report a diff file in internal storage: one JSON object per line (valid ION text), as Kestra's.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.git._git import GitSession
from kestra_dagster.tasks.git.clone import AbstractGitTask


def flows_dir() -> Path:
    """The folder the code location loads flows from (the compiler's own rule)."""
    from kestra_dagster.compiler.definitions import flows_dir_from_env

    return flows_dir_from_env().resolve()


def flow_identity(text: str) -> tuple[str, str] | None:
    """(namespace, id) of a flow document, without validating the rest."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(raw, dict) and isinstance(raw.get("namespace"), str) and isinstance(raw.get("id"), str):
        return raw["namespace"], raw["id"]
    return None


def index_flows(root: Path) -> dict[tuple[str, str], Path]:
    """Every flow file under ``root`` by (namespace, id)."""
    from kestra_dagster.model.loader import iter_flow_files

    found: dict[tuple[str, str], Path] = {}
    if not root.is_dir():
        return found
    for path in iter_flow_files([root]):
        try:
            identity = flow_identity(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if identity and identity not in found:
            found[identity] = path
    return found


def in_namespace(namespace: str, root: str, children: bool) -> bool:
    return namespace == root or (children and namespace.startswith(root + "."))


def glob_list(ctx, value: Any, prop: str) -> list[str]:
    from kestra_dagster.sdk.values import as_list

    rendered = ctx.render(value, prop) if value is not None else None
    return [g for g in as_list(rendered, prop) if g] if rendered is not None else []


def write_diff(ctx, rows: list[dict[str, Any]], name: str) -> str:
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    return ctx.storage.put_bytes(text.encode("utf-8"), name)


class GitSyncTask(AbstractGitTask):
    """Clone/commit/push plumbing; not a task itself."""

    url: str
    branch: str = "main"
    dryRun: bool | str = False

    def clone(self, ctx, git: GitSession, work: Path) -> tuple[Path, str, bool]:
        """Clone ``branch`` into ``work/repo``; (repo, branch, existed)."""
        url = self.rendered_url(ctx, git)
        branch = (ctx.render_str(self.branch, "branch") or "").strip()
        if not branch:
            raise TaskFailed("property 'branch' cannot be empty")
        repo = work / "repo"
        heads = git.run(["ls-remote", "--heads", url], what="git ls-remote", url=url).stdout
        exists = bool(re.search(rf"\srefs/heads/{re.escape(branch)}$", heads, re.M))
        args = ["clone", "--quiet", "--depth", "1", "--no-tags"]
        if exists:
            args += ["--branch", branch]
        git.run([*args, url, str(repo)], what="git clone", url=url)
        if not exists:
            ctx.logger.info(f"branch {branch} does not exist in the repository: it is created")
            git.run(["checkout", "--quiet", "--orphan" if not heads.strip() else "-B", branch], cwd=repo,
                    what=f"checkout of branch {branch}")
        return repo, branch, exists

    def commit_and_push(self, ctx, git: GitSession, repo: Path, branch: str, message: str,
                        author_name: str | None, author_email: str | None) -> tuple[str | None, list[dict[str, Any]]]:
        """Commit what is staged and push it (unless dryRun); (commit id or None, diff rows)."""
        git.run(["add", "--all", "."], cwd=repo, what="git add")
        rows = []
        numstat = git.run(["diff", "--cached", "--numstat", "--no-renames"], cwd=repo, what="git diff").stdout
        for line in numstat.splitlines():
            added, deleted, path = line.split("\t", 2)
            a = 0 if added == "-" else int(added)
            d = 0 if deleted == "-" else int(deleted)
            rows.append({"file": path, "additions": f"+{a}", "deletions": f"-{d}", "changes": str(a + d)})
        if not rows:
            ctx.logger.info("No changes to commit. Skipping push.")
            return None, rows
        args = ["commit", "--quiet", "-m", message]
        if author_email:
            args += ["--author", f"{author_name or 'Kestra'} <{author_email}>"]
        git.run(args, cwd=repo, what="git commit")
        commit = git.run(["rev-parse", "HEAD"], cwd=repo).stdout.strip()
        if ctx.render_bool(self.dryRun, "dryRun"):
            ctx.logger.info(f"Dry run: commit {commit} not pushed to branch {branch}; set dryRun to false to push")
            return None, rows
        url = self.rendered_url(ctx, git)
        git.run(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], cwd=repo, what="git push", url=url)
        ctx.logger.info(git.mask(f"pushed commit {commit} to {url} branch {branch}"))
        return commit, rows

    def commit_url(self, ctx, git: GitSession, commit: str | None) -> str | None:
        if not commit:
            return None
        url = self.rendered_url(ctx, git)
        match = re.match(r"https?://(?:[^@/]+@)?([^/]+)/(.+?)(?:\.git)?/?$", url)
        return f"https://{match.group(1)}/{match.group(2)}/commit/{commit}" if match else None

    def workspace(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="kestra-gitsync-"))

    @staticmethod
    def remove(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


class PushTask(GitSyncTask):
    commitMessage: str | None = None
    authorEmail: str | None = None
    authorName: str | None = None
    delete: bool | str = True
    default_message: ClassVar[str] = "Add files"

    def author(self, ctx) -> tuple[str | None, str | None]:
        name = ctx.render_str(self.authorName, "authorName") if self.authorName else None
        email = ctx.render_str(self.authorEmail, "authorEmail") if self.authorEmail else None
        if email and not name and self.username:
            name = ctx.render_str(self.username, "username")
        return name, email
