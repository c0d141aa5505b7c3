"""The project's error types: one base, so callers catch ours and never a traceback.

Flow errors carry where in the YAML they happened (file, line, column, YAML path) so the
CLI, the Dagster UI and the loader all print the same actionable message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class KestraDagsterError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass
class FlowIssue:
    """One problem found in a flow file, located as precisely as we can."""

    message: str
    path: str = ""  # YAML path such as ``tasks[2].retry.type``; "" for the document
    file: str = "<string>"
    line: int = 0
    column: int = 0
    snippet: str = ""  # the offending line(s) with a caret, ready to print

    def headline(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def render(self) -> str:
        return f"{self.headline()}\n{self.snippet}" if self.snippet else self.headline()

    def to_json(self) -> dict:
        return {"line": self.line, "column": self.column, "path": self.path, "message": self.message}


class FlowValidationError(KestraDagsterError):
    """A flow file is not a valid Kestra flow; ``issues`` says every reason found."""

    def __init__(self, file: str, issues: list[FlowIssue], unsupported: list["UnsupportedTaskType"] | None = None):
        self.file = file
        self.issues = issues
        #: Types no plugin provides, found alongside the other problems (also among ``issues``).
        self.unsupported = list(unsupported or [])
        super().__init__("\n".join(issue.render() for issue in issues))


class ExpressionError(KestraDagsterError):
    """An expression failed to parse or render.

    ``task`` and ``prop`` are filled in by the caller that knows them, so the message names the
    task, the property and the expression.
    """

    def __init__(self, message: str, expression: str = "", task: str = "", prop: str = ""):
        self.reason = message
        self.expression = expression
        self.task = task
        self.prop = prop
        super().__init__(self._format())

    def located(self, task: str = "", prop: str = "") -> "ExpressionError":
        self.task = self.task or task
        self.prop = self.prop or prop
        self.args = (self._format(),)
        return self

    def _format(self) -> str:
        where = []
        if self.task:
            where.append(f"task '{self.task}'")
        if self.prop:
            where.append(f"property '{self.prop}'")
        prefix = (", ".join(where) + ": ") if where else ""
        expr = f" in expression {self.expression!r}" if self.expression else ""
        return f"{prefix}{self.reason}{expr}"

    def __str__(self) -> str:  # keep the located message even after .located()
        return self.args[0] if self.args else self._format()


class TaskFailed(KestraDagsterError):
    """A task ended FAILED for a reason it can state (non-zero exit, HTTP error, Fail task…)."""

    def __init__(self, message: str, outputs: dict | None = None):
        super().__init__(message)
        self.outputs = outputs or {}


class TaskKilled(KestraDagsterError):
    """The task was stopped: its timeout elapsed or the run was terminated."""


class InputError(KestraDagsterError):
    """An execution input is missing or does not match its declaration."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid inputs: " + "; ".join(errors))


class PluginError(KestraDagsterError):
    """A plugin package failed to import or registered a type twice."""


#: How each kind of plugin object is named in messages.
_KIND_WORDS = {"task": "task type", "trigger": "trigger type", "condition": "condition type",
               "taskRunner": "task runner"}


@dataclass
class UnsupportedTaskType:
    """A task, trigger, condition or task-runner type that no installed plugin provides."""

    type: str
    task_id: str
    path: str = ""
    line: int = 0
    suggestion: str | None = None
    extra: dict = field(default_factory=dict)
    kind: str = "task"  # task | trigger | condition | taskRunner
    column: int = 0
    snippet: str = ""

    def message(self) -> str:
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        owner = "trigger" if self.kind in ("trigger", "condition") else "task"
        where = f" ({owner} '{self.task_id}')" if self.task_id and self.task_id != "?" else ""
        return f"unsupported {_KIND_WORDS.get(self.kind, self.kind)} {self.type}{where}{hint}"

    def as_issue(self, file: str) -> FlowIssue:
        return FlowIssue(self.message(), path=self.path, file=file, line=self.line, column=self.column,
                         snippet=self.snippet)

    def to_json(self) -> dict:
        return {"type": self.type, "kind": self.kind, "path": self.path, "line": self.line,
                "column": self.column, "suggestion": self.suggestion}
