"""``io.kestra.plugin.email.MailSend`` and ``MailExecution`` (earlier ``io.kestra.plugin.notifications.mail.*``): email through SMTP.

Kestra's properties and defaults: ``host``, ``port``, ``username``, ``password``,
``transportStrategy`` SMTPS (implicit TLS, port 465) | SMTP_TLS (STARTTLS, 587) | SMTP (plain,
25; STARTTLS when the server offers it), ``sessionTimeout`` in ms
(10000), ``from``, ``to`` and ``cc`` (several addresses separated by ``;`` or ``,``),
``subject``, ``htmlTextContent``, ``plainTextContent`` (default "Please view this email in a
modern email client"), ``attachments`` and ``embeddedImages`` (lists of ``{name, uri,
contentType}`` with ``kestra://`` URIs, or the same list as a JSON string).

SMTPS and SMTP_TLS verify the server's certificate and host name, as Kestra does against the
JVM's trust store: here the system's CA bundle, or the bundle named by the standard
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` variables of the process, which is how a deployment trusts
an internal or self-signed CA. There is no per-task "trust everything". Under SMTP, as Kestra's
mail library documents for that strategy, STARTTLS is used when offered but the certificate is
not checked (protection against eavesdroppers only); the task logs a warning saying so.

Failures (refused login, unreachable server, refused recipient, TLS problems) fail the task
with a message naming host, port and user, never the password.
"""

from __future__ import annotations

import html
import json
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from typing import Any, ClassVar, Literal

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.notifications._execution import ExecutionNotification, facts, headline, outcome

DEFAULT_PLAIN_TEXT = "Please view this email in a modern email client"
DEFAULT_PORTS = {"SMTP": 25, "SMTPS": 465, "SMTP_TLS": 587, "SMTP_OAUTH2": 587}
_OLD = "org.kestra.task.notifications.mail."
#: Kestra 1.x: plugin-email (``io.kestra.plugin.email``); the plugin-notifications names are its aliases.
_V0 = "io.kestra.plugin.notifications.mail."


class Attachment(KestraModel):
    uri: str
    name: str
    contentType: str = "application/octet-stream"


def _addresses(value: str | None, prop: str) -> list[str]:
    if not value:
        return []
    found = [addr for _, addr in getaddresses([value.replace(";", ",")]) if addr]
    for addr in found:
        if "@" not in addr:
            raise TaskFailed(f"property '{prop}': {addr!r} is not an email address")
    return found


class MailSend(RunnableTask):
    """Send an email (HTML and/or plain text, attachments) through an SMTP server."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.email.MailSend"
    kestra_aliases: ClassVar[tuple[str, ...]] = (_V0 + "MailSend", _OLD + "MailSend")
    kestra_family: ClassVar[str] = "notifications"
    compute_kind: ClassVar[str | None] = "email"

    host: str
    port: int | str | None = None
    username: str | None = None
    password: str | None = None
    transportStrategy: Literal["SMTP", "SMTPS", "SMTP_TLS", "SMTP_OAUTH2"] | str = "SMTPS"
    sessionTimeout: int | str = 10000
    from_: str = Field(alias="from")
    to: str | list[str]
    cc: str | list[str] | None = None
    subject: str | None = None
    htmlTextContent: str | None = None
    plainTextContent: str | None = None
    attachments: list[Attachment] | str | None = None
    embeddedImages: list[Attachment] | str | None = None

    # ----------------------------------------------------------------- content
    def contents(self, ctx) -> tuple[str | None, str | None, str | None]:
        """(subject, html, plain) for this email; MailExecution overrides it."""
        subject = ctx.render_str(self.subject, prop="subject") if self.subject is not None else None
        html_body = ctx.render_str(self.htmlTextContent, prop="htmlTextContent") if self.htmlTextContent is not None else None
        plain = ctx.render_str(self.plainTextContent, prop="plainTextContent") if self.plainTextContent is not None else None
        return subject, html_body, plain

    def _recipients(self, ctx, value: Any, prop: str) -> list[str]:
        rendered = ctx.render(value, prop)
        if isinstance(rendered, list):
            rendered = ";".join(str(v) for v in rendered)
        return _addresses(str(rendered) if rendered is not None else None, prop)

    def _attachments(self, ctx, value: Any, prop: str) -> list[Attachment]:
        if value is None:
            return []
        rendered = ctx.render(value if isinstance(value, str) else [a.model_dump() for a in value], prop)
        if isinstance(rendered, str):
            if not rendered.strip():
                return []
            try:
                rendered = json.loads(rendered)
                if isinstance(rendered, str):  # Kestra accepts a JSON string holding the JSON list
                    rendered = json.loads(rendered)
            except ValueError as exc:
                raise TaskFailed(f"property '{prop}' must be a list of {{name, uri, contentType}} or its JSON: {exc}") from None
        if not isinstance(rendered, list):
            raise TaskFailed(f"property '{prop}' must be a list of {{name, uri, contentType}}")
        try:
            return [Attachment.model_validate(item) for item in rendered]
        except Exception as exc:  # noqa: BLE001 - pydantic's message names the missing field
            raise TaskFailed(f"property '{prop}': {exc}") from None

    def build_message(self, ctx) -> tuple[EmailMessage, list[str]]:
        sender = ctx.render_str(self.from_, prop="from")
        senders = _addresses(sender, "from")
        if len(senders) != 1:
            raise TaskFailed(f"property 'from' must be one email address, got {sender!r}")
        to = self._recipients(ctx, self.to, "to")
        cc = self._recipients(ctx, self.cc, "cc") if self.cc is not None else []
        if not to:
            raise TaskFailed("property 'to' names no recipient")
        subject, html_body, plain = self.contents(ctx)

        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        if subject is not None:
            msg["Subject"] = subject
        msg["Disposition-Notification-To"] = sender  # Kestra's withReturnReceiptTo()
        msg["Message-ID"] = make_msgid(domain=senders[0].rsplit("@", 1)[-1] or None)
        msg.set_content(plain if plain is not None else DEFAULT_PLAIN_TEXT)
        if html_body is not None:
            msg.add_alternative(html_body, subtype="html")
            html_part = msg.get_payload()[-1]
            for image in self._attachments(ctx, self.embeddedImages, "embeddedImages"):
                maintype, _, subtype = image.contentType.partition("/")
                html_part.add_related(self._read(ctx, image, "embeddedImages"), maintype=maintype or "image",
                                      subtype=subtype or "png", cid=f"<{image.name}>", filename=image.name,
                                      disposition="inline")
        for attachment in self._attachments(ctx, self.attachments, "attachments"):
            maintype, _, subtype = attachment.contentType.partition("/")
            msg.add_attachment(self._read(ctx, attachment, "attachments"), maintype=maintype or "application",
                               subtype=subtype or "octet-stream", filename=attachment.name)
        return msg, [*to, *cc]

    def _read(self, ctx, attachment: Attachment, prop: str) -> bytes:
        try:
            return ctx.storage.read_bytes(attachment.uri.strip())
        except Exception as exc:  # noqa: BLE001
            raise TaskFailed(f"{prop} {attachment.name!r}: cannot read {attachment.uri}: {exc}") from None

    # ----------------------------------------------------------------- send
    def run(self, ctx) -> dict[str, Any]:
        host = (ctx.render_str(self.host, prop="host") or "").strip()
        strategy = str(ctx.render_str(self.transportStrategy, prop="transportStrategy")).strip().upper()
        if strategy not in DEFAULT_PORTS:
            raise TaskFailed(f"property 'transportStrategy' must be one of {', '.join(DEFAULT_PORTS)}, got {strategy!r}")
        if strategy == "SMTP_OAUTH2":
            raise TaskFailed("transportStrategy SMTP_OAUTH2 is not supported; use SMTPS, SMTP_TLS or SMTP")
        port_text = ctx.render_str(self.port, prop="port") if self.port is not None else None
        try:
            port = int(port_text) if port_text not in (None, "") else DEFAULT_PORTS[strategy]
            timeout = int(ctx.render_str(self.sessionTimeout, prop="sessionTimeout")) / 1000.0
        except ValueError as exc:
            raise TaskFailed(f"port and sessionTimeout must be integers: {exc}") from None
        user = ctx.render_str(self.username, prop="username") if self.username is not None else None
        password = ctx.render_str(self.password, prop="password") if self.password is not None else None
        secrets = {s for s in (password,) if s}

        def mask(text: str) -> str:
            text = ctx.mask(text)
            for secret in secrets:
                if len(secret) >= 3:
                    text = text.replace(secret, "******")
            return text

        message, recipients = self.build_message(ctx)
        where = f"SMTP server {host}:{port} ({strategy})"
        ctx.logger.debug(mask(f"Sending an email to {', '.join(recipients)} through {where}"))
        try:
            self._send(ctx, host, port, strategy, timeout, user, password, message, recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise TaskFailed(mask(f"{where} refused the login of user {user!r}: {exc.smtp_code} {_text(exc.smtp_error)}")) from None
        except smtplib.SMTPNotSupportedError as exc:
            hint = ("; SMTP_TLS needs a server that offers STARTTLS (SMTPS for implicit TLS, SMTP for none)"
                    if "STARTTLS" in str(exc) else "")
            raise TaskFailed(mask(f"{where}: {exc}{hint}")) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(f"{addr}: {code} {_text(err)}" for addr, (code, err) in exc.recipients.items())
            raise TaskFailed(mask(f"{where} refused the recipients: {refused}")) from None
        except smtplib.SMTPSenderRefused as exc:
            raise TaskFailed(mask(f"{where} refused the sender {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}")) from None
        except smtplib.SMTPResponseException as exc:
            raise TaskFailed(mask(f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}")) from None
        except ssl.SSLCertVerificationError as exc:
            raise TaskFailed(mask(f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                                  "add its CA to the bundle named by SSL_CERT_FILE (or the system's CA store)")) from None
        except ssl.SSLError as exc:
            raise TaskFailed(mask(f"{where}: TLS failed ({exc.reason or exc}); check transportStrategy "
                                  "(SMTPS for port 465, SMTP_TLS for 587, SMTP for plain)")) from None
        except (socket.timeout, TimeoutError):
            raise TaskFailed(f"{where}: no answer within sessionTimeout ({timeout:g}s)") from None
        except smtplib.SMTPServerDisconnected as exc:
            if "timed out" in str(exc):  # smtplib's wording when the greeting never came
                raise TaskFailed(f"{where}: no answer within sessionTimeout ({timeout:g}s)") from None
            raise TaskFailed(mask(f"{where}: the server closed the connection ({exc})")) from None
        except ConnectionRefusedError:
            raise TaskFailed(f"cannot connect to {where}: connection refused") from None
        except socket.gaierror:
            raise TaskFailed(f"cannot connect to {where}: the host name cannot be resolved") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TaskFailed(mask(f"{where}: {type(exc).__name__}: {exc}")) from None
        ctx.logger.info(f"Email sent to {len(recipients)} recipient(s)")
        return {}

    @staticmethod
    def _send(ctx, host, port, strategy, timeout, user, password, message, recipients) -> None:
        context = ssl.create_default_context()
        if strategy == "SMTPS":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if strategy == "SMTP_TLS":
                client.starttls(context=context)
                client.ehlo()
            elif strategy == "SMTP" and client.has_extn("starttls"):
                # Kestra's SMTP strategy: opportunistic STARTTLS without certificate checks
                ctx.logger.warning(f"transportStrategy SMTP: the TLS certificate of {host}:{port} is not verified; "
                                   "use SMTP_TLS (or SMTPS) to verify it")
                unverified = ssl.create_default_context()
                unverified.check_hostname = False
                unverified.verify_mode = ssl.CERT_NONE
                client.starttls(context=unverified)
                client.ehlo()
            if user or password:
                client.login(user or "", password or "")
            client.send_message(message, to_addrs=recipients)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class MailExecution(MailSend, ExecutionNotification):
    """Send an email with an execution's namespace, flow, id, status and duration."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.email.MailExecution"
    kestra_aliases: ClassVar[tuple[str, ...]] = (_V0 + "MailExecution", _OLD + "MailExecution")


    def contents(self, ctx) -> tuple[str | None, str | None, str | None]:
        info = self.execution_info(ctx)
        subject = ctx.render_str(self.subject, prop="subject") if self.subject is not None else f"Kestra {headline(info)}"
        rows = facts(info)
        lines = [headline(info), outcome(info), ""] + [f"{k}: {v}" for k, v in rows]
        if info.get("customMessage"):
            lines += ["", info["customMessage"]]
        if info["link"]:
            lines += ["", info["link"]]
        table = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        title = html.escape(headline(info))
        if info["link"]:
            title = f"<a href='{html.escape(info['link'])}'>{title}</a>"
        body = (f"<p><strong>{title}</strong><br>{html.escape(outcome(info))}</p>"
                + (f"<p>{html.escape(info['customMessage'])}</p>" if info.get("customMessage") else "")
                + f"<table>{table}</table>")
        return subject, body, "\n".join(lines)
