"""``io.kestra.plugin.fs.local.Trigger``: poll a local directory for new or changed files.

Kestra's properties: ``from`` (the directory), ``interval`` (PT60S), ``regExp`` (on the file's
absolute path, or its name), ``recursive`` (false), ``action`` NONE (default) | MOVE | DELETE,
``moveDirectory`` (required for MOVE), ``on`` CREATE_OR_UPDATE (default) | CREATE | UPDATE,
``maxFiles`` (25). One poll that finds files starts one execution with ``trigger.files`` (each
``{name, localPath, parent, size, lastModifiedTime, uri (kestra:// copy), changeType}``) and
``trigger.count``.

Exactly once, across daemon restarts, as the S3 trigger (``s3_poll``) does it:

* a file's version is ``mtime_ns:size``; the sensor cursor (kept by Dagster in the instance
  database) remembers ``path → version`` of what was handled, so an unchanged file never runs
  twice and a changed one runs again (per ``on``);
* the run key is derived from ``path@version`` of the batch, so re-evaluating a poll interrupted
  by a crash asks for the same run, which Dagster drops;
* every batch stays ``pending`` in the cursor until its run exists (its files are not listed
  again, its run request is repeated and deduplicated); MOVE/DELETE is applied then, on a later
  poll, so a file is never moved away before its run exists;
* the cursor a poll makes is written before its runs are requested (``polling_sensor``), so a
  daemon killed before Dagster stores it resumes from it, not from the one before.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from pydantic import Field, model_validator

from kestra_dagster.triggers.polling import PollCursor, PollResult
from kestra_dagster.model.common import Duration, is_dynamic
from kestra_dagster.model.triggers import Trigger


class LocalFilesTrigger(Trigger):
    """Poll a local directory; one execution per poll with the new or changed files in trigger.files."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.fs.local.Trigger"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_family: ClassVar[str] = "fs"

    from_: str = Field(alias="from")
    interval: Duration = "PT60S"
    regExp: str | None = None
    recursive: bool | str = False
    action: Literal["MOVE", "DELETE", "NONE"] = "NONE"
    moveDirectory: str | None = None
    on: Literal["CREATE_OR_UPDATE", "CREATE", "UPDATE"] = "CREATE_OR_UPDATE"
    maxFiles: int = Field(default=25, ge=1)
    stateKey: str | None = None
    stateTtl: Duration | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "LocalFilesTrigger":
        if self.action == "MOVE" and not self.moveDirectory:
            raise ValueError("action MOVE needs moveDirectory")
        if self.regExp is not None and not is_dynamic(self.regExp):
            try:
                re.compile(self.regExp)
            except re.error as exc:
                raise ValueError(f"regExp {self.regExp!r} is not a valid regular expression: {exc}") from None
        return self


TRIGGERS = [LocalFilesTrigger]


# ----------------------------------------------------------------------------- polling
#: Local files keep the shared polling cursor: seen = absolute path → version.
FilesCursor = PollCursor


def _version(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def batch_key(files: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{f['localPath']}@{f['version']}" for f in files)).encode()).hexdigest()
    return f"fs-{digest[:40]}"


def _listing(root: Path, recursive: bool) -> list[Path]:
    if recursive:
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            found.extend(Path(dirpath) / name for name in sorted(filenames))
        return found
    return sorted(p for p in root.iterdir() if p.is_file())


def poll(trigger: LocalFilesTrigger, props: dict[str, Any], cursor: FilesCursor, run_exists: Callable[[str], bool],
         store_file: Callable[[str, str, Path], str]) -> PollResult:
    """One poll. ``store_file(batch, relative name, path) -> kestra:// uri`` copies into internal storage."""
    root = Path(props["from"])
    requests: list[tuple[str, list[dict[str, Any]]]] = []
    done: list[str] = []
    problems: list[str] = []
    still_pending = []
    for batch in cursor.pending:
        if run_exists(batch["run_key"]):
            problems += _apply_action(trigger, props, batch["files"])
            done.append(batch["run_key"])
        else:
            still_pending.append(batch)
            requests.append((batch["run_key"], batch["files"]))
    cursor.pending = still_pending
    in_flight = {f["localPath"] for b in still_pending for f in b["files"]}
    if not root.is_dir():
        problems.append(f"directory {root} does not exist (or is not a directory)")
        return PollResult(cursor, requests, done, problems)

    pattern = re.compile(props["regExp"]) if props.get("regExp") else None
    recursive = str(props.get("recursive")).lower() == "true"
    fresh: list[dict[str, Any]] = []
    present: set[str] = set()
    for path in _listing(root, recursive):
        key = str(path)
        present.add(key)
        if key in in_flight:
            continue
        if pattern is not None and not (pattern.fullmatch(key) or pattern.fullmatch(path.name)):
            continue
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished while listing
        version = _version(stat)
        known = cursor.seen.get(key)
        if known == version:
            continue
        change = "CREATE" if known is None else "UPDATE"
        if (trigger.on == "CREATE" and change == "UPDATE") or (trigger.on == "UPDATE" and change == "CREATE"):
            cursor.seen[key] = version  # recorded, not fired
            continue
        if len(fresh) >= trigger.maxFiles:
            continue  # picked up by a later poll
        fresh.append({
            "name": path.name, "localPath": key, "parent": str(path.parent), "size": stat.st_size,
            "lastModifiedTime": datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(),
            "version": version, "changeType": change, "relative": path.relative_to(root).as_posix(),
        })
    cursor.seen = {k: v for k, v in cursor.seen.items() if k in present or k in in_flight}
    if fresh:
        run_key = batch_key(fresh)
        for item in fresh:
            item["uri"] = store_file(run_key, item["relative"], Path(item["localPath"]))
        requests.append((run_key, fresh))
        cursor.seen.update({f["localPath"]: f["version"] for f in fresh})
        # pending until its run exists, whatever the action: the request is repeated until then
        cursor.pending.append({"run_key": run_key, "files": fresh})
    return PollResult(cursor, requests, done, problems)


def _apply_action(trigger: LocalFilesTrigger, props: dict[str, Any], files: list[dict[str, Any]]) -> list[str]:
    problems = []
    for item in files:
        source = Path(item["localPath"])
        if not source.exists():
            continue  # already handled by an interrupted earlier poll, or removed by someone else
        try:
            if trigger.action == "MOVE":
                target_dir = Path(props["moveDirectory"])
                target = target_dir / item.get("relative", source.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), str(target))
            elif trigger.action == "DELETE":
                source.unlink()
        except OSError as exc:
            problems.append(f"{trigger.action} of {source} failed: {exc}")
    return problems


def trigger_variables(files: list[dict[str, Any]]) -> dict[str, Any]:
    public = [{k: v for k, v in f.items() if k not in ("version", "relative")} for f in files]
    return {"files": public, "count": len(public)}
