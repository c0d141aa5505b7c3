"""Every example in README.md, deploy/README.md and docs/*.md is checked (issue 17).

* ``yaml`` flows (``id`` + ``namespace`` + ``tasks``) load through the real loader; a flow marked
  ``<!-- doc-example: invalid PATH -->`` must fail, and ``kestra-dagster validate PATH`` must print
  exactly the block that follows it in the doc;
* ``yaml`` configuration (Kestra's ``datasources``/``kestra``/``micronaut``/``dagster`` keys), and
  the inline ``KESTRA_CONFIGURATION`` of shell examples, go through the config loader;
* a Dagster component ``defs.yaml`` names a class that imports;
* every ``kestra-dagster …`` command of a ``sh``/``bash``/``shell`` block parses with the real CLI
  (options exist, values convert, paths exist in the checkout);
* ``python`` blocks compile, and run (in a fresh interpreter, from the checkout) unless marked
  ``<!-- doc-example: compile-only REASON -->``; ``toml`` blocks parse.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
import yaml

from doc_blocks import REPO, Block, all_blocks, following

BLOCKS = all_blocks()
CONFIG_KEYS = {"datasources", "kestra", "micronaut", "dagster"}
SHELLS = {"sh", "bash", "shell"}
#: Where a documented command's relative paths may live: the checkout, or the example plugin (docs/plugins.md).
COMMAND_DIRS = [REPO, REPO / "examples" / "plugin-example"]


def _where(block: Block) -> str:
    return block.where


def _yaml_docs(kind: str) -> list[Block]:
    out = []
    for b in BLOCKS:
        if b.lang != "yaml":
            continue
        try:
            data = yaml.safe_load(b.text)
        except yaml.YAMLError:
            continue  # test_every_yaml_block_parses names it
        is_flow = isinstance(data, dict) and {"id", "namespace", "tasks"} <= set(data)
        is_config = isinstance(data, dict) and bool(set(data) & CONFIG_KEYS)
        is_workspace = isinstance(data, dict) and set(data) == {"load_from"}
        if (kind == "flow" and is_flow) or (kind == "config" and is_config) or (
                kind == "workspace" and is_workspace) or (
                kind == "other" and not is_flow and not is_config and not is_workspace):
            out.append(b)
    return out


def test_every_yaml_block_parses():
    for b in (b for b in BLOCKS if b.lang == "yaml"):
        try:
            yaml.safe_load(b.text)
        except yaml.YAMLError as exc:
            pytest.fail(f"{b.where}: invalid YAML: {exc}")


# ----------------------------------------------------------------------------- flows


FLOWS = _yaml_docs("flow")


def test_flow_examples_validate(tmp_path):
    """One test over all (the docs may hold none besides the broken one: no empty, skipped parameter set)."""
    from kestra_dagster.model.loader import load_flow_file

    for i, block in enumerate(b for b in FLOWS if b.marker != "invalid"):
        path = tmp_path / f"example_{i}.yaml"
        path.write_text(block.text, encoding="utf-8")
        load_flow_file(path)  # raises FlowValidationError with located issues


@pytest.mark.parametrize("block", [b for b in FLOWS if b.marker == "invalid"], ids=_where)
def test_broken_flow_example_prints_what_the_doc_shows(block, tmp_path):
    """The doc's validate output (file:line:col, YAML path, caret) is what validate prints, verbatim."""
    assert block.marker_arg, f"{block.where}: say where the broken flow is saved: <!-- doc-example: invalid PATH -->"
    path = tmp_path / block.marker_arg
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.text, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "kestra_dagster.cli", "validate", block.marker_arg],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == following(block).text, f"{block.where}: the doc shows other output than validate"


def test_readme_shows_a_broken_flow_with_its_validate_output():
    assert any(b.file.name == "README.md" and b.file.parent == REPO for b in FLOWS if b.marker == "invalid")


# ----------------------------------------------------------------------------- configuration


def _env_for(text: str) -> dict[str, str]:
    """Every ``${VAR}`` the example reads, set (32 characters: the encryption key's length)."""
    return {name: "x" * 32 for name in re.findall(r"\$\{(\w+)", text)}


@pytest.mark.parametrize("block", _yaml_docs("config"), ids=_where)
def test_configuration_example_loads(block):
    from kestra_dagster.config import parse_config

    parse_config(yaml.safe_load(block.text), (block.where,), _env_for(block.text))


@pytest.mark.parametrize("block", _yaml_docs("workspace"), ids=_where)
def test_workspace_example_is_what_dagster_reads(block):
    """A ``workspace.yaml`` example: Dagster's own schema, each entry a named location."""
    from dagster._core.workspace.config_schema import WORKSPACE_CONFIG_SCHEMA
    from dagster._config import process_config

    data = yaml.safe_load(block.text)
    result = process_config(WORKSPACE_CONFIG_SCHEMA, data)
    assert result.success, f"{block.where}: {[e.message for e in result.errors]}"
    for entry in data["load_from"]:
        (target,) = entry.values()
        assert target.get("location_name"), f"{block.where}: every location is named"


@pytest.mark.parametrize("block", _yaml_docs("other"), ids=_where)
def test_component_example_names_a_class_that_imports(block):
    import importlib

    data = yaml.safe_load(block.text)
    assert isinstance(data, dict) and "type" in data, f"{block.where}: a YAML example that is neither flow, " \
                                                      "configuration nor component; teach this test about it"
    module, _, name = data["type"].rpartition(".")
    assert hasattr(importlib.import_module(module), name), f"{block.where}: {data['type']} does not import"


# ----------------------------------------------------------------------------- shell


def _commands(text: str) -> list[list[str]]:
    """Shell commands of a block, as token lists (continuations and multi-line quotes joined)."""
    out, pending = [], ""
    for line in text.splitlines():
        pending += line + "\n"
        if pending.rstrip().endswith("\\"):
            continue
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # a quote still open: the command goes on
            continue
        pending = ""
        if tokens:
            out.append(tokens)
    assert not pending.strip(), f"unterminated command: {pending!r}"
    return out


def _cli_invocations(tokens: list[str]) -> list[list[str]]:
    """The arguments after each ``kestra-dagster`` word, up to a shell operator."""
    found = []
    for i, token in enumerate(tokens):
        if Path(token).name == "kestra-dagster" and tokens[i - 1:i] != ["install"]:  # not `pip install kestra-dagster`
            args = []
            for t in tokens[i + 1:]:
                if t in {"|", "||", "&&", ";", ">", ">>", "<", "&"}:
                    break
                args.append(t)
            found.append(args)
    return found


def _parse(args: list[str]) -> None:
    """Parse ``args`` with the real CLI down to the leaf command, running nothing."""
    from kestra_dagster.cli import main

    cmd, ctx = main, main.make_context("kestra-dagster", list(args))
    while isinstance(cmd, click.Group):
        name, cmd, rest = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        ctx = cmd.make_context(name, rest, parent=ctx)


SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELLS]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=_where)
def test_documented_commands_parse(block):
    for tokens in _commands(block.text):
        for args in _cli_invocations(tokens):
            args = [a for a in args if a not in ("[", "]")]
            args = [a.strip("[]") for a in args]  # a synopsis: [--port 8080] is an optional --port 8080
            errors = []
            for where in COMMAND_DIRS:
                cwd = os.getcwd()
                os.chdir(where)
                try:
                    _parse(args)
                    break
                except click.ClickException as exc:
                    errors.append(f"{where.name}: {exc.format_message()}")
                finally:
                    os.chdir(cwd)
            else:
                pytest.fail(f"{block.where}: `kestra-dagster {' '.join(args)}` does not parse: {errors}")


def test_shell_blocks_call_the_cli():
    assert sum(len(_cli_invocations(t)) for b in SHELL_BLOCKS for t in _commands(b.text)) >= 12


@pytest.mark.parametrize("block", [b for b in SHELL_BLOCKS if "KESTRA_CONFIGURATION=" in b.text], ids=_where)
def test_inline_configuration_in_shell_examples_loads(block):
    from kestra_dagster.config import INLINE_ENV, load_config

    for tokens in _commands(block.text):
        for token in tokens:
            if token.startswith(f"{INLINE_ENV}="):
                value = token.split("=", 1)[1]
                load_config(env={INLINE_ENV: value, **_env_for(value)})


# ----------------------------------------------------------------------------- python, toml


PYTHON = [b for b in BLOCKS if b.lang == "python"]


@pytest.mark.parametrize("block", PYTHON, ids=_where)
def test_python_example_compiles(block):
    compile(block.text, block.where, "exec")


@pytest.mark.parametrize("block", [b for b in PYTHON if b.marker != "compile-only"], ids=_where)
def test_python_example_runs(block, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["KESTRA_STORAGE_PATH"] = str(tmp_path / "storage")
    proc = subprocess.run([sys.executable, "-c", block.text], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, f"{block.where}:\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "toml"], ids=_where)
def test_toml_example_parses(block):
    tomllib.loads(block.text)


# ----------------------------------------------------------------------------- README's tour, for real


def test_readme_tour_shell_commands_do_what_readme_says(tmp_path):
    """Step 5 of the tour, run from the checkout as a newcomer would (no DAGSTER_HOME: a throw-away instance)."""
    import json

    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["KESTRA_STORAGE_PATH"] = str(tmp_path / "storage")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kestra_dagster.cli", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=180)

    flows = sorted((REPO / "flows").glob("*.y*ml"))
    validate = cli("validate", "flows/")
    assert validate.returncode == 0 and validate.stderr.strip().endswith(f"{len(flows)} valid, 0 invalid"), validate
    run = cli("run", "flows/hello_world.yaml", "--input", "name=you", "--json")
    result = json.loads(run.stdout)
    assert run.returncode == 0 and result["state"] == "SUCCESS", run.stderr[-2000:]
    assert result["flowOutputs"]["summary"].startswith("greeted you 2 times")  # inputs: {name: world, times: 2}
    assert json.loads(cli("schema").stdout)["$defs"]
    kinds = {e["kind"] for e in json.loads(cli("plugins", "--json").stdout)}
    assert kinds == {"task", "trigger", "condition"}  # what README's comment on `plugins` says
