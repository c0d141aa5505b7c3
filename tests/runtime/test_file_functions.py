"""fileSize(), fileExists(), isFileEmpty(): Kestra's file functions on internal storage."""

from pathlib import Path

from kestra_dagster.compiler.runner_cli import run_flow_file

FLOW = Path(__file__).resolve().parents[1] / "flows" / "file_functions" / "files_fn.yaml"


def test_file_functions_read_internal_storage():
    result = run_flow_file(str(FLOW), {})
    assert result["state"] == "SUCCESS", result["taskStates"]
    assert result["outputs"]["check"]["value"] == "5 true false"
