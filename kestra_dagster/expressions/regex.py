"""Regular expressions from flows, compiled only when they cannot backtrack exponentially.

Shared by the Pebble filters (``replace``, ``split``, ``matches``) and jq's ``test``/``match``;
a module of its own so neither has to import the other.
"""

from __future__ import annotations

import re

from kestra_dagster.errors import ExpressionError

from .values import type_name


_REGEX_META = set(".^$*+?{}[]\\|()")


def compile_safe_regex(pattern: str, flags: int = 0) -> re.Pattern:
    """Compile a user regex, refusing shapes that backtrack exponentially.

    Python's ``re`` has no timeout, so ``(a+)+$`` on a long string would hang a worker.
    Rejected: back-references, and repeated (``*``, ``+``, ``{n,}``) groups that themselves
    contain a repetition or an alternation.
    """
    if not isinstance(pattern, str):
        raise ExpressionError(f"regex must be a string, not {type_name(pattern)}")
    if len(pattern) > 500:
        raise ExpressionError("regex is too long (over 500 characters)")
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        raise ExpressionError(f"regex {pattern!r} uses back-references, which are not allowed")
    stack: list[bool] = []  # per open group: contains repetition/alternation
    i, n = 0, len(pattern)
    last_group_risky = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            last_group_risky = False
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last_group_risky = False
            continue
        if ch == "(":
            stack.append(False)
        elif ch == ")":
            last_group_risky = stack.pop() if stack else False
            if stack and last_group_risky:
                stack[-1] = True
            i += 1
            if i < n and (pattern[i] in "*+" or (pattern[i] == "{" and re.match(r"\{\d*,\d*\}|\{\d{2,}\}", pattern[i:]))):
                if last_group_risky:
                    raise ExpressionError(f"regex {pattern!r} may backtrack catastrophically (nested repetition)")
                if stack:
                    stack[-1] = True
            continue
        elif ch in "*+{|" and stack:
            stack[-1] = True
        i += 1
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ExpressionError(f"invalid regex {pattern!r}: {exc}") from None
