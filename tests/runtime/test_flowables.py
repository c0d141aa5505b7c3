"""Flowable tasks (Parallel, If, Switch, ForEach, Dag, AllowFailure) run inside their op."""

from __future__ import annotations

import pytest

from .conftest import dump, ts


def _max_overlap(records) -> int:
    """Largest number of task runs running at the same instant."""
    points = sorted([(ts(r.started), 1) for r in records] + [(ts(r.ended), -1) for r in records],
                    key=lambda p: (p[0], p[1]))
    running = best = 0
    for _, delta in points:
        running += delta
        best = max(best, running)
    return best


def _span(records) -> float:
    return max(ts(r.ended) for r in records) - min(ts(r.started) for r in records)


# ----------------------------------------------------------------------------- Parallel


def test_parallel_runs_children_at_the_same_time(run_flow):
    out = run_flow("parallel", "parallel_all.yaml")
    assert out.state == "SUCCESS", dump(out)
    sleeps = [out.run(t) for t in ("s1", "s2", "s3")]
    assert _max_overlap(sleeps) == 3
    assert _span(sleeps) < 0.4 * 3 - 0.2  # clearly less than one after the other
    assert all(r.parent == "par" for r in sleeps)
    assert out.run("after").started >= max(r.ended for r in sleeps)
    assert out.task_states["par"] == "SUCCESS"


def test_parallel_concurrent_caps_the_overlap(run_flow):
    out = run_flow("parallel", "parallel_two.yaml")
    assert out.state == "SUCCESS"
    sleeps = [out.run(f"s{i}") for i in range(1, 5)]
    assert _max_overlap(sleeps) == 2
    assert _span(sleeps) >= 0.55  # two waves of 0.3 s


def test_parallel_failure_fails_the_block_and_stops_the_flow(run_flow):
    out = run_flow("parallel", "parallel_fail.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.task_states["slow"] == "SUCCESS"
    assert out.task_states["bad"] == "FAILED"
    assert out.task_states["par_error"] == "SUCCESS"
    assert out.task_states["par"] == "FAILED"
    assert "after" in out.steps("STEP_SKIPPED")
    assert out.steps("STEP_FAILURE") == ["par"]


# ----------------------------------------------------------------------------- If


# Every truthiness case runs on the Runner in tests/engine/test_runner_rules.py (milliseconds);
# here one per branch checks the compiled job.
@pytest.mark.parametrize("cond, branch", [("yes", "when_true"), ("FALSE", "when_false")])
def test_if_uses_kestras_string_truthiness(run_flow, cond, branch):
    out = run_flow("conditional", "if_flow.yaml", inputs={"cond": cond})
    assert out.state == "SUCCESS", dump(out)
    other = {"when_true", "when_false"} - {branch}
    assert out.task_states[branch] == "SUCCESS"
    assert other.isdisjoint(out.task_states)
    assert out.outputs["check"] == {"evaluationResult": branch == "when_true"}
    assert out.outputs[branch]["value"].startswith("then" if branch == "when_true" else "else")
    assert out.task_states["after"] == "SUCCESS"


def test_if_without_else_and_false_condition_succeeds(run_flow):
    out = run_flow("conditional", "if_without_else.yaml")
    assert out.state == "SUCCESS"
    assert out.task_states == {"check": "SUCCESS"}
    assert out.outputs["check"] == {"evaluationResult": False}


# ----------------------------------------------------------------------------- Switch


# Every matching case runs on the Runner in tests/engine/test_runner_rules.py; here a case and the
# defaults check the compiled job.
@pytest.mark.parametrize("value, ran, is_default", [
    ("blue", ["case_blue", "case_blue_2"], False),
    ("green", ["fallback"], True),
])
def test_switch_matches_string_keys_or_runs_defaults(run_flow, value, ran, is_default):
    out = run_flow("conditional", "switch_flow.yaml", inputs={"value": value})
    assert out.state == "SUCCESS", dump(out)
    children = sorted(k for k in out.task_states if k != "route")
    assert children == sorted(ran)
    assert out.outputs["route"] == {"value": value, "defaults": is_default}
    if value == "blue":
        assert out.outputs["case_blue_2"] == {"value": "after case blue"}
    if is_default:
        assert out.outputs["fallback"] == {"value": "default for green"}


def test_switch_case_failure_fails_the_flow(run_flow):
    out = run_flow("conditional", "switch_fail.yaml")
    assert out.state == "FAILED"
    assert out.task_states == {"failing_case": "FAILED", "route": "FAILED"}
    assert "failed inside a case" in out.log_text()


def test_switch_without_match_and_defaults_fails(run_flow):
    out = run_flow("conditional", "switch_no_match.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.task_states == {"route": "FAILED"}
    assert out.run("route").error == "Switch value 'purple' matches no case ('red') and there is no 'defaults'"
    assert "after" in out.steps("STEP_SKIPPED")


# ----------------------------------------------------------------------------- ForEach


def test_foreach_outputs_are_keyed_by_value(run_flow):
    out = run_flow("foreach", "foreach_list.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["child"] == {"a": {"value": "a-0"}, "b": {"value": "b-1"}, "c": {"value": "c-2"}}
    assert out.outputs["child2"]["b"] == {"value": "b-1!"}
    assert out.outputs["pick"] == {"value": "a-0|c-2|b-1!"}
    assert out.task_states["child"] == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    # concurrencyLimit defaults to 1: items run one after the other, in order.
    runs = out.runs("child")
    assert [r.values for r in runs] == [("a",), ("b",), ("c",)]
    assert all(ts(x.ended) <= ts(y.started) for x, y in zip(runs, runs[1:]))


def test_foreach_over_json_values(run_flow):
    out = run_flow("foreach", "foreach_json.yaml")
    assert out.state == "SUCCESS", dump(out)
    # taskrun.value is always a string; objects become compact JSON.
    assert out.outputs["child"] == {
        "1": {"value": "got 1"}, "two": {"value": "got two"},
        '{"k":"v"}': {"value": 'got {"k":"v"}'}, "true": {"value": "got true"},
    }
    assert out.outputs["child_s"] == {"x": {"value": "x"}, "y": {"value": "y"}}


def test_foreach_concurrency_limits(run_flow):
    out = run_flow("foreach", "foreach_concurrency.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert _max_overlap(out.runs("sleep1")) == 1
    assert _max_overlap(out.runs("sleep2")) == 2
    assert _max_overlap(out.runs("sleep0")) == 4
    assert _span(out.runs("sleep1")) >= 0.95
    assert _span(out.runs("sleep0")) < 0.9  # one after the other would take >= 1 s


def test_nested_foreach_sees_parent_and_parents(run_flow):
    out = run_flow("foreach", "foreach_nested.yaml")
    assert out.state == "SUCCESS", dump(out)
    # parent = the enclosing task run (the inner ForEach, which runs in outer item x/y);
    # the outer ForEach has no value and no outputs, so it is not in parents (Kestra's rule).
    assert out.outputs["leaf"] == {
        "x": {"1": {"value": "x/1/x/1/0"}, "2": {"value": "x/2/x/1/1"}},
        "y": {"1": {"value": "y/1/y/1/0"}, "2": {"value": "y/2/y/1/1"}},
    }
    assert out.outputs["pick"] == {"value": "y/2/y/1/1"}
    assert out.task_states["leaf"] == {"x": {"1": "SUCCESS", "2": "SUCCESS"}, "y": {"1": "SUCCESS", "2": "SUCCESS"}}
    # A direct child of a top-level ForEach has no parent; inside a Sequential the parent is
    # the Sequential's run, which carries the item (Kestra's each-parallel-nested.yaml).
    assert out.outputs["direct"] == {"p": {"value": "no parent"}, "q": {"value": "no parent"}}
    assert out.outputs["in_block"] == {"p": {"value": "p:p"}, "q": {"value": "q:q"}}


def test_sequential_foreach_stops_at_the_failing_item(run_flow):
    out = run_flow("foreach", "foreach_fail.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.task_states["maybe_fail"] == {"ok": "SUCCESS", "bad": "FAILED"}
    assert out.run("maybe_fail", "bad").error == "item bad failed"
    assert out.task_states["each"] == "FAILED"


def test_foreach_over_nothing_succeeds(run_flow):
    out = run_flow("foreach", "foreach_empty.yaml")
    assert out.state == "SUCCESS"
    assert out.task_states == {"each": "SUCCESS", "after": "SUCCESS"}


# ----------------------------------------------------------------------------- Dag


def test_dag_runs_tasks_after_their_dependencies(run_flow):
    out = run_flow("dag", "dag.yaml")
    assert out.state == "SUCCESS", dump(out)
    a, b, c, d = (out.run(t) for t in "abcd")
    assert ts(a.ended) <= ts(b.started) and ts(a.ended) <= ts(c.started)
    assert ts(d.started) >= max(ts(b.ended), ts(c.ended))
    assert _max_overlap([b, c]) == 2  # independent tasks run side by side
    assert out.outputs["d"] == {"value": "d after a"}


def test_dag_failure_stops_dependents(run_flow):
    out = run_flow("dag", "dag_fail.yaml")
    assert out.state == "FAILED"
    assert out.task_states == {"a": "FAILED", "graph": "FAILED"}


# ----------------------------------------------------------------------------- allowFailure


def test_allow_failure_block_ends_warning_and_the_flow_continues(run_flow):
    out = run_flow("allow_failure", "allow_failure_block.yaml")
    assert out.state == "WARNING", dump(out)
    assert out.success  # WARNING is not a Dagster failure
    assert out.task_states == {"breaks": "FAILED", "tolerant": "WARNING", "continues": "SUCCESS"}
    assert out.steps("STEP_FAILURE") == []


def test_allow_failure_and_allow_warning_flags(run_flow):
    out = run_flow("allow_failure", "allow_flags.yaml")
    assert out.state == "WARNING", dump(out)
    assert out.task_states == {"allowed": "WARNING", "allowed_and_warning_ok": "SUCCESS", "continues": "SUCCESS"}
    assert "failure allowed (allowFailure)" in out.log_text()


def test_allow_warning_turns_an_allowed_failure_into_success(run_flow):
    out = run_flow("allow_failure", "allow_warning_only.yaml")
    assert out.state == "SUCCESS"
    assert out.task_states == {"allowed_and_warning_ok": "SUCCESS", "continues": "SUCCESS"}


def test_foreach_with_a_null_value_fails_before_running_items(run_flow):
    out = run_flow("foreach", "foreach_null.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.task_states == {"each": "FAILED"}
    assert out.run("each").error == "Found '1' null values on Each, with values=[1, null, \"x\"]"
