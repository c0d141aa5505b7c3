"""Shared helpers for the expression tests."""

from __future__ import annotations

import pytest

from kestra_dagster.expressions import SecretResolver, render


@pytest.fixture
def r():
    """``r(template, **variables)``: render with an isolated (empty) secret resolver."""

    def _render(template: str, **variables):
        variables.setdefault("__secrets__", SecretResolver(env={}))
        return render(template, variables)

    return _render
