"""Google Cloud: ``io.kestra.plugin.gcp.auth.OauthAccessToken`` (a short-lived token, e.g. for
Artifact Registry as ``credentials: {username: oauth2accesstoken, password: …}``)."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
