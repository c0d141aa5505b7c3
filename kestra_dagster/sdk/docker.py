"""What the Docker tasks share: daemon client, credentials, run labels, push, audit events.

* ``Credentials``: Kestra's ``credentials{registry, username, password, registryToken,
  identityToken, auth}``; rendered values (``{{ secret('…') }}``) are added to the task's
  masked secrets so they never reach a log line or an error message. Short-lived tokens from
  ``aws.ecr.GetAuthToken`` / ``gcp.auth`` / ``azure.auth`` go in as ``password`` (with the
  registry's fixed user name: ``AWS``, ``oauth2accesstoken``, ``00000000-0000-0000-0000-000000000000``)
  or as ``registryToken`` (sent as a bearer token as it is).
* ``run_labels(ctx)``: ``kestra.execution=<id>`` (+ flow, task) on every container, network and
  volume we create, so leftovers can be found and removed by run.
* ``push_tags``: push through the daemon and return the registry digest per tag.
* ``asset_event``: the audit record a task returns under ``ASSET_KEY`` (``__dagster_asset_materializations__``);
  the compiler's op turns each entry into a Dagster ``AssetMaterialization`` (asset per image repository).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from kestra_dagster.engine.context import ASSET_EVENTS_KEY
from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.model.common import KestraModel
from kestra_dagster.oci.client import DOCKER_HUB, ImageRef, client_for, parse_reference

#: Reserved output key: a list of asset materializations for the compiler to emit.
ASSET_KEY = ASSET_EVENTS_KEY  # the task contract's reserved key (engine.context)
LABEL_EXECUTION = "kestra.execution"
LABEL_FLOW = "kestra.flow"
LABEL_TASK = "kestra.task"
LABEL_TASKRUN = "kestra.taskrun"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


class Credentials(KestraModel):
    """Registry credentials (Kestra's ``AbstractDocker.Credentials``)."""

    registry: str | None = None
    username: str | None = None
    password: str | None = None
    registryToken: str | None = None
    identityToken: str | None = None
    auth: str | None = None


def render_credentials(ctx, creds: Credentials | dict | None, prop: str = "credentials") -> dict:
    """Rendered credentials as a plain dict; every secret value is registered for masking."""
    if creds is None:
        return {}
    raw = creds.model_dump(exclude_none=True) if isinstance(creds, KestraModel) else dict(creds)
    out = {}
    for key, value in raw.items():
        rendered = ctx.render(value, f"{prop}.{key}")
        if rendered in (None, ""):
            continue
        out[key] = str(rendered)
    for key in ("password", "registryToken", "identityToken", "auth"):
        if out.get(key):
            ctx.secret_values.add(out[key])
    if out.get("auth") and not out.get("username"):
        user, _, pw = base64.b64decode(out["auth"]).decode(errors="replace").partition(":")
        out.setdefault("username", user)
        out.setdefault("password", pw)
        if pw:
            ctx.secret_values.add(pw)
    return out


def auth_config(creds: dict) -> dict | None:
    """The docker SDK's ``auth_config`` for ``creds`` (None when there is nothing to send)."""
    if not creds:
        return None
    cfg: dict[str, str] = {}
    if creds.get("username"):
        cfg["username"] = creds["username"]
        cfg["password"] = creds.get("password", "")
    if creds.get("identityToken"):
        cfg["identitytoken"] = creds["identityToken"]
    if creds.get("registryToken"):
        cfg["registrytoken"] = creds["registryToken"]
    if creds.get("registry"):
        cfg["serveraddress"] = creds["registry"]
    return cfg or None


def docker_config_dir(creds: dict, config: Any = None) -> Path:
    """A temporary ``DOCKER_CONFIG`` folder holding ``config.json`` (for the docker CLI)."""
    folder = Path(tempfile.mkdtemp(prefix="kestra-docker-config-"))
    os.chmod(folder, 0o700)
    doc: dict[str, Any] = {}
    if config:
        doc = json.loads(config) if isinstance(config, str) else dict(config)
    entry: dict[str, str] = {}
    if creds.get("username") or creds.get("auth"):
        entry["auth"] = creds.get("auth") or base64.b64encode(
            f"{creds['username']}:{creds.get('password', '')}".encode()).decode()
    if creds.get("identityToken"):
        entry["identitytoken"] = creds["identityToken"]
    if creds.get("registryToken"):  # sent as-is as a bearer token (docker CLI's AuthConfig.registrytoken)
        entry["registrytoken"] = creds["registryToken"]
    if entry:
        registry = creds.get("registry") or "https://index.docker.io/v1/"
        doc.setdefault("auths", {}).setdefault(registry, {}).update(entry)
    path = folder / "config.json"
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    return folder


def docker_client(ctx, host: str | None = None, timeout: int = 600):
    """A docker SDK client for ``host`` (rendered) or the environment's daemon."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise TaskFailed(f"the docker Python package is not installed: {exc}") from None
    try:
        if host:
            client = docker.DockerClient(base_url=ctx.render_str(host, "host"), timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker raises several kinds
        raise TaskFailed(
            f"cannot reach the Docker daemon ({host or os.environ.get('DOCKER_HOST') or 'unix:///var/run/docker.sock'}): "
            f"{type(exc).__name__}: {exc}. Is dockerd running?"
        ) from None
    return client


def docker_cli() -> str:
    """The docker CLI to use (``$KESTRA_DOCKER_CLI``, else the first on PATH)."""
    explicit = os.environ.get("KESTRA_DOCKER_CLI")
    found = explicit or shutil.which("docker")
    if not found:
        raise TaskFailed("the docker CLI is not installed (apt-get install docker.io)")
    return found


def run_labels(ctx) -> dict[str, str]:
    return {
        LABEL_EXECUTION: str(ctx.execution_id),
        LABEL_FLOW: f"{ctx.namespace}.{ctx.flow_id}",
        LABEL_TASK: str(ctx.task_id),
        LABEL_TASKRUN: str(ctx.taskrun.id),
    }


def strip_scheme(tag: str) -> str:
    """Kestra strips a ``scheme://`` prefix from tags (``docker://repo:tag`` → ``repo:tag``)."""
    return _SCHEME.sub("", tag.strip())


def split_tag(image: str) -> tuple[str, str | None]:
    """``repo[:tag]`` → (repo, tag or None); a ``:port`` in the registry part is not a tag."""
    last = image.rsplit("/", 1)[-1]
    if ":" in last and "@" not in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, None


def qualified(image: str, creds: dict) -> str:
    """Kestra's Pull rule: prefix the credentials' registry unless the image already names one."""
    registry = (creds or {}).get("registry")
    if not registry:
        return image
    host = re.sub(r"^https?://", "", registry).rstrip("/")
    if host in ("index.docker.io/v1", "index.docker.io", "docker.io", DOCKER_HUB):
        return image
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"{host}/{image}"


def wait_cancellable(ctx, fn: Callable[[], Any], on_cancel: Callable[[], None] | None = None, poll: float = 0.1) -> Any:
    """Run blocking ``fn`` in a thread; on cancellation call ``on_cancel`` and raise TaskKilled."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name=f"kestra-docker-{ctx.task_id}")
    worker.start()
    while worker.is_alive():
        worker.join(poll)
        if ctx.cancel_event.is_set() and worker.is_alive():
            if on_cancel is not None:
                try:
                    on_cancel()
                except Exception as exc:  # noqa: BLE001 - best effort
                    ctx.logger.warning(f"cleanup after cancellation failed: {exc}")
            worker.join(2.0)
            raise TaskKilled(f"task '{ctx.task_id}' was stopped")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ============================================================================ push
def push_tags(ctx, client, tags: list[str], creds: dict) -> dict[str, str]:
    """Push each ``repo:tag`` through the daemon; → {tag: registry digest}. Errors fail the task."""
    digests: dict[str, str] = {}
    auth = auth_config(creds)
    for full in tags:
        repo, tag = split_tag(full)
        tag = tag or "latest"
        ctx.check_cancelled()
        ctx.logger.info(f"pushing {repo}:{tag}")
        digest = None
        last_status = None
        try:
            stream = client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth)
            for event in stream:
                if ctx.cancel_event.is_set():
                    stream.close()
                    raise TaskKilled(f"task '{ctx.task_id}' was stopped while pushing {repo}:{tag}")
                if "error" in event:
                    raise TaskFailed(ctx.mask(f"push of {repo}:{tag} failed: {event['error']}"))
                aux = event.get("aux") or {}
                if aux.get("Digest"):
                    digest = aux["Digest"]
                status = event.get("status")
                if status and not event.get("progressDetail") and status != last_status:
                    ident = event.get("id")
                    ctx.logger.info(ctx.mask(f"{ident}: {status}" if ident else status))
                    last_status = status
        except (TaskFailed, TaskKilled):
            raise
        except Exception as exc:  # noqa: BLE001 - docker APIError and transport errors
            raise TaskFailed(ctx.mask(f"push of {repo}:{tag} failed: {exc}")) from None
        if not digest:
            raise TaskFailed(f"push of {repo}:{tag} reported no digest")
        ctx.logger.info(f"pushed {repo}:{tag} digest {digest}")
        digests[f"{repo}:{tag}"] = digest
    return digests


def repo_digests(digests: dict[str, str]) -> list[str]:
    out = []
    for full, digest in digests.items():
        repo, _ = split_tag(full)
        value = f"{repo}@{digest}"
        if value not in out:
            out.append(value)
    return out


# ============================================================================ audit
def asset_key_for(ref: ImageRef | str) -> list[str]:
    """``["docker", "<registry>", "<repo parts>"…]`` with characters Dagster accepts."""
    if isinstance(ref, str):
        ref = parse_reference(ref)
    clean = [re.sub(r"[^A-Za-z0-9_]", "_", part) for part in [ref.registry, *ref.repository.split("/")]]
    return ["docker", *clean]


def asset_event(ctx, image: str, digest: str, tags: list[str] | None = None, kind: str = "push",
                extra: dict | None = None) -> dict:
    """One asset materialization record: asset per image repository, keyed by digest."""
    ref = parse_reference(image)
    metadata: dict[str, Any] = {
        "digest": digest,
        "image": f"{ref.name}@{digest}",
        "tags": list(tags or []),
        "event": kind,
        "kestra/execution": ctx.execution_id,
        "kestra/flow": f"{ctx.namespace}.{ctx.flow_id}",
        "kestra/task": ctx.task_id,
    }
    metadata.update(extra or {})
    return {"assetKey": asset_key_for(ref), "metadata": metadata,
            "description": f"{kind} {ref.name}@{digest}"}


def resolve_remote_digest(ctx, image: str, creds: dict) -> tuple[ImageRef, str]:
    """``image`` (tag or digest reference) → (ref, digest), asking the registry for tags."""
    ref = parse_reference(image)
    if ref.digest:
        return ref, ref.digest
    with client_for(ref.registry, creds or None, cancel_event=ctx.cancel_event, log=ctx.logger.debug) as rc:
        digest = rc.resolve(ref.repository, ref.reference)
    return ref, digest


def image_events(ctx, digests: dict[str, str], kind: str, extra: dict | None = None) -> list[dict]:
    """One asset event per (repository, digest) from a {repo:tag: digest} map."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for full, digest in digests.items():
        repo, tag = split_tag(full)
        grouped.setdefault((repo, digest), []).append(tag or "latest")
    return [asset_event(ctx, f"{repo}@{digest}", digest, tags=tags, kind=kind, extra=extra)
            for (repo, digest), tags in grouped.items()]
