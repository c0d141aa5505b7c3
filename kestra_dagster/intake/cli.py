"""``kestra-dagster server webhooks``: the webhook intake on its own."""

from __future__ import annotations

import os

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
@click.option("--flows-dir", default=lambda: os.environ.get("KESTRA_FLOWS_DIR", "flows"), show_default="flows",
              type=click.Path(exists=True, file_okay=False), help="Directory of flow files (KESTRA_FLOWS_DIR).")
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, type=int,
              help="Larger bodies get 413.")
@click.option("--max-pending", default=10_000, show_default=True, type=int,
              help="Deliveries of one flow still waiting for their run before 429.")
@click.option("--max-wait", default=60.0, show_default=True, type=float,
              help="Seconds a `wait: true` webhook call is held for its execution to end; then 202 with the ids.")
@click.option("--max-json-depth", default=64, show_default=True, type=int,
              help="JSON bodies nested deeper get 400.")
@click.option("--with-approvals/--no-approvals", default=True, show_default=True,
              help="Also serve the approval API and page (see `kestra-dagster resume`).")
@click.option("--proxy-secret-stdin", is_flag=True, default=False,
              help="Read the front door's per-start secret from the first line of stdin; X-Kestra-User is "
                   "trusted only on requests that carry it (set by `server standalone`).")
def webhooks(host: str, port: int, flows_dir: str, max_body_bytes: int, max_pending: int, max_wait: float,
             max_json_depth: int, with_approvals: bool, proxy_secret_stdin: bool) -> None:
    """Serve Kestra's webhook URL; deliveries are stored in the Dagster instance (DAGSTER_HOME).

    Runs are started by each flow's webhook sensor, so the Dagster daemon must run too
    (`python -m kestra_dagster.triggers.daemon run` polls every second instead of every five).
    """
    from kestra_dagster.instance_schema import ensure_instance_schema
    from kestra_dagster.intake.app import IntakeConfig, build_app, serve

    import sys

    ensure_instance_schema()  # before the intake and the approval API open the instance

    proxy_secret = None
    if proxy_secret_stdin:
        proxy_secret = sys.stdin.readline().strip() or None
        if not proxy_secret:
            raise click.UsageError("--proxy-secret-stdin: no secret on stdin")
    extra = []
    if with_approvals:
        from kestra_dagster.approvals import build_routes
        from kestra_dagster.approvals.api import ApprovalAuth

        auth = ApprovalAuth.from_env()
        if proxy_secret:
            auth.proxy_secret = proxy_secret
        extra = build_routes(flows_dirs=[flows_dir], auth=auth)
    config = IntakeConfig(max_body_bytes=max_body_bytes, max_pending_per_flow=max_pending, max_wait_seconds=max_wait,
                          max_json_depth=max_json_depth)
    app = build_app([flows_dir], config=config, extra_routes=extra)
    serve(app, host, port)
