"""Fixtures for deployment tests: a throwaway PostgreSQL cluster (scripts/postgres-start)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from kd_testing import unavailable
from deploy_helpers import ROOT, have_postgres


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL 15 cluster on a free port (scripts/postgres-start), stopped and removed after."""
    if not have_postgres():
        unavailable("PostgreSQL binaries (initdb/pg_ctl) not installed")
    # directly under /tmp: as root the cluster runs as `postgres`, which must reach the directory
    workdir = tempfile.mkdtemp(prefix="kd-pg-", dir="/tmp")
    env = {**os.environ, "PG_USER": "kd", "PG_PASSWORD": "s3cr3t-pw", "PG_DB": "kd"}
    try:
        out = subprocess.run([str(ROOT / "scripts" / "postgres-start"), workdir], env=env, check=True,
                             capture_output=True, text=True, timeout=90)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"postgres-start failed: {exc.stderr}")
    port = int(out.stdout.strip().splitlines()[-1])
    info = {"dir": workdir, "port": port, "user": "kd", "password": "s3cr3t-pw", "db": "kd",
            "url": f"jdbc:postgresql://127.0.0.1:{port}/kd"}
    try:
        yield info
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres-stop"), workdir, "--rm"], timeout=60, check=False)

