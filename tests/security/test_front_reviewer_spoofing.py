"""Attack: any local process (a flow's script task included) decides gates as anyone by sending
``X-Kestra-User`` to the intake's own port (issue 12, #6).

Now the front door proves itself to the intake with a secret made at each start and given to
the intake on its stdin (never in its environment or argv, which other local processes can
read): without that secret ``X-Kestra-User`` is ignored, and the request is unauthenticated.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from attack_helpers import AUTH, PROXY_SECRET


def test_the_intake_ignores_a_forged_reviewer_header(stack):
    forged = {"X-Kestra-User": "admin@kestra.io"}
    with httpx.Client(base_url=stack.intake, timeout=10) as direct:
        assert direct.get("/api/v1/approvals", headers=forged).status_code == 401
        r = direct.post("/api/v1/executions/some-run/approve", json={}, headers=forged)
        assert r.status_code == 401, r.text
        wrong = {**forged, "X-Kestra-Proxy-Secret": "guessed"}
        assert direct.get("/api/v1/approvals", headers=wrong).status_code == 401
    # through the front door, the authenticated user is the reviewer
    with stack.client() as c:
        assert c.get("/api/v1/approvals", auth=AUTH).status_code == 200
        # and a client cannot smuggle its own secret/identity through it
        r = c.get("/api/v1/approvals", headers={"X-Kestra-User": "mallory", "X-Kestra-Proxy-Secret": PROXY_SECRET})
        assert r.status_code == 401


def test_the_secret_is_not_in_the_intake_environment_or_argv(stack):
    pid = stack.intake_pid
    assert PROXY_SECRET.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    assert PROXY_SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_the_supervisor_hands_the_secret_over_on_stdin(tmp_path):
    """What ``server standalone`` does for its intake child (``ChildSpec.stdin_data``)."""
    from kestra_dagster.server.supervisor import ChildSpec, Supervisor

    out = tmp_path / "got"
    script = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.readline()); import time; time.sleep(30)"
    spec = ChildSpec("reader", [sys.executable, "-c", script], stdin_data=b"s3cret-line\n")

    async def run():
        sup = Supervisor([spec], log=lambda m: None, stop_grace=2)
        await asyncio.wait_for(sup.start(), 20)
        deadline = asyncio.get_running_loop().time() + 20
        while not out.exists() or not out.read_text():
            assert asyncio.get_running_loop().time() < deadline, "the child never read its stdin"
            await asyncio.sleep(0.1)
        await sup.stop()

    asyncio.run(run())
    assert out.read_text() == "s3cret-line\n"
