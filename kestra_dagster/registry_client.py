"""Moved to ``kestra_dagster.oci.client``; kept for plugins that import the old path."""
from kestra_dagster.oci.client import *  # noqa: F401,F403
from kestra_dagster.oci.client import DOCKER_HUB  # noqa: F401
__moved_to__ = "kestra_dagster.oci.client"
