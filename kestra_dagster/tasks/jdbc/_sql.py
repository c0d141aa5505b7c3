"""SQL text helpers: split a ``Queries`` script into statements, bind Kestra's ``:name`` parameters.

Both walk the text once, skipping string literals, quoted identifiers, comments and PostgreSQL
dollar-quoted bodies, so a ``;`` or ``:x`` inside them is left alone (``::int`` casts too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kestra_dagster.errors import TaskFailed

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Statement:
    text: str
    line: int  # 1-based line of its first character in the script


def _skip(sql: str, i: int) -> int | None:
    """If a literal/comment starts at ``i``, the index just after it; else None."""
    ch = sql[i]
    two = sql[i:i + 2]
    if two == "--":
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end
    if two == "/*":
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    if ch in ("'", '"', "`"):
        j = i + 1
        while j < len(sql):
            if sql[j] == "\\" and ch == "'":
                j += 2
                continue
            if sql[j] == ch:
                if sql[j + 1:j + 2] == ch:  # doubled quote
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if ch == "$":
        m = _DOLLAR.match(sql, i)
        if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            end = sql.find(m.group(0), m.end())
            return len(sql) if end < 0 else end + len(m.group(0))
    return None


def split_statements(sql: str) -> list[Statement]:
    """Statements separated by ``;`` outside literals and comments; blank ones dropped."""
    out: list[Statement] = []
    start = i = 0
    while i < len(sql):
        skipped = _skip(sql, i)
        if skipped is not None:
            i = skipped
            continue
        if sql[i] == ";":
            _add(out, sql, start, i)
            start = i + 1
        i += 1
    _add(out, sql, start, len(sql))
    return out


def _add(out: list[Statement], sql: str, start: int, end: int) -> None:
    chunk = sql[start:end]
    if not _strip_comments(chunk).strip():
        return
    offset = 0
    while True:  # the statement starts after leading blanks and comments
        while offset < len(chunk) and chunk[offset].isspace():
            offset += 1
        if chunk[offset:offset + 2] in ("--", "/*"):
            offset = _skip(chunk, offset) or len(chunk)
            continue
        break
    out.append(Statement(chunk[offset:].strip(), sql.count("\n", 0, start + offset) + 1))


def _strip_comments(sql: str) -> str:
    out, i = [], 0
    while i < len(sql):
        skipped = _skip(sql, i)
        if skipped is not None and sql[i:i + 2] in ("--", "/*"):
            i = skipped
            continue
        if skipped is not None:
            out.append(sql[i:skipped])
            i = skipped
            continue
        out.append(sql[i])
        i += 1
    return "".join(out)


def bind_named(sql: str, parameters: dict[str, Any] | None, placeholder: str) -> tuple[str, list[Any]]:
    """``:name`` → the driver's positional ``placeholder`` (``%s`` or ``?``), with values in order.

    Without parameters the SQL is returned untouched. With ``%s`` drivers a literal ``%`` is
    doubled. A ``:name`` that ``parameters`` lacks is an error naming it.
    """
    if not parameters:
        return sql, []
    out: list[str] = []
    values: list[Any] = []
    i = 0
    while i < len(sql):
        skipped = _skip(sql, i)
        if skipped is not None:
            piece = sql[i:skipped]
            out.append(piece.replace("%", "%%") if placeholder == "%s" else piece)
            i = skipped
            continue
        ch = sql[i]
        if ch == ":" and sql[i + 1:i + 2] == ":":  # a ::cast
            out.append("::")
            i += 2
            continue
        if ch == ":" and (i == 0 or sql[i - 1] != ":"):
            m = _NAME.match(sql, i + 1)
            if m:
                name = m.group(0)
                if name not in parameters:
                    raise TaskFailed(f"property 'sql' uses :{name} but 'parameters' has no {name!r} "
                                     f"(it has {', '.join(sorted(parameters)) or 'nothing'})")
                out.append(placeholder)
                values.append(parameters[name])
                i = m.end()
                continue
        out.append("%%" if ch == "%" and placeholder == "%s" else ch)
        i += 1
    return "".join(out), values


def first_keyword(sql: str) -> str:
    m = _NAME.search(_strip_comments(sql))
    return m.group(0).upper() if m else ""
