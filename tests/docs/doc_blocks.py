"""Fenced code blocks of the Markdown docs, with where they are and what a marker says about them.

A block may be preceded by an HTML comment that tells the docs tests how to treat it:

* ``<!-- doc-example: invalid PATH -->`` before a ``yaml`` flow: the flow is broken on purpose;
  saved as ``PATH``, ``kestra-dagster validate PATH`` must print exactly the next fenced block.
* ``<!-- doc-example: compile-only REASON -->`` before a ``python`` block: compiled, not run.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "deploy" / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"<!--\s*doc-example:\s*(?P<kind>[\w-]+)\s*(?P<arg>.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str = ""
    marker_arg: str = ""

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, dedented, with the marker comment just before it (if any)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.search(previous)
        out.append(Block(path, start + 1, fence["lang"].lower(), textwrap.dedent("\n".join(body)) + "\n",
                         marker["kind"] if marker else "", marker["arg"] if marker else ""))
        i += 1
    return out


def all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in blocks(doc)]


def following(block: Block) -> Block:
    """The fenced block right after ``block`` in the same file (the output an example shows)."""
    same = blocks(block.file)
    index = next(i for i, b in enumerate(same) if b.line == block.line)
    assert index + 1 < len(same), f"{block.where}: a doc-example marker needs the expected output block after it"
    return same[index + 1]
