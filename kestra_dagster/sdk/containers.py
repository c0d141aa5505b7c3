"""Run one container for a task and always clean it up (docker.Run and the Docker task runner).

``run_container`` applies the pull policy, creates the container with the run's labels
(``kestra.execution=<id>``…), streams stdout and stderr line by line to a handler (which turns
``::{"outputs":…}::`` lines into outputs, like the Process runner), waits for the exit code and
removes the container (and its anonymous volumes) in ``finally``. A cancelled task (timeout, run
termination) kills the container at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.sdk.docker import auth_config, run_labels, split_tag

PULL_POLICIES = ("IF_NOT_PRESENT", "ALWAYS", "NEVER")


@dataclass
class ContainerSpec:
    image: str
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    working_dir: str | None = None
    network_mode: str | None = None
    user: str | None = None
    cpus: float | None = None
    memory: str | int | None = None
    pull_policy: str = "IF_NOT_PRESENT"
    port_bindings: list[str] = field(default_factory=list)
    privileged: bool = False
    extra_hosts: list[str] = field(default_factory=list)
    shm_size: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    credentials: dict = field(default_factory=dict)


def pull_image(ctx, client, image: str, creds: dict) -> tuple[str, str | None]:
    """Pull ``image`` (tag or digest reference); → (image id, registry digest)."""
    if "@" in image:
        repo, ref = image.split("@", 1)
        tag = ref
    else:
        repo, tag = split_tag(image)
        tag = tag or "latest"
    ctx.logger.info(f"pulling {image}")
    last = None
    try:
        stream = client.api.pull(repo, tag=tag, stream=True, decode=True, auth_config=auth_config(creds))
        for event in stream:
            if ctx.cancel_event.is_set():
                stream.close()
                raise TaskKilled(f"task '{ctx.task_id}' was stopped while pulling {image}")
            if "error" in event:
                raise TaskFailed(ctx.mask(f"pull of {image} failed: {event['error']}"))
            status = event.get("status")
            if status and not event.get("progressDetail") and status != last:
                ctx.logger.info(ctx.mask(f"{event['id']}: {status}" if event.get("id") else status))
                last = status
    except (TaskFailed, TaskKilled):
        raise
    except Exception as exc:  # noqa: BLE001
        raise TaskFailed(ctx.mask(f"pull of {image} failed: {exc}")) from None
    found = client.images.get(image)
    digest = None
    for rd in found.attrs.get("RepoDigests") or []:
        if rd.split("@", 1)[0] == repo:
            digest = rd.split("@", 1)[1]
    return found.id, digest


def ensure_image(ctx, client, image: str, policy: str, creds: dict) -> None:
    import docker.errors

    policy = (policy or "IF_NOT_PRESENT").upper()
    if policy not in PULL_POLICIES:
        raise TaskFailed(f"pullPolicy must be one of {', '.join(PULL_POLICIES)}, got {policy!r}")
    present = True
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        present = False
    except docker.errors.APIError as exc:
        raise TaskFailed(f"cannot inspect image {image}: {exc}") from None
    if policy == "NEVER":
        if not present:
            raise TaskFailed(f"image {image} is not in the Docker daemon and pullPolicy is NEVER")
        return
    if policy == "IF_NOT_PRESENT" and present:
        return
    pull_image(ctx, client, image, creds)


def _ports(bindings: list[str]) -> dict:
    """``["8080:80", "127.0.0.1:8081:81/tcp", "90"]`` → docker SDK ``ports``."""
    out: dict[str, Any] = {}
    for item in bindings:
        parts = item.split(":")
        container = parts[-1] if "/" in parts[-1] else f"{parts[-1]}/tcp"
        if len(parts) == 1:
            out[container] = None
        elif len(parts) == 2:
            out[container] = int(parts[0]) if parts[0] else None
        else:
            out[container] = (parts[0], int(parts[1]) if parts[1] else None)
    return out


def _volumes(volumes: list[str]) -> list[str]:
    out = []
    for v in volumes:
        if ":" not in v:
            raise TaskFailed(f"volume {v!r} must be 'host-path:container-path[:mode]'")
        out.append(v)
    return out


def _nano_cpus(cpus: float | None) -> int | None:
    return int(float(cpus) * 1_000_000_000) if cpus else None


def _pump_logs(client, cid: str, stream: str, handler: Callable[[str, str], None], errors: list) -> None:
    buffer = b""
    try:
        for chunk in client.api.logs(cid, stream=True, follow=True, stdout=stream == "stdout",
                                     stderr=stream == "stderr"):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                handler(line.decode("utf-8", "replace").rstrip("\r"), stream)
        if buffer:
            handler(buffer.decode("utf-8", "replace").rstrip("\r"), stream)
    except Exception as exc:  # noqa: BLE001 - the container went away
        errors.append(exc)


def create_container(ctx, client, spec: ContainerSpec, name: str | None = None):
    import docker.errors

    labels = {**run_labels(ctx), **spec.labels}
    kwargs: dict[str, Any] = dict(
        image=spec.image, command=spec.command, entrypoint=spec.entrypoint, environment=spec.env,
        working_dir=spec.working_dir, user=spec.user or None, labels=labels, detach=True, name=name,
        network_mode=spec.network_mode or None, privileged=spec.privileged, stdin_open=False, tty=False,
    )
    if spec.volumes:
        kwargs["volumes"] = _volumes(spec.volumes)
    if spec.memory:
        kwargs["mem_limit"] = spec.memory
    if spec.cpus:
        kwargs["nano_cpus"] = _nano_cpus(spec.cpus)
    if spec.port_bindings:
        kwargs["ports"] = _ports(spec.port_bindings)
    if spec.extra_hosts:
        kwargs["extra_hosts"] = dict(h.split(":", 1) for h in spec.extra_hosts)
    if spec.shm_size:
        kwargs["shm_size"] = spec.shm_size
    try:
        return client.containers.create(**{k: v for k, v in kwargs.items() if v is not None})
    except docker.errors.APIError as exc:
        raise TaskFailed(f"cannot create a container from {spec.image}: {exc.explanation or exc}") from None


def remove_container(ctx, container) -> None:
    try:
        container.remove(force=True, v=True)
    except Exception as exc:  # noqa: BLE001 - already gone is fine
        if "No such container" not in str(exc) and "is already in progress" not in str(exc):
            ctx.logger.warning(f"could not remove container {container.id[:12]}: {exc}")


def run_container(ctx, client, spec: ContainerSpec, handler: Callable[[str, str], None], wait: bool = True,
                  delete: bool = True) -> tuple[int | None, str]:
    """Run ``spec`` to its end; → (exit code, container id). ``wait=False`` → (None, id), left running."""
    ensure_image(ctx, client, spec.image, spec.pull_policy, spec.credentials)
    ctx.check_cancelled()
    container = create_container(ctx, client, spec)
    cid = container.id
    ctx.logger.debug(f"container {cid[:12]} created from {spec.image}")
    if not wait:
        try:
            container.start()
        except Exception as exc:  # noqa: BLE001
            remove_container(ctx, container)
            raise TaskFailed(f"cannot start the container: {exc}") from None
        ctx.logger.info(f"container {cid[:12]} started (not waiting: wait is false)")
        return None, cid
    errors: list = []
    readers: list[threading.Thread] = []
    result: dict[str, Any] = {}
    try:
        container.start()
        for stream in ("stdout", "stderr"):
            t = threading.Thread(target=_pump_logs, args=(client, cid, stream, handler, errors), daemon=True)
            t.start()
            readers.append(t)

        def waiter() -> None:
            try:
                result["status"] = client.api.wait(cid, timeout=None)
            except Exception as exc:  # noqa: BLE001
                result["error"] = exc

        w = threading.Thread(target=waiter, daemon=True)
        w.start()
        while w.is_alive():
            w.join(0.1)
            if ctx.cancel_event.is_set() and w.is_alive():
                ctx.logger.warning(f"killing container {cid[:12]}: the task was stopped")
                try:
                    client.api.kill(cid)
                except Exception:  # noqa: BLE001 - it may have just exited
                    pass
                raise TaskKilled(f"task '{ctx.task_id}' was stopped; its container was killed")
        if "error" in result:
            raise TaskFailed(f"waiting for the container failed: {result['error']}")
        for t in readers:
            t.join(5)
        status = result["status"]
        code = int(status.get("StatusCode", -1))
        if status.get("Error"):
            ctx.logger.warning(f"container error: {status['Error']}")
        return code, cid
    finally:
        if delete:
            remove_container(ctx, container)
