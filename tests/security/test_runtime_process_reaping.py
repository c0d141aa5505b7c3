"""Attack/robustness: a run worker is SIGKILLed while a script task runs; its commands must not
run on forever (holding CPU, files, credentials). Fails if the process-group watchdog
(sdk/reaper.py) were removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

WORKER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from kd_testing import RecordingLogger, simple_render
    from kestra_dagster.engine.context import TaskContext, TaskRunInfo
    from kestra_dagster.engine.storage import LocalStorage
    from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

    base = Path(sys.argv[1])
    work = base / "work"; work.mkdir()
    ctx = TaskContext(task_id="sh", task_type="t", variables={}, logger=RecordingLogger(), working_dir=work,
                      storage=LocalStorage(base / "st").for_task("a", "f", "e", "sh", "r"), kv=None,
                      namespace="a", flow_id="f", execution_id="e",
                      taskrun=TaskRunInfo(id="r", task_id="sh", start_date="2024-01-01T00:00:00Z"),
                      renderer=simple_render)
    pids = base / "pids"
    ShellCommands(id="sh", type=ShellCommands.kestra_type, commands=[
        f"echo $$ > {pids}.tmp", f"sleep 300 & echo $! >> {pids}.tmp", f"mv {pids}.tmp {pids}", "wait",
    ]).run(ctx)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its new parent counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_task_processes_die_with_a_sigkilled_worker(tmp_path):
    tests_dir = str(Path(__file__).resolve().parents[1])
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), tests_dir], start_new_session=True)
    pids_file = tmp_path / "pids"
    try:
        deadline = time.monotonic() + 30
        while not pids_file.exists() and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker ended early"
            time.sleep(0.1)
        pids = [int(p) for p in pids_file.read_text().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [p for p in pids if _alive(p)]
        assert not survivors, f"task processes {survivors} survived their SIGKILLed worker"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(5)
        if pids_file.exists():
            for pid in (int(p) for p in pids_file.read_text().split()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
