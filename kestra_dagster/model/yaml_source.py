"""Reading flow YAML fast, and locating errors in it only when there are errors.

The fast path uses libyaml (``CSafeLoader``): loading a thousand flows must take well under a
second. Positions are needed only to report a problem, so they come from a second, slower parse
through Dagster's own source-position machinery (``dagster_shared.yaml_utils``) on demand.
Duplicate mapping keys, which PyYAML silently merges, are an error on both paths.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Sequence

import yaml

from kestra_dagster.errors import FlowIssue

try:  # libyaml is optional in PyYAML wheels; fall back to the pure-Python loader
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


class _FlowLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicate keys and keeps timestamps as strings (Kestra does)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL_TAG:
                # Map keys are text to Kestra (Jackson): `true:` stays "true", so a Switch with
                # cases `1:` and `true:` has two cases (as Python values, True == 1 would collide).
                key_node.tag = "tag:yaml.org,2002:str"
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
                ) from None
            if key in seen:
                raise DuplicateKeyError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first defined on line {seen[key].line + 1}); remove one of them",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


# Kestra reads YAML with Jackson, which follows YAML 1.2 scalars: `2024-01-01` stays text and
# only true/false are booleans (`on`, `off`, `yes`, `no` are strings, e.g. a task id `off`).
_BOOL_TAG = "tag:yaml.org,2002:bool"
_FlowLoader.yaml_implicit_resolvers = {
    ch: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp", _BOOL_TAG)]
    for ch, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_FlowLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def yaml_error_issue(exc: yaml.YAMLError, file: str, text: str) -> FlowIssue:
    """Turn a PyYAML error into a located issue."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context and "duplicate" not in problem else "")
    line = mark.line + 1 if mark else 1
    column = mark.column + 1 if mark else 1
    return FlowIssue(message=message, file=file, line=line, column=column, snippet=snippet(text, line, column))


# Bounds on what one flow file may cost to load. Kestra flows are small text files; an alias
# bomb (``&a [*a, *a…]`` nested a few times) is a few hundred bytes that expands to billions of
# nodes, and a 14 MB file with 200 kB lines is never a flow someone wrote.
MAX_FLOW_BYTES = 1024 * 1024          # the file as stored
MAX_LINE_CHARS = 64 * 1024            # one line (an inline script's longest line fits easily)
MAX_EXPANDED_NODES = 200_000          # scalars + collections after aliases are expanded
MAX_DEPTH = 200                       # nesting of mappings and sequences


class FlowTooLargeError(yaml.MarkedYAMLError):
    """The document is bigger (expanded) or deeper than a flow may be."""


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the nodes ``root`` expands to (aliases counted every time they are used) without
    expanding anything: each node's size is computed once, bottom-up, iteratively."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if depth > MAX_DEPTH:
            raise FlowTooLargeError(None, None, f"the document is nested more than {MAX_DEPTH} levels deep",
                                    node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_EXPANDED_NODES:
                raise FlowTooLargeError(
                    None, None, f"this value expands to more than {MAX_EXPANDED_NODES:,} YAML nodes (YAML aliases "
                    "repeat what they point to): write the values out or split the flow", node.start_mark)
            sizes[key] = total
            continue
        if key in on_path:
            raise FlowTooLargeError(None, None, "a YAML alias refers to a value that contains it (endless value)",
                                    node.start_mark)
        on_path.add(key)
        stack.append((node, depth, True))
        for child in children:
            if id(child) in on_path:
                raise FlowTooLargeError(None, None, "a YAML alias refers to a value that contains it (endless value)",
                                        child.start_mark)
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))


def check_text_bounds(text: str) -> tuple[str, int, int] | None:
    """``(message, line, column)`` when the text is too large or has a too-long line, else None."""
    if len(text) > MAX_FLOW_BYTES:
        return (f"the flow is {len(text):,} characters long; a flow may hold at most {MAX_FLOW_BYTES:,} "
                "(move data into namespace files or inputs)", 1, 1)
    start = 0
    line = 1
    while True:
        end = text.find("\n", start)
        stop = len(text) if end < 0 else end
        if stop - start > MAX_LINE_CHARS:
            return (f"line {line} is {stop - start:,} characters long; a line may hold at most {MAX_LINE_CHARS:,}",
                    line, MAX_LINE_CHARS + 1)
        if end < 0:
            return None
        start = end + 1
        line += 1


def load_yaml(text: str) -> Any:
    """Parse one YAML document (the fast path), within the bounds above. Raises yaml.YAMLError."""
    loader = _FlowLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def format_path(path: Sequence[Any]) -> str:
    """('tasks', 2, 'retry', 'type') → ``tasks[2].retry.type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_SNIPPET_WIDTH = 160


def snippet(text: str, line: int, column: int, context: int = 1) -> str:
    """The offending line (and its neighbours) with a caret under the column."""
    lines = text.splitlines()
    if not lines or line < 1:
        return ""
    line = min(line, len(lines))
    width = len(str(min(len(lines), line + context)))
    out = []
    # never echo a huge line: show at most _SNIPPET_WIDTH characters around the column
    first = max(0, column - 1 - _SNIPPET_WIDTH // 2) if column > _SNIPPET_WIDTH else 0
    for n in range(max(1, line - context), line + 1):
        text_line = lines[n - 1]
        shown = text_line[first:first + _SNIPPET_WIDTH]
        if first:
            shown = "…" + shown
        if len(text_line) > first + _SNIPPET_WIDTH:
            shown += f"… ({len(text_line):,} characters)"
        out.append(f"  {str(n).rjust(width)} | {shown}")
    out.append(f"  {' ' * width} | {' ' * (max(0, column - 1 - first) + (1 if first else 0))}^")
    return "\n".join(out)


class SourceLocator:
    """Finds the line and column of a YAML path, parsing positions only when first asked."""

    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file

    @cached_property
    def _tree(self):
        from dagster_shared.yaml_utils import parse_yaml_with_source_position

        try:
            return parse_yaml_with_source_position(self.text, filename=self.file).source_position_tree
        except Exception:
            return None

    def locate(self, path: Sequence[Any]) -> tuple[int, int]:
        tree = self._tree
        if tree is None:
            return 1, 1
        position, _ = tree.lookup_closest_and_path(list(path), trace=None)
        return position.start.line, position.start.col

    def issue(self, path: Sequence[Any], message: str) -> FlowIssue:
        line, column = self.locate(path)
        return FlowIssue(
            message=message,
            path=format_path(path),
            file=self.file,
            line=line,
            column=column,
            snippet=snippet(self.text, line, column),
        )
