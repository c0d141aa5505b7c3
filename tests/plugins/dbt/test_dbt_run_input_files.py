"""dbt.cli.Run with the project given as inputFiles (no Setup), then DbtCLI ending WARNING on a
warn-severity test, as Kestra's warningDetected."""

from __future__ import annotations

import json

from kestra_dagster.compiler.runner_cli import run_flow_file

from .conftest import PROJECT


def test_run_from_input_files_then_warning_from_dbt_test(tmp_path):
    # inputFiles are rendered with Pebble: dbt's Jinja stays raw
    files = {str(p.relative_to(PROJECT)): p.read_text() for p in PROJECT.rglob("*") if p.is_file()}
    files["models/schema.yml"] = (
        "version: 2\nmodels:\n  - name: customer_totals\n    columns:\n      - name: total\n"
        "        data_tests:\n          - accepted_values: {arguments: {values: [15]}, config: {severity: warn}}\n")
    db = tmp_path / "w.duckdb"
    profiles = {"jaffle": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": str(db), "threads": 1}}}}
    flow = tmp_path / "run.yaml"
    flow.write_text(f"""
id: dbt_run_input_files
namespace: company.team
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    inputFiles: {json.dumps({f"project/{k}": "{% raw %}" + v + "{% endraw %}" for k, v in files.items()})}
    tasks:
      - id: seed
        type: io.kestra.plugin.dbt.cli.DbtCLI
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        projectDir: project
        profiles: '{json.dumps(profiles)}'
        commands: [dbt seed]
      - id: run
        type: io.kestra.plugin.dbt.cli.Run
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        projectDir: project
        profiles: '{json.dumps(profiles)}'
        select: [stg_orders, customer_totals]
      - id: check
        type: io.kestra.plugin.dbt.cli.DbtCLI
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        projectDir: project
        commands: [dbt test]
""")
    result = run_flow_file(str(flow), {})
    assert result["taskStates"]["seed"] == "SUCCESS", result
    assert result["taskStates"]["run"] == "SUCCESS", result
    run = result["outputs"]["run"]["results"]
    assert set(run) == {"model.jaffle.stg_orders", "model.jaffle.customer_totals"}
    assert result["taskStates"]["check"] == "WARNING"
    check = result["outputs"]["check"]
    assert check["warningDetected"] is True
    assert [r["state"] for r in check["results"].values()] == ["WARNING"]
    assert result["state"] == "WARNING"
