"""Helpers shared by the deployment tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "deploy" / "flows"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_postgres() -> bool:
    return bool(shutil.which("initdb") or Path("/usr/lib/postgresql/15/bin/initdb").exists())



def psql(pg: dict, sql: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=pg["port"], user=pg["user"], password=pg["password"],
                          dbname=pg["db"], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []
