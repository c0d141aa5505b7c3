"""``scripts/dev`` starts ``dagster dev`` on the repository-root ``dagster.yaml`` without a warning (issue 17 item 4).

Dagster warns when the current folder holds a ``dagster.yaml`` that is not ``$DAGSTER_HOME``'s; the
script links ``$DAGSTER_HOME/dagster.yaml`` to the root file and starts in ``$DAGSTER_HOME``. The
server is started briefly (until the webserver serves) and its process group is always stopped.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from .test_dagster_dev import _free_port, _stop_group

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 150


def test_scripts_dev_uses_the_root_dagster_yaml_and_warns_nothing(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS",)}
    env.update(DAGSTER_HOME=str(home), KESTRA_FLOWS_DIR=str(REPO / "tests" / "flows" / "basics"), PYTHONUNBUFFERED="1")
    log = tmp_path / "dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(REPO / "scripts" / "dev"), "-h", "127.0.0.1", "-p", str(_free_port())],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Serving dagster-webserver" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"scripts/dev exited {proc.returncode}:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"not serving after {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')}"
            time.sleep(1)
    finally:
        left = _stop_group(proc)
    # The start-up, up to the webserver serving; stopping it early may make Dagster warn about its code server.
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")).split("Serving dagster-webserver")[0]
    assert not left, f"processes left: {left}"
    assert (home / "dagster.yaml").resolve() == (REPO / "dagster.yaml").resolve()
    assert "postgres" not in (REPO / "dagster.yaml").read_text().split("# ", 1)[0]
    assert "will not be used" not in text, text
    assert not [line for line in text.splitlines() if re.search(r"\bWARNING\b|Warning:", line)], text
    assert (home / "history" / "runs.db").exists()  # the embedded SQLite instance, in DAGSTER_HOME
