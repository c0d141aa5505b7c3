"""A token a task outputs as a secret (``ctx.secret_output``) stays usable in later tasks but is
masked in every log line, output preview and flow output of the run, in every op."""

from __future__ import annotations

from token_peers import TokenEndpoint, service_account_key

from .conftest import execute, flow_path


def test_secret_output_is_usable_but_masked_in_every_op(monkeypatch):
    with TokenEndpoint() as endpoint:
        key_json, key = service_account_key(f"{endpoint.url}/token")
        endpoint.accounts["builder@kd-test.iam.gserviceaccount.com"] = key.public_key()
        monkeypatch.setenv("KESTRA_SECRET_GCP_SERVICE_ACCOUNT", key_json)
        outcome = execute(flow_path("secret_outputs", "gcp_token.yaml"))
    assert outcome.state == "SUCCESS", outcome.log_text()
    token = endpoint.token
    # usable: later tasks rendered the real value
    assert outcome.execution.outputs["echo"]["value"] == token
    # never shown: logs, op metadata (outputs previews), flow outputs, the printed summary
    assert token not in outcome.raw_log
    assert "token is ******" in outcome.log_text()
    assert outcome.outputs["echo"]["value"] == "******"
    assert outcome.outputs["token"]["accessToken"]["tokenValue"] == "******"
    assert outcome.flow_outputs["leaked"] == "******"
    assert "PRIVATE KEY" not in outcome.raw_log
