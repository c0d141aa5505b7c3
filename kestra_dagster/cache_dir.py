"""Private on-disk caches under ``$DAGSTER_HOME/.kestra-cache``, shared by the code locations of
one instance and surviving their restarts (Dagster reloads a location by starting a new process).

A cache directory is used only when this user alone may open it: others could otherwise plant
entries (a parsed flow is a pickle; a snapshot is what the UI shows). Entries are written whole
(a temporary file renamed over the entry), touched when read, and deleted once no load has used
them for ``MAX_IDLE_DAYS``, so edits do not grow a cache forever.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

CACHE_DIR_NAME = ".kestra-cache"
MAX_IDLE_DAYS = 14


def instance_cache_dir(name: str) -> Path | None:
    """``$DAGSTER_HOME/.kestra-cache/<name>``, or None without a ``DAGSTER_HOME``."""
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) / CACHE_DIR_NAME / name if home else None


class CacheDir:
    """Entries named by their key in one private directory; ``usable`` is False when none is."""

    def __init__(self, directory: str | os.PathLike | None, suffix: str):
        self.suffix = suffix
        self.directory = Path(directory) if directory else None
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                info = self.directory.stat()
            except OSError:
                self.directory = None
                return
            if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
                self.directory = None  # others may write here: do not trust what it holds

    @property
    def usable(self) -> bool:
        return self.directory is not None

    def has(self, key: str) -> bool:
        return self.directory is not None and (self.directory / f"{key}{self.suffix}").is_file()

    def read(self, key: str) -> bytes | None:
        if self.directory is None:
            return None
        entry = self.directory / f"{key}{self.suffix}"
        try:
            data = entry.read_bytes()
        except OSError:
            return None
        try:
            os.utime(entry)  # in use: not pruned
        except OSError:
            pass
        return data

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (readers see a whole entry or none); failures only lose the entry."""
        if self.directory is None:
            return
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.directory / f"{key}{self.suffix}")
        except OSError:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def prune(self, max_idle_days: float = MAX_IDLE_DAYS) -> int:
        """Delete entries (and abandoned temporary files) no load has used for ``max_idle_days``."""
        if self.directory is None:
            return 0
        cutoff = time.time() - max_idle_days * 86400
        removed = 0
        for entry in self.directory.iterdir():
            try:
                if entry.suffix in (self.suffix, ".tmp") and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
