"""``/health``: the state of every component this process runs, plus the database.

Each component is ``UP`` or ``DOWN`` (with a reason); the whole is ``UP`` only when all are, and
the endpoint answers 200 or 503 accordingly. Checks are bounded (a hung database check answers
DOWN after ``timeout`` seconds instead of hanging the health endpoint).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import httpx

from kestra_dagster.server.supervisor import Supervisor

#: dagster-daemon writes a heartbeat every 30 s; older than interval + this is DOWN.
HEARTBEAT_TOLERANCE_SECONDS = 60


class InstanceChecks:
    """Database and daemon-heartbeat checks on the Dagster instance (in worker threads)."""

    def __init__(self, timeout: float = 3.0):
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")
        self._instance = None
        self._inflight: dict[str, concurrent.futures.Future] = {}

    def _get_instance(self):
        if self._instance is None:
            from dagster import DagsterInstance

            self._instance = DagsterInstance.get()
        return self._instance

    def _database(self) -> dict[str, Any]:
        instance = self._get_instance()
        started = time.monotonic()
        instance.get_runs(limit=1)
        return {"status": "UP", "storage": type(instance.run_storage).__name__,
                "latencyMs": round((time.monotonic() - started) * 1000, 1)}

    def _daemon(self) -> dict[str, Any]:
        from kestra_dagster.compat import daemon_statuses

        instance = self._get_instance()
        statuses = daemon_statuses(instance, heartbeat_tolerance_seconds=HEARTBEAT_TOLERANCE_SECONDS)
        now = time.time()
        beats = {}
        for name, st in statuses.items():
            if not st.required:
                continue
            age = round(now - st.last_heartbeat.timestamp, 1) if st.last_heartbeat else None
            beats[name] = {"healthy": bool(st.healthy), "lastHeartbeatSecondsAgo": age}
        ok = bool(beats) and all(b["healthy"] for b in beats.values())
        return {"status": "UP" if ok else "DOWN", "heartbeats": beats,
                **({} if ok else {"reason": "no recent heartbeat from every required daemon"})}

    async def run(self, name: str) -> dict[str, Any]:
        fut = self._inflight.get(name)
        if fut is None or fut.done():
            fut = self._pool.submit(self._database if name == "database" else self._daemon)
            self._inflight[name] = fut
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout)
        except asyncio.TimeoutError:
            return {"status": "DOWN", "reason": f"no answer within {self.timeout:.0f}s"}
        except Exception as exc:  # noqa: BLE001 - report, don't raise
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            return {"status": "DOWN", "reason": f"{type(exc).__name__}: {first}"}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _http_ok(url: str, timeout: float = 2.0) -> bool:
    async with httpx.AsyncClient(timeout=timeout) as client:
        return (await client.get(url)).status_code == 200


async def _tcp_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    return True


class Health:
    """Builds the ``/health`` answer from the supervisor's children and live probes."""

    def __init__(self, supervisor: Supervisor, probes: dict[str, Any], checks: InstanceChecks,
                 check_daemon: bool):
        #: component name → ("http", url) | ("tcp", host, port)
        self.supervisor = supervisor
        self.probes = probes
        self.checks = checks
        self.check_daemon = check_daemon
        self.started = time.monotonic()

    async def _component(self, name: str) -> dict[str, Any]:
        child = self.supervisor.children.get(name)
        info = child.as_dict() if child else {}
        if child is not None and (not child.alive or child.state not in ("running",)):
            return {"status": "DOWN", **info, "reason": f"process {child.state}"}
        probe = self.probes.get(name)
        try:
            if probe and probe[0] == "http":
                ok = await _http_ok(probe[1])
            elif probe and probe[0] == "tcp":
                ok = await _tcp_ok(probe[1], probe[2])
            else:
                ok = True
        except Exception as exc:  # noqa: BLE001
            return {"status": "DOWN", **info, "reason": f"probe failed: {type(exc).__name__}"}
        if not ok:
            return {"status": "DOWN", **info, "reason": "probe failed"}
        if name == "daemon" and self.check_daemon:
            beats = await self.checks.run("daemon")
            return {**info, **beats}
        return {"status": "UP", **info}

    async def __call__(self) -> tuple[bool, dict]:
        names = list(self.supervisor.children)
        results = await asyncio.gather(*(self._component(n) for n in names), self.checks.run("database"))
        components = dict(zip([*names, "database"], results))
        ok = all(c.get("status") == "UP" for c in components.values()) and not self.supervisor.stopping
        return ok, {"status": "UP" if ok else "DOWN", "uptimeSeconds": round(time.monotonic() - self.started, 1),
                    "components": components}
