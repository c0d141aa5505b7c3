"""Attack: a flow reads infrastructure credentials through ``{{ envs }}`` or its process environment.

The server exports its own settings (PostgreSQL password, S3 secret key, reviewers' passwords,
the inline configuration) to every process under Kestra's ``KESTRA_`` prefix. Each test fails if
kestra_dagster.engine.envs stopped excluding them.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from kestra_dagster.config import parse_config
from kestra_dagster.engine.envs import PREFIX_ENV, is_own_setting, kestra_envs

from runtime.conftest import execute

pytestmark = pytest.mark.timeout(180)

PACKAGE = Path(__file__).resolve().parents[2] / "kestra_dagster"
CANARY = "canary-credential-0451"


def _names_in_sources() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        names.update(re.findall(r"\bKESTRA_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return names


def _server_env() -> dict[str, str]:
    config = parse_config(yaml.safe_load(textwrap.dedent(f"""
        datasources:
          postgres: {{url: "jdbc:postgresql://127.0.0.1:5432/kestra", username: kestra, password: "{CANARY}-pg"}}
        kestra:
          repository: {{type: postgres}}
          queue: {{type: postgres}}
          storage:
            type: s3
            s3: {{bucket: b, region: us-east-1, access-key: "{CANARY}-ak", secret-key: "{CANARY}-sk"}}
          approvals:
            users: [{{username: alice, password: "{CANARY}-alice"}}]
    """)))
    return config.process_env()


def test_every_setting_named_in_our_sources_is_excluded():
    names = _names_in_sources()
    assert "KESTRA_DAGSTER_PG_PASSWORD" in names and len(names) > 20
    missing = sorted(n for n in names if not is_own_setting(n))
    assert not missing, f"settings visible to flows through envs (add them to engine/envs.py): {missing}"


def test_server_exported_credentials_never_reach_envs(monkeypatch):
    env = _server_env()
    assert any(CANARY in v for v in env.values())  # the server really exports them under KESTRA_
    for name in _names_in_sources() - {PREFIX_ENV}:
        env.setdefault(name, f"{CANARY}-{name}")
    env["KESTRA_SECRET_TOKEN"] = f"{CANARY}-secret"
    env["KESTRA_CONFIGURATION"] = f"datasources: {{postgres: {{password: {CANARY}-inline}}}}"
    env["KESTRA_MY_APP_SETTING"] = "visible"
    envs = kestra_envs(env)
    assert envs == {"my_app_setting": "visible"}, envs


def test_prefix_is_configurable_like_kestra(monkeypatch):
    config = parse_config({"kestra": {"variables": {"env-vars-prefix": "MYCO_"}}})
    env = {**config.process_env(), "MYCO_REGION": "eu", "KESTRA_REGION": "us"}
    assert env[PREFIX_ENV] == "MYCO_"
    assert kestra_envs(env) == {"region": "eu"}


def test_a_running_flow_sees_no_credentials_in_envs_or_its_process(tmp_path, monkeypatch):
    for name, value in _server_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KESTRA_SECRET_TOKEN", f"{CANARY}-secret")
    monkeypatch.setenv("KESTRA_CONFIGURATION", f"kestra: {{url: http://x/{CANARY}}}")
    monkeypatch.setenv("KESTRA_FLOW_VISIBLE", "yes")
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    monkeypatch.delenv("KESTRA_STORAGE_TYPE", raising=False)  # keep files local for this run
    flow = tmp_path / "envs.yaml"
    flow.write_text(textwrap.dedent("""
        id: envs
        namespace: company.team
        tasks:
          - id: all
            type: io.kestra.plugin.core.debug.Return
            format: "{{ envs }}"
          - id: shell
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner: {type: io.kestra.plugin.core.runner.Process}
            commands: [env]
    """))
    out = execute(flow)
    assert out.state == "SUCCESS", out.log_text()
    assert out.outputs["all"]["value"] == '{"flow_visible":"yes"}' or "flow_visible" in out.outputs["all"]["value"]
    assert CANARY not in out.outputs["all"]["value"]
    assert CANARY not in out.raw_log, "a credential reached a task's process environment"
    assert "KESTRA_FLOW_VISIBLE=yes" in out.raw_log
