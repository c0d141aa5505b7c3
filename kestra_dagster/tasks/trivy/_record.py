"""A scan record that travels with the image: cosign's ``sha256-<hex>.sbom`` attachment tag.

An OCI manifest in the image's repository whose layers are the SBOM (and the Trivy JSON report)
and whose annotations say whether the gate passed and the counts per severity. ``Promote`` with
``requireScan`` reads it; ``copy_image`` copies it along with the image.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from kestra_dagster.oci.client import OCI_MANIFEST, RegistryClient, attachment_tag, sha256_digest

PASSED = "dev.kestra-dagster.scan.passed"
COUNTS = "dev.kestra-dagster.scan.counts"
SEVERITY = "dev.kestra-dagster.scan.severity"
SCANNERS = "dev.kestra-dagster.scan.scanners"
EMPTY_CONFIG = b"{}"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
SBOM_TYPES = {"cyclonedx": "application/vnd.cyclonedx+json", "spdx-json": "application/spdx+json"}
REPORT_TYPE = "application/vnd.aquasec.trivy.report.v1+json"


def write_scan_record(client: RegistryClient, repo: str, digest: str, passed: bool, counts: dict,
                      severity: list[str], scanners: list[str], sbom: bytes | None, sbom_format: str | None,
                      report: bytes | None) -> str:
    """Push the record; → the attachment tag."""
    layers = []
    for data, media_type, title in ((sbom, SBOM_TYPES.get(sbom_format or "", "application/json"), "sbom.json"),
                                    (report, REPORT_TYPE, "trivy-report.json")):
        if data is None:
            continue
        d = sha256_digest(data)
        if not client.blob_exists(repo, d):
            client.upload_blob(repo, d, data)
        layers.append({"mediaType": media_type, "digest": d, "size": len(data),
                       "annotations": {"org.opencontainers.image.title": title}})
    config_digest = sha256_digest(EMPTY_CONFIG)
    if not client.blob_exists(repo, config_digest):
        client.upload_blob(repo, config_digest, EMPTY_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY_CONFIG_TYPE, "digest": config_digest, "size": len(EMPTY_CONFIG)},
        "layers": layers,
        "annotations": {
            PASSED: "true" if passed else "false",
            COUNTS: json.dumps(counts, sort_keys=True),
            SEVERITY: ",".join(severity),
            SCANNERS: ",".join(scanners),
            "org.opencontainers.image.created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    tag = attachment_tag(digest, ".sbom")
    client.put_manifest(repo, tag, raw, OCI_MANIFEST)
    return tag


def read_scan_record(client: RegistryClient, repo: str, digest: str) -> dict | None:
    """The record for ``digest`` ({passed, counts, severity, scanners, tag}), or None."""
    tag = attachment_tag(digest, ".sbom")
    if client.head_manifest(repo, tag) is None:
        return None
    doc = json.loads(client.get_manifest(repo, tag).raw)
    ann = doc.get("annotations") or {}
    if PASSED not in ann:
        return None
    try:
        counts = json.loads(ann.get(COUNTS) or "{}")
    except ValueError:
        counts = {}
    return {"passed": ann[PASSED] == "true", "counts": counts, "severity": ann.get(SEVERITY, ""),
            "scanners": ann.get(SCANNERS, ""), "tag": tag}
