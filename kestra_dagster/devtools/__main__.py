"""``python -m kestra_dagster.devtools imports``: exit 1 on an import cycle or a stray ``dagster._*``.

``--modules`` also lists cycles between modules (inside a package too); ``--strict`` checks the
modules listed in ``imports.BEING_REWORKED`` as well.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["imports"]:
        print("usage: python -m kestra_dagster.devtools imports [--modules] [--strict]", file=sys.stderr)
        return 2
    from kestra_dagster.devtools.imports import BEING_REWORKED, build_graph, report

    graph = build_graph()
    strict = "--strict" in args
    text, ok = report(graph, allowed_private=frozenset() if strict else BEING_REWORKED,
                      skip_edges_of=frozenset() if strict else BEING_REWORKED)
    print(text)
    if "--modules" in args:
        for cycle in graph.module_cycles():
            print("module cycle: " + " ↔ ".join(cycle))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
