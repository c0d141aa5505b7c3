"""Flow YAML → validated ``Flow`` model, or every problem found, each located in the file.

Tasks are dispatched on ``type`` through the registry (so plugins add types), children first,
so each error carries the full YAML path (``tasks[1].then[0].retry.interval``). Unknown types do
not stop the parse: they are collected in ``LoadedFlow.unsupported``. After the schema, the
rules Kestra enforces on the whole flow run (unique ids, acyclic Dag, Switch cases…).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml
from pydantic import ValidationError

from kestra_dagster.errors import ExpressionError, FlowIssue, FlowValidationError, UnsupportedTaskType
from kestra_dagster.expressions import check_template
from kestra_dagster.type_aliases import canonical_type
from kestra_dagster.model.common import Task, UnsupportedTask
from kestra_dagster.model.flow import IGNORED_TOP_LEVEL_KEYS, Flow
from kestra_dagster.model.inputs import coerce_default, input_prefixes
from kestra_dagster.model.triggers import Trigger, UnsupportedTrigger
from kestra_dagster.model.yaml_source import (
    MAX_FLOW_BYTES, SourceLocator, check_text_bounds, format_path, load_yaml, snippet, yaml_error_issue,
)
from kestra_dagster.registry import Registry, get_registry, suggest_property

FLOW_FILE_SUFFIXES = (".yaml", ".yml")
#: Flow-level task lists, in the order Kestra runs them.
FLOW_TASK_LISTS = ("tasks", "errors", "finally", "afterExecution")
# Property names under which unknown (unsupported) task types usually keep child tasks; walked so
# their children are still checked and counted.
_GUESSED_CHILD_KEYS = ("tasks", "errors", "finally", "then", "else", "defaults", "onPause", "onResume")


@dataclass
class LoadedFlow:
    flow: Flow
    file: str
    text: str
    unsupported: list[UnsupportedTaskType] = field(default_factory=list)
    task_paths: dict[int, tuple] = field(default_factory=dict)
    warnings: list[FlowIssue] = field(default_factory=list)

    def path_of(self, task: Task) -> tuple:
        return self.task_paths.get(id(task), ())


@dataclass
class _ParseState:
    registry: Registry
    locator: SourceLocator
    issues: list[FlowIssue] = field(default_factory=list)
    unsupported: list[UnsupportedTaskType] = field(default_factory=list)
    task_paths: dict[int, tuple] = field(default_factory=dict)
    defaults: list[dict] = field(default_factory=list)
    warnings: list[FlowIssue] = field(default_factory=list)

    def error(self, path: Sequence[Any], message: str) -> None:
        self.issues.append(self.locator.issue(path, message))

    def unsupported_type(self, kind: str, type_name: str, owner_id: Any, path: tuple) -> None:
        """Record a type no plugin provides, located at its ``type:`` value."""
        suggestion = self.registry.suggest(type_name, kind=kind)
        entry = UnsupportedTaskType(type=type_name, task_id=owner_id if isinstance(owner_id, str) else "?",
                                    path=format_path(path), suggestion=suggestion, kind=kind,
                                    extra={"kind": kind} if kind != "task" else {})
        if len(self.locator.text) < 200_000:  # locating needs the slow position parse: cheap files only
            issue = self.locator.issue((*path, "type"), "")
            entry.line, entry.column, entry.snippet = issue.line, issue.column, issue.snippet
        self.unsupported.append(entry)


# ----------------------------------------------------------------------------- public API


def parse_flow(text: str, file: str = "<string>", registry: Registry | None = None) -> LoadedFlow:
    """Parse and validate one flow document; raises FlowValidationError listing every issue."""
    registry = registry or get_registry()
    locator = SourceLocator(text, file)
    too_large = check_text_bounds(text)
    if too_large is not None:
        message, line, column = too_large
        raise FlowValidationError(file, [FlowIssue(message, file=file, line=line, column=column,
                                                   snippet=snippet(text, line, column) if line > 1 else "")])
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise FlowValidationError(file, [yaml_error_issue(exc, file, text)]) from None
    except RecursionError:
        raise FlowValidationError(file, [FlowIssue("the document is nested too deeply", file=file, line=1, column=1)]) from None
    state = _ParseState(registry=registry, locator=locator)
    flow = _build_flow(raw, state)
    if flow is not None:
        _check_flow_rules(flow, state)
    if state.issues:
        # Types we lack are reported too: one other mistake must not hide them.
        issues = [*state.issues, *(u.as_issue(file) for u in state.unsupported)]
        issues.sort(key=lambda i: (i.line, i.column))
        raise FlowValidationError(file, issues, unsupported=state.unsupported)
    assert flow is not None
    return LoadedFlow(flow=flow, file=file, text=text, unsupported=state.unsupported, task_paths=state.task_paths,
                      warnings=state.warnings)


def load_flow_file(path: str | os.PathLike, registry: Registry | None = None) -> LoadedFlow:
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # never read more than a flow may hold
            data = handle.read(MAX_FLOW_BYTES + 1)
        if len(data) > MAX_FLOW_BYTES:
            size = path.stat().st_size
            raise FlowValidationError(str(path), [FlowIssue(
                f"the file is {size:,} bytes; a flow may hold at most {MAX_FLOW_BYTES:,} bytes "
                "(move data into namespace files or inputs)", file=str(path), line=1, column=1)])
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowValidationError(str(path), [FlowIssue(f"not UTF-8 text: {exc}", file=str(path), line=1, column=1)]) from None
    except OSError as exc:
        raise FlowValidationError(str(path), [FlowIssue(f"cannot read the file: {exc.strerror}", file=str(path))]) from None
    return parse_flow(text, file=str(path), registry=registry)


def iter_flow_files(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Flow files named directly, or found (recursively, sorted) under directories."""
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            yield from sorted(
                f for f in p.rglob("*") if f.suffix in FLOW_FILE_SUFFIXES and f.is_file() and not _hidden(f, p)
            )
        else:
            yield p


def _hidden(f: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in f.relative_to(root).parts)


def walk_tasks(tasks: Iterable[Task]) -> Iterator[Task]:
    """Every task, depth first, flowable children included."""
    for task in tasks:
        yield task
        for _, children in task.child_lists():
            yield from walk_tasks(children)


def all_flow_tasks(flow: Flow) -> Iterator[Task]:
    yield from walk_tasks([*flow.tasks, *flow.errors, *flow.finally_, *flow.afterExecution])
    for listener in flow.listeners:
        yield from walk_tasks(listener.tasks)


# ----------------------------------------------------------------------------- building


def _build_flow(raw: Any, state: _ParseState) -> Flow | None:
    if raw is None:
        state.error((), "the file is empty; a flow needs at least id, namespace and tasks")
        return None
    if not isinstance(raw, dict):
        state.error((), f"a flow must be a YAML mapping, got {type(raw).__name__}")
        return None
    data = {k: v for k, v in raw.items() if k not in IGNORED_TOP_LEVEL_KEYS}
    state.defaults = [
        d for key in ("taskDefaults", "pluginDefaults") for d in (data.get(key) or [])
        if isinstance(d, dict) and isinstance(d.get("type"), str) and isinstance(d.get("values"), dict)
    ] if all(isinstance(data.get(k) or [], list) for k in ("taskDefaults", "pluginDefaults")) else []
    for key in FLOW_TASK_LISTS:
        if key in data:
            data[key] = _parse_task_list(data[key], (key,), state, required=(key == "tasks"))
    if isinstance(data.get("listeners"), list):
        listeners = []
        for i, listener in enumerate(data["listeners"]):
            if isinstance(listener, dict) and "tasks" in listener:
                listener = {**listener, "tasks": _parse_task_list(listener["tasks"], ("listeners", i, "tasks"), state)}
            listeners.append(listener)
        data["listeners"] = listeners
    if "triggers" in data:
        data["triggers"] = _parse_triggers(data["triggers"], state)
    try:
        return Flow.model_validate(data)
    except ValidationError as exc:
        _report_validation_error(exc, (), data, state, Flow)
        return None


def _parse_task_list(value: Any, path: tuple, state: _ParseState, required: bool = False) -> Any:
    if value is None:
        return [] if not required else value
    if not isinstance(value, list):
        state.error(path, f"expected a list of tasks, got {_kind(value)}")
        return _PLACEHOLDER_LIST
    return [_parse_task(item, (*path, i), state) for i, item in enumerate(value)]


def _parse_task(raw: Any, path: tuple, state: _ParseState) -> Task:
    if not isinstance(raw, dict):
        state.error(path, f"expected a task (a mapping with id and type), got {_kind(raw)}")
        return _placeholder()
    type_name = raw.get("type")
    if not isinstance(type_name, str) or not type_name.strip():
        state.error(path, "the task has no 'type'; give the Kestra class name, e.g. io.kestra.plugin.core.log.Log")
        return _placeholder()
    entry = state.registry.resolve(type_name)
    if entry is None or entry.kind != "task":
        return _unsupported_task(raw, type_name, path, state)
    cls = entry.cls
    data = _with_defaults(raw, {type_name, entry.type}, cls, state, skip=cls.child_task_fields)
    data["type"] = entry.type
    for name, value in list(data.items()):
        # `else`/`finally` are Python keywords: their fields are named `else_`/`finally_`.
        if name in cls.child_task_fields or f"{name}_" in cls.child_task_fields:
            data[name] = _parse_children(cls, name, value, (*path, name), state)
    try:
        task = cls.model_validate(data)
    except ValidationError as exc:
        _report_validation_error(exc, path, data, state, cls)
        task = _placeholder(raw.get("id"))
    else:
        _check_task_runner(data.get("taskRunner"), task.id, path, state)
        for name, value in raw.items():
            if name not in cls.child_task_fields and f"{name}_" not in cls.child_task_fields:
                _check_expressions(value, (*path, name), state)
    state.task_paths[id(task)] = path
    return task


def _check_task_runner(runner: Any, task_id: str, path: tuple, state: _ParseState) -> None:
    """A ``taskRunner`` type is known now, not when the task runs (an expression is left to run time)."""
    if not isinstance(runner, dict) or not isinstance(runner.get("type"), str):
        return
    kind = runner["type"].strip()
    if "{{" in kind or kind in state.registry.task_runners or canonical_type(kind) in state.registry.task_runners:
        return
    state.unsupported_type("taskRunner", kind, task_id, (*path, "taskRunner"))


def _check_conditions(conditions: Any, owner_id: Any, path: tuple, state: _ParseState) -> None:
    """Every condition type (nested in Not/Or/MultipleCondition too) must be one we evaluate."""
    if isinstance(conditions, dict):  # MultipleCondition: {name: condition}
        items = list(conditions.items())
    elif isinstance(conditions, list):
        items = list(enumerate(conditions))
    else:
        return
    for key, cond in items:
        if not isinstance(cond, dict) or not isinstance(cond.get("type"), str):
            continue
        entry = state.registry.resolve(cond["type"])
        if entry is None or entry.kind != "condition":
            state.unsupported_type("condition", cond["type"], owner_id, (*path, key))
        elif "conditions" in cond:
            _check_conditions(cond["conditions"], owner_id, (*path, key, "conditions"), state)


def _check_expressions(value: Any, path: tuple, state: _ParseState) -> None:
    """Report template syntax errors (unclosed ``{{``, unknown filters…) at load time."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            try:
                check_template(value)
            except ExpressionError as exc:
                # Kestra accepts the flow and fails the task when it renders; we do the same,
                # and say so now as a warning.
                state.warnings.append(state.locator.issue(path, f"invalid expression: {exc.reason}"))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_expressions(item, (*path, key), state)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_expressions(item, (*path, i), state)


def _parse_children(cls: type, name: str, value: Any, path: tuple, state: _ParseState) -> Any:
    hook = getattr(cls, "parse_children", None)
    if hook is not None:
        return hook(name, value, path, lambda v, p: _parse_task(v, p, state), lambda p, m: state.error(p, m))
    if isinstance(value, dict) and "type" in value:  # a single task, e.g. Pause.onPause
        return _parse_task(value, path, state)
    if isinstance(value, dict):  # Switch-style {case: [tasks]}
        # Switch keys are compared as strings, so `1:` and `"1":` are the same case.
        return {_case_key(k): _parse_task_list(v, (*path, k), state) for k, v in value.items()}
    if isinstance(value, list):
        return _parse_task_list(value, path, state)
    return value  # let pydantic report the wrong type


def _with_defaults(raw: dict, type_names: set[str], cls: type, state: _ParseState, skip=()) -> dict:
    """A task's or trigger's raw mapping with ``pluginDefaults`` merged, also into nested typed maps.

    Kestra re-reads the flow leniently after injecting defaults: a default property this type
    does not have (e.g. from a package-wide default) is ignored, not an error. Like Kestra, the
    defaults also reach nested plugin objects (a ``taskRunner``, trigger ``conditions``): every
    mapping with a ``type`` below the task, except child task lists (parsed on their own).
    """
    if not state.defaults:
        return dict(raw)
    data = apply_plugin_defaults(dict(raw), type_names, state.defaults)
    if len(data) > len(raw):
        known = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
        data = {k: v for k, v in data.items() if k in raw or k in known}
    for key, value in data.items():
        if key != "type" and key not in skip and f"{key}_" not in skip:
            data[key] = _nested_defaults(value, state.defaults)
    return data


def _nested_defaults(value: Any, defaults: list[dict]) -> Any:
    if isinstance(value, list):
        return [_nested_defaults(v, defaults) for v in value]
    if not isinstance(value, dict):
        return value
    own = set(value)
    if isinstance(value.get("type"), str) and "." in value["type"]:
        value = apply_plugin_defaults(value, {value["type"], canonical_type(value["type"])}, defaults)
    # Only what the flow wrote is walked again: values a default injected are not re-defaulted
    # (a package-wide default that sets `taskRunner` also matches the runner's own type).
    return {k: _nested_defaults(v, defaults) if k in own else v for k, v in value.items()}


def apply_plugin_defaults(task: dict, type_names: set[str], defaults: list[dict]) -> dict:
    """Merge ``pluginDefaults`` into a raw task: by exact type or package prefix; ``forced`` wins."""
    for default in defaults:
        prefix = default["type"].rstrip(".")
        prefixes = {prefix, canonical_type(prefix)}  # a default may name the type by an old alias
        if not any(t == p or t.startswith(p + ".") for t in type_names for p in prefixes):
            continue
        if default.get("forced"):
            task = _deep_merge(task, default["values"])
        else:
            task = _deep_merge(default["values"], task)
    return task


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _case_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "" if key is None else str(key)


def _unsupported_task(raw: dict, type_name: str, path: tuple, state: _ParseState) -> Task:
    task_id = raw.get("id") if isinstance(raw.get("id"), str) else "?"
    state.unsupported_type("task", type_name, task_id, path)
    data = dict(raw)
    for key in _GUESSED_CHILD_KEYS:
        if isinstance(data.get(key), list) and all(isinstance(t, dict) and "type" in t for t in data[key]):
            data[key] = _parse_task_list(data[key], (*path, key), state)
    try:
        task = UnsupportedTask.model_validate(data)
    except ValidationError as exc:
        _report_validation_error(exc, path, data, state, UnsupportedTask)
        return _placeholder(task_id)
    state.task_paths[id(task)] = path
    return task


def _parse_triggers(value: Any, state: _ParseState) -> Any:
    if not isinstance(value, list):
        return value
    out = []
    for i, raw in enumerate(value):
        path = ("triggers", i)
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            state.error(path, "expected a trigger (a mapping with id and type)")
            continue
        entry = state.registry.resolve(raw["type"])
        _check_conditions(raw.get("conditions"), str(raw.get("id", "?")), (*path, "conditions"), state)
        if entry is None or entry.kind != "trigger":
            state.unsupported_type("trigger", raw["type"], str(raw.get("id", "?")), path)
            cls: type[Trigger] = UnsupportedTrigger
            data = raw
        else:
            cls = entry.cls
            data = {**_with_defaults(raw, {raw["type"], entry.type}, cls, state), "type": entry.type}
        try:
            out.append(cls.model_validate(data))
        except ValidationError as exc:
            _report_validation_error(exc, path, data, state, cls)
    return out


# ----------------------------------------------------------------------------- errors


def _report_validation_error(exc: ValidationError, base: tuple, data: Any, state: _ParseState, cls: type) -> None:
    for err in exc.errors():
        loc = _yaml_loc(err["loc"], data)
        # Errors inside already-parsed child tasks were reported by the child parse itself.
        if err["type"] in ("model_type", "model_attributes_type") and _is_task_list_loc(loc, cls):
            continue
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # Point at the discriminator (``retry.type``), not at the whole mapping.
            loc = (*loc, str((err.get("ctx") or {}).get("discriminator", "type")).strip("'"))
        state.error((*base, *loc), _friendly(err, cls, data, loc))


def _is_task_list_loc(loc: tuple, cls: type) -> bool:
    return bool(loc) and (loc[0] in getattr(cls, "child_task_fields", ()) or loc[0] in FLOW_TASK_LISTS)


def _yaml_loc(loc: Sequence[Any], data: Any) -> tuple:
    """Drop pydantic's union-tag segments so the location is a real path in the document."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and part == "finally_" and "finally" in node:
            out.append("finally")
            node = node["finally"]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not out[-1:] == [part]:
            # A missing key (required field) or a union tag: keep missing keys, drop tags.
            if _is_field_name(part):
                out.append(part)
                node = None
        else:
            continue
    return tuple(out)


def _is_field_name(part: str) -> bool:
    return bool(re.match(r"^[a-z][A-Za-z0-9_]*$", part)) and part not in {
        "constant", "exponential", "random", "function-after", "function-before", "function-wrap",
        "list", "dict", "str", "int", "bool",
    } and not part.isupper()


def _friendly(err: dict, cls: type, data: Any, loc: tuple) -> str:
    kind = err["type"]
    what = getattr(cls, "kestra_type", "") or cls.__name__
    if kind == "extra_forbidden":
        fields = sorted(
            (f.alias or n) for n, f in cls.model_fields.items() if n not in ("type",)
        ) if loc and len(loc) == 1 and hasattr(cls, "model_fields") else []
        name = str(loc[-1] if loc else err["loc"][-1])
        guess = suggest_property(name, fields or _nested_fields(cls, err["loc"][:-1]))
        if guess:
            return f"unknown property '{name}' for {what} (did you mean '{guess}'?)"
        known = f"; known properties: {', '.join(fields)}" if fields else ""
        return f"unknown property '{name}' for {what}{known}"
    if kind == "missing":
        return f"required property '{err['loc'][-1]}' is missing"
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        return f"{err['input']!r} is not allowed here: it must match {pattern}"
    ctx = err.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'type').strip(chr(39))}; give one of the supported kinds"
    if kind == "literal_error":
        return f"unknown value {err.get('input')!r}; expected one of {ctx.get('expected', '')}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return f"{err['msg']} (got {_short(err.get('input'))})"


def _nested_fields(cls: type, loc: Sequence[Any]) -> list[str]:
    """Property names of the model at ``loc`` under ``cls`` (e.g. ``options`` of a webhook task)."""
    model = cls
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or not isinstance(part, str):
            return []
        field_info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if field_info is None:
            return []
        model = _model_in(field_info.annotation)
        if model is None:
            return []
    return [(f.alias or n) for n, f in getattr(model, "model_fields", {}).items() if n != "type"]


def _model_in(annotation: Any) -> type | None:
    from typing import get_args

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


_PLACEHOLDER_LIST: list = []


def _placeholder(task_id: Any = None) -> Task:
    return UnsupportedTask.model_construct(id=str(task_id) if isinstance(task_id, str) else "__invalid__", type="__invalid__")


# ----------------------------------------------------------------------------- flow rules


#: Gate types that wait for a decision: they split the job only as top-level tasks.
_DECISION_GATES = ("io.kestra.plugin.core.flow.Pause", "io.kestra.plugin.core.flow.Approval")


def _check_flow_rules(flow: Flow, state: _ParseState) -> None:
    _check_unique_ids(flow, state)
    _check_unique(flow.inputs, "inputs", "input", state)
    _check_unique(flow.triggers, "triggers", "trigger", state)
    _check_inputs(flow, state)
    top_level = {id(t) for t in flow.tasks}
    for task in all_flow_tasks(flow):
        if task.type == "__invalid__":
            continue
        path = state.task_paths.get(id(task), ())
        if (task.type in _DECISION_GATES and id(task) not in top_level
                and not (getattr(task, "pauseDuration", None) or getattr(task, "delay", None))):
            # Kestra accepts it; we cannot stop a Dagster run in the middle of an op, so the
            # task fails when reached. Say so before anyone runs the flow.
            state.warnings.append(state.locator.issue(
                (*path, "type"),
                f"'{task.id}' waits for a decision but is nested in another task: only a top-level "
                "Pause/Approval becomes an approval gate here (the job is split there); move it to the "
                "flow's top-level tasks, or give a Pause a pauseDuration to wait in place"))
        if task.workerGroup is not None:
            state.error(
                (*path, "workerGroup"),
                "workerGroup is a Kestra Enterprise feature and is not supported; remove it "
                "(use Dagster executors or run launchers to place work)",
            )
        check = getattr(task, "check_flow_rules", None)
        if check is not None:
            for sub_path, message in check(flow):
                state.error((*path, *sub_path), message)


def _check_unique_ids(flow: Flow, state: _ParseState) -> None:
    seen: dict[str, tuple] = {}
    for task in all_flow_tasks(flow):
        if task.type == "__invalid__" and task.id == "__invalid__":
            continue
        path = state.task_paths.get(id(task), ())
        if task.id in seen:
            first = state.locator.locate((*seen[task.id], "id"))[0]
            state.error((*path, "id"), f"duplicate task id '{task.id}' (first used on line {first}); task ids must be unique in the whole flow")
        else:
            seen[task.id] = path


def _check_unique(items: list, key: str, what: str, state: _ParseState) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            state.error((key, i, "id"), f"duplicate {what} id '{item.id}'")
        seen.add(item.id)


def _check_inputs(flow: Flow, state: _ParseState) -> None:
    ids = {i.id for i in flow.inputs}
    prefixes = input_prefixes(ids)
    for i, inp in enumerate(flow.inputs):
        try:
            coerce_default(inp)
        except ValueError as exc:
            state.error(("inputs", i, "defaults"), f"default {inp.defaults!r} is invalid: {exc}")
        if inp.dependsOn:
            for dep in inp.dependsOn.inputs:
                if dep not in ids:
                    state.error(("inputs", i, "dependsOn", "inputs"), f"depends on unknown input '{dep}'")
        if inp.id in prefixes:
            inner = sorted(other for other in ids if other.startswith(inp.id + "."))
            state.error(("inputs", i, "id"), f"input '{inp.id}' collides with '{inner[0]}': a dotted id nests "
                        f"under '{inp.id}' (inputs.{inner[0]}), so '{inp.id}' cannot hold a value too; rename one")
    for i, cycle in _dependency_cycles(flow):
        state.error(("inputs", i, "dependsOn", "inputs"),
                    f"dependsOn cycle: {' -> '.join(cycle)}; an input cannot depend on itself, even through others")


def _dependency_cycles(flow: Flow) -> list[tuple[int, list[str]]]:
    """(index of the input where a ``dependsOn`` cycle is found, the cycle), once per cycle."""
    graph = {inp.id: [d for d in (inp.dependsOn.inputs if inp.dependsOn else [])] for inp in flow.inputs}
    index = {inp.id: i for i, inp in enumerate(flow.inputs)}
    done: set[str] = set()
    found: list[tuple[int, list[str]]] = []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node):] + [node]
            found.append((index[cycle[0]], cycle))
            return
        if node in done or node not in graph:
            return
        for dep in graph[node]:
            visit(dep, [*path, node])
        done.add(node)

    for inp in flow.inputs:
        visit(inp.id, [])
    return found
