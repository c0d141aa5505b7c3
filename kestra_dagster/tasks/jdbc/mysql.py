"""``io.kestra.plugin.jdbc.mysql``: Query, Queries and the polling Trigger through PyMySQL
(pure Python) against ``jdbc:mysql://host:port/database`` URLs (MariaDB servers too).

``inputFile`` (a ``kestra://`` file) is copied into the working directory for
``LOAD DATA LOCAL INFILE '{{ inputFile }}' INTO TABLE …``, with local infile enabled on the
connection for that task only; the copy is removed afterwards."""

from __future__ import annotations

import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.jdbc._base import JdbcQueries, JdbcQuery
from kestra_dagster.tasks.jdbc._dialect import MYSQL, Dialect
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger


class _MySql:
    dialect: ClassVar[Dialect] = MYSQL
    kestra_family: ClassVar[str] = "jdbc"
    compute_kind: ClassVar[str | None] = "mysql"

    inputFile: str | None = None

    @contextmanager
    def session(self, ctx) -> Iterator[dict[str, Any]]:
        if self.inputFile is None:
            yield {}
            return
        uri = str(ctx.render_str(self.inputFile, "inputFile")).strip()
        workdir = Path(ctx.working_dir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / f"inputFile-{uuid.uuid4().hex[:8]}"
        try:
            try:
                shutil.copyfile(ctx.storage.local_path(uri), target)
            except Exception as exc:  # noqa: BLE001 - StorageError names the problem
                raise TaskFailed(f"property 'inputFile': cannot read {uri}: {exc}") from None
            yield {"inputFile": str(target)}
        finally:
            target.unlink(missing_ok=True)

    def connection_params(self, ctx) -> dict[str, str]:
        return {"allowLoadLocalInfile": "true"} if self.inputFile is not None else {}


class Query(_MySql, JdbcQuery):
    """Run one SQL statement on MySQL; ``fetchType`` keeps its rows (row, rows or an ION file)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mysql.Query"


class Queries(_MySql, JdbcQueries):
    """Run several SQL statements on MySQL in one transaction; one output per result set."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mysql.Queries"


class Trigger(JdbcTrigger):
    """Poll MySQL with ``sql``; one execution per new row set (trigger.rows/row/uri, size)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mysql.Trigger"
    query_class: ClassVar[type] = Query
