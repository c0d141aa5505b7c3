"""The flows a server process answers for, re-read when their files change.

Servers (webhook intake, approvals API) only need the flow models, not the compiled Dagster
jobs; a file that fails to load is logged once and left out (its webhooks answer 404). A flow
that parses but that the code location refuses, as ``compiler.definitions.load_catalog`` does
(unsupported task types, an id already used by another file), is kept apart with the reason
(``refusal``), so the intake can say why instead of storing a delivery no run will ever follow.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import LoadedFlow, iter_flow_files, load_flow_file

log = logging.getLogger("kestra_dagster.server")


class FlowIndex:
    def __init__(self, paths: list[str | os.PathLike], rescan_seconds: float = 2.0):
        self.paths = [Path(p) for p in paths]
        self.rescan_seconds = rescan_seconds
        self._flows: dict[tuple[str, str], LoadedFlow] = {}
        self._refused: dict[tuple[str, str], tuple[LoadedFlow, str]] = {}
        self._mtimes: dict[Path, float] = {}
        self._by_file: dict[Path, LoadedFlow | None] = {}
        self._scanned = 0.0
        self._lock = threading.Lock()
        self.rescan(force=True)

    def get(self, namespace: str, flow_id: str) -> LoadedFlow | None:
        self.rescan()
        return self._flows.get((namespace, flow_id))

    def refusal(self, namespace: str, flow_id: str) -> str | None:
        """Why the code location does not load this flow (None: it does, or there is no such flow)."""
        self.rescan()
        found = self._refused.get((namespace, flow_id))
        return found[1] if found else None

    def refused_flow(self, namespace: str, flow_id: str) -> LoadedFlow | None:
        found = self._refused.get((namespace, flow_id))
        return found[0] if found else None

    def all(self) -> list[LoadedFlow]:
        self.rescan()
        return list(self._flows.values())

    def rescan(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._scanned < self.rescan_seconds:
            return
        with self._lock:
            if not force and now - self._scanned < self.rescan_seconds:
                return
            seen: set[Path] = set()
            for file in iter_flow_files(self.paths):
                seen.add(file)
                try:
                    mtime = file.stat().st_mtime
                except OSError:
                    continue
                if self._mtimes.get(file) == mtime:
                    continue
                self._mtimes[file] = mtime
                try:
                    loaded = load_flow_file(file)
                except FlowValidationError as exc:
                    log.error("flow file %s is invalid and is not served: %s", file, exc)
                    loaded = None
                self._by_file[file] = loaded
            for gone in set(self._by_file) - seen:
                self._by_file.pop(gone, None)
                self._mtimes.pop(gone, None)
            flows: dict[tuple[str, str], LoadedFlow] = {}
            refused: dict[tuple[str, str], tuple[LoadedFlow, str]] = {}
            for file in sorted(self._by_file):  # the catalog's order: the first file of an id wins
                f = self._by_file[file]
                if f is None:
                    continue
                uid = (f.flow.namespace, f.flow.id)
                if f.unsupported:
                    refused.setdefault(uid, (f, "; ".join(f"{file}:{u.line}: {u.path}: {u.message()}"
                                                          for u in f.unsupported)[:1000]))
                elif uid in flows:
                    refused.setdefault(uid, (f, f"{file}: flow {f.flow.uid} is already defined in {flows[uid].file}"))
                else:
                    flows[uid] = f
            self._flows = flows
            self._refused = {uid: r for uid, r in refused.items() if uid not in flows}
            self._scanned = time.monotonic()
