"""Git provider webhooks: signature checks and event filters (GitHub, GitLab).

* GitHub signs the raw body with HMAC SHA-256 and sends ``X-Hub-Signature-256: sha256=<hex>``.
* GitLab sends the shared token itself in ``X-Gitlab-Token``.

Both are compared in constant time. Filters: ``events`` (GitHub ``X-GitHub-Event`` name, GitLab
``object_kind`` or ``X-Gitlab-Event`` name), ``branches``/``tags`` (globs on the branch or tag the
event is about; for pull/merge requests, the target branch) and ``actions`` (pull/merge request
actions; events without an action are not filtered by it).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Mapping

from kestra_dagster.triggers.conditions import glob_match

#: Headers whose value is the shared secret itself: replaced before anything is stored.
SECRET_HEADERS = ("x-gitlab-token",)


class SignatureError(Exception):
    """The request is not signed (or not signed with the trigger's secret)."""


@dataclass
class GitEvent:
    event: str | None  # push, pull_request, create, tag_push, merge_request…
    ref_kind: str | None  # "branch" | "tag" | None
    ref_name: str | None
    action: str | None


def verify_signature(provider: str, secret: str | None, headers: Mapping[str, str], raw_body: bytes) -> None:
    """Raise SignatureError unless the request carries a valid signature for ``secret``.

    ``secret=None`` means the trigger explicitly accepts unsigned deliveries (``allowUnsigned``);
    an empty secret (e.g. a ``secret()`` that renders to nothing) is refused, never "no check".
    """
    if provider not in ("github", "gitlab"):
        return
    if secret is None:
        return
    if not secret.strip():
        raise SignatureError("the trigger's secret is empty on this server; deliveries cannot be verified")
    if provider == "github":
        given = headers.get("x-hub-signature-256", "")
        if not given.startswith("sha256="):
            raise SignatureError("missing X-Hub-Signature-256 (sha256=…) header")
        expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
            raise SignatureError("X-Hub-Signature-256 does not match the body for the configured secret")
        return
    given = headers.get("x-gitlab-token")
    if given is None:
        raise SignatureError("missing X-Gitlab-Token header")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise SignatureError("X-Gitlab-Token does not match the configured secret")


def github_signature(secret: str, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send (for clients and tests)."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def _split_ref(ref: str | None) -> tuple[str | None, str | None]:
    if not ref:
        return None, None
    if ref.startswith("refs/heads/"):
        return "branch", ref[len("refs/heads/"):]
    if ref.startswith("refs/tags/"):
        return "tag", ref[len("refs/tags/"):]
    return None, ref


def parse_event(provider: str, headers: Mapping[str, str], body: Any) -> GitEvent:
    body = body if isinstance(body, dict) else {}
    if provider == "github":
        event = headers.get("x-github-event")
        if event in ("create", "delete"):
            kind = body.get("ref_type") if body.get("ref_type") in ("branch", "tag") else None
            return GitEvent(event, kind, body.get("ref"), None)
        if event == "pull_request" or event == "pull_request_review":
            base = ((body.get("pull_request") or {}).get("base") or {}).get("ref")
            return GitEvent(event, "branch" if base else None, base, body.get("action"))
        if event == "release":
            return GitEvent(event, "tag", (body.get("release") or {}).get("tag_name"), body.get("action"))
        kind, name = _split_ref(body.get("ref"))
        return GitEvent(event, kind, name, body.get("action"))
    # GitLab: object_kind in the body is the stable name (push, tag_push, merge_request…)
    event = body.get("object_kind") or headers.get("x-gitlab-event")
    if event == "merge_request":
        attrs = body.get("object_attributes") or {}
        target = attrs.get("target_branch")
        return GitEvent(event, "branch" if target else None, target, attrs.get("action"))
    kind, name = _split_ref(body.get("ref"))
    return GitEvent(event, kind, name, None)


def event_matches(trigger: Any, provider: str, headers: Mapping[str, str], body: Any) -> tuple[bool, str]:
    """(accepted, reason) for a delivery against the trigger's ``events``/``branches``/``tags``/``actions``."""
    info = parse_event(provider, headers, body)
    if provider == "github" and info.event == "ping":
        return False, "ping event (GitHub checks the hook): nothing to run"
    if trigger.events:
        names = {info.event}
        if provider == "gitlab":
            names.add(headers.get("x-gitlab-event"))
        if not names & set(trigger.events):
            return False, f"event {info.event!r} is not in {trigger.events}"
    if trigger.branches or trigger.tags:
        if info.ref_kind == "branch":
            if not (trigger.branches and glob_match(info.ref_name or "", trigger.branches)):
                return False, f"branch {info.ref_name!r} does not match {trigger.branches}"
        elif info.ref_kind == "tag":
            if not (trigger.tags and glob_match(info.ref_name or "", trigger.tags)):
                return False, f"tag {info.ref_name!r} does not match {trigger.tags}"
        else:
            return False, f"event {info.event!r} names no branch or tag"
    if trigger.actions and info.action is not None and info.action not in trigger.actions:
        return False, f"action {info.action!r} is not in {trigger.actions}"
    return True, ""
