"""Run-time services as Dagster resources: where a run's files go and where tasks get scratch space.

Ops ask the ``kestra_services`` resource instead of reading the environment themselves, so a
deployment (or a test) can hand a run other services the Dagster way: through the job's resources
(``KestraTranslator.get_services_resource``). The defaults read Kestra's settings once per run:
``kestra.storage`` (local files under ``$KESTRA_STORAGE_PATH`` or ``$DAGSTER_HOME/storage/kestra``,
or S3) and ``kestra.tasks.tmp-dir.path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from dagster import ConfigurableResource

SERVICES_KEY = "kestra_services"


class KestraServices(ConfigurableResource):
    """Internal storage and task working directories of a run."""

    storage_path: Optional[str] = None
    """Local internal storage root; empty: Kestra's storage settings (local or S3) from the environment."""
    tasks_tmp_dir: Optional[str] = None
    """Root of task working directories; empty: ``kestra.tasks.tmp-dir.path``, else the system temp dir."""

    def storage(self) -> Any:
        from kestra_dagster.engine.storage import LocalStorage, default_storage

        return LocalStorage(Path(self.storage_path).expanduser()) if self.storage_path else default_storage()

    def work_root(self) -> Path | None:
        from kestra_dagster.engine.storage import tasks_tmp_dir

        return Path(self.tasks_tmp_dir).expanduser() if self.tasks_tmp_dir else tasks_tmp_dir()
