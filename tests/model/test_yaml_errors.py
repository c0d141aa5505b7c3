"""Broken YAML is reported with a line, a column and a snippet whose caret points at the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import load_flow_file, parse_flow

HEADER = "id: f\nnamespace: company.team\n"


def _caret_column(snippet: str) -> int:
    """1-based column the caret points at, relative to the quoted source line."""
    lines = snippet.splitlines()
    caret = lines[-1]
    source = lines[-2]
    offset = source.index("|") + 2  # "  7 | text": text starts two characters after the bar
    return caret.index("^") - offset + 1


def test_bad_indentation_is_located(F):
    issue = F.only(HEADER + "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n   message: hi\n")
    assert issue.message.startswith("invalid YAML: ")
    assert (issue.line, issue.column) == (6, 4)
    assert issue.path == ""
    lines = issue.snippet.splitlines()
    assert lines[-2].endswith("|    message: hi")
    assert _caret_column(issue.snippet) == issue.column


def test_unclosed_flow_sequence_is_located(F):
    issue = F.only(HEADER + "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: [a, b\n  - id: u\n")
    assert issue.message.startswith("invalid YAML: ")
    assert issue.line >= 6
    assert "^" in issue.snippet


def test_tab_indentation_is_located(F):
    issue = F.only(HEADER + "tasks:\n  - id: t\n\ttype: io.kestra.plugin.core.log.Log\n")
    assert issue.message.startswith("invalid YAML: ")
    assert issue.line == 5


def test_duplicate_key_is_an_error_with_both_lines(F):
    issue = F.only(HEADER + "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: one\n    message: two\n")
    assert issue.message == "invalid YAML: duplicate key 'message' (first defined on line 6); remove one of them"
    assert (issue.line, issue.column) == (7, 5)
    assert issue.snippet.splitlines()[-2].endswith("|     message: two")
    assert _caret_column(issue.snippet) == 5


def test_duplicate_top_level_key(F):
    issue = F.only(HEADER + "namespace: other\ntasks: []\n")
    assert "duplicate key 'namespace' (first defined on line 2)" in issue.message
    assert issue.line == 3


def test_schema_error_has_path_line_column_and_caret(F):
    text = HEADER + (
        "tasks:\n"
        "  - id: a\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n"
        "  - id: b\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n"
        "    retry:\n"
        "      type: linear\n"
        "      interval: PT1S\n"
    )
    issue = F.only(text)
    assert issue.path == "tasks[1].retry.type"
    assert (issue.line, issue.column) == (11, 7)
    assert issue.render().startswith("flow.yaml:11:7: tasks[1].retry.type: unknown type 'linear'")
    assert issue.snippet.splitlines()[-2].endswith("|       type: linear")
    assert _caret_column(issue.snippet) == 7


def test_issue_json_shape(F):
    issue = F.only(HEADER + "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n    timeout: 5s\n")
    assert issue.to_json() == {
        "line": 7, "column": 5, "path": "tasks[0].timeout",
        "message": "expected an ISO-8601 duration such as PT30S, PT5M or P1D, got '5s'",
    }


def test_empty_document(F):
    issue = F.only("")
    assert "empty" in issue.message


def test_a_list_is_not_a_flow(F):
    issue = F.only("- id: f\n")
    assert "must be a YAML mapping" in issue.message


def test_not_utf8_file_is_reported(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEADER.encode() + b"description: caf\xe9\n")
    with pytest.raises(FlowValidationError) as info:
        load_flow_file(path)
    [issue] = info.value.issues
    assert "not UTF-8" in issue.message and issue.line == 1


def test_timestamps_stay_text():
    loaded = parse_flow(HEADER + "variables:\n  day: 2024-01-31\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    assert loaded.flow.variables == {"day": "2024-01-31"}


def test_every_rendered_issue_names_file_line_and_column(F):
    found = F.issues(HEADER + "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n")
    assert found[0].headline().startswith("flow.yaml:4:")
    assert "required property 'message' is missing" in found[0].headline()


def test_boolean_and_number_keys_are_distinct_text_keys():
    # Jackson reads map keys as text: a Switch with cases `1:` and `true:` has two cases.
    loaded = parse_flow(HEADER + (
        "tasks:\n"
        "  - id: route\n"
        "    type: io.kestra.plugin.core.flow.Switch\n"
        "    value: x\n"
        "    cases:\n"
        "      1:\n"
        "        - id: one\n"
        "          type: io.kestra.plugin.core.log.Log\n"
        "          message: one\n"
        "      true:\n"
        "        - id: yes_case\n"
        "          type: io.kestra.plugin.core.log.Log\n"
        "          message: yes\n"
    ))
    assert set(loaded.flow.tasks[0].cases) == {"1", "true"}


def test_a_boolean_key_and_its_text_are_duplicates(F):
    issue = F.only(HEADER + "labels:\n  true: a\n  'true': b\ntasks: []\n")
    assert "duplicate key 'true'" in issue.message
