"""Azure: ``io.kestra.plugin.azure.auth.OauthAccessToken`` (client-credentials flow with a client
secret or a certificate)."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
