"""Regular expressions from flows, compiled on RE2 (linear time: no render hangs on a regex).

Shared by the Pebble filters (``replace``, ``split``, ``matches``) and jq's ``test``/``match``;
a module of its own so neither has to import the other.
"""

from __future__ import annotations

import functools
import re

from kestra_dagster.errors import ExpressionError

from .values import type_name


_REGEX_META = set(".^$*+?{}[]\\|()")


def compile_safe_regex(pattern: str, flags: int = 0):
    """Compile a user regex on RE2, a linear-time engine (no backtracking).

    Python's ``re`` backtracks and cannot be interrupted: ``(a+)+$`` or ``.*.*.*x`` on a long
    string would hold a worker (and the GIL) for minutes, past any timeout. RE2 matches in time
    linear in the text, so every regex filter (``matches``, ``replace``, ``split``, jq ``test``)
    finishes. What RE2 cannot do (back-references, look-around) is refused with a clear error,
    a deliberate difference from Kestra's Java regexes. ``flags``: ``re.IGNORECASE`` only.
    """
    if not isinstance(pattern, str):
        raise ExpressionError(f"regex must be a string, not {type_name(pattern)}")
    if len(pattern) > 1000:
        raise ExpressionError("regex is too long (over 1000 characters)")
    return _re2_compile(pattern, bool(flags & re.IGNORECASE))


@functools.lru_cache(maxsize=512)
def _re2_compile(pattern: str, ignore_case: bool):
    try:
        import re2
    except ImportError:  # pragma: no cover - google-re2 is a dependency
        raise ExpressionError("regexes need the google-re2 package (pip install google-re2)") from None
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 8 << 20
    if ignore_case:
        options.case_sensitive = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if re.search(r"\\[1-9]|\(\?P=|\(\?<?[=!]", pattern):
            raise ExpressionError(f"regex {pattern!r} uses back-references or look-around, which the linear-time "
                                  "regex engine (RE2) does not support; rewrite it without them") from None
        raise ExpressionError(f"invalid regex {pattern!r}: {detail}") from None
