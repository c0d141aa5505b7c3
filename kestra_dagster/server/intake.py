"""How the server runs and routes the webhook/approval intake (``kestra_dagster.intake``).

This module is the single integration point between the deployment (``server standalone``,
``server webserver --intake-url``) and the intake:

- :func:`intake_argv`: the child process ``server standalone`` starts, the intake's own command
  ``kestra-dagster server webhooks`` (webhooks + approval API) on a private port;
- :func:`daemon_argv`: the daemon child, the intake's low-latency wrapper around
  ``dagster-daemon run`` (``kestra_dagster.triggers.daemon``) when present;
- :data:`ROUTE_PREFIXES`: paths the front door sends to the intake instead of dagster-webserver;
- :data:`PUBLIC_PATTERNS`: paths that bypass basic auth (webhook triggers keep their own key/HMAC
  check). Every other intake path (deliveries, approvals) requires basic auth when it is enabled,
  and the intake receives the authenticated user in the ``X-Kestra-User`` request header: that is
  the reviewer identity for approvals. The front door removes any client-sent ``X-Kestra-User``
  first. Any local process can reach the intake's port, so the header alone proves nothing: the
  front door also sends a secret made at each start (``PROXY_SECRET_HEADER``), which the intake
  reads from its stdin (``--proxy-secret-stdin``, never from its environment or argv), and a
  ``X-Kestra-User`` without that secret is ignored.
"""

from __future__ import annotations

import importlib.util
import re
import sys

#: Paths served by the intake (Dagster's webserver uses none of them).
ROUTE_PREFIXES = ("/api/v1/", "/approvals")
#: Webhook trigger URLs (Kestra's, with an optional tenant): no basic auth, the trigger key decides.
PUBLIC_PATTERNS = (re.compile(r"^/api/v1/(?:[^/]+/)?executions/webhook/[^/]+/[^/]+/[^/]+/?$"),)
USER_HEADER = "X-Kestra-User"
#: The per-start secret the front door sends with every request: only then is USER_HEADER trusted.
PROXY_SECRET_HEADER = "X-Kestra-Proxy-Secret"
#: Tells the approval API (``kestra_dagster.approvals.api``) to take the reviewer from USER_HEADER.
INTAKE_TRUST_ENV = "KESTRA_APPROVAL_USER_HEADER"


def is_intake_path(path: str) -> bool:
    return path.startswith(ROUTE_PREFIXES)


def is_public(path: str) -> bool:
    return any(p.match(path) for p in PUBLIC_PATTERNS)


def intake_argv(host: str, port: int, flows_dir: str, webhooks: dict | None = None,
                proxy_secret_stdin: bool = False) -> list[str]:
    """``kestra.webhooks`` settings become the command's flags."""
    argv = [sys.executable, "-m", "kestra_dagster.cli", "server", "webhooks", "--host", host, "--port", str(port),
            "--flows-dir", flows_dir]
    if proxy_secret_stdin:
        argv.append("--proxy-secret-stdin")
    flags = {"max-body-bytes": "--max-body-bytes", "max-pending": "--max-pending", "max-json-depth": "--max-json-depth"}
    for key, value in (webhooks or {}).items():
        argv += [flags[key], str(value)]
    return argv


def daemon_argv(workspace: str, fallback: list[str]) -> list[str]:
    if importlib.util.find_spec("kestra_dagster.triggers.daemon") is not None:
        return [sys.executable, "-m", "kestra_dagster.triggers.daemon", "run", "-w", workspace]
    return [*fallback, "run", "-w", workspace]
