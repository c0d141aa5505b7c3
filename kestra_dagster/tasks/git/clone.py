"""``io.kestra.plugin.git.Clone``: clone a repository into the task's working directory.

Kestra's properties: ``url``, ``directory`` (below the working directory; default its root),
``branch``, ``depth`` (1; ignored when ``commit`` or ``tag`` is set, so history is there),
``commit`` (detached checkout), ``tag``, ``cloneAllBranches``, ``noTags``, ``cloneSubmodules``,
``username``/``password`` (HTTP), ``privateKey``/``passphrase`` (SSH), ``trustedCaPemPath``,
``noProxy``, ``connectTimeout``/``readTimeout`` (ms), ``gitConfig``. An existing repository in
the target is fetched and checked out instead (Kestra's update path); a non-empty folder that is
not a repository gets the repository checked out over it. ``cache``/``cacheTtl`` are accepted
and ignored. Output: ``directory``, the path of the clone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.git._git import GitSession, inside, is_ssh_url, to_int


class AbstractGitTask(RunnableTask):
    """Connection properties every Git task has."""

    kestra_family: ClassVar[str] = "git"
    compute_kind: ClassVar[str | None] = "git"

    url: str | None = None
    username: str | None = None
    password: str | None = None
    privateKey: str | None = None
    passphrase: str | None = None
    trustedCaPemPath: str | None = None
    noProxy: bool | str | None = None
    connectTimeout: int | str | None = 10000
    readTimeout: int | str | None = 60000
    gitConfig: dict[str, Any] | None = None
    cloneSubmodules: bool | str | None = None

    def session(self, ctx) -> GitSession:
        r = lambda v, p: ctx.render_str(v, prop=p) if v is not None else None  # noqa: E731
        return GitSession(
            ctx, username=r(self.username, "username"), password=r(self.password, "password"),
            private_key=r(self.privateKey, "privateKey"), passphrase=r(self.passphrase, "passphrase"),
            ca_pem_path=r(self.trustedCaPemPath, "trustedCaPemPath"),
            no_proxy=ctx.render_bool(self.noProxy, "noProxy") if self.noProxy is not None else False,
            connect_timeout_ms=to_int(ctx, self.connectTimeout, "connectTimeout"),
            read_timeout_ms=to_int(ctx, self.readTimeout, "readTimeout"),
        )

    def rendered_url(self, ctx, git: GitSession) -> str:
        url = (ctx.render_str(self.url, prop="url") or "").strip()
        if not url:
            raise TaskFailed("property 'url' is required")
        if "://" not in url and not is_ssh_url(url) and not Path(url).exists():
            raise TaskFailed(f"property 'url' must be an http(s)://, ssh://, git@host:path or file:// URL, got {git.mask(url)!r}")
        return url

    def target_dir(self, ctx, directory: str | None) -> Path:
        root = Path(ctx.working_dir)
        if directory is None:
            return root
        name = ctx.render_str(directory, prop="directory") or ""
        return inside(root, name, "directory") if name.strip() else root

    def apply_git_config(self, ctx, git: GitSession, repo: Path) -> None:
        if not self.gitConfig:
            return
        values = ctx.render(self.gitConfig, "gitConfig") or {}
        for key, value in values.items():
            if "." not in str(key):
                ctx.logger.warning(f"gitConfig key {key!r} ignored: expected 'section.name'")
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                git.run(["config", "--unset-all", str(key)], cwd=repo, check=False)
                continue
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            git.run(["config", str(key), text], cwd=repo, what="gitConfig")


class Clone(AbstractGitTask):
    """Clone a Git repository (HTTP(S), SSH or file://) into the working directory."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.git.Clone"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    url: str
    directory: str | None = None
    branch: str | None = None
    depth: int | str | None = 1
    commit: str | None = None
    tag: str | None = None
    cloneAllBranches: bool | str | None = True
    noTags: bool | str | None = False
    cache: bool | str | None = None
    cacheTtl: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        with self.session(ctx) as git:
            url = self.rendered_url(ctx, git)
            path = self.target_dir(ctx, self.directory)
            branch = ctx.render_str(self.branch, prop="branch") if self.branch else None
            commit = ctx.render_str(self.commit, prop="commit") if self.commit else None
            tag = ctx.render_str(self.tag, prop="tag") if self.tag else None
            depth = None if (commit or tag) else to_int(ctx, self.depth, "depth")
            no_tags = ctx.render_bool(self.noTags, "noTags") if self.noTags is not None else False
            all_branches = ctx.render_bool(self.cloneAllBranches, "cloneAllBranches") if self.cloneAllBranches is not None else True
            submodules = ctx.render_bool(self.cloneSubmodules, "cloneSubmodules") if self.cloneSubmodules is not None else False
            if self.cache is not None and ctx.render_bool(self.cache, "cache"):
                ctx.logger.debug("cache is ignored: every run clones afresh")
            ctx.logger.info(git.mask(f"Cloning {url} into {path}" + (f" (branch {branch})" if branch and not (commit or tag) else "")))

            path.mkdir(parents=True, exist_ok=True)
            ref = tag or branch
            if (path / ".git").exists() or any(path.iterdir()):
                self._fetch_into(git, path, url, ref, depth, no_tags, existing=(path / ".git").exists())
            else:
                args = ["clone", "--quiet"]
                if depth and depth > 0:
                    args += ["--depth", str(depth)]
                    args.append("--no-single-branch" if all_branches and not ref else "--single-branch")
                if ref:
                    args += ["--branch", ref]
                if no_tags:
                    args.append("--no-tags")
                if submodules:
                    args.append("--recurse-submodules")
                git.run([*args, "--", url, str(path)], what="git clone", url=url)
            if commit:
                git.run(["checkout", "--quiet", "--detach", commit], cwd=path, what=f"checkout of commit {commit}")
            if submodules and (path / ".gitmodules").exists():
                git.run(["submodule", "update", "--init", "--recursive"], cwd=path, what="submodule update", url=url)
            self.apply_git_config(ctx, git, path)
            head = git.run(["rev-parse", "HEAD"], cwd=path, check=False).stdout.strip()
            ctx.logger.debug(f"checked out {head or 'nothing'} in {path}")
            return {"directory": str(path)}

    def _fetch_into(self, git: GitSession, path: Path, url: str, ref: str | None, depth: int | None,
                    no_tags: bool, existing: bool) -> None:
        """Kestra's update path: fetch into an existing repository (or a non-empty folder) and check out."""
        if not existing:
            git.run(["init", "--quiet"], cwd=path, what="git init")
        remotes = git.run(["remote"], cwd=path, check=False).stdout.split()
        git.run(["remote", "set-url" if "origin" in remotes else "add", "origin", url], cwd=path, what="git remote")
        args = ["fetch", "--quiet", "origin"]
        if depth and depth > 0:
            args += ["--depth", str(depth)]
        if no_tags:
            args.append("--no-tags")
        if ref:
            args.append(ref)
        git.run(args, cwd=path, what="git fetch", url=url)
        if ref is None:
            head = git.run(["ls-remote", "--symref", "origin", "HEAD"], cwd=path, what="git ls-remote", url=url).stdout
            default = next((line.split()[1] for line in head.splitlines() if line.startswith("ref:")), "refs/heads/main")
            ref = default.removeprefix("refs/heads/")
            git.run(["fetch", "--quiet", "origin", ref] + (["--depth", str(depth)] if depth else []), cwd=path,
                    what="git fetch", url=url)
        git.run(["checkout", "--quiet", "--force", "-B", ref, "FETCH_HEAD"], cwd=path, what=f"checkout of {ref}")
