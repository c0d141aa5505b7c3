"""``io.kestra.plugin.gcp.auth.OauthAccessToken``: a short-lived OAuth token for a service account.

The real OAuth 2.0 JWT-bearer grant (RFC 7523), as Google's client libraries do it: an RS256 JWT
(``iss`` = the account's ``client_email``, ``scope``, ``aud`` = ``token_uri``, one hour) signed
with the key's ``private_key`` is posted to the key's ``token_uri``; so a key whose ``token_uri``
points at a local endpoint works too. ``serviceAccount`` is the JSON key itself (usually
``{{ secret('GCP_SERVICE_ACCOUNT') }}``); without it the file named by
``$GOOGLE_APPLICATION_CREDENTIALS`` is used. Output ``accessToken{scopes, tokenValue,
expirationTime}``; ``tokenValue`` is a secret output (masked everywhere), for use as
``credentials: {username: oauth2accesstoken, password: "{{ outputs.<id>.accessToken.tokenValue }}"}``.
``projectId`` is accepted (a token does not depend on it); ``impersonatedServiceAccount`` is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks._oauth import load_private_key, now, request_token, signed_jwt, token_output
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.values import as_list

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
ASSERTION_LIFETIME = 3600
WHAT = "gcp.auth.OauthAccessToken"


class OauthAccessToken(RunnableTask):
    """Fetch a GCP OAuth access token for a service account (JWT-bearer grant to its ``token_uri``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.gcp.auth.OauthAccessToken"
    kestra_family: ClassVar[str] = "gcp"
    compute_kind: ClassVar[str | None] = "gcp"

    projectId: str | None = None
    serviceAccount: str | None = None
    scopes: list[str] | str = [CLOUD_PLATFORM]
    impersonatedServiceAccount: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        if self.impersonatedServiceAccount:
            raise TaskFailed("impersonatedServiceAccount is not supported: give the service account's own "
                             "JSON key in serviceAccount")
        key = self._key(ctx)
        scopes = [str(s) for s in as_list(ctx.render(self.scopes, "scopes"), "scopes") if str(s).strip()]
        if not scopes:
            raise TaskFailed("property 'scopes' needs at least one OAuth scope")
        token_uri = key.get("token_uri") or GOOGLE_TOKEN_URI
        private_key = load_private_key(key["private_key"], "the service account's private_key")
        issued = now()
        claims = {"iss": key["client_email"], "scope": " ".join(scopes), "aud": token_uri,
                  "iat": issued, "exp": issued + ASSERTION_LIFETIME}
        headers = {"kid": key["private_key_id"]} if key.get("private_key_id") else {}
        assertion = signed_jwt(private_key, claims, headers)
        ctx.secret_values.add(assertion)
        ctx.logger.info(f"requesting an access token for {key['client_email']} from {token_uri}")
        body = request_token(ctx, token_uri, {"grant_type": JWT_BEARER, "assertion": assertion}, WHAT)
        ctx.logger.info(f"access token for {key['client_email']} received")
        return token_output(ctx, body, scopes)

    def _key(self, ctx) -> dict[str, Any]:
        """The service account's JSON key (rendered, registered for masking), checked."""
        if self.serviceAccount:
            text = ctx.render_str(self.serviceAccount, "serviceAccount")
            where = "property 'serviceAccount'"
        elif os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            path = Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"])
            where = f"$GOOGLE_APPLICATION_CREDENTIALS ({path})"
            try:
                text = path.read_text()
            except OSError as exc:
                raise TaskFailed(f"cannot read {where}: {exc.strerror}") from None
        else:
            raise TaskFailed("no credentials: set serviceAccount to the service account's JSON key "
                             "(e.g. \"{{ secret('GCP_SERVICE_ACCOUNT') }}\") or $GOOGLE_APPLICATION_CREDENTIALS")
        ctx.secret_values.add(text)
        try:
            key = json.loads(text)
        except ValueError as exc:
            raise TaskFailed(f"{where} is not valid JSON ({type(exc).__name__} at line {getattr(exc, 'lineno', '?')}): "
                             "expected the service account's JSON key") from None
        if not isinstance(key, dict):
            raise TaskFailed(f"{where} must be a JSON object (the service account's JSON key)")
        if key.get("type", "service_account") != "service_account":
            raise TaskFailed(f"{where} is a {key.get('type')!r} credential; only service_account keys are supported")
        missing = [f for f in ("client_email", "private_key") if not key.get(f)]
        if missing:
            raise TaskFailed(f"{where} lacks {', '.join(missing)}: expected the service account's JSON key")
        ctx.secret_values.add(str(key["private_key"]))
        return key
