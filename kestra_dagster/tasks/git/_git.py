"""Running the ``git`` command line for the Git tasks, with credentials kept out of sight.

Credentials never appear in a command line, a URL we build, a log line or an error message:

* ``username``/``password`` reach git through ``GIT_ASKPASS``, a tiny script in a private
  temporary folder that prints them from environment variables of the git process only;
  credential helpers and terminal prompts are switched off, so a wrong password fails at once;
* ``privateKey`` (PEM or OpenSSH format) is checked first (a wrong or missing ``passphrase``
  is reported as such), then written (mode 0600) to that private folder, which is always deleted,
  and handed to ssh with ``GIT_SSH_COMMAND``; its ``passphrase`` goes through ``SSH_ASKPASS`` the
  same way. With a key, ssh offers only that key (no password or keyboard-interactive login, so
  the passphrase can never be typed into a server's password prompt);
* SSH host keys: as Kestra (JGit with ``StrictHostKeyChecking=no``), any host key is accepted by
  default (recorded in a throw-away known_hosts). An operator who wants pinned host keys sets
  ``KESTRA_GIT_KNOWN_HOSTS`` to a known_hosts file: then unknown or changed keys fail the task;
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

from kestra_dagster.engine.context import mask_secrets
from kestra_dagster.errors import TaskFailed, TaskKilled

GIT = "git"
KNOWN_HOSTS_ENV = "KESTRA_GIT_KNOWN_HOSTS"
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
        self.has_key = bool(private_key)
        self.connect_timeout_ms = connect_timeout_ms
        self.secrets = {s for s in (password, private_key, passphrase) if s}
        if private_key:
            self.secrets.update(line for line in private_key.splitlines() if len(line) >= 16)
            private_key = check_private_key(private_key, passphrase)
        self._tmp = Path(tempfile.mkdtemp(prefix="kestra-git-"))
        try:
            self._prepare(username, password, private_key, passphrase, ca_pem_path, no_proxy,
                          connect_timeout_ms, read_timeout_ms)
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)  # the key file never outlives a failed start
            raise

    def _prepare(self, username, password, private_key, passphrase, ca_pem_path, no_proxy,
                 connect_timeout_ms, read_timeout_ms) -> None:
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
        env["GIT_SSH_COMMAND"] = " ".join(shlex.quote(part) for part in self._ssh_command(
            env, askpass, private_key, passphrase, connect_timeout_ms, read_timeout_ms))
        self.env = env

    def _ssh_command(self, env: dict[str, str], askpass: Path, private_key: str | None, passphrase: str | None,
                     connect_timeout_ms: int | None, read_timeout_ms: int | None) -> list[str]:
        known_hosts = os.environ.get(KNOWN_HOSTS_ENV, "").strip()
        if known_hosts and not Path(known_hosts).is_file():
            raise TaskFailed(f"{KNOWN_HOSTS_ENV} names {known_hosts!r}, which is not a file; "
                             "point it at a known_hosts file or unset it")
        ssh = ["ssh", "-o", "StrictHostKeyChecking=" + ("yes" if known_hosts else "accept-new"),
               "-o", f"UserKnownHostsFile={known_hosts or self._tmp / 'known_hosts'}"]
        if connect_timeout_ms:  # OpenSSH applies it to the TCP connect and the banner/key exchange
            ssh += ["-o", f"ConnectTimeout={max(1, connect_timeout_ms // 1000)}"]
        if read_timeout_ms:  # a server that answers no keepalive for about the read timeout is dropped
            ssh += ["-o", f"ServerAliveInterval={max(1, read_timeout_ms // 2000)}", "-o", "ServerAliveCountMax=1"]
        if not private_key:
            return ssh + ["-o", "BatchMode=yes"]
        key = self._tmp / "id_key"
        key.touch(0o600)
        key.write_text(private_key)
        ssh += ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey"]
        if not passphrase:
            return ssh + ["-o", "BatchMode=yes"]
        env["SSH_ASKPASS"] = str(askpass)
        env["SSH_ASKPASS_REQUIRE"] = "force"
        env["KD_GIT_SECRET"] = passphrase
        return ssh + ["-o", "NumberOfPasswordPrompts=1"]

    def __enter__(self) -> "GitSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def add_secret(self, value: str | None) -> None:
        if value:
            self.secrets.add(value)

    def mask(self, text: str) -> str:
        return mask_secrets(strip_userinfo(self.ctx.mask(text)), self.secrets)

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
        boilerplate = ("please make sure you have the correct access rights", "and the repository exists")
        lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.strip().lower().startswith(boilerplate)]
        detail = self.mask(" ".join(lines[-3:]))
        if "permission denied (publickey" in low:
            return (f"{what}: authentication failed for{where}: the SSH server did not accept "
                    f"{'privateKey' if self.has_key else 'any key (no privateKey given)'}; "
                    f"check that its public key is authorized for this user ({detail})")
        if any(s in low for s in ("authentication failed", "could not read username", "could not read password",
                                  "returned error: 401", "returned error: 403", "access denied", "invalid username or password",
                                  "terminal prompts disabled")):
            who = f" as user {self.username!r}" if self.username else ""
            return f"{what}: authentication failed for{where}{who}; check username/password or privateKey ({detail})"
        if "timed out" in low and self.connect_timeout_ms and url and is_ssh_url(url):
            return f"{what}: cannot reach{where}: no answer within connectTimeout ({self.connect_timeout_ms} ms) ({detail})"
        if "host key verification failed" in low:
            return (f"{what}: the SSH host key of{where} does not match the known_hosts file in {KNOWN_HOSTS_ENV} "
                    f"(unknown host or changed key) ({detail})")
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


def check_private_key(key: str, passphrase: str | None) -> str:
    """The key with Unix line ends and a final newline (ssh needs both); fails clearly, never quoting it,
    when it is not a private key or cannot be decrypted with ``passphrase``."""
    key = key.replace("\r\n", "\n").strip() + "\n"
    if not re.match(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n", key) or "-----END " not in key:
        raise TaskFailed("property 'privateKey' is not a PEM or OpenSSH private key (expected "
                         "'-----BEGIN … PRIVATE KEY-----' … '-----END … PRIVATE KEY-----')")
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    load = serialization.load_ssh_private_key if "OPENSSH PRIVATE KEY" in key else serialization.load_pem_private_key
    try:
        load(key.encode(), password=passphrase.encode() if passphrase else None)
    except TypeError as exc:  # "Password was not given but private key is encrypted" (or the reverse)
        if not passphrase:
            raise TaskFailed("property 'privateKey' is encrypted: set 'passphrase'") from None
        if "not encrypted" not in str(exc):
            raise TaskFailed(f"property 'privateKey' cannot be read: {type(exc).__name__}") from None
    except ValueError as exc:
        # PEM says "Bad decrypt"; an OpenSSH key decrypted with the wrong passphrase has a "broken checksum"
        if passphrase and any(w in str(exc).lower() for w in ("password", "decrypt", "passphrase", "checksum")):
            raise TaskFailed("property 'passphrase' does not decrypt 'privateKey'") from None
        # any other parse problem: let ssh try (it reads formats cryptography does not)
    except UnsupportedAlgorithm:
        pass  # e.g. bcrypt-protected OpenSSH keys without the bcrypt package: ssh decides
    return key


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
