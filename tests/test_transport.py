"""The one transport-retry policy (kestra_dagster.transport) the OCI client and webhooks share."""

from __future__ import annotations

import threading
import time

import pytest

from kestra_dagster.errors import TaskKilled
from kestra_dagster.transport import Backoff, is_transient, retry_after_seconds, wait


def test_transient_statuses():
    assert [s for s in (0, 200, 400, 401, 404, 429, 500, 503) if is_transient(s)] == [0, 429, 500, 503]


def test_backoff_doubles_from_base_and_counts_the_first_attempt():
    policy = Backoff(attempts=4, base=0.5)
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [policy.may_retry(n) for n in (1, 2, 3, 4)] == [True, True, True, False]
    assert policy.delay(2, retry_after=7.0) == 7.0
    jittered = Backoff(base=1.0, jitter=0.1)
    assert all(1.0 <= jittered.delay(1) <= 1.1 for _ in range(50))


def test_retry_after_in_seconds_or_http_date():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_a_wait_ends_as_killed_when_cancelled():
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(TaskKilled, match="registry operation cancelled"):
        wait(10, cancel, what="registry operation")
    assert time.monotonic() - started < 2
