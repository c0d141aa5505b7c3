"""Script tasks and files: inputFiles, outputFiles, OUTPUT_DIR, kestra:// URIs, namespace files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.sdk.values import glob_regex
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

pytestmark = pytest.mark.timeout(30)


def commands(*lines: str, **props) -> ShellCommands:
    return ShellCommands(id="sh", type=ShellCommands.kestra_type, commands=list(lines), **props)


def test_input_files_inline_and_from_storage(make_ctx, storage) -> None:
    ctx = make_ctx()
    stored = ctx.storage.put_bytes(b"from storage\n", "prev.txt")
    commands(
        "cat data/inline.txt", "cat copied.txt", "cat config.json",
        inputFiles={"data/inline.txt": "inline {{ flow.id }}\n", "copied.txt": stored, "config.json": {"a": 1}},
    ).run(ctx)
    assert ctx.logger.messages("INFO") == ["inline flow", "from storage", '{"a": 1}']


def test_input_files_as_a_json_string(make_ctx) -> None:
    ctx = make_ctx()
    commands("cat a.txt", inputFiles=json.dumps({"a.txt": "json map"})).run(ctx)
    assert ctx.logger.messages("INFO") == ["json map"]


def test_input_files_cannot_escape_the_working_dir(make_ctx) -> None:
    with pytest.raises(TaskFailed, match="outside the working directory"):
        commands("true", inputFiles={"../evil.txt": "x"}).run(make_ctx())


def test_output_files_globs_and_output_dir(make_ctx, storage) -> None:
    ctx = make_ctx()
    out = commands(
        "echo a > a.txt", "echo b > b.log", "mkdir -p sub/deep", "echo c > sub/deep/c.csv",
        "echo d > d.csv", 'echo e > "$OUTPUT_DIR/e.json"',
        outputFiles=["*.txt", "**/*.csv"],
    ).run(ctx)
    files = out["outputFiles"]
    assert set(files) == {"a.txt", "d.csv", "sub/deep/c.csv", "e.json"}
    assert files["sub/deep/c.csv"].startswith("kestra:///company/team/flow/executions/exec1/tasks/t/")
    assert storage.read_bytes(files["sub/deep/c.csv"]) == b"c\n"
    assert storage.read_bytes(files["e.json"]) == b"e\n"


def test_output_files_are_not_uploaded_on_failure(make_ctx) -> None:
    with pytest.raises(TaskFailed) as info:
        commands("echo a > a.txt", "exit 2", outputFiles=["*.txt"]).run(make_ctx())
    assert info.value.outputs["outputFiles"] == {}


def test_kestra_uris_in_commands_become_local_paths(make_ctx) -> None:
    ctx = make_ctx()
    uri = ctx.storage.put_bytes(b"stored content\n", "in put.txt")
    ctx2 = make_ctx(variables={"outputs": {"prev": {"uri": uri}}})
    commands("cat '{{ outputs.prev.uri }}'", "cat {{ outputs.prev.uri }} | wc -l").run(ctx2)
    assert ctx2.logger.messages("INFO") == ["stored content", "1"]
    with pytest.raises(TaskFailed, match="cannot use kestra:///nope/x.txt"):
        commands("cat kestra:///nope/x.txt").run(make_ctx())


def test_namespace_files(make_ctx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "nsfiles"
    (root / "company.team" / "scripts").mkdir(parents=True)
    (root / "company.team" / "scripts" / "hello.sh").write_text("echo hello from namespace\n")
    (root / "company.team" / "scripts" / "skip.sh").write_text("echo no\n")
    (root / "company.team" / "README.md").write_text("doc\n")
    monkeypatch.setenv("KESTRA_NAMESPACE_FILES_DIR", str(root))

    ctx = make_ctx()
    commands(
        "sh scripts/hello.sh", "ls -R . | grep -c skip.sh || true", "test -f README.md && echo has-readme || echo no-readme",
        namespaceFiles={"enabled": True, "include": ["scripts/**"], "exclude": ["**/skip.sh"]},
    ).run(ctx)
    assert ctx.logger.messages("INFO") == ["hello from namespace", "0", "no-readme"]

    disabled = make_ctx()
    commands("test -e scripts && echo yes || echo no", namespaceFiles={"enabled": False}).run(disabled)
    assert disabled.logger.messages("INFO") == ["no"]


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("*.txt", ["a.txt"], ["sub/a.txt", "a.csv"]),
        ("**/*.csv", ["a.csv", "x/y/a.csv"], ["a.txt"]),
        ("out/**", ["out/a", "out/b/c"], ["other/a"]),
        ("file?.{csv,json}", ["file1.csv", "file2.json"], ["file10.csv", "file1.txt"]),
        ("[ab].txt", ["a.txt", "b.txt"], ["c.txt"]),
        ("[!ab].txt", ["c.txt"], ["a.txt"]),
        ("./report.html", ["report.html"], ["x/report.html"]),
    ],
)
def test_glob_rules(pattern: str, matches: list[str], misses: list[str]) -> None:
    rx = glob_regex(pattern)
    assert all(rx.match(m) for m in matches)
    assert not any(rx.match(m) for m in misses)
