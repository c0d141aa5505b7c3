"""The names users and plugin authors import from ``kestra_dagster`` itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kestra_dagster

FLOW = """\
id: api_check
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.debug.Return
    format: "hi"
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
"""


def test_every_public_name_resolves():
    for name in kestra_dagster.__all__:
        assert getattr(kestra_dagster, name) is not None, name
    assert set(kestra_dagster.__all__) <= set(dir(kestra_dagster))
    with pytest.raises(AttributeError):
        kestra_dagster.not_a_name  # noqa: B018


def test_importing_the_package_does_not_import_dagster():
    code = "import sys, kestra_dagster, kestra_dagster.sdk; print('dagster' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_sdk_names_resolve():
    from kestra_dagster import sdk

    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    assert sdk.run_process is kestra_dagster.sdk.process.run_process


def test_load_flows_builds_jobs_and_schedules(tmp_path: Path):
    (tmp_path / "api_check.yaml").write_text(FLOW)
    defs = kestra_dagster.load_flows(tmp_path)
    assert defs.resolve_job_def("company_team__api_check").name == "company_team__api_check"
    assert [s.name for s in defs.schedules] == ["company_team__api_check__nightly"]


def test_a_missing_trigger_dependency_fails_loudly_instead_of_dropping_schedules(tmp_path: Path, monkeypatch):
    (tmp_path / "api_check.yaml").write_text(FLOW)
    monkeypatch.setitem(sys.modules, "kestra_dagster.compiler.triggers", None)  # import now raises ImportError
    with pytest.raises(ImportError):
        kestra_dagster.build_definitions([tmp_path])


def test_a_trigger_translator_subclass_changes_one_kind(tmp_path: Path):
    from dagster import ScheduleDefinition

    class EveryHour(kestra_dagster.TriggerTranslator):
        def schedule(self, compiled, trigger, catalog):
            return [ScheduleDefinition(name=f"hourly_{compiled.job.name}", cron_schedule="0 * * * *", job=compiled.job)]

    (tmp_path / "api_check.yaml").write_text(FLOW)
    defs = kestra_dagster.build_definitions([tmp_path], trigger_translator=EveryHour())
    assert [(s.name, s.cron_schedule) for s in defs.schedules] == [("hourly_company_team__api_check", "0 * * * *")]
