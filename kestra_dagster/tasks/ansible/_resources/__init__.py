"""Files written into the working directory of AnsibleCLI (callback plugin, kestra module)."""
