"""Kestra's Process task runner: run one command line in a subprocess and stream its output.

``run_process`` starts the command in its own session (so the whole process tree can be stopped
together), reads stdout and stderr line by line on two threads while it runs, and hands every
line to a ``LineHandler``. The handler logs lines through ``ctx.logger`` (masked), and turns
Kestra's ``::{"outputs": {...}}::`` / ``::{"metrics": [...]}::`` / ``::{"logs": [...]}::`` lines into
output variables, metric log lines and log records instead of logging them raw.

Cancellation (``ctx.cancel_event``: timeout or run termination) sends SIGTERM to the process
group, then SIGKILL after a grace period, and raises ``TaskKilled``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kestra_dagster.errors import TaskKilled
from kestra_dagster.sdk.reaper import watch_group

#: Kestra's ``PluginUtilsService`` pattern for structured output lines.
OUTPUT_LINE = re.compile(r"^::(\{.*\})::$")
KILL_GRACE_SECONDS = 5.0
#: How long to wait for the output pipes to close once the main process has exited; past that,
#: leftover background processes that still hold them are stopped.
DRAIN_SECONDS = 2.0
_POLL = 0.05


@dataclass
class LineHandler:
    """Receives each output line; collects ``vars`` and counts lines per stream."""

    ctx: Any
    vars: dict = field(default_factory=dict)
    stdout_lines: int = 0
    stderr_lines: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, line: str, stream: str) -> None:
        with self._lock:
            if stream == "stderr":
                self.stderr_lines += 1
            else:
                self.stdout_lines += 1
            match = OUTPUT_LINE.match(line.strip())
            if match:
                try:
                    payload = json.loads(match.group(1))
                except ValueError:
                    payload = None
                if isinstance(payload, dict) and self._structured(payload):
                    return
            text = self.ctx.mask(line)
            if stream == "stderr":
                self.ctx.logger.warning(text)
            else:
                self.ctx.logger.info(text)

    def _structured(self, payload: dict) -> bool:
        known = False
        outputs = payload.get("outputs")
        if isinstance(outputs, dict):
            self.vars.update(outputs)
            known = True
        metrics = payload.get("metrics")
        if isinstance(metrics, list):
            known = True
            for metric in metrics:
                if isinstance(metric, dict):
                    tags = metric.get("tags") or {}
                    kind = str(metric.get("type", "counter"))
                    if isinstance(tags, dict):
                        self.ctx.record_metric(str(metric.get("name") or ""), kind, metric.get("value"), tags)
                    suffix = f" {json.dumps(tags, sort_keys=True)}" if tags else ""
                    self.ctx.logger.info(self.ctx.mask(
                        f"metric {kind} '{metric.get('name')}' = {metric.get('value')}{suffix}"
                    ))
        logs = payload.get("logs")
        if isinstance(logs, list):
            known = True
            for record in logs:
                if not isinstance(record, dict):
                    continue
                level = str(record.get("level", "INFO")).upper()
                write = {"TRACE": self.ctx.logger.debug, "DEBUG": self.ctx.logger.debug,
                         "WARN": self.ctx.logger.warning, "WARNING": self.ctx.logger.warning,
                         "ERROR": self.ctx.logger.error, "CRITICAL": self.ctx.logger.error}.get(level, self.ctx.logger.info)
                write(self.ctx.mask(str(record.get("message", ""))))
        return known


class ToolLog:
    """Line handler for a tool's own output (``docker build``, ``trivy``): masked, logged, tail kept.

    Lines containing one of ``quiet`` go to debug (a tool's noise), one of ``loud`` to warning;
    the last ``keep`` lines stay in ``tail`` for the error message when the tool fails.
    """

    def __init__(self, ctx: Any, keep: int = 15, quiet: tuple[str, ...] = (), loud: tuple[str, ...] = ()):
        self.ctx = ctx
        self.keep = keep
        self.quiet = quiet
        self.loud = loud
        self.tail: list[str] = []

    def __call__(self, line: str, stream: str) -> None:
        text = self.ctx.mask(line)
        if not text.strip():
            return
        self.tail = (self.tail + [text])[-self.keep:]
        if any(marker in text for marker in self.quiet):
            self.ctx.logger.debug(text)
        elif any(marker in text for marker in self.loud):
            self.ctx.logger.warning(text)
        else:
            self.ctx.logger.info(text)


def _pump(pipe: IO[bytes], stream: str, handler: LineHandler, errors: list) -> None:
    try:
        for raw in iter(pipe.readline, b""):
            handler(raw.decode("utf-8", errors="replace").rstrip("\r\n"), stream)
    except Exception as exc:  # a logger failing must not hang the task
        errors.append(exc)
        for _ in iter(pipe.readline, b""):
            pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process remains in process group ``pgid``."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp …; comm may hold spaces and parentheses
            fields = stat[stat.rfind(")") + 2:].split()
            if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(proc: subprocess.Popen, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it if anything is left after ``grace`` s."""
    pgid = proc.pid  # start_new_session=True: the child leads its own group
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader so it does not linger as a zombie
        if not group_alive(pgid):
            break
        time.sleep(_POLL)
    else:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(pgid):
            proc.poll()
            time.sleep(_POLL / 5)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        pass


def _join(threads: list[threading.Thread], seconds: float) -> bool:
    """Join all ``threads`` within one shared deadline; True when they all finished."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def run_process(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    ctx: Any,
    handler: LineHandler,
    kill_grace: float = KILL_GRACE_SECONDS,
) -> int:
    """Run ``args`` to completion (or cancellation); returns the exit code (128+n when killed by signal n)."""
    try:
        proc = subprocess.Popen(
            args,
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        from kestra_dagster.errors import TaskFailed

        hint = " (check the `interpreter` property)" if isinstance(exc, FileNotFoundError) else ""
        raise TaskFailed(f"cannot start {args[0]!r}: {exc.strerror or exc}{hint}") from None
    dismiss_reaper = watch_group(proc.pid)  # the group dies with this worker, even on SIGKILL
    try:
        return _supervise(proc, ctx, handler, kill_grace)
    finally:
        dismiss_reaper()


def _supervise(proc: subprocess.Popen, ctx: Any, handler: LineHandler, kill_grace: float) -> int:
    errors: list[Exception] = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", handler, errors), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", handler, errors), daemon=True),
    ]
    for reader in readers:
        reader.start()

    cancelled = False
    try:
        while True:
            try:
                proc.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                if ctx.cancel_event.is_set():
                    cancelled = True
                    break
    except BaseException:
        # KeyboardInterrupt or the like in the caller's thread: leave nothing running
        kill_group(proc, kill_grace)
        raise

    if cancelled:
        ctx.logger.warning("stopping the process (SIGTERM, then SIGKILL after "
                           f"{kill_grace:g} s) because the task was stopped")
        kill_group(proc, kill_grace)
        _join(readers, DRAIN_SECONDS)
        raise TaskKilled(f"task '{ctx.task_id}' was stopped; its process group was terminated")

    if not _join(readers, DRAIN_SECONDS):
        ctx.logger.warning(
            "the command exited but background processes still hold its output; stopping them"
        )
        kill_group(proc, kill_grace)
        _join(readers, DRAIN_SECONDS)
    for exc in errors:
        ctx.logger.warning(f"error while reading the process output: {exc}")

    code = proc.returncode
    return code if code >= 0 else 128 - code
