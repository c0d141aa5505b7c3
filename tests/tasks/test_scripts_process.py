"""Script tasks on the Process runner: streaming, outputs, exit codes, failFast, cancellation."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands
from kestra_dagster.tasks.scripts.shell_script import ShellScript

pytestmark = pytest.mark.timeout(30)


def commands(*lines: str, **props) -> ShellCommands:
    return ShellCommands(id="sh", type=ShellCommands.kestra_type, commands=list(lines), **props)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_output_is_streamed_while_the_process_runs(make_ctx) -> None:
    ctx = make_ctx()
    commands("echo first", "sleep 1.5", "echo second").run(ctx)
    finished = time.monotonic()
    times = {msg: t for t, level, msg in ctx.logger.records if level == "INFO"}
    assert finished - times["first"] >= 1.2, "the first line must be logged before the process ends"
    assert times["second"] - times["first"] >= 1.2


def test_outputs_lines_become_vars_and_are_not_logged(make_ctx) -> None:
    ctx = make_ctx()
    out = commands(
        """echo '::{"outputs":{"k":"v","n":1}}::'""",
        """echo '::{"outputs":{"n":2,"list":[1,2]}}::'""",
        """echo '::{"metrics":[{"name":"rows","type":"counter","value":5,"tags":{"t":"a"}}]}::'""",
        """echo '::{not json}::'""",
        "echo plain",
        "echo oops >&2",
    ).run(ctx)
    assert out["vars"] == {"k": "v", "n": 2, "list": [1, 2]}
    assert out["exitCode"] == 0
    assert out["stdOutLineCount"] == 5 and out["stdErrLineCount"] == 1
    assert out["outputFiles"] == {}
    logged = ctx.logger.messages()
    assert not any('"outputs"' in m for m in logged)
    assert any("metric counter 'rows' = 5" in m for m in logged)
    assert "::{not json}::" in ctx.logger.messages("INFO")
    assert "oops" in ctx.logger.messages("WARNING")


def test_non_zero_exit_fails_with_the_exit_code_and_keeps_vars(make_ctx) -> None:
    with pytest.raises(TaskFailed, match="^Command failed with exit code 3$") as info:
        commands("""echo '::{"outputs":{"before":"fail"}}::'""", "exit 3").run(make_ctx())
    assert info.value.outputs["exitCode"] == 3
    assert info.value.outputs["vars"] == {"before": "fail"}


def test_fail_fast_stops_at_the_first_failing_command(make_ctx) -> None:
    ctx = make_ctx()
    with pytest.raises(TaskFailed, match="exit code 1"):
        commands("echo one", "false", "echo after").run(ctx)
    assert "after" not in ctx.logger.messages()


def test_fail_fast_off_runs_every_command_and_the_last_one_decides(make_ctx) -> None:
    ctx = make_ctx()
    out = commands("false", "echo after", failFast=False).run(ctx)
    assert out["exitCode"] == 0
    assert "after" in ctx.logger.messages()


def test_before_commands_run_first_and_fail_fast_covers_them(make_ctx) -> None:
    ctx = make_ctx()
    commands("echo main", beforeCommands=["echo setup", "export FROM_BEFORE=yes"]).run(ctx)
    ctx2 = make_ctx()
    commands("echo $FROM_BEFORE", beforeCommands=["export FROM_BEFORE=yes"]).run(ctx2)
    assert ctx.logger.messages("INFO") == ["setup", "main"]
    assert ctx2.logger.messages("INFO") == ["yes"]
    ctx3 = make_ctx()
    with pytest.raises(TaskFailed):
        commands("echo main", beforeCommands=["exit 4"]).run(ctx3)
    assert "main" not in ctx3.logger.messages()


def test_env_working_dir_and_output_dir(make_ctx) -> None:
    ctx = make_ctx()
    commands(
        'echo "g=$GREETING n=$NUM"',
        'echo "wd=$WORKING_DIR"',
        'echo "od=$OUTPUT_DIR"',
        "pwd",
        env={"GREETING": "hi there", "NUM": 3},
    ).run(ctx)
    info = ctx.logger.messages("INFO")
    assert info[0] == "g=hi there n=3"
    assert info[1] == f"wd={ctx.working_dir}"
    output_dir = Path(info[2][len("od="):])
    assert output_dir.parent == ctx.working_dir
    assert info[3] == str(ctx.working_dir)


def test_properties_are_rendered_with_working_and_output_dir(make_ctx) -> None:
    ctx = make_ctx(variables={"who": "world"})
    out = commands(
        "echo hello {{ who }}",
        "echo in {{ workingDir }}",
        "echo data > {{ outputDir }}/made.txt",
        env={"WHO": "{{ who }}"},
        beforeCommands=["echo env $WHO"],
    ).run(ctx)
    assert ctx.logger.messages("INFO") == ["env world", "hello world", f"in {ctx.working_dir}"]
    assert set(out["outputFiles"]) == {"made.txt"}


def test_secrets_are_masked_in_logs(make_ctx) -> None:
    ctx = make_ctx(secret_values={"hunter2-secret"})
    commands("echo token=hunter2-secret", "echo hunter2-secret >&2").run(ctx)
    text = ctx.logger.text()
    assert "hunter2-secret" not in text
    assert "token=******" in text


def test_warning_on_stderr(make_ctx) -> None:
    quiet = make_ctx()
    commands("echo x >&2").run(quiet)
    assert quiet._warnings == []
    noisy = make_ctx()
    commands("echo x >&2", warningOnStdErr=True).run(noisy)
    assert noisy._warnings and "stderr" in noisy._warnings[0]


def test_shell_script(make_ctx) -> None:
    ctx = make_ctx(variables={"n": "3"})
    out = ShellScript(
        id="s", type=ShellScript.kestra_type,
        script="""
for i in $(seq 1 {{ n }}); do
  echo "line $i"
done
echo '::{"outputs":{"done":true}}::'
""",
    ).run(ctx)
    assert ctx.logger.messages("INFO") == ["line 1", "line 2", "line 3"]
    assert out["vars"] == {"done": True}


def test_custom_interpreter(make_ctx) -> None:
    ctx = make_ctx()
    commands("echo $0", interpreter=["/bin/bash", "-c"]).run(ctx)
    assert ctx.logger.messages("INFO") == ["/bin/bash"]
    with pytest.raises(TaskFailed, match="cannot start '/no/such/shell'"):
        commands("echo x", interpreter=["/no/such/shell", "-c"]).run(make_ctx())


def test_unknown_task_runner_is_refused_with_a_pointer_to_process(make_ctx) -> None:
    # The Docker runner itself is tested against a real daemon in tests/docker/.
    with pytest.raises(TaskFailed, match="io.kestra.plugin.core.runner.Process"):
        commands("echo x", taskRunner={"type": "io.kestra.plugin.ee.kubernetes.runner.Kubernetes"}).run(make_ctx())


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"taskRunner": {"type": "io.kestra.plugin.core.runner.Process"}},
        {"taskRunner": {"type": "io.kestra.core.models.tasks.runners.types.ProcessTaskRunner"}},
        {"runner": "PROCESS"},
        {"containerImage": "ubuntu:22.04", "targetOS": "LINUX", "outputDirectory": True},
    ],
)
def test_process_runner_spellings(make_ctx, props) -> None:
    assert commands("echo ok", **props).run(make_ctx())["exitCode"] == 0


def test_unknown_task_runner(make_ctx) -> None:
    with pytest.raises(TaskFailed, match="task runner io.kestra.plugin.ee.kubernetes.runner.Kubernetes is not available"):
        commands("echo x", taskRunner={"type": "io.kestra.plugin.ee.kubernetes.runner.Kubernetes"}).run(make_ctx())


def _pids(ctx) -> list[int]:
    found = []
    for msg in ctx.logger.messages("INFO"):
        found += [int(p) for p in re.findall(r"pid=(\d+)", msg)]
    return found


def _cancel_after(ctx, seconds: float) -> None:
    threading.Timer(seconds, ctx.cancel_event.set).start()


def test_cancellation_kills_the_whole_process_group(make_ctx) -> None:
    ctx = make_ctx()
    _cancel_after(ctx, 0.8)
    started = time.monotonic()
    with pytest.raises(TaskKilled):
        commands(
            "echo pid=$$",
            "sleep 60 & echo pid=$!",
            "sh -c 'sleep 60 & echo pid=$!; wait' &",
            "sleep 60",
        ).run(ctx)
    assert time.monotonic() - started < 4
    pids = _pids(ctx)
    assert len(pids) == 3
    time.sleep(0.1)
    assert [p for p in pids if _alive(p)] == []


def test_cancellation_escalates_to_sigkill_after_5_seconds(make_ctx) -> None:
    ctx = make_ctx()
    _cancel_after(ctx, 0.5)
    started = time.monotonic()
    with pytest.raises(TaskKilled):
        commands("trap '' TERM", "echo pid=$$", "sleep 60 & echo pid=$!", "wait").run(ctx)
    elapsed = time.monotonic() - started
    assert 4.5 <= elapsed < 9
    assert [p for p in _pids(ctx) if _alive(p)] == []


def test_background_process_holding_the_output_does_not_hang_the_task(make_ctx) -> None:
    ctx = make_ctx()
    started = time.monotonic()
    out = commands("sleep 60 & echo pid=$!", "echo done").run(ctx)
    assert out["exitCode"] == 0
    assert time.monotonic() - started < 6
    assert [p for p in _pids(ctx) if _alive(p)] == []


def test_very_long_scripts_still_run(make_ctx) -> None:
    ctx = make_ctx()
    filler = [f": padding line {i} {'x' * 100}" for i in range(1500)]  # ~170 KB, over the argv cap
    out = commands(*filler, "echo survived", "exit 0").run(ctx)
    assert out["exitCode"] == 0
    assert ctx.logger.messages("INFO") == ["survived"]
    assert list(ctx.working_dir.iterdir()) == []
