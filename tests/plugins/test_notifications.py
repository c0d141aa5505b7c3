"""Incoming-webhook notifications against a real HTTP receiver on loopback; MailSend against aiosmtpd."""

from __future__ import annotations

import json

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.notifications import _webhook
from kestra_dagster.tasks.notifications.discord import DiscordExecution, DiscordIncomingWebhook
from kestra_dagster.tasks.notifications.google_chat import GoogleChatExecution, GoogleChatIncomingWebhook
from kestra_dagster.tasks.notifications.mail import MailExecution, MailSend
from kestra_dagster.tasks.notifications.slack import SlackExecution, SlackIncomingWebhook
from kestra_dagster.tasks.notifications.teams import TeamsExecution, TeamsIncomingWebhook

TOKEN_PATH = "/services/T000/B000/XXXXsecretTOKENxxxx"
INCOMING = [SlackIncomingWebhook, DiscordIncomingWebhook, TeamsIncomingWebhook, GoogleChatIncomingWebhook]
EXECUTIONS = [SlackExecution, DiscordExecution, TeamsExecution, GoogleChatExecution]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(_webhook, "BASE_DELAY", 0.05)


def secret_ctx(make_ctx, url: str, **kw):
    """A context where the URL came from secret('SLACK_WEBHOOK') (so the engine knows it as a secret)."""
    variables = {"secrets": {"hook": url}, **kw.pop("variables", {})}
    return make_ctx(variables=variables, secret_values={url}, **kw)


def assert_no_secret(text: str) -> None:
    assert "XXXXsecretTOKENxxxx" not in text
    assert TOKEN_PATH not in text


def make(cls, **props):
    return cls.model_validate({"id": "notify", "type": cls.kestra_type, **props})


@pytest.mark.parametrize("cls", INCOMING, ids=lambda c: c.__name__)
def test_incoming_webhook_posts_rendered_payload(cls, make_ctx, receiver):
    url = receiver.url + TOKEN_PATH
    ctx = secret_ctx(make_ctx, url)
    task = make(cls, url="{{ secrets.hook }}", payload='{"text": "flow {{ flow.id }} in {{ flow.namespace }}"}')
    assert task.run(ctx) == {}
    [req] = receiver.requests
    assert req.method == "POST" and req.path == TOKEN_PATH
    assert req.headers["Content-Type"] == "application/json"
    assert req.json() == {"text": "flow flow in company.team"}
    assert_no_secret(ctx.logger.text())


def test_payload_written_as_yaml_map_is_sent_as_json(make_ctx, receiver):
    task = make(SlackIncomingWebhook, url=receiver.url + "/hook", payload={"text": "hi {{ flow.id }}", "n": 1})
    task.run(make_ctx())
    assert receiver.requests[0].json() == {"text": "hi flow", "n": 1}


def test_retries_429_after_retry_after(make_ctx, receiver):
    receiver.answer((429, {"Retry-After": "1"}, "rate_limited"), (503, {"Retry-After": "0"}, "busy"))
    ctx = secret_ctx(make_ctx, receiver.url + TOKEN_PATH)
    make(SlackIncomingWebhook, url="{{ secrets.hook }}", payload='{"text": "x"}').run(ctx)
    assert len(receiver.requests) == 3
    first, second, third = receiver.requests
    assert second.at - first.at >= 0.95  # Retry-After: 1 honoured
    assert third.at - second.at < 0.9  # Retry-After: 0 is not the exponential back-off
    log = ctx.logger.text()
    assert "429" in log and "retrying" in log
    assert_no_secret(log)


def test_5xx_without_retry_after_backs_off_then_gives_up(make_ctx, receiver):
    receiver.answer(*[(500, {}, f"boom {receiver.url}{TOKEN_PATH}")] * _webhook.MAX_ATTEMPTS)
    ctx = secret_ctx(make_ctx, receiver.url + TOKEN_PATH)
    with pytest.raises(TaskFailed) as err:
        make(DiscordIncomingWebhook, url="{{ secrets.hook }}", payload='{"content": "x"}').run(ctx)
    assert len(receiver.requests) == _webhook.MAX_ATTEMPTS
    message = str(err.value)
    assert f"failed after {_webhook.MAX_ATTEMPTS} attempts" in message and "500" in message
    assert "Discord webhook http://127.0.0.1" in message
    assert_no_secret(message)
    assert_no_secret(ctx.logger.text())


def test_4xx_fails_at_once_without_the_url(make_ctx, receiver):
    receiver.answer((404, {}, "no_service"))
    ctx = secret_ctx(make_ctx, receiver.url + TOKEN_PATH)
    with pytest.raises(TaskFailed, match=r"Slack webhook http://127\.0\.0\.1:\d+/… answered 404 Not Found: no_service") as err:
        make(SlackIncomingWebhook, url="{{ secrets.hook }}", payload='{"text": "x"}').run(ctx)
    assert len(receiver.requests) == 1
    assert_no_secret(str(err.value))


def test_too_long_retry_after_fails_clearly(make_ctx, receiver):
    receiver.answer((429, {"Retry-After": "3600"}, ""))
    with pytest.raises(TaskFailed, match="retry after 3600s, longer than"):
        make(TeamsIncomingWebhook, url=receiver.url + TOKEN_PATH, payload='{"text": "x"}').run(make_ctx())


def test_unreachable_host_is_a_clear_error_without_the_url(make_ctx, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setattr(_webhook, "MAX_ATTEMPTS", 2)
    url = f"http://127.0.0.1:{port}{TOKEN_PATH}"
    ctx = secret_ctx(make_ctx, url)
    with pytest.raises(TaskFailed, match="connection refused") as err:
        make(GoogleChatIncomingWebhook, url="{{ secrets.hook }}", payload='{"text": "x"}').run(ctx)
    assert_no_secret(str(err.value))
    assert_no_secret(ctx.logger.text())


def test_invalid_payload_and_url_are_reported(make_ctx, receiver):
    with pytest.raises(TaskFailed, match="not valid JSON"):
        make(SlackIncomingWebhook, url=receiver.url, payload="{text: nope").run(make_ctx())
    with pytest.raises(TaskFailed, match="absolute http") as err:
        make(SlackIncomingWebhook, url="hooks.slack.com" + TOKEN_PATH, payload="{}").run(make_ctx())
    assert_no_secret(str(err.value))
    assert receiver.requests == []


@pytest.mark.parametrize("cls", EXECUTIONS, ids=lambda c: c.__name__)
def test_execution_variants_describe_the_triggering_execution(cls, make_ctx, receiver, monkeypatch):
    monkeypatch.setenv("KESTRA_DAGSTER_UI_URL", "http://dagster.local:3000")
    trigger = {"executionId": "run-42", "namespace": "prod.sales", "flowId": "nightly", "state": "FAILED"}
    ctx = make_ctx(variables={"trigger": trigger})
    props = {"url": receiver.url + "/hook", "executionId": "{{ trigger.executionId }}",
             "customMessage": "please look", "customFields": {"env": "prod"}}
    make(cls, **props).run(ctx)
    body = receiver.requests[0].body.decode()
    for expected in ("prod.sales", "nightly", "run-42", "FAILED", "please look", "env", "http://dagster.local:3000/runs/run-42"):
        assert expected in body, (expected, body)
    json.loads(body)


def test_execution_variant_refuses_an_unknown_execution(make_ctx, receiver):
    with pytest.raises(TaskFailed, match="cannot find execution 'other'"):
        make(SlackExecution, url=receiver.url, executionId="other").run(make_ctx())


def test_slack_execution_adds_channel_and_icons(make_ctx, receiver):
    make(SlackExecution, url=receiver.url, channel="#alerts", username="kestra", iconEmoji=":x:").run(make_ctx())
    payload = receiver.requests[0].json()
    assert payload["channel"] == "#alerts" and payload["username"] == "kestra" and payload["icon_emoji"] == ":x:"
    assert "[company.team] flow ➛ RUNNING" in payload["text"]


# --------------------------------------------------------------------------- mail
def mail(**props):
    base = {"id": "mail", "type": MailSend.kestra_type, "transportStrategy": "SMTP"}
    return MailSend.model_validate({**base, **props})


def test_mail_send_through_smtp_with_login_and_attachment(make_ctx, smtp_server):
    ctx = make_ctx(variables={"pw": "s3cret-pass"}, secret_values={"s3cret-pass"})
    uri = ctx.storage.put_bytes(b"a,b\n1,2\n", "report.csv")
    task = mail(host="127.0.0.1", port=smtp_server.port, username="mailer", password="{{ pw }}",
                **{"from": "kestra@example.com"}, to="ops@example.com; dev@example.com", cc="boss@example.com",
                subject="Flow {{ flow.id }} done", htmlTextContent="<b>{{ flow.namespace }}</b>",
                attachments=[{"name": "report.csv", "uri": uri, "contentType": "text/csv"}])
    assert task.run(ctx) == {}
    [(sender, rcpts, msg)] = smtp_server.messages
    assert sender == "kestra@example.com" and smtp_server.tls == [False]
    assert sorted(rcpts) == ["boss@example.com", "dev@example.com", "ops@example.com"]
    assert msg["Subject"] == "Flow flow done"
    assert msg.get_body(("html",)).get_content().strip() == "<b>company.team</b>"
    assert "modern email client" in msg.get_body(("plain",)).get_content()
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "report.csv" and att.get_content() == "a,b\n1,2\n"
    assert "s3cret-pass" not in ctx.logger.text()


def test_mail_attachments_as_json_string(make_ctx, smtp_server):
    ctx = make_ctx()
    uri = ctx.storage.put_bytes(b"x", "x.bin")
    task = mail(host="127.0.0.1", port=smtp_server.port, username="mailer", password="s3cret-pass",
                **{"from": "a@example.com"}, to="b@example.com", plainTextContent="hello",
                attachments=json.dumps([{"name": "x.bin", "uri": uri}]))
    task.run(ctx)
    [(_, _, msg)] = smtp_server.messages
    assert msg.get_body(("plain",)).get_content().strip() == "hello"
    assert [a.get_filename() for a in msg.iter_attachments()] == ["x.bin"]


def test_mail_wrong_password_fails_without_the_password(make_ctx, smtp_server):
    ctx = make_ctx(secret_values={"wrong-password-123"})
    task = mail(host="127.0.0.1", port=smtp_server.port, username="mailer", password="wrong-password-123",
                **{"from": "a@example.com"}, to="b@example.com")
    with pytest.raises(TaskFailed, match=r"refused the login of user 'mailer': 535") as err:
        task.run(ctx)
    assert "wrong-password-123" not in str(err.value) and "wrong-password-123" not in ctx.logger.text()
    assert smtp_server.messages == []


def test_mail_unreachable_and_tls_mismatch(make_ctx, smtp_server):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(TaskFailed, match=rf"cannot connect to SMTP server 127\.0\.0\.1:{closed} \(SMTP\): connection refused"):
        mail(host="127.0.0.1", port=closed, **{"from": "a@example.com"}, to="b@example.com").run(make_ctx())
    # the default SMTPS (implicit TLS) against a plain server
    task = MailSend.model_validate({"id": "m", "type": MailSend.kestra_type, "host": "127.0.0.1", "port": smtp_server.port,
                                    "sessionTimeout": 3000, "from": "a@example.com", "to": "b@example.com",
                                    "username": "mailer", "password": "s3cret-pass"})
    with pytest.raises(TaskFailed, match=r"\(SMTPS\)") as err:
        task.run(make_ctx())
    assert "s3cret-pass" not in str(err.value)


def test_mail_execution_summarises_the_execution(make_ctx, smtp_server):
    ctx = make_ctx(variables={"trigger": {"executionId": "e9", "namespace": "prod", "flowId": "etl", "state": "WARNING"}})
    task = MailExecution.model_validate({"id": "m", "type": MailExecution.kestra_type, "transportStrategy": "SMTP",
                                         "host": "127.0.0.1", "port": smtp_server.port, "username": "mailer",
                                         "password": "s3cret-pass", "from": "a@example.com", "to": "b@example.com",
                                         "executionId": "{{ trigger.executionId }}"})
    task.run(ctx)
    [(_, _, msg)] = smtp_server.messages
    assert msg["Subject"] == "Kestra [prod] etl ➛ WARNING"
    assert "Execution: e9" in msg.get_body(("plain",)).get_content()


# --------------------------------------------------------------------------- mail over TLS
@pytest.fixture
def trust_test_ca(test_ca, monkeypatch):
    """The deployment trusts the test CA the standard way (SSL_CERT_FILE), as Kestra trusts the JVM's store."""
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_pem))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def tls_mail(server, strategy: str, password: str = "s3cret-pass", **props):
    return mail(host="127.0.0.1", port=server.port, transportStrategy=strategy, username="mailer", password=password,
                sessionTimeout=5000, **{"from": "kestra@example.com"}, to="ops@example.com", subject="over TLS", **props)


def test_mail_smtps_implicit_tls_with_login(make_ctx, smtps_server, trust_test_ca):
    ctx = make_ctx(secret_values={"s3cret-pass"})
    assert tls_mail(smtps_server, "SMTPS", plainTextContent="sealed").run(ctx) == {}
    [(sender, rcpts, msg)] = smtps_server.messages
    assert (sender, rcpts, msg["Subject"]) == ("kestra@example.com", ["ops@example.com"], "over TLS")
    assert smtps_server.tls == [True]
    assert "s3cret-pass" not in ctx.logger.text()


def test_mail_smtp_tls_upgrades_with_starttls_before_login(make_ctx, starttls_server, trust_test_ca):
    ctx = make_ctx()
    tls_mail(starttls_server, "SMTP_TLS").run(ctx)
    assert starttls_server.tls == [True] and ctx.logger.messages("WARNING") == []


def test_mail_smtp_upgrades_when_offered_without_checking_the_certificate(make_ctx, starttls_server, monkeypatch, tmp_path):
    """Kestra's SMTP strategy (simple-java-mail): STARTTLS when offered, certificate not validated."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))  # nothing trusted
    ctx = make_ctx()
    tls_mail(starttls_server, "SMTP").run(ctx)  # this server refuses AUTH in clear: the session was upgraded
    assert starttls_server.tls == [True]
    assert any("is not verified" in m for m in ctx.logger.messages("WARNING"))


@pytest.mark.parametrize("strategy", ["SMTPS", "SMTP_TLS"])
def test_mail_tls_wrong_password_fails_without_the_password(make_ctx, smtps_server, starttls_server, trust_test_ca, strategy):
    server = smtps_server if strategy == "SMTPS" else starttls_server
    ctx = make_ctx(secret_values={"wrong-tls-pass"})
    with pytest.raises(TaskFailed, match=rf"\({strategy}\) refused the login of user 'mailer': 535") as err:
        tls_mail(server, strategy, password="wrong-tls-pass").run(ctx)
    assert "wrong-tls-pass" not in str(err.value) and "wrong-tls-pass" not in ctx.logger.text()
    assert server.messages == []


@pytest.mark.parametrize("strategy", ["SMTPS", "SMTP_TLS"])
def test_mail_untrusted_certificate_is_refused_clearly(make_ctx, smtps_server, starttls_server, monkeypatch, tmp_path,
                                                       strategy):
    server = smtps_server if strategy == "SMTPS" else starttls_server
    empty = tmp_path / "empty-bundle.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))  # neither the system store nor the test CA knows this server
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with pytest.raises(TaskFailed, match=r"certificate is not trusted .*SSL_CERT_FILE") as err:
        tls_mail(server, strategy).run(make_ctx())
    assert "s3cret-pass" not in str(err.value)
    assert server.messages == []


def test_mail_smtp_tls_against_a_server_without_starttls(make_ctx, smtp_server):
    with pytest.raises(TaskFailed, match=r"\(SMTP_TLS\).*STARTTLS") as err:
        tls_mail(smtp_server, "SMTP_TLS").run(make_ctx())
    assert "s3cret-pass" not in str(err.value)


def test_mail_silent_server_times_out_after_session_timeout(make_ctx):
    """A server that accepts the connection but never speaks (no banner, no TLS handshake)."""
    import socket
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        for strategy in ("SMTPS", "SMTP"):
            task = mail(host="127.0.0.1", port=silent.getsockname()[1], transportStrategy=strategy, sessionTimeout=1000,
                        username="mailer", password="s3cret-pass", **{"from": "a@example.com"}, to="b@example.com")
            started = time.monotonic()
            with pytest.raises(TaskFailed, match=rf"\({strategy}\): no answer within sessionTimeout \(1s\)") as err:
                task.run(make_ctx())
            assert time.monotonic() - started < 5 and "s3cret-pass" not in str(err.value)
