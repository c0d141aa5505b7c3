"""``aws.s3.Trigger`` polling, through boto3 (works with any S3-compatible endpoint).

One poll = list → keep new objects matching ``regexp`` → copy each into internal storage →
one execution with ``trigger.objects``. Exactly once, even across daemon restarts, because the
sensor's cursor and Dagster's ``run_key`` work together:

* the run key is derived from the objects (``key@eTag``), so re-evaluating the same poll after a
  crash asks for the same run and Dagster drops the duplicate;
* every batch stays in the cursor's ``pending`` list until the run for its key exists (its
  objects are skipped by listing, and its run request is repeated, which Dagster deduplicates);
  the action (MOVE/DELETE) is applied then, on a later poll;
* with action NONE the cursor also remembers ``key → eTag`` of what was processed, so an
  unchanged object never runs twice; a new version (new eTag) does;
* the cursor a poll makes is written before its runs are requested (``polling_sensor``), so a
  daemon killed before Dagster stores it resumes from it, not from the one before.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable

from kestra_dagster.triggers.models import S3Trigger
from kestra_dagster.triggers.polling import PollCursor, PollResult


#: S3 polling keeps the shared cursor: seen = key → eTag (action NONE).
S3Cursor = PollCursor


def make_client(props: dict[str, Any]):
    """A boto3 S3 client from rendered trigger properties."""
    import boto3
    from botocore.config import Config

    from kestra_dagster.tasks.aws._connection import client_kwargs

    kwargs = client_kwargs(props)
    path_style = props.get("forcePathStyle")
    if path_style is None:
        path_style = bool(props.get("endpointOverride")) or props.get("compatibilityMode")
    config = Config(s3={"addressing_style": "path" if path_style else "auto"}, retries={"max_attempts": 3})
    return boto3.client("s3", config=config, **kwargs)


def batch_key(objects: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{o['key']}@{o['eTag']}" for o in objects)).encode()).hexdigest()
    return f"s3-{digest[:40]}"


def poll(trigger: S3Trigger, props: dict[str, Any], cursor: S3Cursor, client, run_exists: Callable[[str], bool],
         store_object: Callable[[str, str, bytes], str]) -> PollResult:
    """One poll. ``store_object(batch, key, data) -> uri`` saves into internal storage."""
    bucket = props["bucket"]
    requests: list[tuple[str, list[dict[str, Any]]]] = []
    done: list[str] = []
    still_pending = []
    for batch in cursor.pending:
        if run_exists(batch["run_key"]):
            _apply_action(trigger, props, client, batch["objects"])
            done.append(batch["run_key"])
        else:
            still_pending.append(batch)
            requests.append((batch["run_key"], batch["objects"]))
    cursor.pending = still_pending
    in_flight = {o["key"] for b in still_pending for o in b["objects"]}

    listed, complete = _list(client, bucket, props.get("prefix"), props.get("delimiter"), trigger.maxKeys)
    pattern = re.compile(props["regexp"]) if props.get("regexp") else None
    fresh = []
    for obj in listed:
        key = obj["Key"]
        etag = obj.get("ETag", "").strip('"')
        is_dir = key.endswith("/")
        if (trigger.filter == "FILES" and is_dir) or (trigger.filter == "DIRECTORY" and not is_dir):
            continue
        if pattern is not None and not pattern.fullmatch(key):
            continue
        if key in in_flight or cursor.seen.get(key) == etag:
            continue
        fresh.append({"key": key, "eTag": etag, "size": obj.get("Size", 0),
                      "lastModified": obj["LastModified"].isoformat() if obj.get("LastModified") else None,
                      "bucket": bucket})
        if trigger.maxFiles and len(fresh) >= trigger.maxFiles:
            break
    if trigger.action == "NONE" and complete:
        present = {o["Key"] for o in listed}
        cursor.seen = {k: v for k, v in cursor.seen.items() if k in present}
    if fresh:
        run_key = batch_key(fresh)
        for obj in fresh:
            data = client.get_object(Bucket=bucket, Key=obj["key"])["Body"].read()
            obj["uri"] = store_object(run_key, obj["key"], data)
        requests.append((run_key, fresh))
        if trigger.action == "NONE":
            cursor.seen.update({o["key"]: o["eTag"] for o in fresh})
        # pending until its run exists, whatever the action: the request is repeated until then
        cursor.pending.append({"run_key": run_key, "objects": fresh})
    return PollResult(cursor=cursor, requests=requests, actions_done=done)


def _list(client, bucket: str, prefix: str | None, delimiter: str | None, max_keys: int) -> tuple[list[dict], bool]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": max_keys}
    if prefix:
        kwargs["Prefix"] = prefix
    if delimiter:
        kwargs["Delimiter"] = delimiter
    response = client.list_objects_v2(**kwargs)
    return list(response.get("Contents") or []), not response.get("IsTruncated", False)


def _apply_action(trigger: S3Trigger, props: dict[str, Any], client, objects: list[dict[str, Any]]) -> None:
    from botocore.exceptions import ClientError

    for obj in objects:
        if trigger.action == "MOVE":
            move = props["moveTo"]
            target_bucket = move.get("bucket") or obj["bucket"]
            target_key = _move_key(move["key"], obj["key"])
            try:
                client.copy_object(Bucket=target_bucket, Key=target_key,
                                   CopySource={"Bucket": obj["bucket"], "Key": obj["key"]})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
                continue  # already moved by an earlier, interrupted poll
        if trigger.action in ("MOVE", "DELETE"):
            client.delete_object(Bucket=obj["bucket"], Key=obj["key"])


def _move_key(target: str, key: str) -> str:
    """Like Kestra: the object keeps its file name under the ``moveTo.key`` prefix."""
    return f"{target.rstrip('/')}/{key.rsplit('/', 1)[-1]}"
