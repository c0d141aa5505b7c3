"""io.kestra.plugin.core.log.Fetch: errors that need no execution log (the log itself: tests/runtime)."""

from __future__ import annotations

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.log_fetch import Fetch


def test_fetch_outside_dagster_says_what_is_missing(make_ctx) -> None:
    with pytest.raises(TaskFailed, match="log.Fetch needs the execution log"):
        Fetch(id="f", type=Fetch.kestra_type).run(make_ctx())


def test_fetch_refuses_an_unknown_level(make_ctx) -> None:
    ctx = make_ctx(log_fetcher=lambda *args: [])
    with pytest.raises(TaskFailed, match="property 'level' must be one of TRACE, DEBUG, INFO, WARN, ERROR, got 'LOUD'"):
        Fetch(id="f", type=Fetch.kestra_type, level="loud").run(ctx)
