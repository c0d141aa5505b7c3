"""dbt's JSON log lines (``--log-format json``) → task log lines at dbt's level.

Each line is ``{"info": {"level", "msg", "ts", "name"…}, "data": {…}}``; its ``msg`` is logged at
its level (``warn`` marks the task WARNING, as Kestra's ``warningDetected``), ``data.stats``
counters are logged as metrics. Kestra's ``::{…}::`` output lines and plain text (from
non-dbt commands) go through the scripts' line handler unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kestra_dagster.sdk.process import LineHandler


@dataclass
class DbtLineHandler(LineHandler):
    warning_detected: bool = False
    last_error: str | None = None

    def __call__(self, line: str, stream: str) -> None:
        text = line.strip()
        if not (text.startswith("{") and text.endswith("}")):
            return super().__call__(line, stream)
        try:
            record = json.loads(text)
        except ValueError:
            return super().__call__(line, stream)
        info = record.get("info") if isinstance(record.get("info"), dict) else record
        level = str(info.get("level") or "info").lower()
        message = info.get("msg")
        with self._lock:
            if stream == "stderr":
                self.stderr_lines += 1
            else:
                self.stdout_lines += 1
        if message:
            message = self.ctx.mask(str(message))
            if level in ("warn", "warning"):
                self.warning_detected = True
                self.ctx.logger.warning(message)
            elif level == "error":
                self.last_error = message
                self.ctx.logger.error(message)
            elif level == "debug":
                self.ctx.logger.debug(message)
            else:
                self.ctx.logger.info(message)
        data = record.get("data")
        stats = data.get("stats") if isinstance(data, dict) else None
        if isinstance(stats, dict):
            self._structured({"metrics": [{"name": k, "type": "counter", "value": v} for k, v in stats.items()]})
