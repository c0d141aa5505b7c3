"""AWS: ``io.kestra.plugin.aws.ecr.GetAuthToken`` (the password of a 12-hour ECR registry login)."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
