"""Kestra's whole-flow rules and schema rules, each reported at the right place in the file."""

from __future__ import annotations

LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"


# ----------------------------------------------------------------------------- unique task ids


def test_duplicate_id_in_nested_task_is_located_at_the_second_use(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: a
            type: {LOG}
            message: one
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: a
                type: {LOG}
                message: two
    """))
    assert issue.path == "tasks[1].tasks[0].id"
    assert (issue.line, issue.column) == (10, 9)
    assert "duplicate task id 'a'" in issue.message
    assert "first used on line 4" in issue.message


def test_duplicate_id_between_tasks_errors_and_finally(F):
    found = F.issues(F.text(f"""
        tasks:
          - id: a
            type: {LOG}
            message: one
        errors:
          - id: a
            type: {LOG}
            message: two
        finally:
          - id: a
            type: {LOG}
            message: three
    """))
    assert [(i.path, i.line) for i in found] == [("errors[0].id", 8), ("finally[0].id", 12)]
    assert all("duplicate task id 'a'" in i.message for i in found)


def test_duplicate_id_inside_a_flowable_errors_branch(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: x
                type: {LOG}
                message: one
            errors:
              - id: x
                type: {LOG}
                message: two
    """))
    assert issue.path == "tasks[0].errors[0].id"
    assert issue.line == 11
    assert "first used on line 7" in issue.message


def test_distinct_ids_everywhere_are_valid(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: a
            type: {LOG}
            message: one
        errors:
          - id: b
            type: {LOG}
            message: two
        finally:
          - id: c
            type: {LOG}
            message: three
        afterExecution:
          - id: d
            type: {LOG}
            message: four
    """))
    assert [t.id for t in loaded.flow.tasks] == ["a"]
    assert [t.id for t in loaded.flow.finally_] == ["c"]
    assert [t.id for t in loaded.flow.afterExecution] == ["d"]


# ----------------------------------------------------------------------------- Dag


def _dag(deps_a: str, deps_b: str) -> str:
    return f"""
        tasks:
          - id: dag
            type: io.kestra.plugin.core.flow.Dag
            tasks:
              - task:
                  id: a
                  type: {RETURN}
                  format: a
                dependsOn: {deps_a}
              - task:
                  id: b
                  type: {RETURN}
                  format: b
                dependsOn: {deps_b}
    """


def test_dag_cycle_is_rejected_and_names_the_cycle(F):
    issue = F.only(F.text(_dag("[b]", "[a]")))
    assert issue.message == "cyclic dependency: a -> b -> a"
    assert issue.path == "tasks[0].tasks[0].dependsOn"
    assert issue.line == 11


def test_dag_unknown_dependency_is_rejected_with_known_tasks(F):
    issue = F.only(F.text(_dag("[]", "[nope]")))
    assert issue.path == "tasks[0].tasks[1].dependsOn[0]"
    assert "depends on 'nope'" in issue.message and "known: a, b" in issue.message
    assert (issue.line, issue.column) == (16, 21)  # the unknown id inside the flow list


def test_dag_without_cycle_is_valid(F):
    loaded = F.load(F.text(_dag("[]", "[a]")))
    dag = loaded.flow.tasks[0]
    assert [(n.task.id, n.dependsOn) for n in dag.tasks] == [("a", []), ("b", ["a"])]


# ----------------------------------------------------------------------------- Switch / WorkingDirectory


def test_switch_without_cases_or_defaults_is_rejected(F):
    issue = F.only(F.text("""
        tasks:
          - id: sw
            type: io.kestra.plugin.core.flow.Switch
            value: "x"
    """))
    assert issue.path == "tasks[0]"
    assert "Switch needs at least one entry in 'cases' or a 'defaults' list" in issue.message
    assert (issue.line, issue.column) == (4, 5)


def test_switch_with_only_defaults_is_valid_and_keys_are_strings(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: sw
            type: io.kestra.plugin.core.flow.Switch
            value: "1"
            cases:
              1:
                - id: one
                  type: {LOG}
                  message: one
              two:
                - id: on_two
                  type: {LOG}
                  message: two
    """))
    assert set(loaded.flow.tasks[0].cases) == {"1", "two"}


def test_working_directory_rejects_a_flowable_child(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: wd
            type: io.kestra.plugin.core.flow.WorkingDirectory
            tasks:
              - id: ok
                type: {LOG}
                message: hi
              - id: par
                type: io.kestra.plugin.core.flow.Parallel
                tasks:
                  - id: inner
                    type: {LOG}
                    message: hi
    """))
    assert issue.path == "tasks[0].tasks[1]"
    assert issue.line == 10
    assert "WorkingDirectory can only hold runnable tasks; 'par'" in issue.message


# ----------------------------------------------------------------------------- property values


def test_bad_duration_names_the_property_and_the_expected_form(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            timeout: 5s
    """))
    assert issue.path == "tasks[0].timeout"
    assert (issue.line, issue.column) == (7, 5)
    assert "ISO-8601 duration" in issue.message and "'5s'" in issue.message


def test_bad_duration_in_retry_interval(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            retry:
              type: constant
              interval: every second
              maxAttempt: 2
    """))
    assert issue.path == "tasks[0].retry.interval"
    assert issue.line == 9


def test_dynamic_duration_is_accepted_at_load_time(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            timeout: "{{{{ inputs.timeout }}}}"
    """))
    assert loaded.flow.tasks[0].timeout == "{{ inputs.timeout }}"


def test_bad_regex_validator_is_rejected(F):
    issue = F.only(F.text(f"""
        inputs:
          - id: s
            type: STRING
            validator: "([a-z"
        tasks:
          - id: t
            type: {LOG}
            message: hi
    """))
    assert issue.path == "inputs[0].validator"
    assert issue.line == 6
    assert "validator is not a valid regular expression" in issue.message


def test_unknown_task_property_suggests_a_close_name(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            mesage: hi
    """))
    assert issue.path == "tasks[0].mesage"
    assert (issue.line, issue.column) == (7, 5)
    assert issue.message == f"unknown property 'mesage' for {LOG} (did you mean 'message'?)"


def test_unknown_nested_property_suggests_a_close_name(F):
    issue = F.only(F.text("""
        tasks:
          - id: t
            type: io.kestra.plugin.slack.notifications.SlackIncomingWebhook
            url: http://127.0.0.1/hook
            messageText: hi
            options:
              readTimeot: PT5S
    """))
    assert issue.path == "tasks[0].options.readTimeot"
    assert "(did you mean 'readTimeout'?)" in issue.message


def test_unknown_task_property_lists_the_known_ones(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            colour: red
    """))
    assert issue.message.startswith(f"unknown property 'colour' for {LOG}; known properties: ")
    known = issue.message.split("known properties: ")[1].split(", ")
    assert {"message", "level", "retry", "timeout", "runIf", "allowFailure"} <= set(known)


def test_unknown_top_level_key_is_rejected(F):
    issue = F.only(F.text(f"""
        schedule: daily
        tasks:
          - id: t
            type: {LOG}
            message: hi
    """))
    assert issue.path == "schedule"
    assert issue.line == 3
    assert "unknown property 'schedule' for Flow" in issue.message
    assert "tasks" in issue.message.split("known properties: ")[1]


def test_extend_and_export_keys_are_ignored(F):
    loaded = F.load(F.text(f"""
        extend:
          title: Blueprint metadata
          tags: [a, b]
        revision: 3
        deleted: false
        tasks:
          - id: t
            type: {LOG}
            message: hi
    """))
    assert loaded.flow.id == "f"
    assert not loaded.unsupported


def test_missing_tasks_is_reported(F):
    issue = F.only("id: f\nnamespace: company.team\n")
    assert issue.path == "tasks"
    assert "required property 'tasks' is missing" in issue.message


def test_system_labels_are_reserved(F):
    issue = F.only(F.text(f"""
        labels:
          system.secret: x
        tasks:
          - id: t
            type: {LOG}
            message: hi
    """))
    assert issue.path == "labels"
    assert "reserved 'system.' prefix" in issue.message


def test_every_problem_is_reported_at_once_in_file_order(F):
    found = F.issues(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            timeout: soon
          - id: t
            type: {LOG}
            message: hi
            bogus: 1
    """))
    # A task that fails its schema still takes part in the flow rules (here: the duplicate id).
    assert [(i.path, i.line) for i in found] == [
        ("tasks[0].timeout", 7), ("tasks[1].id", 8), ("tasks[1].bogus", 11),
    ]
    assert "first used on line 4" in found[1].message


def test_missing_type_and_wrong_discriminator_point_at_the_type_key(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            retry:
              type: sometimes
              interval: PT1S
    """))
    assert issue.path == "tasks[0].retry.type"
    assert (issue.line, issue.column) == (8, 7)
    assert "unknown type 'sometimes'" in issue.message and "'constant'" in issue.message


# ----------------------------------------------------------------------------- unsupported types


def test_unknown_type_keeps_the_flow_and_lists_it_as_unsupported(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: ok
            type: {LOG}
            message: hi
          - id: mystery
            type: com.example.plugin.DoMagic
            spell: abracadabra
    """))
    assert [t.id for t in loaded.flow.tasks] == ["ok", "mystery"]
    [u] = loaded.unsupported
    assert u.type == "com.example.plugin.DoMagic"
    assert u.task_id == "mystery"
    assert u.line == 8
    assert u.message().startswith("unsupported task type com.example.plugin.DoMagic (task 'mystery')")


def test_typo_in_type_gets_a_suggestion(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: t
            type: io.kestra.plugin.core.log.Logg
            message: hi
    """))
    [u] = loaded.unsupported
    assert u.suggestion == LOG
    assert u.message() == f"unsupported task type io.kestra.plugin.core.log.Logg (task 't') (did you mean {LOG}?)"


def test_children_of_an_unsupported_flowable_are_still_checked(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: loop
            type: com.example.Loop
            tasks:
              - id: inner
                type: com.example.Inner
    """))
    assert sorted(u.task_id for u in loaded.unsupported) == ["inner", "loop"]


def test_unsupported_trigger_is_listed(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
        triggers:
          - id: nightly
            type: com.example.NightlyTrigger
    """))
    [u] = loaded.unsupported
    assert (u.type, u.task_id, u.line) == ("com.example.NightlyTrigger", "nightly", 9)


# ----------------------------------------------------------------------------- workerGroup / Subflow self call


def test_worker_group_is_rejected(F):
    issue = F.only(F.text(f"""
        tasks:
          - id: t
            type: {LOG}
            message: hi
            workerGroup:
              key: gpu
    """))
    assert issue.path == "tasks[0].workerGroup"
    assert "Enterprise" in issue.message


def test_subflow_calling_its_own_flow_is_rejected(F):
    issue = F.only(F.text("""
        tasks:
          - id: again
            type: io.kestra.plugin.core.flow.Subflow
            namespace: company.team
            flowId: f
    """))
    assert issue.path == "tasks[0].flowId"
    assert "cannot call itself" in issue.message


# ----------------------------------------------------------------------------- nested gates


def test_nested_pause_without_duration_is_a_located_warning(F):
    loaded = F.load(F.text(f"""
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: wait
                type: io.kestra.plugin.core.flow.Pause
              - id: nap
                type: io.kestra.plugin.core.flow.Pause
                pauseDuration: PT1S
          - id: top
            type: io.kestra.plugin.core.flow.Pause
          - id: after
            type: {LOG}
            message: done
    """))
    [warning] = loaded.warnings  # the top-level Pause is a gate; the nested one with a duration waits in place
    assert warning.path == "tasks[0].tasks[0].type"
    assert "'wait' waits for a decision but is nested" in warning.message
    assert "move it to the flow's top-level tasks" in warning.message
