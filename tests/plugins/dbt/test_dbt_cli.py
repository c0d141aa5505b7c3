"""dbt.cli.DbtCLI running a real dbt project with dbt-duckdb: outputs, per-model results, errors."""

from __future__ import annotations

import duckdb

from kestra_dagster.compiler.runner_cli import run_flow_file


def flow(tmp_path, db, extra: str = "", commands: str = "      - dbt build") -> str:
    path = tmp_path / "dbt.yaml"
    path.write_text(f"""
id: dbt_duckdb
namespace: company.team
tasks:
  - id: dbt
    type: io.kestra.plugin.dbt.cli.DbtCLI
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    namespaceFiles: {{enabled: true}}
    projectDir: dbt
    profiles: |
      jaffle:
        target: dev
        outputs:
          dev:
            type: duckdb
            path: "{db}"
            threads: 1
    commands:
{commands}{extra}
""")
    return str(path)


def test_dbt_build_on_duckdb_gives_per_model_results(tmp_path, namespace_files):
    db = tmp_path / "warehouse.duckdb"
    result = run_flow_file(flow(tmp_path, db, extra="\n    storeManifest: {key: manifest.json, namespace: company.team}"), {})
    assert result["state"] == "SUCCESS", result
    out = result["outputs"]["dbt"]
    assert out["exitCode"] == 0 and out["warningDetected"] is False
    assert {"manifest.json", "run_results.json"} <= set(out["outputFiles"])
    results = out["results"]
    assert results["model.jaffle.customer_totals"]["state"] == "SUCCESS"
    assert results["model.jaffle.customer_totals"]["resourceType"] == "model"
    assert results["seed.jaffle.raw_orders"]["rowsAffected"] == 4
    tests = [r for uid, r in results.items() if uid.startswith("test.")]
    assert len(tests) == 2 and all(t["status"] == "pass" for t in tests)
    assert "| `model.jaffle.stg_orders` | model | SUCCESS |" in out["resultsMarkdown"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select total from customer_totals where customer = 'alice'").fetchone() == (15,)
    # nothing of the project leaks into the namespace files
    assert not (namespace_files / "target").exists()


def test_broken_model_fails_naming_the_model(tmp_path, namespace_files, capfd):
    (namespace_files / "models" / "broken.sql").write_text("select no_such_column from {{ ref('stg_orders') }}\n")
    result = run_flow_file(flow(tmp_path, tmp_path / "w.duckdb"), {})
    assert result["state"] == "FAILED"
    out = result["outputs"]["dbt"]
    assert out["results"]["model.jaffle.broken"]["state"] == "FAILED"
    assert out["results"]["model.jaffle.customer_totals"]["state"] == "SUCCESS"
    logs = "".join(capfd.readouterr())
    assert "failed: model.jaffle.broken (" in logs and "no_such_column" in logs


def test_malformed_project_fails_clearly(tmp_path, namespace_files, capfd):
    (namespace_files / "dbt_project.yml").write_text("name: [unclosed\n")
    result = run_flow_file(flow(tmp_path, tmp_path / "w.duckdb", commands="      - dbt parse"), {})
    assert result["state"] == "FAILED"
    logs = "".join(capfd.readouterr())
    assert "exit code 2 in project " in logs and "Syntax error near line 2" in logs


def test_each_built_model_is_a_dagster_asset_materialization(tmp_path, namespace_files, monkeypatch):
    from dagster import AssetKey, DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    result = run_flow_file(flow(tmp_path, tmp_path / "assets.duckdb"), {})
    assert result["state"] == "SUCCESS", result
    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey(["dbt", "main", "customer_totals"]))
        assert event is not None and event.run_id == result["runId"]
        metadata = event.asset_materialization.metadata
        assert metadata["unique_id"].value == "model.jaffle.customer_totals"
        assert metadata["adapter"].value == "duckdb"
        seed = instance.get_latest_materialization_event(AssetKey(["dbt", "main", "raw_orders"]))
        assert seed.asset_materialization.metadata["rows_affected"].value == 4
