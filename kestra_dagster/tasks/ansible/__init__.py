"""Ansible: ``io.kestra.plugin.ansible.cli.AnsibleCLI`` running the real ``ansible-playbook``
(PyPI ansible-core) on the scripts' task runner, with outputs in Kestra's callback format."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
