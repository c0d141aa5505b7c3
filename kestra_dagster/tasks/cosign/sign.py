"""``io.kestra_dagster.plugin.cosign.Sign``: sign an image **digest** in cosign's on-registry format.

``image`` may be a tag: it is resolved to its digest first (logged) and the digest is signed, never
the mutable tag. ``key`` is cosign's encrypted private key PEM (or a PKCS#8 PEM), ``password``
its password; pass both with ``{{ secret('…') }}``. ``annotations`` go into the signed payload's
``optional`` map (``cosign sign -a k=v``). ``keyless: true`` (Sigstore OIDC: Fulcio + Rekor)
delegates to a ``cosign`` binary on PATH. Outputs: ``digest``, ``image`` (``repo@sha256:…``),
``signatureTag``, ``signatureManifestDigest``, ``signature`` (base64 DER), ``payload``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.oci.client import RegistryError, client_for, parse_reference
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.cosign._cosign import CosignError, load_private_key, public_pem, sign_image
from kestra_dagster.sdk.docker import ASSET_KEY, Credentials, asset_event, render_credentials, strip_scheme



def _read_key(ctx, value: str, prop: str) -> str:
    text = ctx.render_str(value, prop)
    if text.strip().lower().startswith("kestra://"):
        return ctx.storage.read_bytes(text.strip()).decode()
    return text


class Sign(RunnableTask):
    """Sign an image digest with a cosign key (tags are resolved to digests first)."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.cosign.Sign"
    kestra_family: ClassVar[str] = "cosign"
    compute_kind: ClassVar[str | None] = "cosign"

    image: str
    key: str | None = None
    password: str | None = None
    annotations: dict[str, Any] | None = None
    credentials: Credentials | None = None
    keyless: bool | str = False
    identityToken: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        image = strip_scheme(ctx.render_str(self.image, "image"))
        try:
            ref = parse_reference(image)
        except ValueError as exc:
            raise TaskFailed(f"property 'image': {exc}") from None
        creds = render_credentials(ctx, self.credentials)
        annotations = {str(k): str(v) for k, v in (ctx.render(self.annotations, "annotations") or {}).items()}
        try:
            with client_for(ref.registry, creds or None, cancel_event=ctx.cancel_event, log=ctx.logger.debug) as rc:
                digest = rc.resolve(ref.repository, ref.reference)
                if ref.digest is None:
                    ctx.logger.info(f"resolved {ref} to digest {digest}; signing the digest, not the tag")
                if ctx.render_bool(self.keyless, "keyless"):
                    return self._keyless(ctx, ref, digest, annotations)
                if not self.key:
                    raise TaskFailed("property 'key' is required (or keyless: true)")
                pem = _read_key(ctx, self.key, "key")
                password = ctx.render_str(self.password, "password") if self.password is not None else None
                if password:
                    ctx.secret_values.add(password)
                try:
                    private_key = load_private_key(pem, password)
                except CosignError as exc:
                    raise TaskFailed(f"cannot load the signing key: {exc}") from None
                result = sign_image(rc, ref.repository, digest, ref.name, private_key, annotations or None)
        except RegistryError as exc:
            raise TaskFailed(ctx.mask(f"signing {ref} failed: {exc}")) from None
        ctx.logger.info(f"signed {ref.name}@{digest}: signature {ref.name}:{result['signatureTag']} "
                        f"(manifest {result['signatureManifestDigest']}, {result['layers']} signature(s))")
        outputs = {"digest": digest, "image": f"{ref.name}@{digest}", **result,
                   "publicKey": public_pem(private_key)}
        outputs[ASSET_KEY] = [asset_event(ctx, f"{ref.name}@{digest}", digest, kind="sign", extra={
            "signature": f"{ref.name}:{result['signatureTag']}",
            "signatureManifestDigest": result["signatureManifestDigest"]})]
        return outputs

    def _keyless(self, ctx, ref, digest: str, annotations: dict) -> dict:
        cosign = shutil.which("cosign")
        if not cosign:
            raise TaskFailed("keyless signing (Sigstore OIDC: Fulcio + Rekor) needs the cosign binary on PATH, "
                             "which is not installed; use key-based signing (key + password) instead")
        args = [cosign, "sign", "--yes", f"{ref.name}@{digest}"]
        for key, value in annotations.items():
            args += ["-a", f"{key}={value}"]
        env = dict(os.environ)
        if self.identityToken:
            token = ctx.render_str(self.identityToken, "identityToken")
            ctx.secret_values.add(token)
            env["SIGSTORE_ID_TOKEN"] = token
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
        for line in (proc.stdout + proc.stderr).splitlines():
            ctx.logger.info(ctx.mask(line))
        if proc.returncode != 0:
            raise TaskFailed(f"cosign sign failed with exit code {proc.returncode}")
        return {"digest": digest, "image": f"{ref.name}@{digest}", "keyless": True}
