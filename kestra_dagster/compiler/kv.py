"""Moved to ``kestra_dagster.instance_kv``; kept because compiler/ops.py imports it."""
from kestra_dagster.instance_kv import KEY_PREFIX, DagsterInstanceKV, storage_key  # noqa: F401
__moved_to__ = "kestra_dagster.instance_kv"
