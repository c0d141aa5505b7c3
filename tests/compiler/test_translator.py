"""The compiled job's shape: names, tags, descriptions, Launchpad schema, graph wiring."""

from __future__ import annotations


import pytest
from dagster import DagsterInstance

from kestra_dagster.compiler.definitions import build_definitions, load_catalog
from kestra_dagster.compiler.translator import KestraTranslator, dagster_name

FLOW = """
id: my-flow
namespace: acme.data
description: Nightly load
labels:
  team: data
inputs:
  - id: name
    type: STRING
    defaults: world
  - id: count
    type: INT
    required: true
  - id: flag
    type: BOOLEAN
    defaults: false
tasks:
  - id: first-step
    type: io.kestra.plugin.core.log.Log
    message: hi
  - id: second
    type: io.kestra.plugin.core.debug.Return
    format: x
  - id: off
    type: io.kestra.plugin.core.log.Log
    message: never
    disabled: true
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: failed
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: bye
"""


@pytest.fixture
def compiled(tmp_path):
    (tmp_path / "f.yaml").write_text(FLOW)
    return load_catalog([tmp_path]).flows["acme.data.my-flow"]


def test_job_name_tags_and_metadata(compiled):
    job = compiled.job
    assert job.name == "acme_data__my_flow"
    assert job.tags["kestra/namespace"] == "acme.data"
    assert job.tags["kestra/flow_id"] == "my-flow"
    assert job.tags["kestra.label/team"] == "data"
    assert job.metadata["kestra/source_file"].value.endswith("f.yaml")
    assert "Nightly load" in job.description


def test_nodes_are_task_ids_with_type_badges_and_yaml(compiled):
    graph = compiled.job.graph
    names = set(graph.node_names())
    # one node per top-level task (disabled ones removed), errors/finally as named sub-graphs,
    # one start and one end node; no helper node per task
    assert names == {"kestra_start", "first_step", "second", "errors", "finally", "kestra_end"}
    assert set(graph.node_named("errors").definition.node_names()) == {"alert"}
    assert set(graph.node_named("finally").definition.node_names()) == {"cleanup"}
    op = graph.node_named("second").definition
    assert op.name == "acme_data__my_flow__second"
    assert op.tags["dagster/compute_kind"] == "Return"
    assert op.tags["kestra/type"] == "io.kestra.plugin.core.debug.Return"
    assert "```yaml" in op.description and "format: x" in op.description


def test_errors_and_finally_wiring(compiled):
    deps = compiled.job.graph.dependency_structure

    def sources(node):
        return {(o.node_name, o.output_name) for outs in deps.input_to_upstream_outputs_for_node(node).values()
                for o in outs}

    assert sources("errors") == {("first_step", "failed"), ("second", "failed")}
    assert {("errors", "ok"), ("errors", "failed_alert"), ("second", "failed"), ("second", "ok")} <= sources("finally")
    # finally waits for everything, so the end hangs off it alone
    assert sources("kestra_end") == {("finally", "ok"), ("finally", "failed_cleanup")}


def test_translator_names_every_op_through_get_op_name(tmp_path):
    class Custom(KestraTranslator):
        def get_op_name(self, flow, task, job_name=None):
            return f"custom__{job_name}__{task.id.replace('-', '_')}"

    (tmp_path / "f.yaml").write_text(FLOW)
    job = load_catalog([tmp_path], translator=Custom()).flows["acme.data.my-flow"].job
    assert job.graph.node_named("second").definition.name == "custom__acme_data__my_flow__second"
    assert job.graph.node_named("errors").definition.node_named("alert").definition.name.startswith("custom__")


def test_launchpad_schema_is_typed_with_defaults(compiled):
    fields = compiled.job.run_config_schema.config_type.fields
    inputs = fields["inputs"].config_type.fields
    assert inputs["name"].default_value == "world"
    assert inputs["count"].is_required
    assert inputs["count"].config_type.given_name == "Int"
    assert inputs["flag"].default_value is False
    assert fields["inputs"].is_required  # count has no default


def test_translator_hooks_can_be_overridden(tmp_path):
    class Custom(KestraTranslator):
        def get_job_name(self, flow):
            return f"custom_{dagster_name(flow.id)}"

    (tmp_path / "f.yaml").write_text(FLOW)
    defs = build_definitions([tmp_path], translator=Custom())
    assert defs.get_job_def("custom_my_flow")


def test_broken_flow_becomes_an_invalid_job_and_the_rest_load(tmp_path):
    (tmp_path / "good.yaml").write_text(FLOW)
    (tmp_path / "bad.yaml").write_text("id: bad\nnamespace: acme\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n")
    (tmp_path / "unknown.yaml").write_text(
        "id: u\nnamespace: acme\ntasks:\n  - id: t\n    type: io.kestra.plugin.nope.Thing\n"
    )
    defs = build_definitions([tmp_path])
    repo = defs.get_repository_def()
    names = {j.name for j in repo.get_all_jobs()}
    assert "acme_data__my_flow" in names
    bad = repo.get_job("invalid__bad")
    assert "required property 'message' is missing" in bad.description
    assert "bad.yaml:4" in bad.description
    unknown = repo.get_job("invalid__unknown")
    assert "unsupported task type io.kestra.plugin.nope.Thing (task 't')" in unknown.description
    result = bad.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success


def test_invalid_job_description_wraps_one_problem_per_line_with_the_caret_in_a_code_block(tmp_path):
    """A long problem must wrap in the UI: prose lines, not one wide code block (issue 17 item 7)."""
    (tmp_path / "bad.yaml").write_text(
        "id: bad\nnamespace: acme\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n    retry:\n      type: linear\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: again\n")
    description = build_definitions([tmp_path]).get_repository_def().get_job("invalid__bad").description
    file = tmp_path / "bad.yaml"
    head, *blocks = description.split("\n\n")
    assert head == "**This flow file could not be loaded.** Fix it and reload the code location."
    problems = [b for b in blocks if b.startswith("- ")]
    assert problems == [
        f"- {file}:8:7: tasks[0].retry.type: unknown type 'linear'; expected one of 'constant', 'exponential', "
        "'random'",
        f"- {file}:9:5: tasks[1].id: duplicate task id 't' (first used on line 4); task ids must be unique in "
        "the whole flow",
    ]
    snippets = [b for b in blocks if b.startswith("```")]
    assert snippets[0] == "```\n  7 |     retry:\n  8 |       type: linear\n    |       ^\n```"
    assert blocks == [problems[0], snippets[0], problems[1], snippets[1]]


def test_duplicate_flow_uid_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text(FLOW)
    (tmp_path / "b.yaml").write_text(FLOW)
    catalog = load_catalog([tmp_path])
    assert len(catalog.flows) == 1
    (report,) = catalog.broken.values()
    assert "already defined" in report


def test_dagster_safe_names():
    assert dagster_name("a.b-c") == "a_b_c"
    assert dagster_name("1abc") == "_1abc"


def test_component_and_load_flows_accept_a_translator(tmp_path):
    from kestra_dagster.components import KestraFlowComponent, load_flows

    class Custom(KestraTranslator):
        def get_job_name(self, flow):
            return f"team_{dagster_name(flow.id)}"

    (tmp_path / "f.yaml").write_text(FLOW)
    assert load_flows(tmp_path, translator=Custom()).get_job_def("team_my_flow")
    assert type(KestraFlowComponent(flows_dir=str(tmp_path)).get_translator()) is KestraTranslator
    named = KestraFlowComponent(translator="kestra_dagster.compiler.translator:KestraTranslator")
    assert isinstance(named.get_translator(), KestraTranslator)
    with pytest.raises(ValueError, match="cannot be imported"):
        KestraFlowComponent(translator="nowhere.module:Thing").get_translator()
    with pytest.raises(ValueError, match="not a KestraTranslator subclass"):
        KestraFlowComponent(translator="pathlib:Path").get_translator()


def test_runs_take_storage_from_the_services_resource(tmp_path, monkeypatch):
    from kestra_dagster.compiler.resources import KestraServices

    monkeypatch.delenv("KESTRA_STORAGE_PATH", raising=False)
    store = tmp_path / "store"

    class Custom(KestraTranslator):
        def get_services_resource(self, flow):
            return KestraServices(storage_path=str(store), tasks_tmp_dir=str(tmp_path / "work"))

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "w.yaml").write_text(
        "id: w\nnamespace: acme\ntasks:\n  - id: put\n    type: io.kestra.plugin.core.storage.Write\n    content: hi\n")
    job = load_catalog([tmp_path / "flows"], translator=Custom()).flows["acme.w"].job
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    assert [p.read_text() for p in store.rglob("*") if p.is_file()] == ["hi"]
