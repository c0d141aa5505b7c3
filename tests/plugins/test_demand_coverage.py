"""scripts/demand-coverage: the demand table's types resolved in our registry (what README reports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kd_testing import require_shared

ROOT = Path(__file__).resolve().parents[2]


def test_demand_coverage_counts_the_data_ops_types(tmp_path):
    tsv = require_shared() / "reference" / "blueprint-type-demand.tsv"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "demand-coverage"), "--tsv", str(tsv)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for name in ("io.kestra.plugin.dbt.cli.DbtCLI", "io.kestra.plugin.ansible.cli.AnsibleCLI",
                 "io.kestra.plugin.aws.s3.Upload", "io.kestra.plugin.aws.cli.AwsCLI", "io.kestra.plugin.git.PushFlows"):
        assert name in out
    assert "flows unlocked (only missing type now implemented):" in out

    # the count is the sum of the "only missing type" column over the implemented types
    mini = tmp_path / "demand.tsv"
    mini.write_text("type\tblueprints_using_it\tblueprints_where_it_is_the_only_missing_type\n"
                    "io.kestra.plugin.dbt.cli.DbtCLI\t13\t8\n"
                    "io.kestra.plugin.aws.s3.Upload\t10\t1\n"
                    "io.kestra.plugin.nope.Missing\t4\t4\n")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "demand-coverage"), "--tsv", str(mini)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "types implemented: 2 of 3" in out
    assert "flows unlocked (only missing type now implemented): 9" in out
    assert "flow uses of implemented types: 23" in out
