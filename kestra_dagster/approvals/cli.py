"""``kestra-dagster resume EXECUTION_ID --by NAME``: decide on a paused execution from a shell.

Writes the decision straight into the Dagster instance (``DAGSTER_HOME``), like the API does;
the flow's resume sensor then starts the next part. For people with access to the instance.
"""

from __future__ import annotations

import json
import sys

import click


@click.command()
@click.argument("execution_id")
@click.option("--by", "by", required=True, help="Who decides (recorded on the runs).")
@click.option("--input", "inputs", multiple=True, help="An onResume/Approval input as key=value (repeatable).")
@click.option("--deny", is_flag=True, help="Deny instead of approving.")
@click.option("--comment", default=None, help="Why (required when the gate says so).")
@click.option("--json", "as_json", is_flag=True, help="Print the gate record as JSON.")
def resume(execution_id: str, by: str, inputs: tuple[str, ...], deny: bool, comment: str | None, as_json: bool) -> None:
    """Approve (resume) or deny the gate EXECUTION_ID waits at; exit 1 when refused."""
    from dagster import DagsterInstance

    from kestra_dagster.approvals.api import decide
    from kestra_dagster.approvals.store import DecisionRefused

    values = {}
    for pair in inputs:
        if "=" not in pair:
            raise click.UsageError(f"--input expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        values[key.strip()] = value
    try:
        record = decide(DagsterInstance.get(), execution_id, not deny, by, comment, values)
    except DecisionRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(record.public(), default=str))
    else:
        click.echo(f"{record.decision} '{record.gate_id}' of execution {execution_id} as {record.decided_by}; "
                   "the next part starts at the resume sensor's next tick")
