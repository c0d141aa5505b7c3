"""Ansible callback plugin written for kestra-dagster: records every task's per-host results and,
when a playbook ends, prints them as one Kestra output line:

    ::{"outputs": {"outputs": [<per-host result>…], "playbooks": [{"plays": [{"name",
      "tasks": [{"uid", "name", "startedAt", "endedAt", "hosts": [{"host", "status", "result"}]}]}]}]}}::

(the shape of Kestra's AnsibleCLI outputs). With ``KESTRA_OUTPUTS_MODE=explicit`` only values
declared with the ``kestra`` module are kept under ``outputs`` (a map) and per-host results are
reduced to ``changed`` (and ``msg`` on failure).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: kestra_logger
    type: aggregate
    short_description: Kestra-style structured outputs for kestra-dagster
    description:
        - Prints every task's per-host results as one Kestra output line when a playbook ends.
"""

OUTPUT_ACTIONS = {"kestra", "ansible.legacy.kestra"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _part(result, name):
    value = getattr(result, name, None)
    if value is None:
        value = getattr(result, "_" + name, None)
    return value


def _plain(value):
    """JSON-safe copy without Ansible's internal ``_ansible_*`` keys."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("_ansible")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kestra_logger"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.explicit = os.environ.get("KESTRA_OUTPUTS_MODE", "all").strip().lower() == "explicit"
        self.results = []
        self.declared = {}
        self.plays = []
        self.task = None

    # -- structure
    def _play(self):
        if not self.plays:
            self.plays.append({"name": "implicit_play", "tasks": []})
        return self.plays[-1]

    def _close_task(self):
        if self.task is not None and self.task["endedAt"] is None:
            self.task["endedAt"] = _now()

    def _open_task(self, task):
        self._close_task()
        play = self._play()
        name = (task.get_name() or "").strip() or str(getattr(task, "action", "") or "unnamed_task")
        self.task = {"uid": f"{play['name']} | {name}", "name": name, "startedAt": _now(), "endedAt": None,
                     "hosts": []}
        play["tasks"].append(self.task)

    def _record(self, result, status):
        task = _part(result, "task")
        host = _part(result, "host")
        payload = _plain(dict(_part(result, "result") or {}))
        if getattr(task, "action", None) in OUTPUT_ACTIONS and status == "ok" and isinstance(payload.get("outputs"), dict):
            self.declared.update(payload["outputs"])
        if self.task is None:
            self._open_task(task)
        if self.explicit:
            shown = {"changed": bool(payload.get("changed", False))}
            if status in ("failed", "unreachable") and payload.get("msg") is not None:
                shown["msg"] = payload["msg"]
        else:
            shown = payload
            self.results.append(payload)
        self.task["hosts"].append({"host": host.get_name() if host is not None else "unknown_host",
                                   "status": status, "result": shown})

    # -- Ansible events
    def v2_playbook_on_play_start(self, play):
        self._close_task()
        self.task = None
        self.plays.append({"name": (play.get_name() or "").strip() or "implicit_play", "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open_task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open_task(task)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        outputs = self.declared if self.explicit else self.results
        print("::" + json.dumps({"outputs": {"outputs": outputs, "playbooks": [{"plays": self.plays}]}},
                                default=str) + "::", flush=True)
