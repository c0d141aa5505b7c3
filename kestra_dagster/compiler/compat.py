"""Moved to ``kestra_dagster.compat``; kept because compiler/translator.py imports it."""
from kestra_dagster.compat import clone_op  # noqa: F401
__moved_to__ = "kestra_dagster.compat"
