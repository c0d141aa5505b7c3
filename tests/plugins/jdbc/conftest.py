"""Real database servers for the JDBC tests, one per test session: a PostgreSQL 15 cluster
(scripts/postgres-start) and a MariaDB server (scripts/mariadb-start), each on a free 127.0.0.1
port with its own data directory, stopped and removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from kd_testing import REPO_ROOT, unavailable

PG_PASSWORD = "pg-s3cr3t-pw"
MY_PASSWORD = "my-s3cr3t-pw"


def _start(script: str, env: dict[str, str], prefix: str) -> tuple[str, int]:
    # directly under /tmp: as root the PostgreSQL cluster runs as `postgres`, which must reach it
    workdir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        out = subprocess.run([str(REPO_ROOT / "scripts" / script), workdir], env={**os.environ, **env}, check=True,
                             capture_output=True, text=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"{script} failed: {exc.stderr}")
    return workdir, int(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def pg_server():
    if not (shutil.which("initdb") or os.path.exists("/usr/lib/postgresql/15/bin/initdb")):
        unavailable("PostgreSQL binaries (initdb/pg_ctl) not installed: apt-get install postgresql-15")
    workdir, port = _start("postgres-start", {"PG_USER": "kd", "PG_PASSWORD": PG_PASSWORD, "PG_DB": "kd"}, "kd-pg-")
    try:
        yield {"dir": workdir, "port": port, "user": "kd", "password": PG_PASSWORD, "db": "kd",
               "url": f"jdbc:postgresql://127.0.0.1:{port}/kd"}
    finally:
        subprocess.run([str(REPO_ROOT / "scripts" / "postgres-stop"), workdir, "--rm"], timeout=60, check=False)


@pytest.fixture(scope="session")
def mariadb_server():
    if not (shutil.which("mariadbd") or shutil.which("mysqld") or os.path.exists("/usr/sbin/mariadbd")):
        unavailable("MariaDB server not installed: apt-get install mariadb-server")
    workdir, port = _start("mariadb-start", {"MY_USER": "kd", "MY_PASSWORD": MY_PASSWORD, "MY_DB": "kd"}, "kd-my-")
    try:
        yield {"dir": workdir, "port": port, "user": "kd", "password": MY_PASSWORD, "db": "kd",
               "url": f"jdbc:mariadb://127.0.0.1:{port}/kd"}
    finally:
        subprocess.run([str(REPO_ROOT / "scripts" / "mariadb-stop"), workdir, "--rm"], timeout=60, check=False)
