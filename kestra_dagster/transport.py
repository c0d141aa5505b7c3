"""Retrying transient transport faults, one policy for every client (OCI registries, webhooks…).

Below both the OCI client and the SDK (which re-exports it), so either may use it.

A fault is transient when the peer could not be reached or answered 429 or 5xx; anything else
(401, 404, a bad request) will not go away by itself and is not retried. Waits grow
exponentially from ``base`` (``base * 2**(attempt-1)``, plus an optional random ``jitter``
fraction so many clients do not retry in step), a server's ``Retry-After`` wins when it gives
one, and a wait ends early, as ``TaskKilled``, when the task is cancelled.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from kestra_dagster.errors import TaskKilled


def is_transient(status: int) -> bool:
    """True for "no response" (0), 429 and 5xx: worth another attempt."""
    return status == 0 or status == 429 or status >= 500


@dataclass(frozen=True)
class Backoff:
    """``attempts`` in all (the first included), waiting ``delay(n)`` seconds before attempt n+1."""

    attempts: int = 4
    base: float = 1.0
    jitter: float = 0.0

    def may_retry(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (from 1), having failed transiently, gets another."""
        return attempt < self.attempts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return retry_after
        return self.base * (2 ** (attempt - 1)) * (1 + random.random() * self.jitter)


def wait(seconds: float, cancel_event: threading.Event | None = None, what: str = "operation") -> None:
    """Sleep ``seconds``; raise ``TaskKilled`` at once if ``cancel_event`` is set meanwhile."""
    if cancel_event is None:
        time.sleep(seconds)
    elif cancel_event.wait(seconds):
        raise TaskKilled(f"{what} cancelled")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds to wait (delta-seconds or an HTTP date), None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
