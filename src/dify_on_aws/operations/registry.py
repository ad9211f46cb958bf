"""A small client of the OCI distribution API (the Docker registry HTTP API v2), standard library only.

What `mirror-images` needs and nothing more: manifests by tag or digest (HEAD, GET with Accept negotiation,
PUT), blobs (HEAD, streamed GET following redirects without leaking credentials to another host, and the
POST -> PATCH -> PUT upload), and the two ways registries authenticate: HTTP Basic (Amazon ECR's
`AWS:<token>` from `ecr:GetAuthorizationToken`) and the Docker token flow (a 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`, answered by a token from the realm).
Specifications: OCI distribution-spec "Pulling", "Pushing", "Content Discovery"; Docker "Token
Authentication Specification".
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Protocol

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(MANIFEST_TYPES)
TIMEOUT_SECONDS = 120.0
CHUNK = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """A registry refused or failed a request: `status` is the HTTP status (0 for a network error), `action`
    what was attempted, `detail` the registry's own message."""

    def __init__(
        self, message: str, *, status: int = 0, action: str = "", detail: str = "", host: str = ""
    ) -> None:
        super().__init__(message)
        self.status, self.action, self.detail, self.host = status, action, detail, host


@dataclass(frozen=True)
class Manifest:
    media_type: str
    body: bytes
    digest: str

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        if not isinstance(data, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Progress(Protocol):
    def advance(self, count: int) -> None: ...


@dataclass
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    stream: http.client.HTTPResponse | None = None
    connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


class _Hashing:
    """A readable stream that hashes and counts what passes through it (for the upload's body)."""

    def __init__(self, source: IO[bytes] | http.client.HTTPResponse, progress: Progress | None) -> None:
        self._source, self._progress = source, progress
        self.hash, self.size = hashlib.sha256(), 0

    def read(self, size: int = CHUNK) -> bytes:
        data = self._source.read(size)
        self.hash.update(data)
        self.size += len(data)
        if self._progress is not None and data:
            self._progress.advance(len(data))
        return data


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class Registry:
    """One registry host. `url` overrides where it is reached (default `https://<host>`); `basic` is a
    (user, password) pair sent on every request; otherwise the token flow runs on a 401, with
    `token_credentials` (a Docker Hub user and access token) when given, anonymously when not. `push`
    asks tokens for pull and push."""

    def __init__(
        self,
        host: str,
        *,
        url: str | None = None,
        basic: tuple[str, str] | None = None,
        token_credentials: tuple[str, str] | None = None,
        push: bool = False,
    ) -> None:
        self.host = host
        self.url = (url or f"https://{host}").rstrip("/")
        self._basic = _basic_header(basic) if basic else None
        self._token_credentials = token_credentials
        self._push = push
        self._tokens: dict[str, str] = {}

    # --- manifests -----------------------------------------------------------------------------------------
    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag or digest resolves to, None when the registry has no such manifest (HEAD does
        not count against Docker Hub's pull limit)."""
        response = self._request("HEAD", repository, f"manifests/{reference}", headers={"Accept": ACCEPT})
        if response.status == 404:
            return None
        self._expect(response, (200,), "read manifest", repository, reference)
        digest = response.headers.get("docker-content-digest")
        if digest:
            return digest
        return self.get_manifest(repository, reference).digest

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        response = self._request("GET", repository, f"manifests/{reference}", headers={"Accept": ACCEPT})
        self._expect(response, (200,), "read manifest", repository, reference)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        digest = sha256(response.body)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"{self.host}/{repository}@{reference}: the manifest's content is {digest}")
        if not media_type or media_type not in MANIFEST_TYPES:
            media_type = str(json.loads(response.body).get("mediaType", media_type))
        return Manifest(media_type, response.body, digest)

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        response = self._request(
            "PUT",
            repository,
            f"manifests/{reference}",
            headers={"Content-Type": manifest.media_type},
            body=manifest.body,
        )
        self._expect(response, (200, 201), "write manifest", repository, reference)
        digest = response.headers.get("docker-content-digest", manifest.digest)
        if digest != manifest.digest:
            raise RegistryError(
                f"{self.host}/{repository}:{reference} was stored as {digest}, expected {manifest.digest}"
            )
        return digest

    # --- blobs ---------------------------------------------------------------------------------------------
    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", repository, f"blobs/{digest}")
        if response.status == 404:
            return False
        self._expect(response, (200,), "check blob", repository, digest)
        return True

    def open_blob(self, repository: str, digest: str) -> _Response:
        """A streamed GET of a blob (the caller reads `.stream` and calls `.close()`)."""
        response = self._request("GET", repository, f"blobs/{digest}", stream=True)
        if response.status != 200:
            response.close()
        self._expect(response, (200,), "read blob", repository, digest)
        return response

    def upload_blob(
        self, repository: str, digest: str, size: int, source: IO[bytes] | http.client.HTTPResponse,
        progress: Progress | None = None,
    ) -> None:  # fmt: skip
        """POST to open an upload session, one PATCH with the whole stream, PUT with the digest to close it
        (the registry checks the digest; so do we, before closing)."""
        started = self._request("POST", repository, "blobs/uploads/")
        self._expect(started, (202,), "start blob upload", repository, digest)
        location = self._location(started, repository)
        body = _Hashing(source, progress)
        patched = self._request(
            "PATCH",
            repository,
            location,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body=body,
        )
        # The spec says 202; Amazon ECR answers 201 (aws/containers-roadmap#2831, which also shows that ECR
        # keeps only the first PATCH of a chunked upload: hence the whole blob in one PATCH).
        self._expect(patched, (201, 202, 204), "upload blob", repository, digest)
        actual = "sha256:" + body.hash.hexdigest()
        if actual != digest or body.size != size:
            raise RegistryError(f"blob {digest} arrived as {actual} ({body.size} of {size} bytes)")
        location = self._location(patched, repository) if patched.headers.get("location") else location
        separator = "&" if "?" in location else "?"
        finished = self._request(
            "PUT",
            repository,
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            headers={"Content-Length": "0"},
            body=b"",
        )
        self._expect(finished, (201, 204), "finish blob upload", repository, digest)

    # --- transport -----------------------------------------------------------------------------------------
    def _location(self, response: _Response, repository: str) -> str:
        location = response.headers.get("location", "")
        if not location:
            raise RegistryError(f"{self.host}/{repository}: the upload answer has no Location header")
        return location

    def _target(self, repository: str, path: str) -> str:
        """A path under /v2/<repository>/, an absolute path, or a full URL (upload locations are any)."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/"):
            return self.url + path
        return f"{self.url}/v2/{repository}/{path}"

    def _request(
        self,
        method: str,
        repository: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | _Hashing | None = None,
        stream: bool = False,
    ) -> _Response:
        url = self._target(repository, path)
        response = self._send(method, url, repository, headers=headers, body=body, stream=stream)
        if response.status == 401 and self._authenticate(response, repository):
            response.close()
            response = self._send(method, url, repository, headers=headers, body=body, stream=stream)
        return response

    def _auth(self, repository: str) -> dict[str, str]:
        if self._basic:
            return {"Authorization": self._basic}
        token = self._tokens.get(repository)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _send(
        self,
        method: str,
        url: str,
        repository: str,
        *,
        headers: Mapping[str, str] | None,
        body: bytes | _Hashing | None,
        stream: bool,
    ) -> _Response:
        sent = {"User-Agent": "dify-on-aws-mirror", **(headers or {})}
        origin = urllib.parse.urlsplit(self.url).netloc
        for _ in range(5):
            parts = urllib.parse.urlsplit(url)
            # Credentials go to the registry itself, never to the storage a blob redirects to.
            auth = self._auth(repository) if parts.netloc == origin else {}
            connection = open_connection(parts.scheme, parts.netloc)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                connection.request(method, target, body=body, headers={**sent, **auth})
                raw = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise RegistryError(f"{method} {url}: {type(exc).__name__}: {exc}", action=method) from None
            response_headers = {key.lower(): value for key, value in raw.getheaders()}
            if raw.status in _REDIRECTS and method in {"GET", "HEAD"} and "location" in response_headers:
                raw.read()
                connection.close()
                url = urllib.parse.urljoin(url, response_headers["location"])
                continue
            if stream and raw.status == 200:
                return _Response(raw.status, response_headers, b"", raw, connection)
            data = raw.read() if method != "HEAD" else b""
            connection.close()
            return _Response(raw.status, response_headers, data)
        raise RegistryError(f"{method} {url}: too many redirects", action=method)

    def _authenticate(self, response: _Response, repository: str) -> bool:
        """Answer a Bearer challenge with a new token for this repository (Docker Hub's expire after minutes,
        so a long copy asks again); False when the challenge is not one to answer."""
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        if scheme != "bearer" or "realm" not in params:
            return False
        scope = params.get("scope") or f"repository:{repository}:{'pull,push' if self._push else 'pull'}"
        try:
            token = fetch_token(params, scope, self._token_credentials)
        except RegistryError as exc:
            exc.host = self.host
            raise
        self._tokens[repository] = token
        return True

    def _expect(
        self, response: _Response, statuses: tuple[int, ...], action: str, repository: str, reference: str
    ) -> None:
        if response.status in statuses:
            return
        detail = _message(response.body)
        raise RegistryError(
            f"{self.host}/{repository} ({reference}): {action} failed with HTTP {response.status}"
            + (f": {detail}" if detail else ""),
            status=response.status,
            action=action,
            detail=detail,
            host=self.host,
        )


def fetch_token(
    challenge: Mapping[str, str],
    scope: str,
    credentials: tuple[str, str] | None,
) -> str:
    """A token from the challenge's realm for `scope` (Docker "Token Authentication Specification"), with
    HTTP Basic credentials when given, anonymously when not."""
    realm = challenge["realm"]
    query = {"scope": scope, **({"service": challenge["service"]} if "service" in challenge else {})}
    parts = urllib.parse.urlsplit(realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query))
    headers = {"User-Agent": "dify-on-aws-mirror"}
    if credentials:
        headers["Authorization"] = _basic_header(credentials)
    connection = open_connection(parts.scheme, parts.netloc)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}", headers=headers)
        raw = connection.getresponse()
        data = raw.read()
    except (OSError, http.client.HTTPException) as exc:
        raise RegistryError(f"token from {realm}: {type(exc).__name__}: {exc}") from None
    finally:
        connection.close()
    if raw.status != 200:
        raise RegistryError(
            f"{realm} refused a token for {scope} ({raw.status})",
            status=raw.status,
            action="get token",
            detail=_message(data),
        )
    answer = json.loads(data)
    token = answer.get("token") or answer.get("access_token")
    if not token:
        raise RegistryError(f"{realm} answered without a token", action="get token")
    return str(token)


def _message(body: bytes) -> str:
    """The registry's error text (`{"errors": [{"code", "message"}]}`), or the body's start."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace").strip()


def _basic_header(credentials: tuple[str, str]) -> str:
    user, password = credentials
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def open_connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    """A connection to `netloc`; HTTPS goes through the CONNECT tunnel of `HTTPS_PROXY` when one is set and
    `NO_PROXY` does not exclude the host (as urllib and the AWS SDK do)."""
    if scheme != "https":
        return http.client.HTTPConnection(netloc, timeout=TIMEOUT_SECONDS)
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(netloc.split(":", maxsplit=1)[0]):
        return http.client.HTTPSConnection(netloc, timeout=TIMEOUT_SECONDS)
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    headers = {}
    if parts.username:
        user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        headers["Proxy-Authorization"] = _basic_header((user, password))
    connection = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 8080, timeout=TIMEOUT_SECONDS
    )
    connection.set_tunnel(netloc, headers=headers)
    return connection
