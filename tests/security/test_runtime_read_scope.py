"""Attack: a flow reads another flow's execution files through ``read()`` / ``fileSize()``.

Kestra's file functions only reach the current execution's files, its parent execution's and
the namespace's ``_files``. Fails if runner._check_readable were removed.
"""

from __future__ import annotations

import textwrap

import pytest

from kestra_dagster.engine.storage import LocalStorage

from runtime.conftest import execute

pytestmark = pytest.mark.timeout(180)


def test_read_of_another_flows_execution_file_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "storage"
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(root))
    other = LocalStorage(root).for_task("finance.payroll", "salaries", "exec9", "dump", "run1")
    uri = other.put_bytes(b"alice: 250000", "salaries.csv")
    flow = tmp_path / "snoop.yaml"
    flow.write_text(textwrap.dedent(f"""
        id: snoop
        namespace: company.team
        tasks:
          - id: own
            type: io.kestra.plugin.core.storage.Write
            content: mine
            extension: .txt
          - id: read_own
            type: io.kestra.plugin.core.debug.Return
            format: "{{{{ read(outputs.own.uri) }}}}"
          - id: steal
            type: io.kestra.plugin.core.debug.Return
            format: "{{{{ read('{uri}') }}}}"
          - id: size
            type: io.kestra.plugin.core.debug.Return
            format: "{{{{ fileSize('{uri}') }}}}"
            allowFailure: true
    """))
    out = execute(flow)
    assert out.outputs["read_own"]["value"] == "mine"
    assert out.task_states["steal"] == "FAILED"
    assert "reads only the files of its own execution" in out.log_text()
    assert "alice: 250000" not in out.raw_log


def test_a_trigger_hands_over_its_own_files_but_a_uri_in_a_webhook_body_stays_refused(tmp_path, monkeypatch):
    """The S3 trigger stores objects under ``<ns>/<flow>/triggers/`` before the run exists and hands
    their URIs to the run (Kestra stores them under the execution): those are readable. A URI that
    a webhook body merely carries names another flow's file and is refused."""
    root = tmp_path / "storage"
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(root))
    storage = LocalStorage(root)
    own = storage.put_bytes_at(["company", "team", "snoop", "triggers", "watch", "batch1"], b"id,name", "a.csv")
    stolen = LocalStorage(root).for_task("finance.payroll", "salaries", "exec9", "dump", "run1").put_bytes(
        b"alice: 250000", "salaries.csv")
    flow = tmp_path / "snoop.yaml"
    flow.write_text(textwrap.dedent("""
        id: snoop
        namespace: company.team
        tasks:
          - id: handed
            type: io.kestra.plugin.core.debug.Return
            format: "{{ read(trigger.objects[0].uri) }}"
          - id: carried
            type: io.kestra.plugin.core.debug.Return
            format: "{{ read(trigger.body.file) }}"
    """))
    out = execute(flow, trigger={"objects": [{"uri": own}], "body": {"file": stolen}})
    assert out.outputs["handed"]["value"] == "id,name"
    assert out.task_states["carried"] == "FAILED"
    assert "alice: 250000" not in out.raw_log
