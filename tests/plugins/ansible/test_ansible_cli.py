"""ansible.cli.AnsibleCLI with the real ansible-playbook (ansible-core), local connection."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from kd_testing import unavailable
from kestra_dagster.compiler.runner_cli import run_flow_file

PLAYBOOK = """
- name: Local facts
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write a file
      ansible.builtin.copy:
        content: "hello {{ who }}\\n"
        dest: "{{ playbook_dir }}/greeting.txt"
    - name: Read it back
      ansible.builtin.command: cat greeting.txt
      args:
        chdir: "{{ playbook_dir }}"
      register: greeting
      changed_when: false
    - name: Declare outputs
      kestra:
        outputs:
          greeting: "{{ greeting.stdout }}"
    - name: Only on Windows
      ansible.builtin.debug: {msg: never}
      when: ansible_system is defined and ansible_system == 'Win32NT'
"""

FAILING = """
- name: Broken
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Read a missing file
      ansible.builtin.command: cat /nonexistent/kestra-dagster-file
"""


@pytest.fixture(autouse=True)
def _ansible_installed():
    if not ((Path(sys.executable).parent / "ansible-playbook").exists() or shutil.which("ansible-playbook")):
        unavailable("ansible-playbook is not installed (the test extra: ansible-core)")


def flow(tmp_path, playbook: str, mode: str = "ALL", log_file: bool = False) -> str:
    path = tmp_path / "ansible.yaml"
    # Kestra renders inputFiles with Pebble: the playbook's own Jinja stays raw
    body = "{% raw %}\n" + playbook.strip() + "\n{% endraw %}"
    indented = "\n".join("        " + line for line in body.splitlines())
    path.write_text(f"""
id: ansible_local
namespace: company.team
tasks:
  - id: ansible
    type: io.kestra.plugin.ansible.cli.AnsibleCLI
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    outputsMode: {mode}
    outputLogFile: {str(log_file).lower()}
    outputFiles: [greeting.txt]
    inputFiles:
      inventory.ini: |
        localhost ansible_connection=local ansible_python_interpreter={sys.executable}
      playbook.yml: |
{indented}
    commands:
      - ansible-playbook -i inventory.ini playbook.yml -e who=kestra
""")
    return str(path)


def test_playbook_outputs_in_kestra_callback_format(tmp_path):
    result = run_flow_file(flow(tmp_path, PLAYBOOK, log_file=True), {})
    assert result["state"] == "SUCCESS", result
    out = result["outputs"]["ansible"]
    assert out["exitCode"] == 0
    assert "log" in out["outputFiles"]  # ansible's log_path file (outputLogFile)
    plays = out["playbooks"][0]["plays"]
    assert plays[0]["name"] == "Local facts"
    tasks = {t["name"]: t for t in plays[0]["tasks"]}
    assert tasks["Write a file"]["uid"] == "Local facts | Write a file"
    assert tasks["Write a file"]["hosts"][0]["host"] == "localhost"
    assert tasks["Write a file"]["hosts"][0]["result"]["changed"] is True
    assert tasks["Read it back"]["hosts"][0]["result"]["stdout"] == "hello kestra"
    assert tasks["Only on Windows"]["hosts"][0]["status"] == "skipped"
    assert tasks["Read it back"]["startedAt"].endswith("Z") and tasks["Read it back"]["endedAt"]
    assert isinstance(out["vars"]["outputs"], list) and len(out["vars"]["outputs"]) == 4
    assert "greeting.txt" in out["outputFiles"]


def test_explicit_mode_keeps_only_declared_outputs(tmp_path):
    result = run_flow_file(flow(tmp_path, PLAYBOOK, mode="EXPLICIT"), {})
    assert result["state"] == "SUCCESS", result
    out = result["outputs"]["ansible"]
    assert out["vars"]["outputs"] == {"greeting": "hello kestra"}
    task = out["playbooks"][0]["plays"][0]["tasks"][1]
    assert task["hosts"][0]["result"] == {"changed": False}


def test_failing_task_is_named_in_the_error(tmp_path, capfd):
    result = run_flow_file(flow(tmp_path, FAILING), {})
    assert result["state"] == "FAILED"
    out = result["outputs"]["ansible"]
    assert out["exitCode"] == 2
    assert out["playbooks"][0]["plays"][0]["tasks"][0]["hosts"][0]["status"] == "failed"
    logs = "".join(capfd.readouterr())
    assert "task 'Broken | Read a missing file' failed on localhost" in logs


def test_malformed_playbook_fails_with_ansible_message(tmp_path, capfd):
    result = run_flow_file(flow(tmp_path, "- hosts: [unclosed"), {})
    assert result["state"] == "FAILED"
    logs = "".join(capfd.readouterr())
    assert "playbook.yml" in logs and "exit code" in logs
