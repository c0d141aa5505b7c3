"""Entry points started together on a fresh SQLite DAGSTER_HOME all come up (issue 17 item 5).

Without the lock, processes that open a fresh instance at once stamp Alembic's version table twice
and fail with "more than one head present" (reproduced here with three plain ``DagsterInstance``
opens: every round failed). Real entry points, as real processes: ``kestra-dagster server exec``
(what the Compose and Kubernetes parts run) prepares the instance, then execs a command that opens it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

OPEN_INSTANCE = ("from dagster import DagsterInstance\n"
                 "with DagsterInstance.get() as i:\n"
                 "    i.get_runs(limit=1); i.event_log_storage.get_maximum_record_id(); i.all_instigator_state()\n")
ROUNDS, AT_ONCE = 3, 3


def _start_together(argv: list[str], home: Path) -> list[subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if k not in ("KESTRA_CONFIGURATION", "KESTRA_CONFIG_FILE")}
    env["DAGSTER_HOME"] = str(home)
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(AT_ONCE)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(argv, p.returncode, stdout, stderr))
    return out


def test_server_exec_parts_started_at_once_on_a_fresh_home_all_succeed(tmp_path):
    for n in range(ROUNDS):
        home = tmp_path / f"home{n}"
        results = _start_together([sys.executable, "-m", "kestra_dagster.cli", "server", "exec", "--",
                                   sys.executable, "-c", OPEN_INSTANCE], home)
        failed = [r.stderr[-2000:] for r in results if r.returncode != 0]
        assert not failed, f"round {n}: {len(failed)} of {AT_ONCE} failed:\n" + "\n---\n".join(failed)
        assert (home / ".kestra-dagster-schema.lock").exists()


def test_ensure_instance_schema_from_several_processes_at_once(tmp_path):
    code = ("from kestra_dagster.instance_schema import ensure_instance_schema\nensure_instance_schema()\n"
            + OPEN_INSTANCE)
    for n in range(ROUNDS):
        results = _start_together([sys.executable, "-c", code], tmp_path / f"home{n}")
        assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
