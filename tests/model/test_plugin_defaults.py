"""pluginDefaults (and the deprecated taskDefaults) merged into task properties, as Kestra does."""

from __future__ import annotations

LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"


def _tasks(F, defaults: str, tasks: str):
    loaded = F.load(F.text(defaults + tasks))
    return {t.id: t for t in loaded.flow.tasks}


TASKS = f"""
tasks:
  - id: plain
    type: {LOG}
    message: hi
  - id: own_level
    type: {LOG}
    message: hi
    level: ERROR
  - id: ret
    type: {RETURN}
    format: x
"""


def test_exact_type_default_fills_missing_properties_only(F):
    tasks = _tasks(F, f"""
pluginDefaults:
  - type: {LOG}
    values:
      level: WARN
""", TASKS)
    assert tasks["plain"].level == "WARN"
    assert tasks["own_level"].level == "ERROR"  # the task's own value wins
    assert tasks["ret"].format == "x"


def test_package_prefix_default_applies_to_every_type_below_it(F):
    tasks = _tasks(F, """
pluginDefaults:
  - type: io.kestra.plugin.core.log
    values:
      level: DEBUG
      description: from defaults
  - type: io.kestra.plugin.core
    values:
      timeout: PT1M
""", TASKS)
    assert tasks["plain"].level == "DEBUG"
    assert tasks["plain"].description == "from defaults"
    assert tasks["ret"].description is None  # io.kestra.plugin.core.log does not cover debug.Return
    assert tasks["plain"].timeout == tasks["ret"].timeout == "PT1M"


def test_prefix_must_match_whole_package_segments(F):
    tasks = _tasks(F, """
pluginDefaults:
  - type: io.kestra.plugin.core.lo
    values:
      level: DEBUG
""", TASKS)
    assert tasks["plain"].level == "INFO"


def test_forced_default_overrides_the_task_value(F):
    tasks = _tasks(F, f"""
pluginDefaults:
  - type: {LOG}
    forced: true
    values:
      level: WARN
""", TASKS)
    assert tasks["plain"].level == "WARN"
    assert tasks["own_level"].level == "WARN"


def test_defaults_are_deep_merged(F):
    tasks = _tasks(F, f"""
pluginDefaults:
  - type: {LOG}
    values:
      retry:
        type: constant
        interval: PT1S
        maxAttempt: 5
""", f"""
tasks:
  - id: t
    type: {LOG}
    message: hi
    retry:
      type: constant
      interval: PT2S
""")
    retry = tasks["t"].retry
    assert (retry.type, retry.interval, retry.maxAttempt) == ("constant", "PT2S", 5)


def test_deprecated_task_defaults_still_apply(F):
    tasks = _tasks(F, f"""
taskDefaults:
  - type: {LOG}
    values:
      level: ERROR
""", TASKS)
    assert tasks["plain"].level == "ERROR"


def test_defaults_reach_nested_tasks(F):
    loaded = F.load(F.text(f"""
pluginDefaults:
  - type: {LOG}
    values:
      level: WARN
tasks:
  - id: seq
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: inner
        type: {LOG}
        message: hi
"""))
    assert loaded.flow.tasks[0].tasks[0].level == "WARN"


def test_default_properties_a_type_does_not_have_are_ignored(F):
    # Kestra re-reads the flow leniently after injecting defaults: a package-wide default
    # whose properties only some types have does not break the others.
    tasks = _tasks(F, """
pluginDefaults:
  - type: io.kestra.plugin.core
    values:
      level: WARN
      format: from defaults
""", TASKS)
    assert tasks["plain"].level == "WARN"
    assert tasks["ret"].format == "x"
    assert not hasattr(tasks["ret"], "level")


def test_a_tasks_own_unknown_property_is_still_an_error(F):
    issue = F.only(F.text(f"""
pluginDefaults:
  - type: {LOG}
    values:
      level: WARN
tasks:
  - id: t
    type: {LOG}
    message: hi
    colour: red
"""))
    assert issue.path == "tasks[0].colour"


def test_default_declared_with_an_old_alias_applies_to_the_new_name(F):
    tasks = _tasks(F, """
pluginDefaults:
  - type: io.kestra.core.tasks.log.Log
    values:
      level: WARN
""", TASKS)
    assert tasks["plain"].level == "WARN"


def test_default_declared_with_new_name_applies_to_a_task_using_an_alias(F):
    loaded = F.load(F.text(f"""
pluginDefaults:
  - type: {RETURN}
    values:
      description: defaulted
tasks:
  - id: old
    type: io.kestra.core.tasks.debugs.Return
    format: x
"""))
    task = loaded.flow.tasks[0]
    assert task.type == RETURN
    assert task.description == "defaulted"


def test_defaults_reach_triggers_leniently(F):
    loaded = F.load(F.text(f"""
pluginDefaults:
  - type: io.kestra.plugin.core.trigger.Schedule
    values:
      timezone: Europe/Paris
  - type: io.kestra.plugin.core
    values:
      timeout: PT1M
tasks:
  - id: t
    type: {LOG}
    message: hi
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
  - id: own
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
    timezone: UTC
"""))
    nightly, own = loaded.flow.triggers
    assert nightly.timezone == "Europe/Paris"
    assert own.timezone == "UTC"  # the trigger's own value wins
    # `timeout` (a task property from a package-wide default) is ignored on a trigger, not an error
    assert loaded.flow.tasks[0].timeout == "PT1M"


def test_defaults_reach_nested_plugin_objects(F):
    loaded = F.load(F.text("""
pluginDefaults:
  - type: io.kestra.plugin.scripts.runner.docker.Docker
    values:
      pullPolicy: NEVER
      memory:
        memory: 256MB
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo hi"]
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      image: local/busybox:1
  - id: own
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo hi"]
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      pullPolicy: ALWAYS
"""))
    runner = loaded.flow.tasks[0].taskRunner.model_dump()
    assert runner["pullPolicy"] == "NEVER" and runner["image"] == "local/busybox:1"
    assert runner["memory"] == {"memory": "256MB"}
    assert loaded.flow.tasks[1].taskRunner.model_dump()["pullPolicy"] == "ALWAYS"
