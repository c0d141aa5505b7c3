"""A code location's repository snapshot kept on disk, so a reload whose flows did not change
builds no Dagster job.

When the webserver loads (or reloads) a code location it asks the new code-server process for
the repository snapshot: every job's snapshot id, the schedules and the sensors. Making it builds
every Dagster job, ~8 ms per flow: most of a 1,000-flow reload, even when the parsed flows come
from the parse cache. The snapshot is a function of the flow files, our code and plugins
(``code_fingerprint``), Dagster's version, the repository name and the ``KESTRA_*`` settings, and
it is byte-identical from one process to the next; those make the key of an entry under
``$DAGSTER_HOME/.kestra-cache/snapshots`` (a private ``CacheDir``). On a hit the code server
answers with the stored text; a job is still built when it is asked for on its own (its page, a
launched run) and its snapshot id is the one stored.

Only repositories made by ``build_repository`` with the default translators take part: a
subclass's code is not in the key. Entries are text (Dagster's serialised snapshot), never
unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import weakref
from typing import TYPE_CHECKING, Any

from kestra_dagster.cache_dir import CacheDir, instance_cache_dir

if TYPE_CHECKING:
    from dagster import RepositoryDefinition

    from kestra_dagster.compiler.definitions import FlowCatalog

log = logging.getLogger("kestra_dagster.code_server")

#: Repository → the key of what it was built from (set by ``build_repository``).
_location_keys: "weakref.WeakKeyDictionary[RepositoryDefinition, str]" = weakref.WeakKeyDictionary()


def register(repository: "RepositoryDefinition", catalog: "FlowCatalog") -> None:
    """Remember what ``repository`` was built from, so its snapshot can be looked up by it."""
    import dagster

    from kestra_dagster.model.parse_cache import code_fingerprint

    digest = hashlib.sha256()
    digest.update(f"{repository.name}\0{dagster.__version__}\0{sys.version}\0{code_fingerprint()}\0".encode())
    for name in sorted(k for k in os.environ if k.startswith("KESTRA_")):
        digest.update(f"{name}={os.environ[name]}\0".encode())
    for uid in sorted(catalog.flows):
        loaded = catalog.flows[uid].loaded
        digest.update(f"{loaded.file}\0{len(loaded.text)}\0".encode() + loaded.text.encode() + b"\0")
    for file in sorted(catalog.broken):
        digest.update(f"{file}\0{catalog.broken[file]}\0".encode())
    _location_keys[repository] = digest.hexdigest()
    from kestra_dagster.compat import skip_job_preload

    # A code server builds every job as it loads (Dagster's load_all_definitions); with the
    # snapshot stored, none is needed until asked for (CompiledFlow builds under a lock).
    skip_job_preload(repository, lambda: is_stored(repository))


def _entry(repository: "RepositoryDefinition", defer_snapshots: bool) -> str | None:
    key = _location_keys.get(repository)
    return f"{key[:48]}-{'refs' if defer_snapshots else 'full'}" if key is not None else None


def is_stored(repository: "RepositoryDefinition") -> bool:
    """Whether a snapshot of ``repository`` as it is now is in the cache."""
    cache = _cache()
    return cache is not None and any(cache.has(e) for e in (_entry(repository, True), _entry(repository, False)) if e)


def repository_snapshot(repository: "RepositoryDefinition", defer_snapshots: bool) -> str:
    """Dagster's serialised ``RepositorySnap`` of ``repository``, from the cache when it holds it."""
    from kestra_dagster.compat import serialized_repository_snap

    entry = _entry(repository, defer_snapshots)
    cache = _cache() if entry is not None else None
    if cache is None:
        return serialized_repository_snap(repository, defer_snapshots)
    stored = cache.read(entry)
    if stored is not None:
        return stored.decode("utf-8")
    text = serialized_repository_snap(repository, defer_snapshots)
    cache.write(entry, text.encode("utf-8"))
    return text


_caches: dict[str, CacheDir] = {}


def _cache() -> CacheDir | None:
    directory = instance_cache_dir("snapshots")
    if directory is None:
        return None
    cache = _caches.get(str(directory))
    if cache is None:
        cache = _caches[str(directory)] = CacheDir(directory, ".json")
        cache.prune()
    return cache if cache.usable else None


def install() -> bool:
    """Make this process's code server answer repository snapshots through the cache (False when
    this process is no code server, or Dagster's method is gone: nothing is patched)."""
    from kestra_dagster.compat import code_server_class, repository_of_request

    server_class = code_server_class()
    if server_class is None:
        return False
    original = getattr(server_class, "_get_serialized_external_repository_data", None)
    if original is None:
        log.warning("dagster's code server has no _get_serialized_external_repository_data; "
                    "repository snapshots are not cached")
        return False
    if getattr(original, "_kestra_cached", False):
        return True

    def serialized_repository_data(self: Any, request: Any) -> str:
        try:
            repository = repository_of_request(self, request)
            if repository not in _location_keys:
                return original(self, request)
            return repository_snapshot(repository, request.defer_snapshots)
        except Exception:  # noqa: BLE001 - Dagster's own path answers with the error snapshot
            return original(self, request)

    serialized_repository_data._kestra_cached = True  # type: ignore[attr-defined]
    server_class._get_serialized_external_repository_data = serialized_repository_data
    return True
