"""git.Clone / git.Push against real peers: a bare repository over file://, over smart HTTP
(``git http-backend`` run as CGI behind a small HTTP server on 127.0.0.1, with basic auth) and
over SSH (a throw-away OpenSSH sshd on 127.0.0.1 with its own config, host key and client keys)."""

from __future__ import annotations

import base64
import getpass
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kd_testing import unavailable
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.git.clone import Clone
from kestra_dagster.tasks.git.push import Push



@pytest.fixture(autouse=True)
def _git_installed():
    if shutil.which("git") is None:
        unavailable("git is not installed (apt-get install git)")

USER, PASSWORD = "gituser", "pa55-w0rd-secret"
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """``repos/project.git`` with main (README.md, src/app.py), a ``dev`` branch and a tag v1."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git("init", "-q", "-b", "main", cwd=seed)
    (seed / "README.md").write_text("hello\n")
    (seed / "src").mkdir()
    (seed / "src" / "app.py").write_text("print('v1')\n")
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", "first", cwd=seed)
    git("tag", "v1", cwd=seed)
    (seed / "src" / "app.py").write_text("print('v2')\n")
    git("commit", "-q", "-am", "second", cwd=seed)
    git("checkout", "-q", "-b", "dev", cwd=seed)
    (seed / "DEV.md").write_text("dev only\n")
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", "dev", cwd=seed)
    git("checkout", "-q", "main", cwd=seed)
    repos = tmp_path / "repos"
    repos.mkdir()
    git("clone", "-q", "--bare", str(seed), str(repos / "project.git"))
    git("config", "http.receivepack", "true", cwd=repos / "project.git")
    return repos / "project.git"


@pytest.fixture
def git_http(bare_repo: Path):
    """Smart-HTTP git server on 127.0.0.1 requiring basic auth; yields its base URL."""
    backend = Path(git("--exec-path").strip()) / "git-http-backend"
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _cgi(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {**GIT_ENV, "GIT_PROJECT_ROOT": str(bare_repo.parent), "GIT_HTTP_EXPORT_ALL": "1",
                   "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                   "REMOTE_USER": USER, "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1",
                   "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                   "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
            out = subprocess.run([str(backend)], input=body, env=env, capture_output=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _cgi

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def clone(**props) -> Clone:
    return Clone.model_validate({"id": "clone", "type": Clone.kestra_type, **props})


def push(**props) -> Push:
    return Push.model_validate({"id": "push", "type": Push.kestra_type, **props})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- file://
def test_clone_over_file_url_into_the_working_directory(make_ctx, bare_repo):
    ctx = make_ctx()
    out = clone(url=bare_repo.as_uri()).run(ctx)
    assert out == {"directory": str(ctx.working_dir)}
    assert (ctx.working_dir / "src" / "app.py").read_text() == "print('v2')\n"
    assert git("rev-list", "--count", "HEAD", cwd=ctx.working_dir).strip() == "1"  # depth 1


def test_clone_branch_directory_tag_and_commit(make_ctx, bare_repo):
    ctx = make_ctx()
    clone(url=bare_repo.as_uri(), branch="dev", directory="checkout").run(ctx)
    assert (ctx.working_dir / "checkout" / "DEV.md").exists()
    ctx = make_ctx()
    clone(url=bare_repo.as_uri(), tag="v1").run(ctx)
    assert (ctx.working_dir / "src" / "app.py").read_text() == "print('v1')\n"
    first = git("rev-list", "--max-parents=0", "main", cwd=bare_repo).strip()
    ctx = make_ctx()
    clone(url=bare_repo.as_uri(), commit=first[:10], directory="{{ flow.id }}").run(ctx)
    assert (ctx.working_dir / "flow" / "src" / "app.py").read_text() == "print('v1')\n"


def test_clone_into_a_folder_that_already_has_files(make_ctx, bare_repo):
    ctx = make_ctx()
    (ctx.working_dir / "input.txt").write_text("kept")
    clone(url=bare_repo.as_uri(), branch="main").run(ctx)
    assert (ctx.working_dir / "README.md").exists() and (ctx.working_dir / "input.txt").read_text() == "kept"
    clone(url=bare_repo.as_uri(), branch="dev").run(ctx)  # an existing repository is updated
    assert (ctx.working_dir / "DEV.md").exists()


def test_clone_missing_branch_and_repository(make_ctx, bare_repo, tmp_path):
    with pytest.raises(TaskFailed, match="nope"):
        clone(url=bare_repo.as_uri(), branch="nope").run(make_ctx())
    with pytest.raises(TaskFailed, match="not found|does not appear"):
        clone(url=(tmp_path / "missing.git").as_uri()).run(make_ctx())


def test_push_then_clone_over_file_url(make_ctx, bare_repo):
    ctx = make_ctx()
    out = push(url=bare_repo.as_uri(), branch="feature", commitMessage="from {{ flow.id }}",
               inputFiles={"out/report.txt": "hello {{ flow.namespace }}"},
               author={"name": "Bot", "email": "bot@example.com"}).run(ctx)
    assert len(out["commitId"]) == 40
    log = git("log", "-1", "--format=%an <%ae> %s", "feature", cwd=bare_repo).strip()
    assert log == "Bot <bot@example.com> from flow"
    # Kestra's Push with url replaces the content: only the added file is in the commit
    assert git("ls-tree", "-r", "--name-only", "feature", cwd=bare_repo).split() == ["out/report.txt"]
    # nothing new → no commit
    again = push(url=bare_repo.as_uri(), branch="feature", commitMessage="again",
                 inputFiles={"out/report.txt": "hello {{ flow.namespace }}"}).run(make_ctx())
    assert again["commitId"] is None


def test_push_after_clone_in_the_same_directory(make_ctx, bare_repo):
    ctx = make_ctx()
    clone(url=bare_repo.as_uri(), branch="main").run(ctx)
    (ctx.working_dir / "NEW.md").write_text("new\n")
    out = push(branch="main", commitMessage="add NEW").run(make_ctx(working_dir=ctx.working_dir))
    assert git("rev-parse", "main", cwd=bare_repo).strip() == out["commitId"]
    assert "README.md" in git("ls-tree", "-r", "--name-only", "main", cwd=bare_repo).split()


# --------------------------------------------------------------------------- smart HTTP
def test_clone_and_push_over_http_with_credentials(make_ctx, git_http):
    url = f"{git_http}/project.git"
    ctx = make_ctx(secret_values={PASSWORD})
    clone(url=url, username=USER, password="{{ pw }}", branch="dev").run(
        make_ctx(variables={"pw": PASSWORD}, secret_values={PASSWORD}, working_dir=ctx.working_dir))
    assert (ctx.working_dir / "DEV.md").exists()
    # credentials stay out of the repository's config
    assert PASSWORD not in (ctx.working_dir / ".git" / "config").read_text()
    ctx2 = make_ctx()
    out = push(url=url, username=USER, password=PASSWORD, branch="from-http", commitMessage="over http",
               inputFiles={"a.txt": "a"}).run(ctx2)
    check = make_ctx()
    clone(url=url, username=USER, password=PASSWORD, branch="from-http").run(check)
    assert (check.working_dir / "a.txt").read_text() == "a"
    assert git("rev-parse", "HEAD", cwd=check.working_dir).strip() == out["commitId"]


def test_http_wrong_password_is_an_auth_failure_without_the_password(make_ctx, git_http):
    ctx = make_ctx(secret_values={"wrong-pa55word"})
    with pytest.raises(TaskFailed, match="authentication failed .* as user 'gituser'") as err:
        clone(url=f"{git_http}/project.git", username=USER, password="wrong-pa55word").run(ctx)
    assert "wrong-pa55word" not in str(err.value) and "wrong-pa55word" not in ctx.logger.text()
    with pytest.raises(TaskFailed, match="authentication failed"):
        clone(url=f"{git_http}/project.git").run(make_ctx())  # no credentials: no prompt, a clear failure


def test_password_in_the_url_is_masked(make_ctx, git_http):
    host = git_http.removeprefix("http://")
    ctx = make_ctx()
    with pytest.raises(TaskFailed) as err:
        clone(url=f"http://{USER}:bad-token-123@{host}/project.git").run(ctx)
    assert "bad-token-123" not in str(err.value) and "bad-token-123" not in ctx.logger.text()


def test_unreachable_hosts(make_ctx):
    with pytest.raises(TaskFailed, match="unreachable") as err:
        clone(url=f"http://127.0.0.1:{closed_port()}/project.git", username=USER, password=PASSWORD).run(make_ctx())
    assert PASSWORD not in str(err.value)
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfakeKeyMaterialThatMustNotLeak0123456789\n-----END OPENSSH PRIVATE KEY-----\n"
    ctx = make_ctx()
    with pytest.raises(TaskFailed, match="unreachable|cannot") as err:
        clone(url=f"ssh://git@127.0.0.1:{closed_port()}/project.git", privateKey=key, connectTimeout=3000).run(ctx)
    assert "fakeKeyMaterial" not in str(err.value) and "fakeKeyMaterial" not in ctx.logger.text()


# --------------------------------------------------------------------------- SSH
PASSPHRASE = "correct-horse-passphrase"


@dataclass
class SshPeer:
    base: str  # ssh://user@127.0.0.1:port
    key: str  # OpenSSH-format ed25519 key, no passphrase
    pem_key: str  # PEM ECDSA key (Kestra's documented `ssh-keygen -t ecdsa -b 256 -m PEM`), PASSPHRASE
    openssh_protected_key: str  # OpenSSH-format ed25519 key, PASSPHRASE
    stranger_key: str  # a valid key the server does not know
    host_public_key: str
    log: Path


def keygen(path: Path, *args: str, passphrase: str = "") -> str:
    subprocess.run(["ssh-keygen", "-q", "-N", passphrase, "-C", path.name, "-f", str(path), *args], check=True)
    return path.read_text()


@pytest.fixture
def git_sshd(tmp_path: Path):
    """A real sshd on a free 127.0.0.1 port, logging in the current user by public key only;
    stopped (and waited for) afterwards."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd) or shutil.which("ssh") is None:
        unavailable("OpenSSH is not installed (apt-get install openssh-server openssh-client)")
    user = getpass.getuser()
    if os.path.basename(pwd.getpwnam(user).pw_shell) in ("nologin", "false"):
        unavailable(f"user {user!r} has no login shell, so sshd cannot run git-upload-pack for it")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # root's sshd needs its privsep directory
    d = tmp_path / "sshd"
    d.mkdir()
    keygen(d / "host_key", "-t", "ed25519")
    key = keygen(d / "client_key", "-t", "ed25519")
    pem_key = keygen(d / "pem_key", "-t", "ecdsa", "-b", "256", "-m", "PEM", passphrase=PASSPHRASE)
    protected = keygen(d / "protected_key", "-t", "ed25519", passphrase=PASSPHRASE)
    stranger = keygen(d / "stranger_key", "-t", "ed25519")
    (d / "authorized_keys").write_text("".join((d / f"{name}.pub").read_text()
                                               for name in ("client_key", "pem_key", "protected_key")))
    port = closed_port()
    (d / "sshd_config").write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}", f"HostKey {d / 'host_key'}", f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}", "StrictModes no", "UsePAM no",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        f"AllowUsers {user}", "PermitRootLogin prohibit-password", "LogLevel VERBOSE", "",
    ]))
    log = d / "sshd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited with {proc.returncode}: {log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sshd did not answer on port {port} within 10 s: {log.read_text()}")
            time.sleep(0.05)
        yield SshPeer(f"ssh://{user}@127.0.0.1:{port}", key, pem_key, protected, stranger,
                      (d / "host_key.pub").read_text(), log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def key_lines(key: str) -> list[str]:
    return [line for line in key.splitlines() if "-----" not in line and len(line) >= 16]


def test_clone_and_push_over_ssh_with_a_key_from_a_secret(make_ctx, bare_repo, git_sshd, tmp_path, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # where the task writes its key file
    url = f"{git_sshd.base}{bare_repo}"
    ctx = make_ctx(variables={"key": git_sshd.key}, secret_values={git_sshd.key})
    assert clone(url=url, privateKey="{{ key }}", branch="dev").run(ctx) == {"directory": str(ctx.working_dir)}
    assert (ctx.working_dir / "DEV.md").exists()
    out = push(url=url, privateKey=git_sshd.key, branch="from-ssh", commitMessage="over ssh",
               inputFiles={"s.txt": "over ssh"}).run(make_ctx())
    assert git("rev-parse", "from-ssh", cwd=bare_repo).strip() == out["commitId"]
    assert "Accepted publickey" in git_sshd.log.read_text()
    # the key file lived in a private temp folder that is gone now
    assert list(private_tmp.iterdir()) == []
    assert git_sshd.key not in (ctx.working_dir / ".git" / "config").read_text()


@pytest.mark.parametrize("kind", ["pem_key", "openssh_protected_key"])
def test_ssh_key_with_passphrase(make_ctx, bare_repo, git_sshd, kind):
    ctx = make_ctx(secret_values={PASSPHRASE})
    clone(url=f"{git_sshd.base}{bare_repo}", privateKey=getattr(git_sshd, kind), passphrase=PASSPHRASE).run(ctx)
    assert (ctx.working_dir / "README.md").read_text() == "hello\n"
    assert PASSPHRASE not in ctx.logger.text()
    # CRLF line ends (a key pasted on Windows) are accepted
    ctx = make_ctx()
    clone(url=f"{git_sshd.base}{bare_repo}", privateKey=getattr(git_sshd, kind).replace("\n", "\r\n"),
          passphrase=PASSPHRASE).run(ctx)
    assert (ctx.working_dir / "README.md").exists()


def test_ssh_wrong_or_missing_passphrase_is_named(make_ctx, bare_repo, git_sshd):
    url = f"{git_sshd.base}{bare_repo}"
    for key in (git_sshd.pem_key, git_sshd.openssh_protected_key):
        with pytest.raises(TaskFailed, match="'passphrase' does not decrypt 'privateKey'") as err:
            clone(url=url, privateKey=key, passphrase="not-the-passphrase").run(make_ctx())
        assert "not-the-passphrase" not in str(err.value)
    with pytest.raises(TaskFailed, match="'privateKey' is encrypted: set 'passphrase'"):
        clone(url=url, privateKey=git_sshd.pem_key).run(make_ctx())
    with pytest.raises(TaskFailed, match="'privateKey' is not a PEM or OpenSSH private key") as err:
        clone(url=url, privateKey="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPublicKeyNotPrivate").run(make_ctx())
    assert "PublicKeyNotPrivate" not in str(err.value)


def test_ssh_key_the_server_does_not_know_is_an_auth_failure_without_key_material(make_ctx, bare_repo, git_sshd):
    ctx = make_ctx()
    with pytest.raises(TaskFailed, match="authentication failed for ssh://.*did not accept privateKey") as err:
        clone(url=f"{git_sshd.base}{bare_repo}", privateKey=git_sshd.stranger_key).run(ctx)
    for line in key_lines(git_sshd.stranger_key):
        assert line not in str(err.value) and line not in ctx.logger.text()
    with pytest.raises(TaskFailed, match="authentication failed"):
        push(url=f"{git_sshd.base}{bare_repo}", privateKey=git_sshd.stranger_key, branch="x",
             commitMessage="m", inputFiles={"a": "a"}).run(make_ctx())


def test_ssh_host_keys_pinned_through_known_hosts(make_ctx, bare_repo, git_sshd, tmp_path, monkeypatch):
    port = git_sshd.base.rsplit(":", 1)[1]
    pinned = tmp_path / "known_hosts"
    pinned.write_text(f"[127.0.0.1]:{port} {git_sshd.host_public_key}")
    monkeypatch.setenv("KESTRA_GIT_KNOWN_HOSTS", str(pinned))
    ctx = make_ctx()
    clone(url=f"{git_sshd.base}{bare_repo}", privateKey=git_sshd.key).run(ctx)
    assert (ctx.working_dir / "README.md").exists()
    keygen(tmp_path / "other_host", "-t", "ed25519")  # the pinned key is now another host's
    pinned.write_text(f"[127.0.0.1]:{port} {(tmp_path / 'other_host.pub').read_text()}")
    with pytest.raises(TaskFailed, match="SSH host key of .* does not match the known_hosts file in KESTRA_GIT_KNOWN_HOSTS"):
        clone(url=f"{git_sshd.base}{bare_repo}", privateKey=git_sshd.key).run(make_ctx())
    monkeypatch.setenv("KESTRA_GIT_KNOWN_HOSTS", str(tmp_path / "missing"))
    with pytest.raises(TaskFailed, match="KESTRA_GIT_KNOWN_HOSTS names .* not a file"):
        clone(url=f"{git_sshd.base}{bare_repo}", privateKey=git_sshd.key).run(make_ctx())


def test_ssh_server_that_never_answers_times_out(make_ctx, git_sshd):
    """A port that accepts connections but never sends an SSH banner: connectTimeout ends the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        ctx = make_ctx()
        started = time.monotonic()
        with pytest.raises(TaskFailed, match=r"no answer within connectTimeout \(2000 ms\)") as err:
            clone(url=f"ssh://git@127.0.0.1:{port}/project.git", privateKey=git_sshd.key, connectTimeout=2000).run(ctx)
        assert time.monotonic() - started < 15
    for line in key_lines(git_sshd.key):
        assert line not in str(err.value) and line not in ctx.logger.text()
