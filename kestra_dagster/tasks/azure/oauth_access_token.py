"""``io.kestra.plugin.azure.auth.OauthAccessToken``: a Microsoft Entra ID token (client credentials).

The OAuth 2.0 client-credentials grant against ``{authority}/{tenantId}/oauth2/v2.0/token``,
authenticated by ``clientSecret`` or, as Azure's ``ClientCertificateCredential`` does, by
``pemCertificate`` (PEM private key + certificate): an RS256 client assertion with the
certificate's ``x5t`` thumbprint. The authority is ``$AZURE_AUTHORITY_HOST`` (the Azure SDKs'
variable, e.g. a sovereign cloud or a local endpoint), else ``https://login.microsoftonline.com``.
Output ``accessToken{scopes, tokenValue, expirationTime}``; ``tokenValue`` is a secret output.
Managed identity / ``DefaultAzureCredential`` (no secret, no certificate) is not supported.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks._oauth import b64url, load_private_key, now, request_token, signed_jwt, token_output
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.values import as_list

MANAGEMENT_SCOPE = "https://management.azure.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 600
WHAT = "azure.auth.OauthAccessToken"


class OauthAccessToken(RunnableTask):
    """Fetch an Azure OAuth access token for a service principal (client secret or certificate)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.azure.auth.OauthAccessToken"
    # Kestra's own example spells the package ``oauth``.
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.azure.oauth.OauthAccessToken",)
    kestra_family: ClassVar[str] = "azure"
    compute_kind: ClassVar[str | None] = "azure"

    tenantId: str
    clientId: str | None = None
    clientSecret: str | None = None
    pemCertificate: str | None = None
    scopes: list[str] | str = [MANAGEMENT_SCOPE]

    def run(self, ctx) -> dict[str, Any]:
        tenant = (ctx.render_str(self.tenantId, "tenantId") or "").strip()
        client_id = (ctx.render_str(self.clientId, "clientId") or "").strip()
        secret = ctx.render_str(self.clientSecret, "clientSecret") or ""
        pem = ctx.render_str(self.pemCertificate, "pemCertificate") or ""
        for value in (secret, pem):
            if value:
                ctx.secret_values.add(value)
        if not tenant:
            raise TaskFailed("property 'tenantId' is empty: give the Entra ID tenant (directory) id")
        if not client_id:
            raise TaskFailed("property 'clientId' is required: the application (client) id of the service principal")
        scopes = [str(s) for s in as_list(ctx.render(self.scopes, "scopes"), "scopes") if str(s).strip()]
        if not scopes:
            raise TaskFailed("property 'scopes' needs at least one scope (e.g. https://management.azure.com/.default)")
        authority = os.environ.get("AZURE_AUTHORITY_HOST", "").strip() or DEFAULT_AUTHORITY
        url = f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "client_id": client_id, "scope": " ".join(scopes)}
        if secret:
            method = "client secret"
            form["client_secret"] = secret
        elif pem:
            method = "client certificate"
            form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            form["client_assertion"] = self._assertion(ctx, pem, client_id, url)
        else:
            raise TaskFailed("no credentials: set clientSecret or pemCertificate (managed identity and "
                             "DefaultAzureCredential are not supported)")
        ctx.logger.info(f"requesting an access token for client {client_id} from {url} ({method})")
        body = request_token(ctx, url, form, WHAT)
        ctx.logger.info(f"access token for client {client_id} received")
        return token_output(ctx, body, scopes)

    @staticmethod
    def _assertion(ctx, pem: str, client_id: str, url: str) -> str:
        """The signed client assertion of Azure's certificate credentials."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise TaskFailed("pemCertificate has no PEM certificate: it must hold the private key and the "
                             "certificate (-----BEGIN CERTIFICATE-----)") from None
        key = load_private_key(pem, "pemCertificate's private key")
        thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()  # noqa: S324 - x5t is SHA-1
        issued = now()
        claims = {"aud": url, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
                  "nbf": issued, "iat": issued, "exp": issued + ASSERTION_LIFETIME}
        assertion = signed_jwt(key, claims, {"x5t": b64url(thumbprint)})
        ctx.secret_values.add(assertion)
        return assertion
