"""What README says about names and tags is what the translator produces (issue 17 item 2)."""

from __future__ import annotations

from doc_blocks import REPO

from kestra_dagster.compiler.naming import LABEL_TAG_PREFIX
from kestra_dagster.compiler.translator import KestraTranslator
from kestra_dagster.model.loader import parse_flow

FLOW = """id: my-flow
namespace: company.team
labels:
  env: prod
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_dashes_and_dots_become_underscores_in_job_names_as_readme_says():
    flow = parse_flow(FLOW).flow
    name = KestraTranslator().get_job_name(flow)
    assert name == "company_team__my_flow"
    assert f"`company.team` + `my-flow` →\n   `{name}`" in _readme()


def test_job_tags_are_the_ones_readme_lists():
    tags = KestraTranslator().get_job_tags(parse_flow(FLOW).flow)
    assert tags[f"{LABEL_TAG_PREFIX}env"] == "prod"
    listed = [f"`{key}`" for key in tags if not key.startswith(LABEL_TAG_PREFIX)] + [f"`{LABEL_TAG_PREFIX}<key>`"]
    row = next(line for line in _readme().splitlines() if line.startswith("| flow | job "))
    assert row.endswith("tags " + ", ".join(listed) + " |"), row
    assert "kestra/label/" not in _readme()
