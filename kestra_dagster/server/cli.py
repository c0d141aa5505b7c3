"""Click commands for deployment: ``server standalone|webserver|daemon|code|config`` and ``image build``.

Registered on the main group in ``kestra_dagster.cli``; other ``server`` sub-commands (e.g. the
intake's ``server webhooks``) can be added to :data:`server` with ``server.add_command``.
Imports stay lazy so ``kestra-dagster --help`` is fast.
"""

from __future__ import annotations

import sys

import click

_config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                              help="Kestra-style YAML configuration (else $KESTRA_CONFIG_FILE; "
                                   "$KESTRA_CONFIGURATION inline YAML is merged on top).")
_home_option = click.option("--dagster-home", type=click.Path(file_okay=False),
                            help="Instance directory (default $DAGSTER_HOME, else ./.dagster_home).")
_flows_option = click.option("--flows-dir", default=None, type=click.Path(file_okay=False),
                             help="Flows directory (default $KESTRA_FLOWS_DIR, else ./flows).")


def _flows(value: str | None) -> str:
    import os

    return value or os.environ.get("KESTRA_FLOWS_DIR") or "flows"


@click.group()
def server() -> None:
    """Run the server: everything in one process tree, or one part per container."""


@server.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=None, help="Public port (default micronaut.server.port, else 8080).")
@_config_option
@_home_option
@_flows_option
@click.option("--no-intake", is_flag=True, help="Do not start the webhook/approval intake.")
@click.option("--max-restarts", type=int, default=3, show_default=True,
              help="Restarts allowed per component within --restart-window before the server exits 1.")
@click.option("--restart-window", type=float, default=60.0, show_default=True)
def standalone(host, port, config_path, dagster_home, flows_dir, no_intake, max_restarts, restart_window) -> None:
    """Code server, dagster-webserver, dagster-daemon and the intake behind one port.

    Basic auth (kestra.server.basic-auth) protects the UI, GraphQL and approval endpoints;
    /health is open and answers 200 when every component is UP, else 503.
    """
    from kestra_dagster.server.app import ServerOptions, run_server

    sys.exit(run_server(ServerOptions(mode="standalone", host=host, port=port, config_path=config_path,
                                      dagster_home=dagster_home, flows_dir=_flows(flows_dir), intake=not no_intake,
                                      max_restarts=max_restarts, restart_window=restart_window)))


@server.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=None)
@_config_option
@_home_option
@_flows_option
@click.option("--code-server", default=None, help="HOST:PORT of the code server (default 127.0.0.1:4000).")
@click.option("-w", "--workspace", type=click.Path(dir_okay=False, exists=True), help="A workspace.yaml instead.")
@click.option("--intake-url", default=None, help="Base URL of the intake (proxied under /api/v1/).")
def webserver(host, port, config_path, dagster_home, flows_dir, code_server, workspace, intake_url) -> None:
    """dagster-webserver behind basic auth and /health (runs storage migrations first)."""
    from kestra_dagster.server.app import ServerOptions, run_server

    sys.exit(run_server(ServerOptions(mode="webserver", host=host, port=port, config_path=config_path,
                                      dagster_home=dagster_home, flows_dir=_flows(flows_dir), code_server=code_server,
                                      workspace=workspace, intake_url=intake_url)))


@server.command()
@_config_option
@_home_option
@_flows_option
@click.option("--code-server", default="127.0.0.1:4000", show_default=True, help="HOST:PORT of the code server.")
@click.option("-w", "--workspace", type=click.Path(dir_okay=False, exists=True), help="A workspace.yaml instead.")
@click.option("--migrate/--no-migrate", default=False, show_default=True)
def daemon(config_path, dagster_home, flows_dir, code_server, workspace, migrate) -> None:
    """dagster-daemon (schedules, sensors, run queue, run launcher) on the configured instance."""
    import os

    from kestra_dagster.server.app import exec_part

    os.environ["KESTRA_CODE_SERVER"] = code_server
    sys.exit(exec_part("daemon", config_path=config_path, dagster_home=dagster_home, flows_dir=_flows(flows_dir),
                       workspace=workspace, migrate=migrate))


@server.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=4000, show_default=True)
@_config_option
@_home_option
@_flows_option
@click.option("--container-image", default=None, help="Image the run launcher starts runs in (DockerRunLauncher).")
def code(host, port, config_path, dagster_home, flows_dir, container_image) -> None:
    """The gRPC code server serving the flows (one code location, `kestra_flows`)."""
    from kestra_dagster.server.app import exec_part

    sys.exit(exec_part("code", config_path=config_path, dagster_home=dagster_home, flows_dir=_flows(flows_dir),
                       host=host, port=port, container_image=container_image))


@server.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_config_option
@_home_option
@click.option("--migrate/--no-migrate", default=False, show_default=True)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(config_path, dagster_home, migrate, command) -> None:
    """Prepare the instance from the configuration, then run COMMAND in its place.

    For processes that read DAGSTER_HOME themselves, e.g. a container healthcheck
    (`kestra-dagster server exec -- dagster-daemon liveness-check`) or the intake
    (`kestra-dagster server exec -- kestra-dagster server webhooks --host 0.0.0.0`).
    """
    from kestra_dagster.server.app import exec_command as run

    sys.exit(run(list(command), config_path=config_path, dagster_home=dagster_home, migrate=migrate))


@server.command("config")
@_config_option
def show_config(config_path) -> None:
    """Check the configuration and print the Dagster instance settings it generates (no secrets)."""
    from kestra_dagster.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"# {config.describe()}", err=True)
    click.echo(config.dagster_yaml())


@click.group()
def image() -> None:
    """Container images for the server and for runs (DockerRunLauncher)."""


@image.command()
@click.option("-t", "--tag", default="kestra-dagster:latest", show_default=True)
@_flows_option
@click.option("--base-image", default=None, help="Base image (default python:3.11-slim-bookworm).")
@click.option("--wheelhouse/--no-wheelhouse", default=False, show_default=True,
              help="Build wheels here first and install offline inside the image (no index access in the build).")
@click.option("--source", type=click.Path(file_okay=False, exists=True), default=None,
              help="Project checkout to install (default: the one this package runs from).")
@click.option("--extras", default="", help="Optional extras to install, comma-separated: k8s (Kubernetes run pods), aws (S3).")
def build(tag, flows_dir, base_image, wheelhouse, source, extras) -> None:
    """Build the code image (package + flows) with deploy/Dockerfile."""
    from kestra_dagster.server.image import ImageBuildError, build_image

    try:
        image_id = build_image(tag=tag, flows_dir=_flows(flows_dir), base_image=base_image, wheelhouse=wheelhouse,
                               source=source, echo=lambda m: click.echo(m, err=True),
                               extras=tuple(e.strip() for e in extras.split(",") if e.strip()))
    except ImageBuildError as exc:
        click.echo(f"image build failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{tag} {image_id}")
