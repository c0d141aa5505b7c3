"""Google Cloud: ``io.kestra.plugin.gcp.auth.OauthAccessToken`` (a short-lived token, e.g. for
Artifact Registry as ``credentials: {username: oauth2accesstoken, password: …}``)."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
