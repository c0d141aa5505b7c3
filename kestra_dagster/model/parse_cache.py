"""Parsed flows kept on disk by content hash, so a reloaded code location re-parses only the files
that changed.

Dagster reloads a code location by starting a new code-server process, so an in-memory cache
would not survive it. Entries live under ``$DAGSTER_HOME/.kestra-cache/flows`` (a directory only
this user may open), keyed by the file's path and bytes plus a fingerprint of the code that parses
them (our modules' mtimes, the type index, the installed plugin families): editing a flow, our
code or a plugin misses the cache. Files that do not validate are never cached (their errors are
produced afresh). Without ``DAGSTER_HOME`` nothing is cached. An entry no load has used for
``MAX_IDLE_DAYS`` is deleted when a code location starts, so edits do not grow the cache forever.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from kestra_dagster.cache_dir import MAX_IDLE_DAYS, CacheDir, instance_cache_dir
from kestra_dagster.model.loader import MAX_FLOW_BYTES, LoadedFlow, load_flow_file, parse_flow

_PACKAGE = Path(__file__).resolve().parents[1]


def code_fingerprint() -> str:
    """What the parse depends on besides the file: our code, the type index, plugin families."""
    from kestra_dagster.registry import plugin_entry_points

    digest = hashlib.sha256()
    for stamp in _source_stamps(str(_PACKAGE)):
        digest.update(stamp.encode())
    for ep in plugin_entry_points():
        digest.update(f"{ep.name}={ep.module}@{ep.dist_version};".encode())
        if not ep.module.startswith(f"{_PACKAGE.name}."):
            # a plugin's own sources: one installed editable changes without a new version
            for stamp in _source_stamps(*_plugin_sources(ep.module)):
                digest.update(stamp.encode())
    return digest.hexdigest()[:32]


def _plugin_sources(module: str) -> list[str]:
    """The files or package directories ``module`` is loaded from (none when it cannot be found:
    the registry then reports the plugin as broken)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])


def _source_stamps(*roots: str) -> list[str]:
    """``path:mtime:size`` of every ``.py`` (and the type index) under ``roots``, sorted; os.walk and
    os.stat: a fraction of Path.rglob's cost."""
    stamps = []
    for top in roots:
        if os.path.isfile(top):
            walked = [(os.path.dirname(top), [], [os.path.basename(top)])]
        else:
            walked = os.walk(top)
        for root, dirs, files in walked:
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py") or name == "type_index.json":
                    path = os.path.join(root, name)
                    try:
                        info = os.stat(path)
                    except OSError:
                        continue
                    stamps.append(f"{path}:{info.st_mtime_ns}:{info.st_size};")
    return sorted(stamps)


class ParseCache:
    """``load(path)`` is ``load_flow_file(path)``, answered from disk when nothing it depends on changed."""

    def __init__(self, directory: str | os.PathLike | None):
        self._entries = CacheDir(directory, ".pickle")
        self.hits = self.misses = 0
        self._fingerprint = code_fingerprint() if self._entries.usable else ""
        self._entries.prune()

    @property
    def fingerprint(self) -> str:
        """``code_fingerprint()`` as this cache computed it ("" when nothing is cached)."""
        return self._fingerprint

    @property
    def directory(self) -> Path | None:
        """Where entries live (None: nothing is cached)."""
        return self._entries.directory

    def prune(self, max_idle_days: float = MAX_IDLE_DAYS) -> int:
        """Delete entries no load has used for ``max_idle_days``."""
        return self._entries.prune(max_idle_days)

    @classmethod
    def for_instance_home(cls) -> "ParseCache":
        return cls(instance_cache_dir("flows"))

    def load(self, path: str | os.PathLike) -> LoadedFlow:
        if self.directory is None:
            return load_flow_file(path)
        path = Path(path)
        try:
            data = path.read_bytes() if path.stat().st_size <= MAX_FLOW_BYTES else None
        except OSError:
            data = None
        if data is None:  # too large or unreadable: the loader says why
            return load_flow_file(path)
        key = hashlib.sha256(f"{self._fingerprint}\0{path}\0".encode() + data).hexdigest()
        cached = self._entries.read(key)
        if cached is not None:
            try:
                loaded = pickle.loads(cached)
                self.hits += 1
                return loaded
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError):
                pass
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return load_flow_file(path)
        loaded = parse_flow(text, file=str(path))  # raises FlowValidationError: not cached
        self.misses += 1
        try:
            self._entries.write(key, pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, TypeError, AttributeError):
            pass
        return loaded
