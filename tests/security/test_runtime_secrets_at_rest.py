"""Attack: read secret values where runs are stored, not where they are shown.

* a Subflow input built from ``secret()`` would sit in clear in the child run's ``run_config``;
* a ``Labels`` value built from ``secret()`` would become a run tag in clear;
* a secret output (a token from a credential task) would be pickled in clear between ops and
  kept in clear in a gate's stored execution.

Each test fails if the control (engine/encryption.py sealing, the label check) were removed.
"""

from __future__ import annotations

import json
import pickle
import textwrap

import pytest
from dagster import DagsterInstance, RunsFilter

from kestra_dagster.engine.encryption import KEY_ENV, PREFIX
from kestra_dagster.engine.execution import ExecutionState

from runtime.conftest import execute

pytestmark = pytest.mark.timeout(240)

TOKEN = "tok-7f3a9c1e5b2d4086-secret"


@pytest.fixture(autouse=True)
def _secret_and_key(monkeypatch, tmp_path):
    monkeypatch.setenv("KESTRA_SECRET_API_TOKEN", TOKEN)
    monkeypatch.setenv(KEY_ENV, "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))


def test_subflow_secret_inputs_are_encrypted_in_the_child_run_config(tmp_path):
    (tmp_path / "child.yaml").write_text(textwrap.dedent("""
        id: child
        namespace: company.team
        inputs:
          - id: token
            type: STRING
        tasks:
          - id: say
            type: io.kestra.plugin.core.log.Log
            message: "child got {{ inputs.token }}"
          - id: size
            type: io.kestra.plugin.core.debug.Return
            format: "{{ inputs.token | length }}:{{ inputs.token == ('Bearer ' ~ secret('API_TOKEN')) }}"
        outputs:
          - id: size
            type: STRING
            value: "{{ outputs.size.value }}"
    """))
    (tmp_path / "parent.yaml").write_text(textwrap.dedent("""
        id: parent
        namespace: company.team
        tasks:
          - id: call
            type: io.kestra.plugin.core.flow.Subflow
            namespace: company.team
            flowId: child
            inputs:
              token: "Bearer {{ secret('API_TOKEN') }}"
    """))
    with DagsterInstance.ephemeral() as instance:
        out = execute(tmp_path, file=tmp_path / "parent.yaml", instance=instance)
        assert out.state == "SUCCESS", out.log_text()
        child = instance.get_run_records(filters=RunsFilter(job_name="company_team__child"))[0].dagster_run
        stored = json.dumps(child.run_config) + json.dumps(child.tags)
        assert TOKEN not in stored, "a secret input is stored in clear in the child's run_config"
        assert PREFIX in stored
        # the child masks what it received sealed, like any secret
        child_logs = "\n".join(e.user_message for e in instance.all_logs(child.run_id))
        assert "child got ******" in child_logs and TOKEN not in child_logs
    # the child still received the real value
    assert out.outputs["call"]["outputs"]["size"] == f"{len('Bearer ' + TOKEN)}:true"


def test_labels_carrying_a_secret_are_refused(tmp_path):
    flow = tmp_path / "labels.yaml"
    flow.write_text(textwrap.dedent("""
        id: labels
        namespace: company.team
        tasks:
          - id: tag
            type: io.kestra.plugin.core.execution.Labels
            labels:
              token: "{{ secret('API_TOKEN') }}"
    """))
    out = execute(flow)
    assert out.state == "FAILED"
    assert "label 'token' would store a secret value in clear" in out.log_text()
    assert TOKEN not in json.dumps(out.tags) and TOKEN not in out.raw_log


def _state_with_secret_output() -> ExecutionState:
    state = ExecutionState(execution_id="e1", namespace="company.team", flow_id="f")
    state.set_outputs("auth", (), {"accessToken": {"tokenValue": TOKEN}, "header": f"Bearer {TOKEN}"})
    state.flow_outputs = {"leaked": TOKEN}
    state.add_masked([TOKEN])
    return state


def test_secret_outputs_are_encrypted_when_the_execution_is_stored():
    state = _state_with_secret_output()
    pickled = pickle.dumps(state)  # what Dagster's IO manager writes between ops
    stored_json = json.dumps(state.to_json())  # what a gate keeps
    for blob in (pickled, stored_json.encode()):
        assert TOKEN.encode() not in blob, "a secret output is stored in clear"
        assert PREFIX.encode() in blob
    # in memory, and once loaded again, the values are usable
    assert state.outputs["auth"]["header"] == f"Bearer {TOKEN}"
    assert pickle.loads(pickled).outputs["auth"]["accessToken"]["tokenValue"] == TOKEN
    assert ExecutionState.from_json(json.loads(stored_json)).flow_outputs == {"leaked": TOKEN}
    assert pickle.loads(pickled).masked_values == [TOKEN]


def test_a_different_key_cannot_open_stored_secrets(monkeypatch):
    pickled = pickle.dumps(_state_with_secret_output())
    monkeypatch.setenv(KEY_ENV, "another-key-another-key-another-")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        pickle.loads(pickled)
