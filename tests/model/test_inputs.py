"""Flow inputs: declared defaults checked at load time, launch values coerced or rejected."""

from __future__ import annotations

import pytest

from kestra_dagster.engine.inputs import resolve_inputs
from kestra_dagster.errors import InputError

LOG = "  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def _flow(F, inputs: str):
    return F.load(F.text("inputs:\n" + inputs + "tasks:\n" + LOG)).flow


def _rejected(flow, given: dict) -> list[str]:
    with pytest.raises(InputError) as info:
        resolve_inputs(flow, given)
    return info.value.errors


# ----------------------------------------------------------------------------- INT


def test_int_coerces_text_and_checks_bounds(F):
    flow = _flow(F, "  - id: n\n    type: INT\n    min: 1\n    max: 10\n")
    assert resolve_inputs(flow, {"n": "7"}) == {"n": 7}
    assert resolve_inputs(flow, {"n": 10}) == {"n": 10}
    [err] = _rejected(flow, {"n": 11})
    assert err == "'n' = 11 is not a valid INT: it must be at most 10"
    [err] = _rejected(flow, {"n": "0"})
    assert "it must be at least 1" in err
    [err] = _rejected(flow, {"n": "seven"})
    assert "expected an integer" in err
    [err] = _rejected(flow, {"n": 2.5})
    assert "expected an integer" in err


def test_int_default_out_of_bounds_is_a_load_error(F):
    issue = F.only(F.text("inputs:\n  - id: n\n    type: INT\n    max: 3\n    defaults: 5\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].defaults"
    assert issue.line == 7
    assert "default 5 is invalid: it must be at most 3" in issue.message


def test_float_input(F):
    flow = _flow(F, "  - id: x\n    type: FLOAT\n    min: 0.5\n")
    assert resolve_inputs(flow, {"x": "1.25"}) == {"x": 1.25}
    assert "at least 0.5" in _rejected(flow, {"x": 0.1})[0]


# ----------------------------------------------------------------------------- STRING


def test_string_validator_is_a_full_match(F):
    flow = _flow(F, "  - id: code\n    type: STRING\n    validator: '[A-Z]{3}'\n")
    assert resolve_inputs(flow, {"code": "ABC"}) == {"code": "ABC"}
    [err] = _rejected(flow, {"code": "ABCD"})
    assert err == "'code' = 'ABCD' is not a valid STRING: it must match the pattern '[A-Z]{3}'"


def test_required_input_without_default_is_rejected_and_optional_is_none(F):
    flow = _flow(F, "  - id: a\n    type: STRING\n  - id: b\n    type: STRING\n    required: false\n")
    [err] = _rejected(flow, {})
    assert err == "'a' is required (STRING) and has no default"
    assert resolve_inputs(flow, {"a": "x"}) == {"a": "x", "b": None}


def test_defaults_are_applied(F):
    flow = _flow(F, "  - id: a\n    type: STRING\n    defaults: hello\n  - id: n\n    type: INT\n    defaults: 3\n")
    assert resolve_inputs(flow, {}) == {"a": "hello", "n": 3}


def test_unknown_input_is_rejected_with_the_declared_names(F):
    flow = _flow(F, "  - id: a\n    type: STRING\n    defaults: x\n")
    [err] = _rejected(flow, {"b": "1"})
    assert err == "'b' is not an input of company.team.f (declared: a)"


def test_all_problems_are_listed_at_once(F):
    flow = _flow(F, "  - id: a\n    type: INT\n  - id: b\n    type: BOOLEAN\n")
    errors = _rejected(flow, {"a": "x", "b": "maybe"})
    assert len(errors) == 2
    assert errors[0].startswith("'a' = 'x' is not a valid INT")
    assert errors[1].startswith("'b' = 'maybe' is not a valid BOOLEAN")


def test_secret_values_are_not_echoed_in_errors(F):
    flow = _flow(F, "  - id: token\n    type: SECRET\n    validator: 'tok_.*'\n")
    [err] = _rejected(flow, {"token": "hunter2"})
    assert "hunter2" not in err and "******" in err


# ----------------------------------------------------------------------------- BOOLEAN / SELECT / ENUM


@pytest.mark.parametrize("raw, expected", [
    ("true", True), ("TRUE", True), ("1", True), (True, True),
    ("false", False), ("0", False), ("no", False), (False, False),
])
def test_boolean_coercion(F, raw, expected):
    flow = _flow(F, "  - id: b\n    type: BOOLEAN\n")
    assert resolve_inputs(flow, {"b": raw}) == {"b": expected}


def test_bool_is_an_accepted_spelling(F):
    flow = _flow(F, "  - id: b\n    type: BOOL\n    defaults: true\n")
    assert resolve_inputs(flow, {}) == {"b": True}


def test_select_values(F):
    flow = _flow(F, "  - id: env\n    type: SELECT\n    values: [dev, prod]\n")
    assert resolve_inputs(flow, {"env": "prod"}) == {"env": "prod"}
    [err] = _rejected(flow, {"env": "staging"})
    assert "it must be one of ['dev', 'prod']" in err


def test_select_with_custom_values_allowed(F):
    flow = _flow(F, "  - id: env\n    type: SELECT\n    values: [dev, prod]\n    allowCustomValue: true\n")
    assert resolve_inputs(flow, {"env": "staging"}) == {"env": "staging"}


def test_select_default_not_in_values_is_a_load_error(F):
    issue = F.only(F.text("inputs:\n  - id: env\n    type: SELECT\n    values: [dev]\n    defaults: prod\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].defaults"


def test_enum_values(F):
    flow = _flow(F, "  - id: e\n    type: ENUM\n    values: [A, B]\n")
    assert resolve_inputs(flow, {"e": "B"}) == {"e": "B"}
    assert "one of ['A', 'B']" in _rejected(flow, {"e": "C"})[0]


# ----------------------------------------------------------------------------- ARRAY / JSON / YAML


def test_array_item_type_coerces_each_item(F):
    flow = _flow(F, "  - id: nums\n    type: ARRAY\n    itemType: INT\n")
    assert resolve_inputs(flow, {"nums": "[1, 2, 3]"}) == {"nums": [1, 2, 3]}
    assert resolve_inputs(flow, {"nums": ["4", "5"]}) == {"nums": [4, 5]}
    assert resolve_inputs(flow, {"nums": "6, 7"}) == {"nums": [6, 7]}
    [err] = _rejected(flow, {"nums": "[1, \"x\"]"})
    assert err.startswith("'nums' = ") and "not a valid ARRAY" in err and "expected an integer" in err


def test_array_requires_a_known_item_type(F):
    issue = F.only(F.text("inputs:\n  - id: a\n    type: ARRAY\n    itemType: ARRAY\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].itemType"
    issue = F.only(F.text("inputs:\n  - id: a\n    type: ARRAY\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].itemType"
    assert "required property 'itemType' is missing" in issue.message


def test_json_input_parses_text_and_keeps_structures(F):
    flow = _flow(F, "  - id: j\n    type: JSON\n")
    assert resolve_inputs(flow, {"j": '{"a": [1, 2]}'}) == {"j": {"a": [1, 2]}}
    assert resolve_inputs(flow, {"j": {"b": 1}}) == {"j": {"b": 1}}
    assert "expected JSON" in _rejected(flow, {"j": "{nope"})[0]


def test_json_default_is_checked_at_load_time(F):
    issue = F.only(F.text("inputs:\n  - id: j\n    type: JSON\n    defaults: '{broken'\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].defaults"
    assert "expected JSON" in issue.message


def test_yaml_input(F):
    flow = _flow(F, "  - id: y\n    type: YAML\n")
    assert resolve_inputs(flow, {"y": "a: 1\nb: [x]\n"}) == {"y": {"a": 1, "b": ["x"]}}


# ----------------------------------------------------------------------------- temporal


def test_datetime_after_and_before(F):
    flow = _flow(F, "  - id: d\n    type: DATETIME\n    after: '2024-01-01T00:00:00Z'\n    before: '2025-01-01T00:00:00Z'\n")
    assert resolve_inputs(flow, {"d": "2024-06-01T12:00:00Z"}) == {"d": "2024-06-01T12:00:00Z"}
    assert "it must be after 2024-01-01T00:00:00Z" in _rejected(flow, {"d": "2023-12-31T23:59:59Z"})[0]
    assert "it must be before 2025-01-01T00:00:00Z" in _rejected(flow, {"d": "2025-01-01T00:00:00Z"})[0]
    assert "expected an ISO-8601 date-time" in _rejected(flow, {"d": "yesterday"})[0]


def test_date_and_time(F):
    flow = _flow(F, "  - id: d\n    type: DATE\n  - id: t\n    type: TIME\n")
    assert resolve_inputs(flow, {"d": "2024-02-29", "t": "10:15:00"}) == {"d": "2024-02-29", "t": "10:15:00"}
    errors = _rejected(flow, {"d": "2023-02-29", "t": "25:00"})
    assert len(errors) == 2


def test_duration_input(F):
    flow = _flow(F, "  - id: wait\n    type: DURATION\n    max: PT1H\n")
    assert resolve_inputs(flow, {"wait": "PT5M"}) == {"wait": "PT5M"}
    assert "at most PT1H" in _rejected(flow, {"wait": "PT2H"})[0]
    assert "ISO-8601 duration" in _rejected(flow, {"wait": "5 minutes"})[0]


# ----------------------------------------------------------------------------- FILE / misc


def test_file_input_cannot_have_defaults(F):
    issue = F.only(F.text("inputs:\n  - id: f\n    type: FILE\n    defaults: data.csv\ntasks:\n" + LOG))
    assert issue.path == "inputs[0]"
    assert issue.line == 4
    assert "a FILE input cannot have defaults" in issue.message


def test_unknown_input_type_points_at_type(F):
    issue = F.only(F.text("inputs:\n  - id: x\n    type: NUMBER\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].type"
    assert issue.line == 5
    assert "unknown type 'NUMBER'" in issue.message


def test_duplicate_input_ids(F):
    issue = F.only(F.text("inputs:\n  - id: x\n    type: STRING\n  - id: x\n    type: INT\ntasks:\n" + LOG))
    assert issue.path == "inputs[1].id"
    assert issue.message == "duplicate input id 'x'"


def test_old_name_key_is_the_id(F):
    flow = _flow(F, "  - name: legacy\n    type: STRING\n    defaults: v\n")
    assert resolve_inputs(flow, {}) == {"legacy": "v"}


def test_email_and_uri(F):
    flow = _flow(F, "  - id: mail\n    type: EMAIL\n  - id: link\n    type: URI\n")
    assert resolve_inputs(flow, {"mail": "a@b.io", "link": "https://x.io/p"}) == {"mail": "a@b.io", "link": "https://x.io/p"}
    assert len(_rejected(flow, {"mail": "nope", "link": "no-scheme"})) == 2


def test_depends_on_unknown_input_is_a_load_error(F):
    issue = F.only(F.text(
        "inputs:\n  - id: a\n    type: STRING\n    dependsOn:\n      inputs: [zzz]\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].dependsOn.inputs"
    assert "depends on unknown input 'zzz'" in issue.message


# ----------------------------------------------------------------------------- dotted ids, dependsOn


def test_dotted_ids_nest_and_accept_flat_or_nested_values(F):
    flow = _flow(F, "  - id: request.name\n    type: STRING\n  - id: request.count\n    type: INT\n    defaults: 2\n")
    assert resolve_inputs(flow, {"request.name": "x"}) == {"request": {"name": "x", "count": 2}}
    assert resolve_inputs(flow, {"request": {"name": "y", "count": "3"}}) == {"request": {"name": "y", "count": 3}}
    [err] = _rejected(flow, {"request": {"name": "y", "count": "many"}})
    assert err.startswith("'request.count' = 'many' is not a valid INT")
    errors = _rejected(flow, {"request": {"nme": "y"}})  # a typo under a section names the full id
    assert errors[0].startswith("'request.nme' is not an input of company.team.f")
    assert errors[1] == "'request.name' is required (STRING) and has no default"


def test_dotted_id_colliding_with_a_plain_one_is_a_load_error(F):
    issue = F.only(F.text("inputs:\n  - id: a\n    type: STRING\n  - id: a.b\n    type: STRING\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].id"
    assert issue.line == 4
    assert "collides with 'a.b'" in issue.message and "rename one" in issue.message


def test_depends_on_condition_disables_the_input(F):
    flow = _flow(F, (
        "  - id: region\n    type: STRING\n    dependsOn:\n      inputs: [provider]\n"
        "      condition: \"{{ inputs.provider == 'aws' }}\"\n"
        "  - id: provider\n    type: STRING\n"
        "  - id: zone\n    type: STRING\n    dependsOn:\n      inputs: [region]\n"))
    # condition false: region and zone (which depends on it) are neither required nor kept
    assert resolve_inputs(flow, {"provider": "gcp", "region": "ignored"}) == {"provider": "gcp"}
    # condition true: both are asked for, although region is declared before provider
    assert sorted(_rejected(flow, {"provider": "aws"})) == [
        "'region' is required (STRING) and has no default", "'zone' is required (STRING) and has no default"]
    assert resolve_inputs(flow, {"provider": "aws", "region": "eu", "zone": "a"}) == {
        "region": "eu", "provider": "aws", "zone": "a"}


def test_depends_on_condition_that_is_not_boolean_is_a_clear_error(F):
    flow = _flow(F, "  - id: a\n    type: STRING\n  - id: b\n    type: STRING\n    dependsOn:\n      inputs: [a]\n"
                    "      condition: \"{{ inputs.a }}\"\n")
    [err] = _rejected(flow, {"a": "maybe", "b": "x"})
    assert err == "'b': its dependsOn.condition cannot be evaluated: it must render to true or false, got 'maybe'"
    assert resolve_inputs(flow, {"a": "true", "b": "x"}) == {"a": "true", "b": "x"}


def test_depends_on_cycle_is_a_load_error(F):
    issue = F.only(F.text(
        "inputs:\n  - id: a\n    type: STRING\n    dependsOn:\n      inputs: [b]\n"
        "  - id: b\n    type: STRING\n    dependsOn:\n      inputs: [a]\ntasks:\n" + LOG))
    assert issue.path == "inputs[0].dependsOn.inputs"
    assert "dependsOn cycle: a -> b -> a" in issue.message
