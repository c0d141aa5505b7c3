"""The Pause/Approval gate: approval store, resume API, CLI helpers, web page.

Importing the package loads only the ``Approval`` task model (the ``approvals`` plugin family);
the Dagster-side pieces live in ``gate`` (ops), ``sensor`` (resume sensor), ``store`` (the
``kestra_approvals`` table), ``api`` (HTTP routes and page) and ``cli`` (``kestra-dagster resume``).
"""

from kestra_dagster.approvals.task import TASKS, Approval


def build_routes(flows_dirs=None, auth=None):
    """Starlette routes of the approval API and page (served by the intake)."""
    from kestra_dagster.approvals.api import build_routes as _build

    return _build(auth=auth)


__all__ = ["TASKS", "Approval", "build_routes"]
