"""Moved to ``kestra_dagster.testing``; kept for test suites that import the old path."""
from kestra_dagster.testing import LocalDeployment, free_port, group_alive, wait_until  # noqa: F401
__moved_to__ = "kestra_dagster.testing"
