"""Git polling trigger: ``git ls-remote`` on a remote, one execution per new or moved ref.

For repositories that cannot send webhooks. No clone is made: ``ls-remote`` lists refs and the
commits they point to (annotated tags are peeled to their commit). The sensor's cursor keeps
``ref → commit``; the first poll only records what exists (nothing runs for history), later
polls request one run per branch head that moved or tag that appeared and matches the
trigger's ``branches``/``tags`` globs, with ``run_key`` = ``<ref>@<commit>``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from kestra_dagster.triggers.conditions import glob_match


class GitPollError(RuntimeError):
    pass


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    if not (username or password) or not url.startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    netloc = f"{quote(username or '', safe='')}:{quote(password or '', safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


#: Transports git may use for a polled ``url``: ``ext::`` and ``fd::`` run commands or use the
#: worker's descriptors and are never a remote someone polls. Local paths stay allowed (a bare
#: repository on a shared volume is a common setup; only refs are read).
ALLOWED_PROTOCOLS = "http:https:ssh:git:file"
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:[^:]")


def validate_url(url: str) -> str:
    """The url when git may poll it (http(s), ssh, git, file, ``user@host:path`` or an absolute
    local path), else GitPollError."""
    if not isinstance(url, str) or not url.strip():
        raise GitPollError("url is empty")
    url = url.strip()
    if url.startswith("-"):
        raise GitPollError("url must not start with '-' (it would be read as an option)")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise GitPollError("url must not contain spaces or control characters")
    if "::" in url.split("/", 1)[0] or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", url):
        raise GitPollError("url must not use a git transport helper ('<transport>::…')")
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("http", "https", "ssh", "git", "file") or (not scheme and (_SCP_LIKE.match(url) or url.startswith("/"))):
        return url
    raise GitPollError("url must be an http(s)://, ssh://, git://, file:// remote, user@host:path or an absolute path")


def ls_remote(url: str, secrets: tuple[str, ...] = (), timeout: float = 60) -> dict[str, str]:
    """``{ref: commit}`` for heads and tags of ``url`` (annotated tags peeled)."""
    from kestra_dagster.engine.envs import task_process_environ

    url = validate_url(url)
    env = {**task_process_environ(), "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true",
           "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS}
    try:
        proc = subprocess.run(["git", "ls-remote", "--heads", "--tags", "--", url], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitPollError(f"git ls-remote failed: {type(exc).__name__}") from None
    if proc.returncode != 0:
        message = proc.stderr.strip()[-500:]
        for s in secrets:
            if s:
                message = message.replace(s, "******").replace(quote(s, safe=""), "******")
        raise GitPollError(f"git ls-remote exited {proc.returncode}: {message}")
    refs: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            refs[ref[:-3]] = sha  # the peeled commit of an annotated tag wins
        elif ref not in refs:
            refs[ref] = sha
    return refs


def ref_filter(branches: list[str], tags: list[str]):
    def accept(ref: str) -> tuple[str, str] | None:
        if ref.startswith("refs/heads/"):
            name = ref[len("refs/heads/"):]
            if (branches and glob_match(name, branches)) or (not branches and not tags):
                return "branch", name
        elif ref.startswith("refs/tags/"):
            name = ref[len("refs/tags/"):]
            if tags and glob_match(name, tags):
                return "tag", name
        return None

    return accept


def changes(previous: dict[str, str] | None, current: dict[str, str], branches: list[str], tags: list[str],
            url: str) -> list[dict[str, Any]]:
    """Trigger variables for each matching ref that is new or moved (nothing on the first poll)."""
    if previous is None:
        return []
    accept = ref_filter(branches, tags)
    out = []
    for ref, sha in sorted(current.items()):
        kind_name = accept(ref)
        if kind_name is None or previous.get(ref) == sha:
            continue
        kind, name = kind_name
        out.append({"url": url, "ref": ref, "kind": kind, "name": name, "commit": sha, "previous": previous.get(ref)})
    return out


def load_cursor(raw: str | None) -> dict[str, str] | None:
    return json.loads(raw) if raw else None
