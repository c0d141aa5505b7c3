"""``io.kestra_dagster.plugin.docker.Promote``: copy an image **by digest** to another repository/registry.

Kestra has no such task (its blueprints pull, retag and push, which re-uploads every layer and
can promote a different image than the one tested). This one goes through the registry API
(``kestra_dagster.oci.client.copy_image``): blobs the target has are skipped, blobs of the
same registry are cross-repository mounted (0 bytes moved), others are streamed; the manifest is
written with the source's exact bytes, so the target digest is bit-for-bit the source digest; the
cosign signature (``sha256-<hex>.sig``), attestations and SBOM tags travel with it; the target
tags are written only once every blob is present. Registry faults are retried with backoff.

Policy: ``requireSignature.publicKey`` refuses a digest without a valid cosign signature for that
key; ``requireScan`` refuses one without a passing scan recorded by ``io.kestra_dagster.plugin.trivy.Scan``
(``attach: true``). Rollback = promote the previous digest under the prod tag.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.oci.client import RegistryError, client_for, parse_reference
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import ASSET_KEY, Credentials, asset_event, render_credentials, strip_scheme
from kestra_dagster.sdk.values import as_list


class SignaturePolicy(KestraModel):
    publicKey: str


class Promote(RunnableTask):
    """Promote ``source`` (``repo@sha256:…``) to ``target``/``targets`` (``registry/repo:tag``) by digest."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.docker.Promote"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra_dagster.plugin.docker.Copy",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    source: str
    target: str | None = None
    targets: list[str] | str | None = None
    credentials: Credentials | None = None
    targetCredentials: Credentials | None = None
    attachments: bool | str = True
    allowTagSource: bool | str = False
    requireSignature: SignaturePolicy | None = None
    requireScan: bool | str = False
    retries: int = 4

    def run(self, ctx) -> dict[str, Any]:
        source_text = strip_scheme(ctx.render_str(self.source, "source"))
        try:
            src_ref = parse_reference(source_text)
        except ValueError as exc:
            raise TaskFailed(f"property 'source': {exc}") from None
        targets = []
        if self.target:
            targets.append(ctx.render_str(self.target, "target"))
        if self.targets:
            targets += as_list(ctx.render(self.targets, "targets"), "targets")
        if not targets:
            raise TaskFailed("set 'target' (or 'targets'): where to promote the image")
        src_creds = render_credentials(ctx, self.credentials)
        dst_creds = render_credentials(ctx, self.targetCredentials, "targetCredentials") if self.targetCredentials else None
        opts = dict(cancel_event=ctx.cancel_event, log=ctx.logger.debug, retries=self.retries)
        src = client_for(src_ref.registry, src_creds or None, **opts)
        try:
            if src_ref.digest is None:
                if not ctx.render_bool(self.allowTagSource, "allowTagSource"):
                    raise TaskFailed(
                        f"source {source_text!r} is a tag: promotion is by digest (repo@sha256:…) so the image "
                        "you tested is the one you ship; set allowTagSource: true to resolve the tag once"
                    )
                digest = src.resolve(src_ref.repository, src_ref.reference)
                ctx.logger.warning(f"source tag {src_ref} resolved to {digest}")
            else:
                digest = src_ref.digest
            ctx.logger.info(f"promoting {src_ref.name}@{digest}")
            policy: dict[str, Any] = {}
            if self.requireSignature is not None:
                policy["signature"] = self._check_signature(ctx, src, src_ref, digest)
            if ctx.render_bool(self.requireScan, "requireScan"):
                policy["scan"] = self._check_scan(ctx, src, src_ref, digest)
            reports = []
            events = []
            for text in targets:
                dst_ref = parse_reference(strip_scheme(text))
                if dst_ref.digest and dst_ref.digest != digest:
                    raise TaskFailed(f"target {text} pins digest {dst_ref.digest}, not the source digest {digest}")
                tags = [dst_ref.tag] if dst_ref.tag else []
                creds = dst_creds if dst_creds is not None else (src_creds if dst_ref.registry == src_ref.registry else None)
                same = dst_ref.registry == src_ref.registry and (creds or None) == (src_creds or None)
                dst = src if same else client_for(dst_ref.registry, creds or None, **opts)
                try:
                    from kestra_dagster.oci.client import copy_image

                    report = copy_image(src, src_ref.repository, digest, dst, dst_ref.repository, tags,
                                        attachments=ctx.render_bool(self.attachments, "attachments"),
                                        log=ctx.logger.info)
                    check = dst.resolve(dst_ref.repository, dst_ref.tag or digest)
                finally:
                    if dst is not src:
                        dst.close()
                if check != digest:
                    raise TaskFailed(f"{dst_ref} points to {check} after the copy, not {digest}")
                reports.append(report.as_dict())
                events.append(asset_event(ctx, str(dst_ref.with_digest(digest)), digest, tags=tags, kind="promote",
                                          extra={"source": f"{src_ref.name}@{digest}",
                                                 "attachments": report.attachments,
                                                 "bytesUploaded": report.bytes_uploaded, **_policy_meta(policy)}))
        except RegistryError as exc:
            raise TaskFailed(ctx.mask(f"promotion failed: {exc}")) from None
        finally:
            src.close()
        return {
            "digest": digest,
            "source": f"{src_ref.name}@{digest}",
            "targets": [str(parse_reference(t)) for t in targets],
            "copies": reports,
            "bytesUploaded": sum(r["bytesUploaded"] for r in reports),
            "policy": policy,
            ASSET_KEY: events,
        }

    # ------------------------------------------------------------------ policy
    def _check_signature(self, ctx, client, ref, digest: str) -> dict:
        from kestra_dagster.tasks.cosign._cosign import load_public_key, verify_image_signatures

        pem = ctx.render_str(self.requireSignature.publicKey, "requireSignature.publicKey")
        try:
            key = load_public_key(pem)
        except ValueError as exc:
            raise TaskFailed(f"requireSignature.publicKey: {exc}") from None
        valid = verify_image_signatures(client, ref.repository, digest, key, ref.name)
        if not valid:
            raise TaskFailed(f"refusing to promote {ref.name}@{digest}: no valid cosign signature for the given key")
        ctx.logger.info(f"signature check passed: {len(valid)} valid signature(s) on {digest}")
        return {"verified": len(valid)}

    def _check_scan(self, ctx, client, ref, digest: str) -> dict:
        from kestra_dagster.tasks.trivy._record import read_scan_record

        record = read_scan_record(client, ref.repository, digest)
        if record is None:
            raise TaskFailed(f"refusing to promote {ref.name}@{digest}: no scan recorded for this digest "
                             "(run io.kestra_dagster.plugin.trivy.Scan with attach: true)")
        if not record.get("passed"):
            raise TaskFailed(f"refusing to promote {ref.name}@{digest}: its recorded scan did not pass "
                             f"({record.get('counts')})")
        ctx.logger.info(f"scan check passed: {record.get('counts')}")
        return record


def _policy_meta(policy: dict) -> dict:
    out = {}
    if "signature" in policy:
        out["signatureVerified"] = policy["signature"].get("verified")
    if "scan" in policy:
        out["scanCounts"] = policy["scan"].get("counts")
    return out
