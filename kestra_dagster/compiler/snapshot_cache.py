"""A code location's snapshots kept on disk, so a reload whose flows did not change builds no
Dagster job.

When the webserver loads (or reloads) a code location it asks the new code-server process for
the repository snapshot (each job's snapshot id, the schedules and sensors), then for every job's
full snapshot, four at a time. Answering builds every Dagster job and its config schema: most of
a 1,000-flow reload, even with the parsed flows from the parse cache. Those answers are a
function of the flow files, our code and plugins (``code_fingerprint``), Dagster's version, the
repository name and the ``KESTRA_*`` settings, and are byte-identical from one process to the
next; together they make the key of the entries under ``$DAGSTER_HOME/.kestra-cache/snapshots``
(a private ``CacheDir``). On a hit the code server answers with the stored text and builds no
job until one is needed to run (a launched run builds its own; its snapshot id is the stored one).
A location's entries of an older key are deleted when a new key is stored.

Only repositories made by ``build_repository`` with the default translators take part: a
subclass's code is not in the key. Entries are text (Dagster's serialised snapshots), never
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

#: Repository → (which location it is, the key of what it was built from); set by ``build_repository``.
_locations: "weakref.WeakKeyDictionary[RepositoryDefinition, tuple[str, str]]" = weakref.WeakKeyDictionary()


def register(repository: "RepositoryDefinition", catalog: "FlowCatalog", paths: "list[str | os.PathLike]") -> None:
    """Remember what ``repository`` (over the flow directories ``paths``) was built from, so its
    snapshots can be looked up by it (nothing to do where no cache can be kept)."""
    if _cache() is None:
        return
    import dagster

    from kestra_dagster.compat import skip_job_preload
    from kestra_dagster.model.parse_cache import code_fingerprint

    identity = hashlib.sha256(f"{repository.name}\0{sorted(os.path.abspath(p) for p in paths)}".encode())
    digest = hashlib.sha256()
    digest.update(f"{repository.name}\0{dagster.__version__}\0{sys.version}\0"
                  f"{catalog.code_fingerprint or code_fingerprint()}\0".encode())
    for name in sorted(k for k in os.environ if k.startswith("KESTRA_")):
        digest.update(f"{name}={os.environ[name]}\0".encode())
    for uid in sorted(catalog.flows):
        loaded = catalog.flows[uid].loaded
        digest.update(f"{loaded.file}\0{len(loaded.text)}\0".encode() + loaded.text.encode() + b"\0")
    for file in sorted(catalog.broken):
        digest.update(f"{file}\0{catalog.broken[file]}\0".encode())
    _locations[repository] = (identity.hexdigest()[:16], digest.hexdigest()[:32])
    # A code server builds every job as it loads (Dagster's load_all_definitions); with the
    # snapshots stored, none is needed until asked for (CompiledFlow builds under a lock).
    skip_job_preload(repository, lambda: is_stored(repository))


def _entry(repository: "RepositoryDefinition", what: str) -> str | None:
    """``<location>-<key>-<what>``: one generation of a location shares ``<location>-<key>-``."""
    found = _locations.get(repository)
    return f"{found[0]}-{found[1]}-{what}" if found is not None else None


def _job(job_name: str) -> str:
    return "job-" + hashlib.sha256(job_name.encode()).hexdigest()[:24]


def is_stored(repository: "RepositoryDefinition") -> bool:
    """Whether a snapshot of ``repository`` as it is now is in the cache."""
    cache = _cache()
    return cache is not None and any(cache.has(e) for e in (_entry(repository, "refs"), _entry(repository, "full")) if e)


def repository_snapshot(repository: "RepositoryDefinition", defer_snapshots: bool) -> str:
    """Dagster's serialised ``RepositorySnap`` of ``repository`` (what a code server answers to
    ``ExternalRepository``), from the cache when it holds it."""
    from kestra_dagster.compat import serialized_repository_snap

    return _cached(repository, "refs" if defer_snapshots else "full",
                   lambda: serialized_repository_snap(repository, defer_snapshots))


def job_snapshot(repository: "RepositoryDefinition", job_name: str) -> str:
    """Dagster's serialised ``JobDataSnap`` of one job (what a code server answers to ``ExternalJob``:
    the webserver asks for every job's after the repository's), from the cache when it holds it."""
    from kestra_dagster.compat import serialized_job_data_snap

    return _cached(repository, _job(job_name), lambda: serialized_job_data_snap(repository, job_name))


def _cached(repository: "RepositoryDefinition", what: str, make) -> str:
    entry = _entry(repository, what)
    cache = _cache() if entry is not None else None
    if cache is None:
        return make()
    stored = cache.read(entry)
    if stored is not None:
        return stored.decode("utf-8")
    text = make()
    if what in ("refs", "full"):
        _forget_other_generations(cache, entry)
    cache.write(entry, text.encode("utf-8"))
    return text


def _forget_other_generations(cache: CacheDir, entry: str) -> None:
    """A location's new key makes its older entries useless: delete them now (a 3,000-flow
    location's job snapshots are ~75 MB) rather than when they have been idle for weeks."""
    location, key, _ = entry.split("-", 2)
    for path in cache.directory.glob(f"{location}-*{cache.suffix}") if cache.directory else ():
        if not path.name.startswith(f"{location}-{key}-"):
            try:
                path.unlink()
            except OSError:
                pass


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
    """Make this process's code server answer repository and job snapshots through the cache
    (False when this process is no code server, or Dagster's methods are gone: nothing is patched)."""
    from kestra_dagster.compat import code_server_class, external_job_reply, repository_of_request

    server_class = code_server_class()
    if server_class is None:
        return False
    repository_answer = getattr(server_class, "_get_serialized_external_repository_data", None)
    job_answer = getattr(server_class, "ExternalJob", None)
    if repository_answer is None or job_answer is None:
        log.warning("dagster's code server has no _get_serialized_external_repository_data or ExternalJob; "
                    "snapshots are not cached")
        return False
    if getattr(repository_answer, "_kestra_cached", False):
        return True

    def serialized_repository_data(self: Any, request: Any) -> str:
        try:
            repository = repository_of_request(self, request.serialized_repository_python_origin)
            if repository in _locations:
                return repository_snapshot(repository, request.defer_snapshots)
        except Exception:  # noqa: BLE001 - Dagster's own path answers with the error snapshot
            pass
        return repository_answer(self, request)

    def external_job(self: Any, request: Any, context: Any) -> Any:
        try:
            repository = repository_of_request(self, request.serialized_repository_origin)
            if repository in _locations:
                return external_job_reply(job_snapshot(repository, request.job_name))
        except Exception:  # noqa: BLE001 - Dagster's own path answers with the error
            pass
        return job_answer(self, request, context)

    serialized_repository_data._kestra_cached = True  # type: ignore[attr-defined]
    server_class._get_serialized_external_repository_data = serialized_repository_data
    server_class.ExternalJob = external_job
    return True
