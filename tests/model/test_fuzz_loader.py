"""Random YAML documents never crash the loader: only FlowValidationError, never a traceback."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import parse_flow

TYPES = [
    "io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.debug.Return", "io.kestra.plugin.core.flow.If",
    "io.kestra.plugin.core.flow.ForEach", "io.kestra.plugin.core.flow.Dag", "io.kestra.plugin.core.flow.Switch",
    "io.kestra.plugin.core.flow.Parallel", "io.kestra.plugin.scripts.shell.Commands", "io.kestra.plugin.x.Unknown",
]
KEYS = ["id", "type", "tasks", "then", "else", "cases", "defaults", "values", "message", "format", "retry",
        "timeout", "dependsOn", "task", "inputs", "namespace", "errors", "finally", "labels", "condition", "value"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(TYPES),
    st.sampled_from(["PT1S", "5s", "{{ inputs.x }}", "{{ a |", "x", "", "constant", "a-b"]),
    st.text(max_size=8),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=30,
)


def _check(text: str) -> None:
    try:
        parse_flow(text, file="fuzz.yaml")
    except FlowValidationError as exc:
        for issue in exc.issues:
            assert issue.line >= 1 and issue.message


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents_give_our_errors_only(doc):
    _check(yaml.safe_dump(doc))


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), documents, max_size=6))
def test_random_flow_shaped_documents(doc):
    doc.setdefault("id", "f")
    doc.setdefault("namespace", "n")
    _check(yaml.safe_dump(doc))


@settings(max_examples=200, deadline=2000)
@given(st.text(alphabet=" \n\t:-[]{}#&*!|>'\"%@`abc,?", max_size=60))
def test_random_text_is_reported_not_raised(text):
    _check(text)
