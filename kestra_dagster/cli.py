"""``kestra-dagster``: validate flows, print their JSON Schema, run one, list plugins.

Exit codes follow the users' scripts: 0 ok (SUCCESS/WARNING for ``run``), 1 invalid flow or
FAILED/KILLED execution, 2 bad usage or rejected inputs.
"""

from __future__ import annotations

import json
import sys

import click

from kestra_dagster.errors import FlowValidationError, InputError


def _versions() -> str:
    """Package, Dagster and Python versions: what a bug report needs first."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return f"kestra-dagster {of('kestra-dagster')}, dagster {of('dagster')}, Python {platform.python_version()}"


class _Commands(click.Group):
    """The command group, with the deployment, intake and approval commands imported only when
    named (``kestra-dagster run`` does not pay for the servers' and the approval store's imports)."""

    LAZY = {"server": "kestra_dagster.server.cli:server", "image": "kestra_dagster.server.cli:image",
            "resume": "kestra_dagster.approvals.cli:resume"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.LAZY:
            import importlib

            module, _, attr = self.LAZY[name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            if name == "server":  # the webhook intake is a server too
                from kestra_dagster.intake.cli import webhooks

                command.add_command(webhooks, "webhooks")
            self.add_command(command, name)
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              help="Print the kestra-dagster, Dagster and Python versions and exit.",
              callback=lambda ctx, _param, value: (click.echo(_versions()), ctx.exit()) if value else None)
def main() -> None:
    """Kestra-style YAML flows, compiled into Dagster jobs."""


# ----------------------------------------------------------------------------- validate


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check flow files (or directories of them); exit 1 when any is invalid."""
    from kestra_dagster.model.loader import iter_flow_files, load_flow_file

    results = []
    for file in iter_flow_files(paths):
        entry = {"file": str(file), "ok": True, "errors": [], "unsupported_types": [], "unsupported": [],
                 "warnings": []}
        try:
            loaded = load_flow_file(file)
            unsupported, issues = loaded.unsupported, [u.as_issue(str(file)) for u in loaded.unsupported]
            entry["warnings"] = [w.to_json() for w in loaded.warnings]
            entry["_warnings"] = loaded.warnings
        except FlowValidationError as exc:
            # every issue, the unsupported types among them (listed even beside other mistakes)
            unsupported, issues = exc.unsupported, exc.issues
        entry["ok"] = not issues
        entry["errors"] = [i.to_json() for i in issues]
        entry["_issues"] = issues
        # per file, every type we lack, once, with its kind (task, trigger, condition, taskRunner)
        for u in unsupported:
            if u.type not in entry["unsupported_types"]:
                entry["unsupported_types"].append(u.type)
                entry["unsupported"].append(u.to_json())
        results.append(entry)
    if fmt == "json":
        for entry in results:
            click.echo(json.dumps({k: v for k, v in entry.items() if not k.startswith("_")}))
    else:
        for entry in results:
            for warning in entry.get("_warnings", []):
                click.echo(f"warning: {warning.render()}")
            if entry["ok"]:
                click.echo(f"{entry['file']}: ok")
                continue
            for issue in entry.get("_issues", []):
                click.echo(issue.render())
        bad = sum(not e["ok"] for e in results)
        click.echo(f"{len(results) - bad} valid, {bad} invalid", err=True)
    if not results:
        click.echo("no flow files found (*.yaml, *.yml)", err=True)
        sys.exit(2)
    sys.exit(0 if all(e["ok"] for e in results) else 1)


# ----------------------------------------------------------------------------- schema


@main.command()
def schema() -> None:
    """Print the JSON Schema of flow files (for YAML language servers)."""
    from kestra_dagster.model.schema import flow_json_schema

    click.echo(json.dumps(flow_json_schema(), indent=2))


# ----------------------------------------------------------------------------- run


def _parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.UsageError(f"--input expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


@main.command()
@click.argument("flow_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "inputs", multiple=True, help="An input as key=value (repeatable).")
@click.option("--flows-dir", type=click.Path(exists=True, file_okay=False), help="Directory of other flows (for Subflow).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def run(flow_file: str, inputs: tuple[str, ...], flows_dir: str | None, as_json: bool) -> None:
    """Run FLOW_FILE to its end on the current Dagster instance (DAGSTER_HOME, else a temporary one).

    Subflows started with ``wait: false`` run alongside; the command waits for them too before it
    exits (their runs are listed, and under ``detachedRuns`` with --json) but its exit code is the
    parent's, as in Kestra.
    """
    import gc

    from kestra_dagster.compiler.runner_cli import run_flow_file

    # What is imported lives until exit: full collections during the run, and the one at exit,
    # need not walk it (~0.25 s of a 10-task run, bench/bench_startup.py)
    gc.freeze()
    try:
        result = run_flow_file(flow_file, _parse_inputs(inputs), flows_dir)
    except FlowValidationError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except InputError as exc:
        if as_json:
            click.echo(json.dumps({"runId": None, "state": "REJECTED", "errors": exc.errors}))
        click.echo(f"{flow_file}: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result, default=str))
    else:
        for task, state in result["taskStates"].items():
            click.echo(f"  {task}: {state}")
        for child in result.get("detachedRuns", []):
            click.echo(f"  subflow {child['flow']} (wait: false) run {child['runId']}: {child['state']}")
        click.echo(f"execution {result['runId']}: {result['state']}")
    sys.exit(0 if result["state"] in ("SUCCESS", "WARNING") else 1)


# ----------------------------------------------------------------------------- plugins


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--markdown", is_flag=True, help="A Markdown table (the README's supported-types table).")
def plugins(as_json: bool, markdown: bool) -> None:
    """List every task and trigger type available, with its package and aliases."""
    from kestra_dagster.registry import get_registry, types_table_markdown

    registry = get_registry()
    rows = sorted(registry.entries.values(), key=lambda e: (e.kind, e.type))
    if markdown:
        click.echo(types_table_markdown(registry))
    elif as_json:
        click.echo(json.dumps([{"type": e.type, "kind": e.kind, "package": e.package, "aliases": list(e.aliases),
                                "description": e.summary} for e in rows], indent=2))
    else:
        for e in rows:
            aliases = f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""
            click.echo(f"{e.kind:8} {e.type}  [{e.package}]{aliases}\n         {e.summary}")
    for problem in registry.problems:
        click.echo(f"problem: {problem}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
