"""Type aliases, and conformance over Kestra's own test flows (``../shared/corpus``).

The corpus lives beside the repository (``<repo>/../shared``). Outside CI the tests that need it
skip when it is absent; with ``CI=true`` they fail instead, because CI always has it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kd_testing import unavailable
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.type_aliases import canonical_type
from kestra_dagster.model.loader import load_flow_file
from kestra_dagster.registry import get_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT / ".." / "shared"
CORPUS = SHARED / "corpus" / "kestra-tests"
ALIASES_TSV = SHARED / "corpus" / "aliases.tsv"

# Counts observed on the corpus at kestra 58c1ca2d (see ../shared/corpus/kestra-tests/SOURCE.md).
# Valid flows: 181 files. With only the core tasks, 129 were fully supported and 52 used some
# unsupported type; every new plugin family (triggers, LocalFiles…) moves files from the second
# group to the first, so the fully supported count is a floor and the total is exact.
VALIDS_TOTAL = 181
VALIDS_FULLY_SUPPORTED_AT_LEAST = 169
INVALIDS_REJECTED_BY_SCHEMA_OR_RULES = 21
# invalids/invalid-task.yaml is invalid only because its types do not exist: we report them as
# unsupported (validate exits 1), each with its line.
INVALIDS_REJECTED_AS_UNSUPPORTED = 1


def _need(path: Path) -> Path:
    if not path.exists():
        unavailable(f"{path} is absent (../shared is not beside this checkout)")
    return path


# ----------------------------------------------------------------------------- aliases


def test_old_core_name_resolves_to_the_current_class(F):
    loaded = F.load(F.text("""
        tasks:
          - id: old
            type: io.kestra.core.tasks.debugs.Return
            format: x
          - id: older_log
            type: io.kestra.core.tasks.log.Log
            message: hi
    """))
    assert not loaded.unsupported
    ret, log = loaded.flow.tasks
    assert ret.type == "io.kestra.plugin.core.debug.Return"
    assert type(ret).__name__ == "Return"
    assert log.type == "io.kestra.plugin.core.log.Log"


def test_rule_based_alias_without_explicit_registration_resolves():
    # Sequential declares one alias; the rule covers every io.kestra.core.tasks.<pkg>s.<Class>.
    entry = get_registry().resolve("io.kestra.core.tasks.flows.Sequential")
    assert entry is not None and entry.type == "io.kestra.plugin.core.flow.Sequential"
    entry = get_registry().resolve("io.kestra.core.tasks.executions.Fail")
    assert entry is not None and entry.type == "io.kestra.plugin.core.execution.Fail"


@pytest.mark.parametrize("old, new", [
    ("io.kestra.core.tasks.debugs.Return", "io.kestra.plugin.core.debug.Return"),
    ("io.kestra.core.tasks.flows.Flow", "io.kestra.plugin.core.flow.Subflow"),
    ("io.kestra.core.tasks.flows.Worker", "io.kestra.plugin.core.flow.WorkingDirectory"),
    ("io.kestra.core.models.triggers.types.Schedule", "io.kestra.plugin.core.trigger.Schedule"),
    ("io.kestra.plugin.fs.http.Request", "io.kestra.plugin.core.http.Request"),
    ("io.kestra.plugin.docker.Build", "io.kestra.plugin.docker.cli.Build"),
    ("io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.log.Log"),
    ("com.example.Custom", "com.example.Custom"),
])
def test_canonical_type_examples(old, new):
    assert canonical_type(old) == new


def test_every_alias_of_kestras_table_maps_to_its_current_name():
    table = _need(ALIASES_TSV)
    pairs = []
    for line in table.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        current, olds = line.split("\t")
        pairs += [(old, current) for old in olds.split(",") if old]
    assert len(pairs) >= 59
    wrong = [(old, canonical_type(old), current) for old, current in pairs if canonical_type(old) != current]
    assert not wrong, wrong
    # and a current name is its own canonical name
    renamed = {c: canonical_type(c) for _, c in pairs if canonical_type(c) != c}
    assert not renamed, renamed


def test_every_registered_alias_resolves_to_its_class():
    registry = get_registry()
    for entry in registry.entries.values():
        for alias in entry.aliases:
            assert registry.resolve(alias) is entry, alias


# ----------------------------------------------------------------------------- corpus conformance


def _classify(path: Path) -> tuple[str, object]:
    try:
        loaded = load_flow_file(path)
    except FlowValidationError as exc:
        return "rejected", exc.issues
    return ("unsupported" if loaded.unsupported else "ok"), loaded.unsupported


@pytest.mark.corpus
def test_kestra_valid_flows_validate_or_are_reported_only_for_unsupported_types():
    valids = sorted(p for p in _need(CORPUS / "valids").iterdir() if p.suffix in (".yaml", ".yml"))
    results = {p.name: _classify(p) for p in valids}
    rejected = {name: [i.headline() for i in issues] for name, (kind, issues) in results.items() if kind == "rejected"}
    assert not rejected, rejected
    ok = [n for n, (kind, _) in results.items() if kind == "ok"]
    unsupported = {n: found for n, (kind, found) in results.items() if kind == "unsupported"}
    for name, found in unsupported.items():
        for u in found:
            assert u.line >= 1, (name, u)
            owner = "trigger" if u.kind in ("trigger", "condition") else "task"
            word = f"{u.kind} type"
            if u.kind == "taskRunner":
                word = "task runner"
            assert u.message().startswith(f"unsupported {word} {u.type} ({owner} '{u.task_id}')"), u.message()
    assert len(ok) + len(unsupported) == VALIDS_TOTAL
    assert len(ok) >= VALIDS_FULLY_SUPPORTED_AT_LEAST, sorted(unsupported)


@pytest.mark.corpus
def test_kestra_invalid_flows_are_all_rejected_with_a_line():
    invalids = sorted(p for p in _need(CORPUS / "invalids").iterdir() if p.suffix in (".yaml", ".yml"))
    by_rules, as_unsupported, accepted = [], [], []
    for path in invalids:
        kind, found = _classify(path)
        if kind == "rejected":
            assert all(i.line >= 1 and i.message for i in found), (path.name, found)
            by_rules.append(path.name)
        elif kind == "unsupported":
            assert all(u.line >= 1 for u in found), (path.name, found)
            as_unsupported.append(path.name)
        else:
            accepted.append(path.name)
    assert not accepted, f"Kestra rejects these, we accepted them: {accepted}"
    assert as_unsupported == ["invalid-task.yaml"]
    assert (len(by_rules), len(as_unsupported)) == (
        INVALIDS_REJECTED_BY_SCHEMA_OR_RULES, INVALIDS_REJECTED_AS_UNSUPPORTED)


@pytest.mark.corpus
@pytest.mark.parametrize("name, path, fragment", [
    ("dag-cyclicdependency.yaml", "tasks[0].tasks[0].dependsOn", "cyclic dependency"),
    ("dag-notexist-task.yaml", "tasks[0].tasks[1].dependsOn[0]", "depends on 'taskX'"),
    ("duplicate-inputs.yaml", "inputs[1].id", "duplicate input id"),
    ("duplicate-key.yaml", "", "duplicate key"),
    ("duplicate-parallel.yaml", "tasks[1].tasks[3].tasks[0].tasks[0].tasks[0].tasks[0].id", "duplicate task id 't3'"),
    ("inputs-bad-type.yaml", "inputs[0].type", "unknown type 'FOO'"),
    ("inputs-bad-validator-syntax.yaml", "inputs[0].validator", "not a valid regular expression"),
    ("invalid-property.yaml", "tasks[0].invalid", "unknown property 'invalid'"),
    ("recursive-flow.yaml", "tasks[0].flowId", "cannot call itself"),
    ("switch-invalid.yaml", "tasks[0]", "Switch needs at least one entry"),
    ("system-labels.yaml", "labels", "reserved 'system.' prefix"),
    ("worker-group.yaml", "tasks[0].workerGroup", "Enterprise"),
    ("workingdirectory-invalid.yaml", "tasks[0].tasks[1]", "WorkingDirectory can only hold runnable tasks"),
])
def test_kestra_invalid_flows_fail_for_the_expected_reason(name, path, fragment):
    kind, issues = _classify(_need(CORPUS / "invalids" / name))
    assert kind == "rejected"
    assert any(i.path == path and fragment in i.message for i in issues), [i.headline() for i in issues]
