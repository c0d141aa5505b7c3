"""Reading task properties the way Kestra's plugins do: text, lists written as one string, globs."""

from __future__ import annotations

import json
import re
from typing import Any

from kestra_dagster.errors import TaskFailed


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def as_list(value: Any, prop: str) -> list[str]:
    """A list property that may have been written (or rendered) as one string or a JSON list."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [as_text(v) for v in parsed]
        return [value]
    if isinstance(value, (list, tuple)):
        return [as_text(v) for v in value]
    raise TaskFailed(f"property '{prop}' must be a list of strings, got {type(value).__name__}")


def glob_regex(pattern: str) -> re.Pattern:
    """Java-style glob → regex on ``/``-separated relative paths.

    ``*`` and ``?`` stay within one path segment, ``**`` crosses segments (``**/`` also matches
    no folder at all), ``[abc]``/``[!abc]`` are classes and ``{a,b}`` alternatives.
    """

    def convert(text: str) -> str:
        out, i, n = [], 0, len(text)
        while i < n:
            c = text[i]
            if c == "*":
                if text.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                if text.startswith("**", i):
                    out.append(".*")
                    i += 2
                    continue
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "[":
                end = text.find("]", i + 2 if text.startswith("[!", i) or text.startswith("[^", i) else i + 1)
                if end == -1:
                    out.append(re.escape(c))
                else:
                    body = text[i + 1:end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out.append("[" + body.replace("\\", "\\\\") + "]")
                    i = end
            elif c == "{":
                depth, j, parts, start = 1, i + 1, [], i + 1
                while j < n and depth:
                    if text[j] == "{":
                        depth += 1
                    elif text[j] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    elif text[j] == "," and depth == 1:
                        parts.append(text[start:j])
                        start = j + 1
                    j += 1
                if depth:
                    out.append(re.escape(c))
                else:
                    parts.append(text[start:j])
                    out.append("(?:" + "|".join(convert(p) for p in parts) + ")")
                    i = j
            else:
                out.append(re.escape(c))
            i += 1
        return "".join(out)

    cleaned = pattern.strip().replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return re.compile("^" + convert(cleaned.lstrip("/")) + "$")
