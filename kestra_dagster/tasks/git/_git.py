"""Running the ``git`` command line for the Git tasks, with credentials kept out of sight.

Credentials never appear in a command line, a URL we build, a log line or an error message:

* ``username``/``password`` reach git through ``GIT_ASKPASS``, a tiny script in a private
  temporary folder that prints them from environment variables of the git process only;
  credential helpers and terminal prompts are switched off, so a wrong password fails at once;
* ``privateKey`` is written (mode 0600) to that private folder and handed to ssh with
  ``GIT_SSH_COMMAND``; its ``passphrase`` goes through ``SSH_ASKPASS`` the same way;
* user info written into the URL (``https://user:token@host/…``) is masked in messages;
* git's own messages are classified (authentication failed, host unreachable, repository or
  branch not found…) and masked before they reach the task's error.

The process is stopped when the task is cancelled (timeout, run terminated).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from kestra_dagster.errors import TaskFailed, TaskKilled

GIT = "git"
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.I)
_ASKPASS = """#!/bin/sh
case "$1" in
  *[Uu]sername*) printf '%s\\n' "$KD_GIT_USERNAME" ;;
  *) printf '%s\\n' "$KD_GIT_SECRET" ;;
esac
"""


def strip_userinfo(url: str) -> str:
    return _USERINFO.sub(lambda m: m.group("scheme"), url)


def is_ssh_url(url: str) -> bool:
    return url.startswith("ssh://") or bool(re.match(r"^[\w.-]+@[\w.-]+:", url))


class GitSession:
    """One task's git environment: credentials, temp folder, masking; use as a context manager."""

    def __init__(self, ctx, *, username: str | None = None, password: str | None = None,
                 private_key: str | None = None, passphrase: str | None = None,
                 ca_pem_path: str | None = None, no_proxy: bool = False,
                 connect_timeout_ms: int | None = None, read_timeout_ms: int | None = None):
        self.ctx = ctx
        self.username = username
        self.secrets = {s for s in (password, private_key, passphrase) if s}
        if private_key:
            self.secrets.update(line for line in private_key.splitlines() if len(line) >= 16)
        self._tmp = Path(tempfile.mkdtemp(prefix="kestra-git-"))
        os.chmod(self._tmp, 0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
        env.update({
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(self._tmp / "gitconfig"),  # the machine's ~/.gitconfig stays out
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "Kestra", "GIT_AUTHOR_EMAIL": "kestra@localhost",
            "GIT_COMMITTER_NAME": "Kestra", "GIT_COMMITTER_EMAIL": "kestra@localhost",
        })
        (self._tmp / "gitconfig").write_text("")
        askpass = self._tmp / "askpass.sh"
        askpass.write_text(_ASKPASS)
        askpass.chmod(0o700)
        if username is not None or password is not None:
            env["GIT_ASKPASS"] = str(askpass)
            env["KD_GIT_USERNAME"] = username or ""
            env["KD_GIT_SECRET"] = password or ""
        self.config: list[str] = ["-c", "credential.helper=", "-c", "core.askPass=" + (str(askpass) if "GIT_ASKPASS" in env else "")]
        if read_timeout_ms:
            # abort a transfer that stays below 1 byte/s for the read timeout
            self.config += ["-c", "http.lowSpeedLimit=1", "-c", f"http.lowSpeedTime={max(1, read_timeout_ms // 1000)}"]
        if ca_pem_path:
            self.config += ["-c", f"http.sslCAInfo={ca_pem_path}"]
        if no_proxy:
            for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
                env.pop(key, None)
            env["NO_PROXY"] = env["no_proxy"] = "*"
        ssh = ["ssh", "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={self._tmp / 'known_hosts'}"]
        if connect_timeout_ms:
            ssh += ["-o", f"ConnectTimeout={max(1, connect_timeout_ms // 1000)}"]
        if private_key:
            key = self._tmp / "id_key"
            key.write_text(private_key if private_key.endswith("\n") else private_key + "\n")
            key.chmod(0o600)
            ssh += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
            if passphrase:
                env["SSH_ASKPASS"] = str(askpass)
                env["SSH_ASKPASS_REQUIRE"] = "force"
                env["KD_GIT_SECRET"] = passphrase
            else:
                ssh += ["-o", "BatchMode=yes"]
        else:
            ssh += ["-o", "BatchMode=yes"]
        env["GIT_SSH_COMMAND"] = " ".join(shlex.quote(part) for part in ssh)
        self.env = env

    def __enter__(self) -> "GitSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def add_secret(self, value: str | None) -> None:
        if value:
            self.secrets.add(value)

    def mask(self, text: str) -> str:
        text = strip_userinfo(self.ctx.mask(text))
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "******")
        return text

    # ----------------------------------------------------------------- running
    def run(self, args: list[str], cwd: Path | None = None, what: str = "", check: bool = True,
            url: str | None = None) -> subprocess.CompletedProcess:
        """``git <config> <args>``; on failure raises TaskFailed with a classified, masked message."""
        self.ctx.check_cancelled()
        command = [GIT, *self.config, *args]
        self.ctx.logger.debug(self.mask(f"git {' '.join(args)}"))
        proc = subprocess.Popen(command, cwd=str(cwd) if cwd else None, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        result: dict[str, str] = {}

        def communicate() -> None:
            result["out"], result["err"] = proc.communicate()

        reader = threading.Thread(target=communicate, daemon=True)
        reader.start()
        while reader.is_alive():
            reader.join(0.05)
            if self.ctx.cancel_event.is_set():
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    pass
                reader.join(5)
                raise TaskKilled(f"task '{self.ctx.task_id}' was stopped during git {args[0]}")
        completed = subprocess.CompletedProcess(command, proc.returncode, result.get("out", ""), result.get("err", ""))
        if check and completed.returncode != 0:
            raise TaskFailed(self.describe_failure(what or f"git {args[0]}", completed.stderr, url))
        return completed

    def describe_failure(self, what: str, stderr: str, url: str | None) -> str:
        where = f" {self.mask(url)}" if url else ""
        low = stderr.lower()
        lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("Please make sure")]
        detail = self.mask(" ".join(lines[-3:]))
        if any(s in low for s in ("authentication failed", "could not read username", "could not read password",
                                  "returned error: 401", "returned error: 403", "access denied", "invalid username or password",
                                  "permission denied (publickey", "terminal prompts disabled")):
            who = f" as user {self.username!r}" if self.username else ""
            return f"{what}: authentication failed for{where}{who}; check username/password or privateKey ({detail})"
        if "could not resolve host" in low or "name or service not known" in low or "could not resolve hostname" in low:
            return f"{what}: the host of{where} cannot be resolved ({detail})"
        if any(s in low for s in ("connection refused", "failed to connect", "couldn't connect", "connection timed out",
                                  "operation timed out", "no route to host", "network is unreachable")):
            return f"{what}: cannot reach{where}: the server is unreachable ({detail})"
        if "remote branch" in low and "not found" in low:
            return f"{what}: {detail}"
        if "not found" in low or "does not appear to be a git repository" in low or "returned error: 404" in low:
            return f"{what}: repository{where} not found ({detail})"
        return f"{what} failed{(' for' + where) if where else ''}: {detail or 'git exited with an error'}"


def to_int(ctx, value: Any, prop: str) -> int | None:
    if value is None:
        return None
    rendered = ctx.render(value, prop) if isinstance(value, str) else value
    try:
        return int(str(rendered).strip())
    except ValueError:
        raise TaskFailed(f"property '{prop}' must be an integer, got {rendered!r}") from None


def inside(root: Path, name: str, prop: str) -> Path:
    target = (root / name).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise TaskFailed(f"property '{prop}' ({name!r}) points outside the working directory")
    return target
