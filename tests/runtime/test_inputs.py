"""Dotted input ids and ``dependsOn`` end to end: the Launchpad's run config, the CLI, a Subflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dagster import DagsterInstance

from kestra_dagster.compiler.definitions import load_catalog

from .conftest import dump, execute, flow_path

FLOW = ("inputs", "nested_depends.yaml")


def test_launchpad_config_nests_dotted_ids_and_conditional_inputs_are_optional():
    compiled = load_catalog([flow_path(*FLOW)]).by_file(flow_path(*FLOW))
    fields = compiled.translator.get_inputs_config(compiled.flow)
    assert set(fields) == {"cloud", "request", "zone"}
    cloud = fields["cloud"].config_type.fields
    assert set(cloud) == {"region", "provider"}
    assert not cloud["region"].is_required  # its condition may disable it: never required up front
    assert "asked only when" in cloud["region"].description
    assert not fields["zone"].is_required  # depends on a conditional input
    request = fields["request"].config_type.fields
    assert request["name"].is_required and fields["request"].is_required
    assert request["count"].default_value == 2
    # the CLI, triggers and subflows give dotted keys: they become the Launchpad's sections
    assert compiled.run_config({"request.name": "a", "request.count": "4"})["inputs"] == {
        "request": {"name": "a", "count": 4}}


def test_nested_run_config_and_condition_false(run_flow):
    out = run_flow(*FLOW, inputs={"request": {"name": "lp"}})
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["greet"] == {"value": "lp x2 on gcp/none/none"}
    assert out.execution.inputs == {"request": {"name": "lp", "count": 2}, "cloud": {"provider": "gcp"}}


def test_condition_true_asks_for_the_dependent_inputs(run_flow):
    out = run_flow(*FLOW, inputs={"request": {"name": "lp"}, "cloud": {"provider": "aws"}})
    assert out.state == "FAILED"
    assert out.tags["kestra/state"] == "FAILED"
    text = out.log_text()
    assert "'cloud.region' is required (SELECT) and has no default" in text
    assert "'zone' is required (STRING) and has no default" in text
    out = run_flow(*FLOW, inputs={"request": {"name": "lp"}, "cloud": {"provider": "aws", "region": "eu-west-1"},
                                  "zone": "c"})
    assert out.outputs["greet"] == {"value": "lp x2 on aws/eu-west-1/c"}, dump(out)


def test_cli_takes_dotted_inputs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["KESTRA_STORAGE_PATH"] = str(tmp_path / "storage")
    proc = subprocess.run(
        [sys.executable, "-m", "kestra_dagster.cli", "run", str(flow_path(*FLOW)), "--input", "request.name=cli",
         "--input", "cloud.provider=aws", "--input", "cloud.region=us-east-1", "--input", "zone=z", "--json"],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["outputs"]["greet"] == {"value": "cli x2 on aws/us-east-1/z"}
    bad = subprocess.run(
        [sys.executable, "-m", "kestra_dagster.cli", "run", str(flow_path(*FLOW)), "--input", "request.nam=cli",
         "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2
    errors = json.loads(bad.stdout.strip().splitlines()[-1])["errors"]
    assert errors[0].startswith("'request.nam' is not an input of tests.inputs.nested_depends (declared: ")


def test_subflow_passes_dotted_inputs_flat_or_nested():
    folder = flow_path("inputs")
    with DagsterInstance.ephemeral() as instance:
        out = execute(folder, file=flow_path("inputs", "nested_parent.yaml"), instance=instance)
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["flat"]["outputs"] == {"line": "flat x2 on aws/us-east-1/b"}
    assert out.outputs["nested"]["outputs"] == {"line": "nested x5 on gcp/none/none"}
