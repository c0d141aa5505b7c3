"""DuckDB and SQLite run inside the worker, so their tasks can use files: ``inputFiles`` are
written to the working directory (``{{ workingDir }}`` in ``sql``), ``outputFiles`` names are
paths there (``{{ outputFiles.out }}``) uploaded after the query, a database can come from
internal storage (``databaseUri``/``sqliteFile``) and go back to it (``outputDbFile``)."""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.jdbc._base import JdbcQueries, JdbcQuery


def _inside(workdir: Path, name: str, prop: str) -> Path:
    target = (workdir / name).resolve()
    if workdir.resolve() not in target.parents:
        raise TaskFailed(f"property '{prop}': {name!r} is outside the working directory")
    return target


class EmbeddedFiles(JdbcQuery):
    """Base of the DuckDB/SQLite Query and Queries tasks (no ``kestra_type``: not a task itself)."""

    url_scheme: ClassVar[str]
    database_prop: ClassVar[str]  # databaseUri (DuckDB) | sqliteFile (SQLite)

    inputFiles: dict[str, Any] | str | None = None
    outputDbFile: bool | str = False

    def database_source(self) -> str | None:
        return getattr(self, self.database_prop)

    @contextmanager
    def session(self, ctx) -> Iterator[dict[str, Any]]:
        workdir = Path(ctx.working_dir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        created: list[Path] = []
        extra: dict[str, Any] = {"workingDir": str(workdir)}
        try:
            created += self._write_inputs(ctx, workdir, extra)
            names = self._output_names(ctx, extra)
            extra["outputFiles"] = {name: str(_inside(workdir, name, "outputFiles")) for name in names}
            db_file = self._database_file(ctx, workdir, extra)
            if db_file is not None:
                extra["dbFilePath"] = str(db_file)
                created.append(db_file)
            extra["_db_file"] = db_file
            yield extra
        finally:
            for path in created:  # what the task put in the working directory does not outlive it
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            for name, path in (extra.get("outputFiles") or {}).items():
                Path(path).unlink(missing_ok=True)

    def default_url(self, ctx) -> str:
        return f"jdbc:{self.url_scheme}:"

    def _write_inputs(self, ctx, workdir: Path, extra: dict[str, Any]) -> list[Path]:
        if self.inputFiles is None:
            return []
        files = ctx.render(self.inputFiles, "inputFiles", extra=extra)
        if isinstance(files, str):
            try:
                files = json.loads(files) if files.strip() else {}
            except ValueError as exc:
                raise TaskFailed(f"property 'inputFiles' must be a map or a JSON object: {exc}") from None
        if not isinstance(files, dict):
            raise TaskFailed(f"property 'inputFiles' must be a map of file name → content or kestra:// URI")
        written = []
        for name, content in files.items():
            target = _inside(workdir, str(name), "inputFiles")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str) and content.strip().lower().startswith("kestra://"):
                try:
                    shutil.copyfile(ctx.storage.local_path(content.strip()), target)
                except Exception as exc:  # noqa: BLE001 - StorageError names the problem
                    raise TaskFailed(f"property 'inputFiles.{name}': cannot read {content.strip()}: {exc}") from None
            else:
                target.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
            written.append(target)
        return written

    def _output_names(self, ctx, extra: dict[str, Any]) -> list[str]:
        outputs = getattr(self, "outputFiles", None)
        if outputs is None:
            return []
        names = ctx.render(outputs, "outputFiles", extra=extra)
        if isinstance(names, str):
            names = json.loads(names) if names.strip().startswith("[") else [names]
        return [str(n) for n in names]

    def _database_file(self, ctx, workdir: Path, extra: dict[str, Any]) -> Path | None:
        source = self.database_source()
        if source is not None:
            uri = str(ctx.render_str(source, self.database_prop)).strip()
            target = workdir / f"{uuid.uuid4().hex}.db"
            try:
                shutil.copyfile(ctx.storage.local_path(uri), target)
            except Exception as exc:  # noqa: BLE001
                raise TaskFailed(f"property '{self.database_prop}': cannot read {uri}: {exc}") from None
            return target
        if self.url is None and ctx.render_bool(self.outputDbFile, "outputDbFile"):
            return workdir / f"{uuid.uuid4().hex}.db"  # the in-memory default, kept as a file to output it
        return None

    def open(self, ctx, extra: dict[str, Any] | None = None, url_override: str | None = None):
        db_file = (extra or {}).get("_db_file")
        if db_file is not None and (self.url is None or self.database_source() is not None):
            url_override = f"jdbc:{self.url_scheme}:{db_file}"
        elif self.url is not None:
            url = self.dialect.parse(str(ctx.render(self.url, "url", extra=extra)))
            if url.path and not Path(url.path).is_absolute():  # relative: in the working directory
                url_override = f"jdbc:{self.url_scheme}:{Path(ctx.working_dir).resolve() / url.path}"
        conn, url = super().open(ctx, extra, url_override)
        self.prepare_connection(ctx, conn, extra or {})
        return conn, url

    def prepare_connection(self, ctx, conn, extra: dict[str, Any]) -> None:
        """Per-database session set-up (DuckDB: resolve relative files in the working directory)."""

    def session_outputs(self, ctx, extra: dict[str, Any]) -> dict[str, Any]:
        uploaded = {}
        for name, path in (extra.get("outputFiles") or {}).items():
            if not Path(path).is_file():
                raise TaskFailed(f"property 'outputFiles': the query did not write {name!r} "
                                 f"(write it to '{{{{ outputFiles.{name} }}}}')")
            uploaded[name] = ctx.storage.put_file(Path(path), name)
        outputs: dict[str, Any] = {"outputFiles": uploaded}
        db_file = extra.get("_db_file")
        if ctx.render_bool(self.outputDbFile, "outputDbFile"):
            if db_file is None:
                raise TaskFailed("property 'outputDbFile' needs the default in-memory url or "
                                 f"'{self.database_prop}': a database named in 'url' stays where it is")
            outputs["databaseUri"] = ctx.storage.put_file(Path(db_file), f"{self.url_scheme}.db")
        return outputs


class EmbeddedQueries(EmbeddedFiles, JdbcQueries):
    """Queries with working-directory files."""
