"""PostgreSQL's extra connection properties (``ssl``, ``sslMode``, PEM ``sslRootCert``/``sslCert``/
``sslKey``), shared by its Query, Queries, CopyIn, CopyOut and Trigger. PEM contents are written
to private files in the working directory for libpq, removed when the task ends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from kestra_dagster.tasks.jdbc._base import JdbcConnection
from kestra_dagster.tasks.jdbc._dialect import POSTGRES, Dialect

SslMode = Literal["DISABLE", "ALLOW", "PREFER", "REQUIRE", "VERIFY_CA", "VERIFY_FULL"]


class PostgresConnection(JdbcConnection):
    """PostgreSQL connection properties (no ``kestra_type``: not a task itself)."""

    dialect: ClassVar[Dialect] = POSTGRES
    kestra_family: ClassVar[str] = "jdbc"
    compute_kind: ClassVar[str | None] = "postgresql"

    ssl: bool | str | None = None
    sslMode: SslMode | str | None = None
    sslRootCert: str | None = None
    sslCert: str | None = None
    sslKey: str | None = None
    sslKeyPassword: str | None = None

    def connection_params(self, ctx) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.ssl is not None and ctx.render_bool(self.ssl, "ssl"):
            params["ssl"] = "true"
        if self.sslMode:
            params["sslmode"] = str(ctx.render_str(self.sslMode, "sslMode")).lower().replace("_", "-")
        for prop, name in (("sslRootCert", "sslrootcert"), ("sslCert", "sslcert"), ("sslKey", "sslkey")):
            value = getattr(self, prop)
            if value:
                pem = str(ctx.render_str(value, prop))
                if prop == "sslKey":
                    ctx.secret_values.add(pem)
                params[name] = str(_pem_file(ctx, prop, pem))
        if self.sslKeyPassword:
            secret = str(ctx.render_str(self.sslKeyPassword, "sslKeyPassword"))
            ctx.secret_values.add(secret)
            params["sslpassword"] = secret
        return params


def _pem_file(ctx, prop: str, pem: str) -> Path:
    folder = Path(ctx.working_dir) / ".kestra-pg-ssl"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / prop
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(pem)
    return path


def ssl_cleanup(ctx) -> None:
    import shutil

    shutil.rmtree(Path(ctx.working_dir) / ".kestra-pg-ssl", ignore_errors=True)

