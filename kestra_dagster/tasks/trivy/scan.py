"""``io.kestra_dagster.plugin.trivy.Scan``: a Trivy gate for one image, with its SBOM kept per execution.

``image`` is a tag, an image id (``sha256:…``, daemon only) or a digest reference
(``registry/repo@sha256:…``). An image the daemon has is read from the daemon
(``--image-src docker``); otherwise it is read from its registry (plain HTTP for loopback
registries, ``credentials`` as TRIVY_USERNAME/PASSWORD). Findings at ``severity`` (default
HIGH,CRITICAL) from ``scanners`` (default vuln + secret) fail the task (``failOnFindings``) and
the report is still stored. Outputs: ``counts`` per severity, ``total``, ``passed``, ``report``
(the Trivy JSON, ``kestra://``), ``sbom`` (CycloneDX or SPDX JSON, ``kestra://``), ``digest``
and a short ``findings`` list. ``attach: true`` also pushes the SBOM and the verdict next to the
image as cosign's ``sha256-<hex>.sbom`` tag (what ``Promote.requireScan`` checks).

Offline vulnerability scanning needs a DB: ``cacheDir`` holding ``db/trivy.db`` (``skipDbUpdate``)
or ``dbRepository`` (an OCI registry holding trivy-db). Secret scanning and SBOMs need none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.oci.client import client_for, is_loopback, parse_reference
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import (
    ASSET_KEY,
    Credentials,
    asset_event,
    render_credentials,
    strip_scheme,
)
from kestra_dagster.sdk.process import ToolLog
from kestra_dagster.sdk.values import as_list
from kestra_dagster.tasks.trivy._binary import trivy_binary

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
FINDINGS_IN_OUTPUT = 50


#: Trivy's own failures, logged as warnings.
TRIVY_ERRORS = ("FATAL", "ERROR")


def count_findings(report: dict) -> tuple[dict[str, int], dict[str, int], list[dict]]:
    """(counts per severity, counts per kind, first findings) from a Trivy JSON report."""
    counts = {s: 0 for s in SEVERITIES}
    kinds = {"vulnerabilities": 0, "secrets": 0, "misconfigurations": 0}
    findings: list[dict] = []
    for result in report.get("Results") or []:
        target = result.get("Target", "")
        for vuln in result.get("Vulnerabilities") or []:
            sev = vuln.get("Severity", "UNKNOWN")
            counts[sev] = counts.get(sev, 0) + 1
            kinds["vulnerabilities"] += 1
            findings.append({"type": "vulnerability", "id": vuln.get("VulnerabilityID"), "severity": sev,
                             "package": vuln.get("PkgName"), "installed": vuln.get("InstalledVersion"),
                             "fixed": vuln.get("FixedVersion"), "target": target})
        for secret in result.get("Secrets") or []:
            sev = secret.get("Severity", "UNKNOWN")
            counts[sev] = counts.get(sev, 0) + 1
            kinds["secrets"] += 1
            findings.append({"type": "secret", "id": secret.get("RuleID"), "severity": sev,
                             "target": target, "line": secret.get("StartLine")})
        for mis in result.get("Misconfigurations") or []:
            if mis.get("Status") not in (None, "FAIL"):
                continue
            sev = mis.get("Severity", "UNKNOWN")
            counts[sev] = counts.get(sev, 0) + 1
            kinds["misconfigurations"] += 1
            findings.append({"type": "misconfiguration", "id": mis.get("ID"), "severity": sev, "target": target})
    return counts, kinds, findings


class Scan(RunnableTask):
    """Scan an image with Trivy (vulnerabilities, secrets); fail on findings; keep report and SBOM."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.trivy.Scan"
    kestra_family: ClassVar[str] = "trivy"
    compute_kind: ClassVar[str | None] = "trivy"

    image: str
    severity: list[str] | str = ["HIGH", "CRITICAL"]
    scanners: list[str] | str = ["vuln", "secret"]
    ignoreUnfixed: bool | str = False
    failOnFindings: bool | str = True
    sbomFormat: Literal["cyclonedx", "spdx-json", "NONE"] | str = "cyclonedx"
    imageSource: Literal["AUTO", "DOCKER", "REMOTE"] | str = "AUTO"
    cacheDir: str | None = None
    skipDbUpdate: bool | str | None = None
    dbRepository: str | None = None
    credentials: Credentials | None = None
    attach: bool | str = False
    host: str | None = None
    extraArgs: list[str] | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        from kestra_dagster.sdk.process import run_process

        image = strip_scheme(ctx.render_str(self.image, "image"))
        severity = [s.strip().upper() for v in as_list(ctx.render(self.severity, "severity"), "severity")
                    for s in v.split(",") if s.strip()]
        bad = [s for s in severity if s not in SEVERITIES]
        if bad:
            raise TaskFailed(f"property 'severity': unknown severity {bad} (use {', '.join(SEVERITIES)})")
        scanners = [s.strip().lower() for v in as_list(ctx.render(self.scanners, "scanners"), "scanners")
                    for s in v.split(",") if s.strip()]
        creds = render_credentials(ctx, self.credentials)
        source, digest = self._locate(ctx, image, creds)
        binary = trivy_binary()
        scratch = Path(tempfile.mkdtemp(prefix="kestra-trivy-"))
        env = dict(os.environ)
        if self.host:
            env["DOCKER_HOST"] = ctx.render_str(self.host, "host")
        if creds.get("username"):
            env["TRIVY_USERNAME"] = creds["username"]
            env["TRIVY_PASSWORD"] = creds.get("password", "")
        common = ["--no-progress", "--image-src", source, "--timeout", "10m"]
        if self.cacheDir:
            common += ["--cache-dir", ctx.render_str(self.cacheDir, "cacheDir")]
        if source == "remote" and is_loopback(parse_reference(image).registry):
            common.append("--insecure")
        try:
            report_path = scratch / "trivy-report.json"
            args = [binary, "image", *common, "--format", "json", "--output", str(report_path),
                    "--severity", ",".join(severity), "--scanners", ",".join(scanners), "--exit-code", "0"]
            if ctx.render_bool(self.ignoreUnfixed, "ignoreUnfixed"):
                args.append("--ignore-unfixed")
            if "vuln" in scanners:
                skip = self.skipDbUpdate
                if skip is None:
                    skip = bool(self.cacheDir) and not self.dbRepository and \
                        (Path(ctx.render_str(self.cacheDir, "cacheDir")) / "db" / "trivy.db").exists()
                if ctx.render_bool(skip, "skipDbUpdate"):
                    args.append("--skip-db-update")
                if self.dbRepository:
                    args += ["--db-repository", ctx.render_str(self.dbRepository, "dbRepository")]
            args += as_list(ctx.render(self.extraArgs, "extraArgs"), "extraArgs") if self.extraArgs else []
            args.append(image)
            ctx.logger.info(f"scanning {image} ({source}) for {', '.join(scanners)} at {','.join(severity)}")
            handler = ToolLog(ctx, keep=10, loud=TRIVY_ERRORS)
            code = run_process(args, scratch, env, ctx, handler)
            if code != 0 or not report_path.exists():
                tail = "\n".join(handler.tail[-5:])
                hint = ""
                if "vulnerability DB" in tail or "db" in tail.lower() and "vuln" in scanners:
                    hint = ("\nhint: offline vulnerability scanning needs a DB: set cacheDir to a folder holding "
                            "db/trivy.db, or dbRepository to an OCI registry that serves trivy-db")
                raise TaskFailed(f"trivy failed with exit code {code}:\n{tail}{hint}")
            report_bytes = report_path.read_bytes()
            report = json.loads(report_bytes)
            counts, kinds, findings = count_findings(report)
            total = sum(counts.values())
            if digest is None:
                for rd in (report.get("Metadata") or {}).get("RepoDigests") or []:
                    if rd.split("@", 1)[0] == image.split("@", 1)[0].rsplit(":", 1)[0]:
                        digest = rd.split("@", 1)[1]
            outputs: dict[str, Any] = {
                "image": image, "digest": digest,
                "imageId": (report.get("Metadata") or {}).get("ImageID"),
                "counts": {s: counts[s] for s in SEVERITIES if s in severity or counts[s]},
                "kinds": kinds, "total": total, "passed": total == 0,
                "findings": findings[:FINDINGS_IN_OUTPUT],
                "report": ctx.storage.put_file(report_path, "trivy-report.json"),
            }
            sbom_format = str(ctx.render_str(self.sbomFormat, "sbomFormat"))
            sbom_bytes = None
            if sbom_format.upper() != "NONE":
                sbom_path = scratch / ("sbom.cdx.json" if sbom_format == "cyclonedx" else "sbom.spdx.json")
                sbom_args = [binary, "image", *common, "--format", sbom_format, "--output", str(sbom_path), image]
                code = run_process(sbom_args, scratch, env, ctx, ToolLog(ctx, keep=10, loud=TRIVY_ERRORS))
                if code != 0 or not sbom_path.exists():
                    raise TaskFailed(f"trivy could not write the {sbom_format} SBOM (exit code {code})", outputs=outputs)
                sbom_bytes = sbom_path.read_bytes()
                outputs["sbom"] = ctx.storage.put_file(sbom_path, sbom_path.name)
                outputs["sbomFormat"] = sbom_format
            summary = ", ".join(f"{s}: {counts[s]}" for s in reversed(SEVERITIES) if s in severity)
            ctx.logger.info(f"scan summary for {image}{' @ ' + digest if digest else ''}: {summary} "
                            f"({kinds['vulnerabilities']} vulnerabilities, {kinds['secrets']} secrets)")
            for f in findings[:20]:
                ctx.logger.info(f"  {f['severity']:<8} {f['type']:<15} {f.get('id')} {f.get('package') or f.get('target')}")
            if ctx.render_bool(self.attach, "attach"):
                outputs["attachment"] = self._attach(ctx, image, digest, creds, total == 0, outputs["counts"],
                                                     severity, scanners, sbom_bytes, sbom_format, report_bytes)
            if digest and not image.startswith("sha256:"):
                outputs[ASSET_KEY] = [asset_event(ctx, image, digest, kind="scan", extra={
                    "scanCounts": outputs["counts"], "scanPassed": total == 0,
                    "scanReport": outputs["report"], "sbom": outputs.get("sbom")})]
            if total and ctx.render_bool(self.failOnFindings, "failOnFindings"):
                raise TaskFailed(f"scan gate failed for {image}: {total} finding(s) at {','.join(severity)} ({summary})",
                                 outputs=outputs)
            return outputs
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # ------------------------------------------------------------------ pieces
    def _locate(self, ctx, image: str, creds: dict) -> tuple[str, str | None]:
        """('docker' | 'remote', digest if known)."""
        mode = str(ctx.render_str(self.imageSource, "imageSource")).upper()
        digest = image.split("@", 1)[1] if "@" in image else None
        if mode == "REMOTE":
            return "remote", digest
        if mode == "DOCKER" or image.startswith("sha256:"):
            return "docker", None
        try:
            from kestra_dagster.sdk.docker import docker_client

            client = docker_client(ctx, self.host, timeout=30)
            try:
                client.images.get(image)
                return "docker", digest
            except Exception:  # noqa: BLE001 - not in the daemon
                return "remote", digest
            finally:
                client.close()
        except TaskFailed:
            return "remote", digest

    def _attach(self, ctx, image, digest, creds, passed, counts, severity, scanners, sbom, sbom_format, report) -> str | None:
        from kestra_dagster.tasks.trivy._record import write_scan_record

        if not digest or image.startswith("sha256:"):
            ctx.logger.warning("attach: the image has no registry digest yet (push it first); scan record not attached")
            return None
        ref = parse_reference(image)
        with client_for(ref.registry, creds or None, cancel_event=ctx.cancel_event, log=ctx.logger.debug) as rc:
            tag = write_scan_record(rc, ref.repository, digest, passed, counts, severity, scanners, sbom, sbom_format, report)
        ctx.logger.info(f"scan record attached as {ref.name}:{tag}")
        return f"{ref.name}:{tag}"
