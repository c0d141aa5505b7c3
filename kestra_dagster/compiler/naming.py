"""Names Dagster accepts, derived from Kestra ids (jobs, nodes, tags)."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def dagster_name(text: str) -> str:
    """Dagster names allow ``[A-Za-z0-9_]`` only: replace the rest, never start with a digit."""
    name = _UNSAFE.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


def dagster_tag_key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)[:63]


#: Run/job tags carrying Kestra labels: ``kestra.label/<key>`` (Dagster allows one '/' in a key).
LABEL_TAG_PREFIX = "kestra.label/"


def label_tag(key: str) -> str:
    return LABEL_TAG_PREFIX + dagster_tag_key(key)
