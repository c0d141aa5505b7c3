"""A small process supervisor (asyncio): start children in order, restart the ones that die, stop all.

Rules, so the server is never half-alive:

- each child runs in its own process group, and is stopped with SIGTERM to the group, then
  SIGKILL after ``stop_grace`` seconds;
- every process we start carries ``KESTRA_DAGSTER_SUPERVISOR=<id>`` in its environment, and after
  stopping the supervisor sweeps ``/proc`` for processes still carrying it (grandchildren that
  left the group, such as code servers), so nothing is left behind;
- a child that exits is restarted after a short backoff, at most ``max_restarts`` times within
  ``restart_window`` seconds; one more death and the supervisor stops everything and reports a
  fatal error (the command then exits non-zero).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Sequence

MARKER_ENV = "KESTRA_DAGSTER_SUPERVISOR"

Probe = Callable[[], Awaitable[bool]]


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    #: async readiness probe; the next child starts only once this one is ready
    ready: Probe | None = None
    ready_timeout: float = 120.0
    cwd: str | None = None
    #: wait until this child is ready before starting the next ones (else they start at once)
    blocking: bool = False
    #: written to the child's stdin at each start, then closed (secrets: never in env or argv)
    stdin_data: bytes | None = field(default=None, repr=False)


@dataclass
class ChildState:
    spec: ChildSpec
    proc: asyncio.subprocess.Process | None = None
    state: str = "pending"  # pending | starting | running | restarting | stopped | failed
    started_at: float = 0.0
    restarts: int = 0
    deaths: list[float] = field(default_factory=list)
    last_exit: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def as_dict(self) -> dict:
        return {"state": self.state, "pid": self.pid if self.alive else None, "restarts": self.restarts,
                "lastExitCode": self.last_exit,
                "uptimeSeconds": round(time.monotonic() - self.started_at, 1) if self.alive else 0}


class FatalChildError(RuntimeError):
    """A child kept dying (or never became ready); the supervisor gave up."""


class Supervisor:
    def __init__(self, specs: Sequence[ChildSpec], *, max_restarts: int = 3, restart_window: float = 60.0,
                 stop_grace: float = 10.0, log: Callable[[str], None] = print):
        self.children = {s.name: ChildState(s) for s in specs}
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.stop_grace = stop_grace
        self.log = log
        self.marker = uuid.uuid4().hex
        self.stopping = False
        self.fatal: str | None = None
        self._done = asyncio.Event()
        self._watchers: list[asyncio.Task] = []

    # ------------------------------------------------------------------ start
    async def _spawn(self, child: ChildState) -> None:
        spec = child.spec
        env = {**os.environ, **spec.env, MARKER_ENV: self.marker}
        child.state = "starting"
        child.proc = await asyncio.create_subprocess_exec(
            *spec.argv, env=env, cwd=spec.cwd, start_new_session=True,
            stdin=asyncio.subprocess.PIPE if spec.stdin_data is not None else asyncio.subprocess.DEVNULL)
        if spec.stdin_data is not None:
            try:
                child.proc.stdin.write(spec.stdin_data)
                await child.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):  # died at once: the watcher restarts it
                pass
            finally:
                child.proc.stdin.close()
        child.started_at = time.monotonic()
        self.log(f"supervisor: started {spec.name} (pid {child.proc.pid})")

    async def _wait_ready(self, child: ChildState) -> None:
        spec = child.spec
        if spec.ready is None:
            child.state = "running"
            return
        deadline = time.monotonic() + spec.ready_timeout
        while time.monotonic() < deadline and not self.stopping:
            if not child.alive:  # the watcher restarts it (or gives up, which sets stopping)
                await asyncio.sleep(0.3)
                continue
            try:
                if await spec.ready():
                    child.state = "running"
                    self.log(f"supervisor: {spec.name} is ready ({time.monotonic() - child.started_at:.1f}s)")
                    return
            except Exception:  # noqa: BLE001 - not ready yet
                pass
            await asyncio.sleep(0.3)
        if not self.stopping:
            raise FatalChildError(f"{spec.name} was not ready after {spec.ready_timeout:.0f}s")

    async def start(self) -> None:
        """Start the children in order (after each ``blocking`` one is ready); return once all are ready."""
        pending: list[asyncio.Task] = []
        try:
            for child in self.children.values():
                if self.stopping:
                    return
                await self._spawn(child)
                self._watchers.append(asyncio.create_task(self._watch(child)))
                if child.spec.blocking:
                    await self._wait_ready(child)
                else:
                    pending.append(asyncio.create_task(self._wait_ready(child)))
            for task in pending:
                await task
        except FatalChildError as exc:
            for task in pending:
                task.cancel()
            await self._give_up(str(exc))

    async def _watch(self, child: ChildState) -> None:
        while True:
            proc = child.proc
            code = await proc.wait()
            child.last_exit = code
            if self.stopping:
                child.state = "stopped"
                return
            now = time.monotonic()
            child.deaths = [t for t in child.deaths if now - t < self.restart_window] + [now]
            self._kill_group(proc.pid, signal.SIGKILL)  # its own leftovers
            if len(child.deaths) > self.max_restarts:
                child.state = "failed"
                await self._give_up(f"{child.spec.name} exited with code {code} "
                                    f"{len(child.deaths)} times within {self.restart_window:.0f}s")
                return
            child.state = "restarting"
            backoff = min(2 ** (len(child.deaths) - 1), 10)
            self.log(f"supervisor: {child.spec.name} exited with code {code}; restarting in {backoff}s")
            await asyncio.sleep(backoff)
            if self.stopping:
                child.state = "stopped"
                return
            child.restarts += 1
            await self._spawn(child)
            try:
                await self._wait_ready(child)
            except FatalChildError as exc:
                child.state = "failed"
                await self._give_up(str(exc))
                return

    async def _give_up(self, reason: str) -> None:
        if self.fatal or self.stopping:
            return
        self.fatal = reason
        self.log(f"supervisor: giving up: {reason}; stopping everything")
        await self.stop()

    # ------------------------------------------------------------------ stop
    @staticmethod
    def _kill_group(pid: int | None, sig: int) -> None:
        if not pid:
            return
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def stop(self) -> None:
        if self.stopping:
            await self._done.wait()
            return
        self.stopping = True
        for child in reversed(list(self.children.values())):  # dependants first
            if child.alive:
                self._kill_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for child in self.children.values():
            if child.proc is None:
                child.state = "stopped"
                continue
            try:
                await asyncio.wait_for(child.proc.wait(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                self.log(f"supervisor: {child.spec.name} did not stop in {self.stop_grace:.0f}s; killing it")
                self._kill_group(child.pid, signal.SIGKILL)
                await child.proc.wait()
            self._kill_group(child.pid, signal.SIGKILL)  # anything left in its group
            child.state = "stopped"
        await asyncio.get_running_loop().run_in_executor(None, sweep_marked_processes, self.marker, self.stop_grace)
        for w in self._watchers:
            w.cancel()
        self._done.set()

    async def wait(self) -> None:
        await self._done.wait()

    def status(self) -> dict[str, dict]:
        return {name: c.as_dict() for name, c in self.children.items()}


def marked_processes(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``KESTRA_DAGSTER_SUPERVISOR=<marker>``."""
    needle = f"{MARKER_ENV}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def sweep_marked_processes(marker: str, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process still carrying our marker. Returns those found."""
    found = marked_processes(marker)
    for pid in found:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and marked_processes(marker):
        time.sleep(0.1)
    for pid in marked_processes(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return found
