"""Ansible: ``io.kestra.plugin.ansible.cli.AnsibleCLI`` running the real ``ansible-playbook``
(PyPI ansible-core) on the scripts' task runner, with outputs in Kestra's callback format."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
