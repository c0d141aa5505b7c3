"""Attack: a template that renders for minutes (and ignores the task's timeout).

Each test fails if its control in kestra_dagster.expressions were removed: RE2 for regexes
(polynomial backtracking), the wall-clock budget checked in every loop and jq step, bounded list
arithmetic and BigDecimal exponents, and the task's timeout/stop reaching the render.
"""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from kestra_dagster.errors import ExpressionError, TaskKilled
from kestra_dagster.expressions import Limits, budget, render

from runtime.conftest import execute

pytestmark = pytest.mark.timeout(120)

LONG = {"s": "a" * 50_000 + "!"}


@pytest.mark.parametrize("template", [
    "{{ s.matches('.*.*.*.*=.*') }}",                     # polynomial: O(n^4) with backtracking
    "{{ s.matches('(a+)+$') }}",                          # exponential
    "{{ s | replace({'(a|aa)*b': 'x'}, true) | length }}",
    "{{ s | split('(a*)*b') | length }}",
    "{{ [s] | jq('.[0] | test(\"(a|a)*b\")') }}",
])
def test_backtracking_regexes_run_in_linear_time(template):
    started = time.monotonic()
    render(template, LONG)
    assert time.monotonic() - started < 2.0


def test_regex_features_re2_lacks_are_refused_clearly():
    with pytest.raises(ExpressionError, match="look-around"):
        render("{{ 'xaby'.matches('.*(?=b).*') }}", {})
    with pytest.raises(ExpressionError, match="back-references"):
        render("{{ 'aa'.matches('(a)\\\\1') }}", {})


def test_list_arithmetic_on_large_ranges_is_bounded():
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="too costly"):
        render("{{ range(0, 99999) - range(0, 99999) }}", {})
    assert time.monotonic() - started < 2.0


def test_huge_bigdecimal_is_refused():
    with pytest.raises(ExpressionError, match="out of range"):
        render("{{ '1E999999999' | number('BIGDECIMAL') | numberformat('#') }}", {})


@pytest.mark.parametrize("template", [
    # under jq's step budget (1M) but quadratic: minutes without the wall clock
    "{{ [1] | jq('reduce range(0; 300000) as $i (\"\"; . + \"xxxxxxxxxx\") | length') }}",
    "{{ [1] | jq('try (reduce range(0; 300000) as $i (\"\"; . + \"xxxxxxxxxx\") | length) catch 0') }}",  # try must not swallow it
    "{% for i in range(1, 99999) %}{{ s | replace({'a': 'b'}) | length }}{% endfor %}",
])
def test_wall_clock_budget_stops_every_loop(template):
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="longer than 1 s"):
        render(template, LONG, limits=Limits(max_seconds=1))
    assert time.monotonic() - started < 3.0


def test_a_stopped_task_stops_its_render():
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with budget.bounded(stop=stop), pytest.raises(TaskKilled):
        render("{% for i in range(1, 99999) %}{{ s | replace({'a': 'b'}) | length }}{% endfor %}", LONG)
    assert time.monotonic() - started < 3.0


def test_task_timeout_stops_rendering(tmp_path, monkeypatch):
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    flow = tmp_path / "slow_render.yaml"
    flow.write_text(textwrap.dedent("""
        id: slow_render
        namespace: company.team
        variables:
          s: "{{ range(1, 20000) | join(',') }}"
        tasks:
          - id: render
            type: io.kestra.plugin.core.debug.Return
            timeout: PT2S
            format: "{% for i in range(1, 99999) %}{{ render(vars.s) | replace({'1': '2'}) | length }}{% endfor %}"
    """))
    started = time.monotonic()
    out = execute(flow)
    elapsed = time.monotonic() - started
    assert out.state == "FAILED", out.log_text()
    assert "timed out" in out.log_text()
    assert elapsed < 60, elapsed  # generous: Dagster start-up on a loaded machine; the thread check below is the point
    # the render itself stopped (an abandoned thread rendering on would hold a CPU for minutes)
    deadline = time.monotonic() + 3
    while any(t.name == "kestra-render" and t.is_alive() for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(t.name == "kestra-render" and t.is_alive() for t in threading.enumerate())
