"""Bounds on webhook JSON bodies, checked without recursion before anything parses them.

A small body nested hundreds of levels deep is cheap to send but breaks every recursive consumer
after it (``json``, Dagster's serialisation of run config, the renderer) with RecursionError: the
intake refuses it (400, with the depth found) and the webhook sensor rejects a stored one.
"""

from __future__ import annotations

import re
from typing import Any

#: Deeper JSON is refused. Real webhook payloads (GitHub, GitLab, Stripe…) stay under 15.
DEFAULT_MAX_JSON_DEPTH = 64
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def text_depth(text: str) -> int:
    """The nesting depth of the JSON (or JSON-like) ``text``: brackets outside strings, iteratively."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth = max(0, depth - 1)
    return deepest


def value_depth(value: Any, limit: int) -> int:
    """The nesting depth of a parsed value, iteratively; stops counting past ``limit``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
