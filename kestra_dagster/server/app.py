"""``kestra-dagster server standalone|webserver|daemon|code``.

``standalone`` (Kestra's ``server standalone``): one command, one public port. It

1. reads the configuration (``--config`` / ``$KESTRA_CONFIGURATION``), writes
   ``$DAGSTER_HOME/dagster.yaml`` and runs Dagster's storage migrations;
2. starts, under one :class:`~kestra_dagster.server.supervisor.Supervisor`, on 127.0.0.1 ports:
   a code server (gRPC) with the flows, dagster-webserver and dagster-daemon (both using that
   code server), and the webhook/approval intake;
3. serves the :class:`~kestra_dagster.server.front.FrontApp` on ``--host:--port``: ``/health``,
   basic auth, and the proxy to the webserver (UI, GraphQL) and the intake.

SIGTERM/SIGINT stop everything (exit 0); a child that keeps dying stops everything (exit 1).

``webserver`` is the same front with only dagster-webserver behind it (for scale-out: the code
server, daemon and intake run elsewhere). ``daemon`` and ``code`` prepare the instance and then
*become* ``dagster-daemon run`` / ``dagster code-server start`` (exec), for one container each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from kestra_dagster.config import KestraConfig, default_dagster_home, load_config, migrate_storage, prepare_instance
from kestra_dagster.instance_schema import ensure_instance_schema

LOCATION_NAME = "kestra_flows"
DEFINITIONS_MODULE = "kestra_dagster.definitions"


def _echo(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _prepare(config: KestraConfig, home: Path, migrate: bool, echo) -> dict[str, str]:
    """Settings written, schema created once under the lock (no race with another part starting), migrations."""
    env = prepare_instance(config, home, migrate=False, echo=echo)
    ensure_instance_schema(home)
    if migrate:
        migrate_storage(echo=echo)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def dagster_script(name: str) -> list[str]:
    """The console script of this environment (the venv's, not whatever is first on PATH)."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    if found:
        return [found]
    modules = {"dagster": "dagster", "dagster-webserver": "dagster_webserver", "dagster-daemon": "dagster._daemon"}
    return [sys.executable, "-m", modules[name]]


def write_workspace(home: Path, host: str, port: int) -> Path:
    path = home / "kestra-dagster-workspace.yaml"
    path.write_text(yaml.safe_dump({"load_from": [
        {"grpc_server": {"host": host, "port": port, "location_name": LOCATION_NAME}}]}, sort_keys=False))
    return path


def code_server_argv(host: str, port: int) -> list[str]:
    return [*dagster_script("dagster"), "code-server", "start", "-h", host, "-p", str(port),
            "-m", DEFINITIONS_MODULE, "--location-name", LOCATION_NAME, "--log-level", "warning"]


@dataclass
class ServerOptions:
    mode: str = "standalone"  # standalone | webserver
    host: str = "0.0.0.0"
    port: int | None = None
    flows_dir: str = "flows"
    config_path: str | None = None
    dagster_home: str | None = None
    #: webserver mode: an existing workspace file, or the code server's HOST:PORT
    workspace: str | None = None
    code_server: str | None = None
    #: webserver mode: where the intake runs (proxied under /api/v1/); standalone starts its own
    intake_url: str | None = None
    intake: bool = True
    max_restarts: int = 3
    restart_window: float = 60.0
    stop_grace: float = 10.0
    migrate: bool = True


class _Uvicorn:
    """uvicorn without its own signal handling (the supervisor owns SIGTERM/SIGINT)."""

    def __init__(self, app, sock: socket.socket):
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # noqa: D401 - uvicorn hook
                yield

            def install_signal_handlers(self) -> None:  # older uvicorn
                return

        self.sock = sock
        self.server = Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio",
                                            timeout_keep_alive=30, access_log=False))

    async def serve(self) -> None:
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True


def run_server(opts: ServerOptions) -> int:
    from kestra_dagster.config import ConfigError

    started = time.monotonic()
    try:
        config = load_config(opts.config_path)
    except ConfigError as exc:
        _echo(f"kestra-dagster: configuration error: {exc}")
        return 2
    port = opts.port or config.port or 8080
    sock = socket.socket(socket.AF_INET6 if ":" in opts.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((opts.host, port))
    except OSError as exc:
        _echo(f"kestra-dagster: cannot listen on {opts.host}:{port}: {exc.strerror}")
        return 1
    sock.listen(512)
    home = Path(opts.dagster_home).resolve() if opts.dagster_home else default_dagster_home()
    flows_dir = str(Path(opts.flows_dir).resolve())
    try:
        env = _prepare(config, home, opts.migrate, _echo)
    except ConfigError as exc:
        _echo(f"kestra-dagster: {exc}")
        return 2
    env["KESTRA_FLOWS_DIR"] = flows_dir
    os.environ["KESTRA_FLOWS_DIR"] = flows_dir
    return asyncio.run(_serve(opts, config, home, env, sock, port, started))


async def _serve(opts: ServerOptions, config: KestraConfig, home: Path, env: dict, sock, port: int,
                 started: float) -> int:
    from kestra_dagster.server.front import FrontApp, Upstreams
    from kestra_dagster.server.health import Health, InstanceChecks
    from kestra_dagster.server.front import FrontLimits
    from kestra_dagster.server.intake import (
        INTAKE_TRUST_ENV,
        USER_HEADER,
        daemon_argv,
        intake_argv,
    )
    from kestra_dagster.server.supervisor import ChildSpec, Supervisor

    from kestra_dagster.server.health import _http_ok, _tcp_ok

    local = "127.0.0.1"
    specs: list[ChildSpec] = []
    probes: dict = {}
    if opts.mode == "standalone":
        code_port = free_port()
        specs.append(ChildSpec("code_server", code_server_argv(local, code_port), env,
                               ready=lambda: _tcp_ok(local, code_port), blocking=True))
        probes["code_server"] = ("tcp", local, code_port)
        workspace = write_workspace(home, local, code_port)
    elif opts.workspace:
        workspace = Path(opts.workspace).resolve()
    else:
        host, _, cport = (opts.code_server or "127.0.0.1:4000").rpartition(":")
        workspace = write_workspace(home, host or "127.0.0.1", int(cport))
    web_port = free_port()
    web_url = f"http://{local}:{web_port}"
    specs.append(ChildSpec("webserver", [*dagster_script("dagster-webserver"), "-h", local, "-p", str(web_port),
                                         "-w", str(workspace), "--dagster-log-level", "warning"], env,
                           ready=lambda: _http_ok(f"{web_url}/server_info")))
    probes["webserver"] = ("http", f"{web_url}/server_info")
    intake_url = opts.intake_url.rstrip("/") if opts.intake_url else None
    proxy_secret = None  # webserver mode with a remote intake: it authenticates reviewers itself
    if opts.mode == "standalone":
        specs.append(ChildSpec("daemon", daemon_argv(str(workspace), dagster_script("dagster-daemon")), env))
        if opts.intake:
            intake_port = free_port()
            intake_url = f"http://{local}:{intake_port}"
            intake_env = dict(env)
            if config.basic_auth.enabled:  # the approval API trusts the identity the front door sets
                intake_env[INTAKE_TRUST_ENV] = USER_HEADER
            # A fresh secret per start proves to the intake that a request (and its X-Kestra-User)
            # comes from this front door and not from another local process; sent on stdin.
            proxy_secret = secrets.token_urlsafe(32)
            specs.append(ChildSpec("intake", intake_argv(local, intake_port, env["KESTRA_FLOWS_DIR"], config.webhooks,
                                                         proxy_secret_stdin=True), intake_env,
                                   ready=lambda: _http_ok(f"{intake_url}/health"),
                                   stdin_data=(proxy_secret + "\n").encode()))
            probes["intake"] = ("http", f"{intake_url}/health")

    supervisor = Supervisor(specs, max_restarts=opts.max_restarts, restart_window=opts.restart_window,
                            stop_grace=opts.stop_grace, log=_echo)
    checks = InstanceChecks()
    health = Health(supervisor, probes, checks, check_daemon=opts.mode == "standalone")
    limits = FrontLimits(webhook_body_bytes=int(config.webhooks.get("max-body-bytes", FrontLimits.webhook_body_bytes)))
    front = _Uvicorn(FrontApp(config.basic_auth, Upstreams(webserver=web_url, intake=intake_url), health,
                              limits=limits, proxy_secret=proxy_secret,
                              public_origins=(config.url,) if config.url else ()), sock)

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)

    serve_task = asyncio.create_task(front.serve())
    start_task = asyncio.create_task(supervisor.start())
    shown = f"{opts.host}:{port}"
    _echo(f"kestra-dagster: {opts.mode} server on http://{shown} (health: /health; "
          f"basic auth {'on' if config.basic_auth.enabled else 'off'})")

    async def announce():
        await start_task
        if not supervisor.fatal and not supervisor.stopping:
            _echo(f"kestra-dagster: all components started in {time.monotonic() - started:.1f}s")

    announce_task = asyncio.create_task(announce())
    stop_wait = asyncio.create_task(stop_requested.wait())
    sup_wait = asyncio.create_task(supervisor.wait())
    await asyncio.wait([stop_wait, sup_wait, serve_task], return_when=asyncio.FIRST_COMPLETED)
    if stop_requested.is_set():
        _echo("kestra-dagster: stopping (signal received)")
    await supervisor.stop()
    front.stop()
    for task in (start_task, announce_task, stop_wait, sup_wait):
        task.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(serve_task, 10)
    checks.close()
    if supervisor.fatal:
        _echo(f"kestra-dagster: exiting: {supervisor.fatal}")
        return 1
    if not stop_requested.is_set():
        _echo("kestra-dagster: front server stopped unexpectedly")
        return 1
    _echo("kestra-dagster: stopped")
    return 0


def exec_part(part: str, *, config_path: str | None, dagster_home: str | None, flows_dir: str,
              workspace: str | None = None, host: str = "0.0.0.0", port: int = 4000, migrate: bool = False,
              container_image: str | None = None) -> int:
    """Prepare the instance, then replace this process with ``dagster-daemon`` / the code server."""
    from kestra_dagster.config import ConfigError

    try:
        config = load_config(config_path)
        home = Path(dagster_home).resolve() if dagster_home else default_dagster_home()
        _prepare(config, home, migrate, _echo)
    except ConfigError as exc:
        _echo(f"kestra-dagster: {exc}")
        return 2
    os.environ["KESTRA_FLOWS_DIR"] = str(Path(flows_dir).resolve())
    if part == "daemon":
        ws = workspace or str(write_workspace(home, *_split_hostport(os.environ.get("KESTRA_CODE_SERVER", "127.0.0.1:4000"))))
        from kestra_dagster.server.intake import daemon_argv

        argv = daemon_argv(ws, dagster_script("dagster-daemon"))
    else:
        argv = [*dagster_script("dagster"), "code-server", "start", "-h", host, "-p", str(port),
                "-m", DEFINITIONS_MODULE, "--location-name", LOCATION_NAME]
        if container_image:
            argv += ["--container-image", container_image]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # pragma: no cover


def _split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def exec_command(argv: list[str], *, config_path: str | None, dagster_home: str | None, migrate: bool = False) -> int:
    """Prepare the instance quietly, then exec ``argv`` (looked up on PATH)."""
    from kestra_dagster.config import ConfigError

    try:
        config = load_config(config_path)
        home = Path(dagster_home).resolve() if dagster_home else default_dagster_home()
        _prepare(config, home, migrate, _echo if migrate else (lambda m: None))
    except ConfigError as exc:
        _echo(f"kestra-dagster: {exc}")
        return 2
    exe = shutil.which(argv[0]) or argv[0]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(exe, [exe, *argv[1:]])
    except OSError as exc:
        _echo(f"kestra-dagster: cannot run {argv[0]}: {exc.strerror}")
        return 127
    return 0  # pragma: no cover
