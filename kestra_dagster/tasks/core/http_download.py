"""``io.kestra.plugin.core.http.Download``: an HTTP response body streamed into internal storage.

Same properties and client as ``http.Request`` (Kestra's ``AbstractHttp``: ``uri``, ``method``,
``headers``, ``body``, ``formData``, ``contentType``, ``options``…) plus ``failOnEmptyResponse``
(default true). The body goes chunk by chunk to a file in the task's working directory, then to
internal storage, so a large file never sits in memory; ``options.maxContentLength``, when set,
bounds it. The stored name comes from ``Content-Disposition`` (its last path segment only), else
keeps the URI's extension. A ``Content-Length`` the body does not match fails the task, as a
truncated download must not pass for a file.

Outputs: ``uri`` (``kestra:///…``), ``code``, ``length`` (bytes), ``headers``; metric
``response.length``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote_plus, unquote, urlparse

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.http import HttpOptions, HttpTask, TooLarge, response_headers, send

_EXTENSION = re.compile(r"\.[A-Za-z0-9_-]{1,16}$")


class Download(HttpTask):
    """Download a file from an HTTP server into internal storage (outputs ``uri``, ``code``, ``length``, ``headers``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.http.Download"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.fs.http.Download",)

    failOnEmptyResponse: bool | str = True

    def run(self, ctx) -> dict[str, Any]:
        prepared = self.prepare(ctx)
        opts = self.options or HttpOptions()
        limit = opts.maxContentLength
        suffix = extension_of(prepared.uri)
        with tempfile.NamedTemporaryFile(dir=ctx.working_dir, prefix="download-", suffix=suffix, delete=False) as out:
            path = Path(out.name)
            size = 0

            def write(chunk: bytes) -> None:
                nonlocal size
                size += len(chunk)
                if limit is not None and size > limit:
                    raise TooLarge(size, limit, "raise options.maxContentLength")
                out.write(chunk)

            try:
                response = send(ctx, prepared, write)
            except BaseException:
                out.close()
                path.unlink(missing_ok=True)
                raise
        try:
            return self._finish(ctx, prepared, response, path, size)
        finally:
            path.unlink(missing_ok=True)  # stored (or refused): the working copy is not kept

    def _finish(self, ctx, prepared, response, path: Path, size: int) -> dict[str, Any]:
        where, code = prepared.where, response.status_code
        if code >= 400 and not prepared.allow_failed:
            preview = path.read_bytes()[:2000].decode("utf-8", "replace") if size else None
            raise TaskFailed(self.error_message(prepared, response, preview))
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) != size and "Content-Encoding" not in response.headers:
            raise TaskFailed(f"{where}: the download is incomplete: got {size} bytes, the server announced {declared} "
                             "(Content-Length); retry the task (retry: …) if the connection is unreliable")
        if size == 0:
            if ctx.render_bool(self.failOnEmptyResponse, "failOnEmptyResponse"):
                if not prepared.allow_failed:
                    raise TaskFailed(f"{where}: no content in the response (code {code}); set failOnEmptyResponse: "
                                     "false to accept an empty file")
            else:
                ctx.logger.warning(prepared.mask(f"file from {where} is empty"))
        name = filename_from_header(response.headers.get("Content-Disposition"))
        stored = ctx.storage.put_file(path, quote_plus(name, safe="*") if name else None)
        ctx.record_metric("response.length", "counter", size)
        ctx.logger.debug(prepared.mask(f"{where} → {code}, {size} bytes stored as {stored}"))
        return {"uri": stored, "code": code, "length": size, "headers": response_headers(response)}


def extension_of(uri: str) -> str:
    """The extension of the URI's last path segment (``.csv``), kept on the stored file."""
    last = urlparse(uri).path.rsplit("/", 1)[-1]
    found = _EXTENSION.search(last)
    return found.group(0) if found else ""


def filename_from_header(disposition: str | None) -> str | None:
    """The file name a ``Content-Disposition`` header gives (``filename*=UTF-8''…`` wins), without
    any directory part: a server must not choose where the file goes."""
    if not disposition:
        return None
    name = None
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        key = key.strip().lower()
        if key == "filename" and name is None:
            name = value.strip().strip('"')
        elif key == "filename*":
            encoded = value.strip().strip('"')
            name = unquote(encoded.split("'", 2)[-1]) if "'" in encoded else unquote(encoded)
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return None if name in ("", ".", "..") else name
