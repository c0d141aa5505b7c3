"""Attack: a webhook trigger whose inputs take long to render stalls the intake's event loop.

kestra_dagster.triggers.render.render_off_loop renders on a render thread under a short budget:
the loop keeps serving (a heartbeat keeps ticking) and the render stops at its budget. The test
fails if rendering ran on the loop (no heartbeat) or without a budget (no error in time).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from kestra_dagster.errors import ExpressionError
from kestra_dagster.triggers.render import render_off_loop

pytestmark = pytest.mark.timeout(60)

SLOW = {"inputs": "{% for i in range(1, 99999) %}{{ trigger.body | replace({'a': 'b'}) | length }}{% endfor %}"}


def test_slow_webhook_input_render_neither_blocks_the_loop_nor_runs_on():
    async def main():
        beats = 0

        async def heartbeat():
            nonlocal beats
            while True:
                await asyncio.sleep(0.05)
                beats += 1

        beat = asyncio.create_task(heartbeat())
        started = time.monotonic()
        with pytest.raises(ExpressionError, match="intake budget"):
            await render_off_loop(SLOW, {"trigger": {"body": "a" * 200_000}}, seconds=1.0)
        elapsed = time.monotonic() - started
        beat.cancel()
        return beats, elapsed

    beats, elapsed = asyncio.run(main())
    assert elapsed < 3.0, elapsed
    assert beats >= 10, f"the event loop was blocked ({beats} heartbeats in {elapsed:.1f} s)"
