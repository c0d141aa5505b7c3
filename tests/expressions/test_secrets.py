"""secret(): Kestra's base64 SECRET_ variables, plain KESTRA_SECRET_, and a secrets directory."""

from __future__ import annotations

import base64

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import SecretResolver, render


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_lookup_order(tmp_path):
    (tmp_path / "A").write_text("from-dir\n")
    (tmp_path / "B").write_text("b-from-dir\n")
    (tmp_path / "C").write_text("c-from-dir\n")
    env = {"SECRET_A": b64("from-secret"), "KESTRA_SECRET_A": "plain-a", "KESTRA_SECRET_B": "plain-b"}
    resolver = SecretResolver(env=env, secrets_dir=str(tmp_path))
    assert [resolver.get(n) for n in "ABC"] == ["from-secret", "plain-b", "c-from-dir"]


def test_names_are_case_insensitive_and_normalised():
    resolver = SecretResolver(env={"SECRET_MY_KEY": b64("v")})
    assert resolver.get("my_key") == "v"
    assert resolver.get("my-key") == "v"


def test_secrets_dir_from_environment(tmp_path):
    (tmp_path / "token").write_text("t0k3n\n\n")
    resolver = SecretResolver(env={"KESTRA_SECRETS_DIR": str(tmp_path)})
    assert resolver.get("token") == "t0k3n\n"  # only one trailing newline is stripped


def test_missing_secret_message():
    with pytest.raises(ExpressionError) as info:
        SecretResolver(env={}).get("API_KEY")
    assert str(info.value) == "secret 'API_KEY' is not defined; set SECRET_API_KEY (base64) or KESTRA_SECRET_API_KEY"


def test_invalid_base64_never_shows_the_value():
    with pytest.raises(ExpressionError) as info:
        SecretResolver(env={"SECRET_X": "not base64 at all!!"}).get("X")
    assert "not valid base64" in str(info.value) and "at all" not in str(info.value)


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", ".hidden", "x" * 300, 5])
def test_invalid_names_are_refused(tmp_path, name):
    with pytest.raises(ExpressionError, match="invalid secret name"):
        SecretResolver(env={}, secrets_dir=str(tmp_path)).get(name)


def test_revealed_values_are_recorded_for_masking():
    resolver = SecretResolver(env={"SECRET_API": b64("s3cr3t"), "KESTRA_SECRET_JSON": '{"user": "u", "pass": "p4ss"}'})
    ctx = {"__secrets__": resolver}
    assert render("{{ secret('API') }} {{ secret('JSON', subkey='pass') }}", ctx) == "s3cr3t p4ss"
    assert {"s3cr3t", "p4ss", '{"user": "u", "pass": "p4ss"}'} <= resolver.revealed


def test_secret_values_are_masked_in_error_messages():
    resolver = SecretResolver(env={"KESTRA_SECRET_TOKEN": "hunter2-token"})
    with pytest.raises(ExpressionError) as info:
        render("{{ secret('TOKEN') | number }}", {"__secrets__": resolver})
    assert "hunter2-token" not in str(info.value)
    assert "******" in str(info.value)


def test_default_resolver_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("SECRET_FROM_ENV", b64("env-value"))
    assert render("{{ secret('FROM_ENV') }}", {}) == "env-value"


def test_secret_function_errors():
    ctx = {"__secrets__": SecretResolver(env={"KESTRA_SECRET_S": "plain"})}
    with pytest.raises(ExpressionError, match="expects the secret name as a string"):
        render("{{ secret(1) }}", ctx)
    with pytest.raises(ExpressionError, match="not a JSON object, so it has no subkey 'k'"):
        render("{{ secret('S', subkey='k') }}", ctx)


def test_a_plain_mapping_can_serve_as_the_secret_backend():
    ctx = {"__secrets__": {"A": "1"}}
    assert render("{{ secret('A') }}", ctx) == "1"
    with pytest.raises(ExpressionError, match="secret 'B' is not defined"):
        render("{{ secret('B') }}", ctx)
