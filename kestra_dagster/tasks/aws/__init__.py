"""AWS: ``io.kestra.plugin.aws.ecr.GetAuthToken`` (the password of a 12-hour ECR registry login)."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
