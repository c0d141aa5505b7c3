"""``io.kestra_dagster.plugin.cosign.Verify``: check an image digest's cosign signatures with a public key.

Reads cosign's ``sha256-<hex>.sig`` tag (signatures made by cosign or by ``Sign``); the task fails
unless at least one signature verifies with ``publicKey`` **and** its payload names the image's
digest (and carries every ``annotations`` entry required). A tag is resolved to its digest
first. Offline mode: ``manifest`` + ``signatures`` (``kestra://`` URIs or paths) verify
containers/image-style signature files next to a manifest, with no registry.
Outputs: ``digest``, ``verified`` (count), ``claims`` (reference, annotations, signature).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.oci.client import RegistryError, client_for, parse_reference
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.cosign._cosign import CosignError, load_public_key, verify_image_signatures, verify_signature_file
from kestra_dagster.tasks.cosign.sign import _read_key
from kestra_dagster.sdk.docker import Credentials, render_credentials, strip_scheme
from kestra_dagster.sdk.values import as_list


def _read_file(ctx, value: str) -> bytes:
    text = value.strip()
    if text.lower().startswith("kestra://"):
        return ctx.storage.read_bytes(text)
    path = Path(text)
    if not path.is_absolute():
        path = Path(ctx.working_dir) / path
    return path.read_bytes()


class Verify(RunnableTask):
    """Verify cosign signatures on an image digest (fails when none is valid for the key)."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.cosign.Verify"
    kestra_family: ClassVar[str] = "cosign"
    compute_kind: ClassVar[str | None] = "cosign"

    image: str | None = None
    publicKey: str
    annotations: dict[str, Any] | None = None
    credentials: Credentials | None = None
    manifest: str | None = None
    signatures: list[str] | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        try:
            key = load_public_key(_read_key(ctx, self.publicKey, "publicKey"))
        except ValueError as exc:
            raise TaskFailed(f"property 'publicKey': {exc}") from None
        required = {str(k): str(v) for k, v in (ctx.render(self.annotations, "annotations") or {}).items()}
        if self.manifest:
            return self._offline(ctx, key, required)
        if not self.image:
            raise TaskFailed("set 'image' (or 'manifest' + 'signatures' for offline verification)")
        image = strip_scheme(ctx.render_str(self.image, "image"))
        ref = parse_reference(image)
        creds = render_credentials(ctx, self.credentials)
        try:
            with client_for(ref.registry, creds or None, cancel_event=ctx.cancel_event, log=ctx.logger.debug) as rc:
                digest = rc.resolve(ref.repository, ref.reference)
                if ref.digest is None:
                    ctx.logger.info(f"resolved {ref} to digest {digest}")
                claims = verify_image_signatures(rc, ref.repository, digest, key, ref.name, required or None)
        except RegistryError as exc:
            raise TaskFailed(ctx.mask(f"verifying {ref} failed: {exc}")) from None
        if not claims:
            raise TaskFailed(f"no valid cosign signature on {ref.name}@{digest} for the given public key"
                             + (f" with annotations {required}" if required else ""))
        ctx.logger.info(f"verified {len(claims)} signature(s) on {ref.name}@{digest}")
        return {"digest": digest, "image": f"{ref.name}@{digest}", "verified": len(claims),
                "claims": [c.as_dict() for c in claims]}

    def _offline(self, ctx, key, required: dict) -> dict[str, Any]:
        manifest = _read_file(ctx, ctx.render_str(self.manifest, "manifest"))
        files = as_list(ctx.render(self.signatures, "signatures"), "signatures")
        if not files:
            raise TaskFailed("offline verification needs 'signatures' (signature files)")
        claims, problems = [], []
        for name in files:
            try:
                claim = verify_signature_file(manifest, _read_file(ctx, name), key)
                if any(str(claim.annotations.get(k)) != v for k, v in required.items()):
                    raise CosignError(f"required annotations {required} missing")
                claims.append(claim)
            except (CosignError, OSError) as exc:
                problems.append(f"{name}: {exc}")
        for p in problems:
            ctx.logger.warning(p)
        if not claims:
            raise TaskFailed("no valid cosign signature for the manifest: " + "; ".join(problems))
        digest = claims[0].digest
        ctx.logger.info(f"verified {len(claims)} signature file(s) for manifest {digest}")
        return {"digest": digest, "verified": len(claims), "claims": [c.as_dict() for c in claims]}
