"""Kestra's rules checked on the Dagster-free Runner (``kestra_dagster.testing.run_tasks``).

The same fixture flows as tests/runtime (which run them through Dagster and check what the
compiler adds: steps, markers, run tags); here each case takes milliseconds, so the rules are
checked case by case.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kestra_dagster.testing import build_task_context, run_tasks

FLOWS = Path(__file__).resolve().parents[1] / "flows"


def flow_text(*parts: str) -> str:
    return FLOWS.joinpath(*parts).read_text()


@pytest.mark.parametrize("cond, branch", [
    ("true", "when_true"), ("yes", "when_true"), ("1", "when_true"),
    ("false", "when_false"), ("0", "when_false"), ("", "when_false"), ("FALSE", "when_false"),
])
def test_if_uses_kestras_string_truthiness(tmp_path, cond, branch):
    out = run_tasks(flow_text("conditional", "if_flow.yaml"), tmp_path, inputs={"cond": cond})
    assert out.state == "SUCCESS", out.messages()
    other = {"when_true", "when_false"} - {branch}
    assert out.states()[branch] == "SUCCESS" and other.isdisjoint(out.states())
    assert out.outputs["check"] == {"evaluationResult": branch == "when_true"}
    assert out.outputs[branch]["value"].startswith("then" if branch == "when_true" else "else")
    assert out.states()["after"] == "SUCCESS"


@pytest.mark.parametrize("value, ran, is_default", [
    ("1", ["case_one"], False),
    ("blue", ["case_blue", "case_blue_2"], False),
    ("true", ["case_true"], False),
    ("green", ["fallback"], True),
])
def test_switch_matches_string_keys_or_runs_defaults(tmp_path, value, ran, is_default):
    out = run_tasks(flow_text("conditional", "switch_flow.yaml"), tmp_path, inputs={"value": value})
    assert out.state == "SUCCESS", out.messages()
    assert sorted(k for k in out.states() if k != "route") == sorted(ran)
    assert out.outputs["route"] == {"value": value, "defaults": is_default}


def test_failure_stops_the_list_runs_errors_then_finally(tmp_path):
    out = run_tasks(flow_text("errors_finally", "failing.yaml"), tmp_path)
    assert out.state == "FAILED"
    assert out.states() == {"t1": "SUCCESS", "t2": "FAILED", "e1": "SUCCESS", "f1": "SUCCESS"}
    assert out.outputs["e1"] == {"value": "handled after first"}
    assert [r.task_id for r in out.execution.task_runs] == ["t1", "t2", "e1", "f1"]


def test_foreach_outputs_are_keyed_by_value(tmp_path):
    out = run_tasks(flow_text("foreach", "foreach_list.yaml"), tmp_path)
    assert out.state == "SUCCESS", out.messages()
    assert out.outputs["child"] == {"a": {"value": "a-0"}, "b": {"value": "b-1"}, "c": {"value": "c-2"}}
    assert out.outputs["pick"] == {"value": "a-0|c-2|b-1!"}


def test_allow_failure_and_allow_warning_flags(tmp_path):
    out = run_tasks(flow_text("allow_failure", "allow_flags.yaml"), tmp_path)
    assert out.state == "WARNING"
    assert out.states() == {"allowed": "WARNING", "allowed_and_warning_ok": "SUCCESS", "continues": "SUCCESS"}


def test_a_rule_case_takes_milliseconds(tmp_path):
    started = time.perf_counter()
    run_tasks(flow_text("conditional", "if_flow.yaml"), tmp_path, inputs={"cond": "yes"})
    assert time.perf_counter() - started < 1.0


def test_build_task_context_runs_a_task_directly(tmp_path, monkeypatch):
    from kestra_dagster.registry import get_registry

    monkeypatch.setenv("SECRET_GREETING", "aGVsbG8=")  # base64 of "hello", as Kestra's open-source secrets
    cls = get_registry().resolve("io.kestra.plugin.core.debug.Return").cls
    task = cls.model_validate({"id": "t", "type": cls.kestra_type,
                               "format": "{{ secret('GREETING') }} {{ flow.namespace }} {{ inputs.who }}"})
    ctx = build_task_context(tmp_path, variables={"inputs": {"who": "ada"}})
    try:
        assert task.run(ctx) == {"value": "hello company.team ada"}
    finally:
        ctx.kv.close()
