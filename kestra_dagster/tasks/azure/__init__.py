"""Azure: ``io.kestra.plugin.azure.auth.OauthAccessToken`` (client-credentials flow with a client
secret or a certificate)."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
