"""Attack: a flow file that costs the code location its memory or time at load.

* an alias bomb inside task properties (a few hundred bytes expanding to billions of nodes);
* a 14 MB flow with 200 kB lines (refused at once, and the error never echoes the line);
* an alias that contains itself.

Each bad file must become an ``invalid__`` job with a located error while the good flow beside it
loads; each test fails if the bounds in kestra_dagster.model.yaml_source were removed.
"""

from __future__ import annotations

import resource
import textwrap
import time
from pathlib import Path

import pytest

from kestra_dagster.compiler.definitions import load_catalog
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import load_flow_file, parse_flow

pytestmark = pytest.mark.timeout(120)

GOOD = textwrap.dedent("""
    id: good
    namespace: company.team
    tasks:
      - id: hello
        type: io.kestra.plugin.core.log.Log
        message: hi
""")


def _bomb(levels: int = 9) -> str:
    lines = ['        a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"        a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return (
        "id: bomb\nnamespace: company.team\ntasks:\n"
        "  - id: boom\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n    extra:\n"
        + "\n".join(lines)
        + "\n  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
    )


@pytest.fixture(autouse=True)
def _registry_loaded():
    parse_flow(GOOD)  # the plugin registry loads once per process; time only the attack


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_alias_bomb_in_task_properties_is_refused_at_load_with_its_location(tmp_path):
    text = _bomb()
    assert len(text) < 2000  # ~9^9 = 387 million strings once expanded
    started, rss = time.monotonic(), _rss_mb()
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="bomb.yaml")
    assert time.monotonic() - started < 5 and _rss_mb() - rss < 200
    issue = info.value.issues[0]
    assert "expands to more than" in issue.message and "aliases" in issue.message
    assert issue.file == "bomb.yaml" and issue.line > 1


def test_bad_files_become_invalid_jobs_and_the_location_still_loads(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bomb.yaml").write_text(_bomb())
    (tmp_path / "self.yaml").write_text(GOOD.replace("id: good", "id: selfref") + "labels: &l {a: *l}\n")
    (tmp_path / "huge.yaml").write_text(GOOD.replace("id: good", "id: huge") + "description: " + "x" * 200_000 + "\n")
    started = time.monotonic()
    catalog = load_catalog([tmp_path])
    assert time.monotonic() - started < 30
    assert list(catalog.flows) == ["company.team.good"]
    broken = {Path(f).name: report for f, report in catalog.broken.items()}
    assert set(broken) == {"bomb.yaml", "self.yaml", "huge.yaml"}
    assert "contains it" in broken["self.yaml"]
    assert "200,0" in broken["huge.yaml"] and "x" * 1000 not in broken["huge.yaml"]
    assert all(job.name.startswith("invalid__") for job in catalog.broken_jobs) and len(catalog.broken_jobs) == 3


def test_a_14_mb_flow_is_refused_fast_without_echoing_its_lines(tmp_path):
    path = tmp_path / "big.yaml"
    line = "# " + "y" * 200_000 + "\n"
    with open(path, "w") as out:
        out.write(GOOD)
        for _ in range(70):
            out.write(line)
    assert path.stat().st_size > 14_000_000
    started = time.monotonic()
    with pytest.raises(FlowValidationError) as info:
        load_flow_file(path)
    assert time.monotonic() - started < 1.0
    rendered = "\n".join(i.render() for i in info.value.issues)
    assert "at most" in rendered and str(path) in rendered and len(rendered) < 2000


def test_a_long_line_is_located_and_clipped_in_the_error():
    text = GOOD + "description: '" + "z" * 100_000 + "'\n"
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="long.yaml")
    issue = info.value.issues[0]
    assert issue.line == len(GOOD.splitlines()) + 1
    assert len(issue.render()) < 2000 and "characters" in issue.render()
