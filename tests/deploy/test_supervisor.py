"""The supervisor on tiny fake children: restart, give up (non-zero), stop leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from kestra_dagster.server.supervisor import ChildSpec, Supervisor, marked_processes

pytestmark = pytest.mark.timeout(60)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def _spawns_orphan(path):
    # a grandchild that leaves the process group (as code servers' workers can): only the sweep finds it
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
            f" start_new_session=True); open({str(path)!r}, 'w').write(str(p.pid)); time.sleep(300)")
    return [sys.executable, "-c", code]


def test_dead_child_is_restarted_then_stop_leaves_nothing(tmp_path):
    async def scenario():
        sup = Supervisor([ChildSpec("a", SLEEPER), ChildSpec("b", _spawns_orphan(tmp_path / "orphan"))],
                         log=lambda m: None, stop_grace=3)
        await sup.start()
        for _ in range(50):
            if (tmp_path / "orphan").exists():
                break
            await asyncio.sleep(0.1)
        first = sup.children["a"].pid
        os.kill(first, 9)
        for _ in range(60):
            await asyncio.sleep(0.1)
            if sup.children["a"].alive and sup.children["a"].pid != first:
                break
        assert sup.children["a"].restarts == 1 and sup.children["a"].state == "running"
        assert sup.fatal is None
        orphan = int((tmp_path / "orphan").read_text())
        assert orphan in marked_processes(sup.marker)
        await sup.stop()
        return sup, orphan

    sup, orphan = asyncio.run(scenario())
    assert all(c.state == "stopped" for c in sup.children.values())
    assert marked_processes(sup.marker) == []
    assert not os.path.exists(f"/proc/{orphan}") or "Z" in open(f"/proc/{orphan}/stat").read().rsplit(")", 1)[1][:3]


def test_child_that_keeps_dying_stops_everything():
    async def scenario():
        crash = [sys.executable, "-c", "import sys; sys.exit(3)"]
        sup = Supervisor([ChildSpec("ok", SLEEPER), ChildSpec("crash", crash)], max_restarts=2,
                         restart_window=60, log=lambda m: None, stop_grace=3)
        started = time.monotonic()
        await sup.start()
        await asyncio.wait_for(sup.wait(), 30)
        return sup, time.monotonic() - started

    sup, took = asyncio.run(scenario())
    assert sup.fatal and "crash exited with code 3 3 times" in sup.fatal
    assert sup.children["crash"].restarts == 2 and sup.children["ok"].state == "stopped"
    assert not sup.children["ok"].alive and marked_processes(sup.marker) == []
