"""``python -m kestra_dagster.devtools imports``: exit 1 on an import cycle or a stray ``dagster._*``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["imports"]:
        print("usage: python -m kestra_dagster.devtools imports [--modules]", file=sys.stderr)
        return 2
    from kestra_dagster.devtools.imports import build_graph, report

    graph = build_graph()
    text, ok = report(graph)
    print(text)
    if "--modules" in args:
        for cycle in graph.module_cycles():
            print("module cycle: " + " ↔ ".join(cycle))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
