"""A small OCI / Docker Registry HTTP API v2 client: manifests, blobs, auth, copy by digest.

Why our own: promotion must keep the manifest **bytes** (so the digest stays bit-for-bit the
same), mount blobs across repositories of one registry (0 bytes moved), skip blobs the target
already has, and stream the rest without buffering a whole layer. Libraries that parse and
re-serialise manifests (oras…) change the digest.

* ``parse_reference("127.0.0.1:5001/team/app:1")`` → ``ImageRef`` (registry, repository, tag, digest).
* ``RegistryClient(registry, username=…, password=…)`` speaks plain HTTP to loopback registries
  (``insecure=True`` forces it elsewhere) and HTTPS otherwise; it answers ``401`` challenges with
  Basic auth or the Bearer token flow (token cached per scope, fetched again on the next 401).
* ``copy_image(src, src_repo, digest, dst, dst_repo, tags)`` copies an image (or an index and its
  children) by digest; the target tags are written only after every blob and child manifest is
  present; ``attachments=True`` brings cosign's ``sha256-<hex>.sig/.att/.sbom`` tags and the OCI
  referrers fallback tag along.

Transient faults (connection errors, 429, 5xx) are retried with exponential backoff. Passwords
and tokens never appear in exception messages.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urlencode, urljoin

import httpx

from kestra_dagster.errors import KestraDagsterError, TaskKilled
from kestra_dagster.transport import Backoff, is_transient, wait

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
DOCKER_HUB = "registry-1.docker.io"
#: cosign's attachment tag suffixes (signatures, attestations, SBOMs), plus the referrers fallback.
ATTACHMENT_SUFFIXES = (".sig", ".att", ".sbom", "")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
_CHUNK = 1024 * 1024


class RegistryError(KestraDagsterError):
    """A registry answered with an error (``status`` is the HTTP code, 0 for transport errors)."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class ManifestUnknown(RegistryError):
    """The repository has no manifest for that tag or digest."""


# ============================================================================ references
@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def name(self) -> str:
        """``registry/repository`` (what ``docker`` calls the repository of a local image)."""
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> "ImageRef":
        return ImageRef(self.registry, self.repository, None, digest)

    def with_tag(self, tag: str) -> "ImageRef":
        return ImageRef(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(ref: str, default_registry: str = DOCKER_HUB) -> ImageRef:
    """``[registry/]repo[:tag][@digest]`` → ``ImageRef`` (Docker's rules for the registry part)."""
    text = ref.strip()
    for scheme in ("docker://", "oci://", "https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    if not text:
        raise ValueError("empty image reference")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"invalid digest {digest!r} in image reference {ref!r}")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = default_registry, text
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if registry in ("docker.io", "index.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or path != path.lower() or not re.match(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$", path):
        raise ValueError(f"invalid repository name {path!r} in image reference {ref!r}")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry, path, tag, digest)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 or not registry.startswith("[") else registry
    host = host.strip("[]").split("]")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def attachment_tag(digest: str, suffix: str) -> str:
    """cosign's tag for an attachment of ``digest``: ``sha256-<hex>.sig`` (suffix ``.sig``)."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}-{hexpart}{suffix}"


# ============================================================================ client
@dataclass
class Manifest:
    raw: bytes
    media_type: str
    digest: str

    def json(self) -> dict:
        return json.loads(self.raw)

    @property
    def is_index(self) -> bool:
        mt = self.media_type or self.json().get("mediaType", "")
        return mt in INDEX_TYPES

    def children(self) -> list[dict]:
        return list(self.json().get("manifests") or [])

    def blobs(self) -> list[dict]:
        """Config first, then layers (descriptors with digest and size)."""
        doc = self.json()
        out = []
        if isinstance(doc.get("config"), dict):
            out.append(doc["config"])
        out.extend(layer for layer in doc.get("layers") or [] if isinstance(layer, dict))
        return out


@dataclass
class BlobAction:
    digest: str
    size: int
    action: str  # exists | mounted | uploaded
    seconds: float = 0.0


@dataclass
class CopyReport:
    digest: str
    source: str
    target: list[str]
    blobs: list[BlobAction] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes_uploaded(self) -> int:
        return sum(b.size for b in self.blobs if b.action == "uploaded")

    def counts(self) -> dict[str, int]:
        out = {"exists": 0, "mounted": 0, "uploaded": 0}
        for b in self.blobs:
            out[b.action] = out.get(b.action, 0) + 1
        return out

    def as_dict(self) -> dict:
        return {
            "digest": self.digest,
            "source": self.source,
            "targets": self.target,
            "blobs": self.counts(),
            "bytesUploaded": self.bytes_uploaded,
            "manifests": self.manifests,
            "attachments": self.attachments,
            "seconds": round(self.seconds, 3),
        }


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class _Length:
    """A file-like body with a known length, fed from an iterator (httpx then sends no chunking)."""

    def __init__(self, chunks: Iterator[bytes], length: int, check: Callable[[], None], hasher: Any):
        self._chunks = chunks
        self.length = length
        self._check = check
        self._hasher = hasher

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._check()
            self._hasher.update(chunk)
            yield chunk


class RegistryClient:
    """One registry host; thread-safe for sequential use per thread (httpx.Client is)."""

    def __init__(
        self,
        registry: str,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        insecure: bool | None = None,
        retries: int = 4,
        backoff: float = 0.2,
        timeout: float = 300.0,
        cancel_event: threading.Event | None = None,
        log: Callable[[str], None] | None = None,
    ):
        self.registry = registry
        scheme = "http" if (insecure if insecure is not None else is_loopback(registry)) else "https"
        if registry.startswith(("http://", "https://")):
            scheme, _, registry = registry.partition("://")
            self.registry = registry
        host = "registry-1.docker.io" if registry in ("docker.io", "index.docker.io") else registry
        self.base = f"{scheme}://{host}"
        self.username = username
        self.password = password
        self.static_token = token
        self.retries = max(0, retries)
        self._backoff = Backoff(attempts=self.retries + 1, base=backoff)
        self.backoff = backoff
        self.cancel_event = cancel_event
        self.log = log or (lambda msg: None)
        self._tokens: dict[str, str] = {}
        self._mode: str | None = "bearer" if token else None  # basic | bearer
        self._last_scope = ""
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=True)
        self.requests_made = 0

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check(self) -> None:
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise TaskKilled("registry operation cancelled")

    def _auth_header(self, scope: str) -> dict[str, str]:
        if self._mode == "basic" and self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if self._mode == "bearer":
            token = self._tokens.get(scope) or self._tokens.get(self._last_scope) or self.static_token
            if token:
                return {"Authorization": f"Bearer {token}"}
        return {}

    def _fetch_token(self, params: dict[str, str]) -> None:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.registry} asked for a bearer token without a realm", 401)
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        scope = params.get("scope", "")
        for item in scope.split(" "):
            if item:
                query.append(("scope", item))
        auth = (self.username, self.password or "") if self.username is not None else None
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        try:
            resp = self._http.get(url, auth=auth)
        except httpx.HTTPError as exc:
            raise RegistryError(f"token endpoint of {self.registry} unreachable: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise RegistryError(f"registry {self.registry}: authentication failed (token endpoint answered {resp.status_code})", 401)
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"registry {self.registry}: token endpoint returned no token", 401)
        self._tokens[scope] = token
        self._last_scope = scope

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: Any = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        allow: tuple[int, ...] = (),
        retry: bool = True,
    ) -> httpx.Response:
        """One API call with auth challenges answered and transient faults retried."""
        url = path if path.startswith("http") else urljoin(self.base, path)
        attempt = 0
        auth_rounds = 0
        while True:
            self._check()
            attempt += 1
            req_headers = {**(headers or {}), **self._auth_header(scope)}
            body = content() if callable(content) else content
            try:
                self.requests_made += 1
                req = self._http.build_request(method, url, headers=req_headers, params=params, content=body)
                resp = self._http.send(req, stream=stream)
            except httpx.TransportError as exc:
                if retry and self._backoff.may_retry(attempt):
                    self._sleep_backoff(attempt, f"{method} {path}: {type(exc).__name__}")
                    continue
                raise RegistryError(f"{method} {self.base}{path if not path.startswith('http') else ''} failed: {type(exc).__name__}: {exc}") from None
            status = resp.status_code
            if status == 401 and auth_rounds < 2:
                auth_rounds += 1
                challenge = resp.headers.get("www-authenticate", "")
                resp.close()
                kind, cparams = _parse_challenge(challenge)
                if kind == "basic":
                    if self.username is None:
                        raise RegistryError(f"registry {self.registry} needs credentials (401)", 401, "UNAUTHORIZED")
                    if self._mode == "basic":
                        raise RegistryError(f"registry {self.registry} rejected the credentials (401)", 401, "UNAUTHORIZED")
                    self._mode = "basic"
                elif kind == "bearer":
                    self._mode = "bearer"
                    self._fetch_token(cparams)
                else:
                    raise RegistryError(f"registry {self.registry}: unsupported auth challenge {challenge!r}", 401)
                attempt -= 1
                continue
            if status in ok or status in allow:
                return resp
            if retry and is_transient(status) and self._backoff.may_retry(attempt):
                resp.close()
                self._sleep_backoff(attempt, f"{method} {path}: HTTP {status}")
                continue
            raise self._error(method, path, resp)

    def _sleep_backoff(self, attempt: int, why: str) -> None:
        delay = self._backoff.delay(attempt)
        self.log(f"registry {self.registry}: {why}; retry {attempt}/{self.retries} in {delay:.2f}s")
        wait(delay, self.cancel_event, what="registry operation")

    def _error(self, method: str, path: str, resp: httpx.Response) -> RegistryError:
        try:
            resp.read()
            errors = resp.json().get("errors") or []
            code = errors[0].get("code", "") if errors else ""
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or resp.text[:300]
        except Exception:  # noqa: BLE001 - not JSON
            code, detail = "", resp.text[:300] if not resp.is_stream_consumed else ""
        finally:
            resp.close()
        cls = ManifestUnknown if code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN") or (resp.status_code == 404 and "/manifests/" in path) else RegistryError
        return cls(f"{method} {self.registry}{path}: HTTP {resp.status_code} {detail}".strip(), resp.status_code, code)

    @staticmethod
    def _scope(repo: str, actions: str = "pull") -> str:
        return f"repository:{repo}:{actions}"

    # ------------------------------------------------------------------ API
    def ping(self) -> bool:
        resp = self.request("GET", "/v2/", allow=(404,))
        resp.close()
        return resp.status_code == 200

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", scope=self._scope(repo),
                            headers={"Accept": MANIFEST_ACCEPT})
        raw = resp.content
        media_type = resp.headers.get("content-type", "").split(";")[0].strip()
        digest = sha256_digest(raw)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"registry {self.registry} returned a manifest whose digest {digest} is not {reference}")
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = json.loads(raw).get("mediaType", media_type)
        return Manifest(raw, media_type, digest)

    def head_manifest(self, repo: str, reference: str) -> str | None:
        """The digest ``reference`` points to, or None when the repository has no such manifest."""
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{reference}", scope=self._scope(repo),
                            headers={"Accept": MANIFEST_ACCEPT}, allow=(404,))
        resp.close()
        if resp.status_code == 404:
            return None
        digest = resp.headers.get("docker-content-digest")
        if not digest:  # some registries omit it on HEAD
            return self.get_manifest(repo, reference).digest
        return digest

    def resolve(self, repo: str, reference: str) -> str:
        if reference.startswith("sha256:"):
            return reference
        digest = self.head_manifest(repo, reference)
        if digest is None:
            raise ManifestUnknown(f"{self.registry}/{repo}:{reference} not found", 404, "MANIFEST_UNKNOWN")
        return digest

    def put_manifest(self, repo: str, reference: str, raw: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{repo}/manifests/{reference}", scope=self._scope(repo, "pull,push"),
                            headers={"Content-Type": media_type}, content=raw)
        resp.close()
        digest = resp.headers.get("docker-content-digest") or sha256_digest(raw)
        if digest != sha256_digest(raw):
            raise RegistryError(f"registry {self.registry} stored {repo}:{reference} as {digest}, not {sha256_digest(raw)}")
        return digest

    def delete_manifest(self, repo: str, digest: str) -> None:
        resp = self.request("DELETE", f"/v2/{repo}/manifests/{digest}", scope=self._scope(repo, "*"), allow=(404,))
        resp.close()

    def list_tags(self, repo: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list", scope=self._scope(repo), allow=(404,))
        if resp.status_code == 404:
            return []
        return list(resp.json().get("tags") or [])

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=self._scope(repo), allow=(404,))
        resp.close()
        return resp.status_code == 200

    def get_blob(self, repo: str, digest: str) -> bytes:
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=self._scope(repo))
        data = resp.content
        if sha256_digest(data) != digest:
            raise RegistryError(f"blob {digest} from {self.registry}/{repo} does not match its digest")
        return data

    def open_blob(self, repo: str, digest: str) -> httpx.Response:
        """A streaming response for the blob (caller closes it)."""
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=self._scope(repo), stream=True)

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> tuple[bool, str | None]:
        """Cross-repository mount; (True, None) when mounted, (False, upload_location) otherwise."""
        scope = f"{self._scope(repo, 'pull,push')} {self._scope(from_repo)}"
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope,
                            params={"mount": digest, "from": from_repo}, content=b"")
        resp.close()
        if resp.status_code == 201:
            return True, None
        return False, resp.headers.get("location")

    def upload_blob(self, repo: str, digest: str, data: bytes | Callable[[], tuple[Iterator[bytes], int]],
                    location: str | None = None) -> None:
        """Monolithic upload (POST for a session, PUT with the body). ``data`` may be a callable
        returning (chunk iterator, length) so a failed attempt can restart the stream."""
        scope = self._scope(repo, "pull,push")
        attempt = 0
        while True:
            attempt += 1
            if location is None:
                resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope, content=b"")
                resp.close()
                location = resp.headers.get("location")
                if not location:
                    raise RegistryError(f"registry {self.registry} gave no upload location for {repo}")
            url = urljoin(self.base + "/", location)
            url += ("&" if "?" in url else "?") + urlencode({"digest": digest})
            hasher = hashlib.sha256()
            if isinstance(data, (bytes, bytearray)):
                body: Any = bytes(data)
                length = len(body)
                hasher.update(body)
            else:
                chunks, length = data()
                body = _Length(chunks, length, self._check, hasher)
            try:
                resp = self.request("PUT", url, scope=scope, content=body, retry=False,
                                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)})
                resp.close()
                return
            except RegistryError as exc:
                if not self._backoff.may_retry(attempt) or not is_transient(exc.status):
                    raise
                location = None  # start a fresh upload session
                self._sleep_backoff(attempt, f"blob upload {digest[:19]}: {exc}")


# ============================================================================ copy
def client_for(registry: str, credentials: dict | None = None, **kwargs: Any) -> RegistryClient:
    """A client for ``registry`` with credentials from a Kestra-style ``credentials`` map."""
    creds = credentials or {}
    username = creds.get("username")
    password = creds.get("password")
    token = creds.get("registryToken") or creds.get("identityToken")
    if creds.get("auth") and not username:
        decoded = base64.b64decode(creds["auth"]).decode()
        username, _, password = decoded.partition(":")
    return RegistryClient(registry, username=username, password=password, token=token, **kwargs)


def _copy_blob(src: RegistryClient, src_repo: str, dst: RegistryClient, dst_repo: str, desc: dict) -> BlobAction:
    digest, size = desc["digest"], int(desc.get("size") or 0)
    started = time.monotonic()
    if dst.blob_exists(dst_repo, digest):
        return BlobAction(digest, size, "exists", time.monotonic() - started)
    location = None
    if src.base == dst.base:
        mounted, location = dst.mount_blob(dst_repo, digest, src_repo)
        if mounted:
            return BlobAction(digest, size, "mounted", time.monotonic() - started)

    def opener() -> tuple[Iterator[bytes], int]:
        resp = src.open_blob(src_repo, digest)
        length = int(resp.headers.get("content-length") or size)

        def chunks() -> Iterator[bytes]:
            try:
                yield from resp.iter_raw(_CHUNK)
            finally:
                resp.close()

        return chunks(), length

    dst.upload_blob(dst_repo, digest, opener, location=location)
    return BlobAction(digest, size, "uploaded", time.monotonic() - started)


def _copy_manifest_tree(src: RegistryClient, src_repo: str, manifest: Manifest, dst: RegistryClient,
                        dst_repo: str, report: CopyReport) -> None:
    """Copy the blobs (and child manifests) ``manifest`` refers to; not the manifest itself."""
    if manifest.is_index:
        for child in manifest.children():
            child_manifest = src.get_manifest(src_repo, child["digest"])
            _copy_manifest_tree(src, src_repo, child_manifest, dst, dst_repo, report)
            if dst.head_manifest(dst_repo, child_manifest.digest) is None:
                dst.put_manifest(dst_repo, child_manifest.digest, child_manifest.raw, child_manifest.media_type)
            report.manifests.append(child_manifest.digest)
        return
    for desc in manifest.blobs():
        report.blobs.append(_copy_blob(src, src_repo, dst, dst_repo, desc))


def copy_image(
    src: RegistryClient,
    src_repo: str,
    digest: str,
    dst: RegistryClient,
    dst_repo: str,
    tags: list[str] | None = None,
    attachments: bool = True,
    log: Callable[[str], None] | None = None,
) -> CopyReport:
    """Copy ``src_repo@digest`` to ``dst_repo`` (by digest, then each of ``tags``).

    Blobs the target has are skipped, blobs in another repository of the same registry are
    mounted, others are streamed. Manifests are written with the source's exact bytes, so the
    target digest equals ``digest``; the tags are written last.
    """
    log = log or (lambda msg: None)
    started = time.monotonic()
    report = CopyReport(digest=digest, source=f"{src.registry}/{src_repo}@{digest}",
                        target=[f"{dst.registry}/{dst_repo}:{t}" for t in tags or []])
    manifest = src.get_manifest(src_repo, digest)
    _copy_manifest_tree(src, src_repo, manifest, dst, dst_repo, report)
    written = dst.put_manifest(dst_repo, digest, manifest.raw, manifest.media_type)
    if written != digest:  # pragma: no cover - put_manifest already checks
        raise RegistryError(f"target digest {written} differs from source {digest}")
    report.manifests.append(digest)
    if attachments:
        for suffix in ATTACHMENT_SUFFIXES:
            tag = attachment_tag(digest, suffix)
            att_digest = src.head_manifest(src_repo, tag)
            if att_digest is None:
                continue
            att = src.get_manifest(src_repo, att_digest)
            _copy_manifest_tree(src, src_repo, att, dst, dst_repo, report)
            if att.is_index:  # referrers fallback index: its children are referrer manifests
                for child in att.children():
                    ref = src.get_manifest(src_repo, child["digest"])
                    _copy_manifest_tree(src, src_repo, ref, dst, dst_repo, report)
                    dst.put_manifest(dst_repo, ref.digest, ref.raw, ref.media_type)
            dst.put_manifest(dst_repo, tag, att.raw, att.media_type)
            report.attachments.append(tag)
            log(f"attachment {tag} copied")
    for tag in tags or []:
        dst.put_manifest(dst_repo, tag, manifest.raw, manifest.media_type)
    report.seconds = time.monotonic() - started
    counts = report.counts()
    log(f"copied {report.source} -> {dst.registry}/{dst_repo} ({', '.join(tags or []) or 'by digest'}): "
        f"{counts['exists']} blob(s) present, {counts['mounted']} mounted, {counts['uploaded']} uploaded "
        f"({report.bytes_uploaded} bytes) in {report.seconds:.2f}s")
    return report


__all__ = [
    "ImageRef", "Manifest", "RegistryClient", "RegistryError", "ManifestUnknown", "CopyReport", "BlobAction",
    "parse_reference", "copy_image", "client_for", "attachment_tag", "sha256_digest", "is_loopback",
    "OCI_INDEX", "OCI_MANIFEST", "DOCKER_LIST", "DOCKER_MANIFEST",
]
