"""Ansible stdout callback that prints nothing: the ``kestra_logger`` callback reports results.

Kestra's configuration names ``ansible.builtin.null``, which ansible-core routes to the
community.general collection; this one needs nothing beyond ansible-core.
"""

from __future__ import annotations

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: kestra_quiet
    type: stdout
    short_description: print nothing (results are reported by kestra_logger)
    description:
        - A stdout callback without output.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "kestra_quiet"
