#!/usr/bin/python
"""Ansible module ``kestra``: declare ``outputs`` (a map) for the AnsibleCLI task to expose
(``outputs.<task>.vars.outputs.<key>``); with ``outputsMode: EXPLICIT`` only these are kept."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kestra
short_description: Declare outputs for the Kestra AnsibleCLI task
options:
  outputs:
    description: Output names and JSON-serializable values.
    type: dict
    required: true
"""


def main():
    module = AnsibleModule(argument_spec={"outputs": {"type": "dict", "required": True}}, supports_check_mode=True)
    module.exit_json(changed=False, outputs=module.params["outputs"])


if __name__ == "__main__":
    main()
