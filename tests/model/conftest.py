"""Helpers for model tests: parse a flow text and get its issues (or the loaded flow)."""

from __future__ import annotations

import textwrap

import pytest

from kestra_dagster.errors import FlowIssue, FlowValidationError
from kestra_dagster.model.loader import LoadedFlow, parse_flow


def flow_text(body: str, header: str = "id: f\nnamespace: company.team\n") -> str:
    """A flow document: the usual id/namespace header, then ``body`` (dedented)."""
    return header + textwrap.dedent(body).lstrip("\n")


def load(text: str) -> LoadedFlow:
    return parse_flow(text, file="flow.yaml")


def issues(text: str) -> list[FlowIssue]:
    """Every issue of an invalid flow; fails the test when the flow is valid."""
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="flow.yaml")
    assert info.value.issues, "a FlowValidationError must carry at least one issue"
    return info.value.issues


def only_issue(text: str) -> FlowIssue:
    found = issues(text)
    assert len(found) == 1, [i.headline() for i in found]
    return found[0]


@pytest.fixture
def F():
    """Bundle of helpers, so tests can write ``F.issues(F.text(...))``."""

    class _F:
        text = staticmethod(flow_text)
        load = staticmethod(load)
        issues = staticmethod(issues)
        only = staticmethod(only_issue)

    return _F
