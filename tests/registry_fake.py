"""An in-process OCI distribution registry for the mirror tests (http.server in a thread).

It implements what a real registry does on the endpoints `mirror-images` uses, strictly enough to fail a
client that gets them wrong: manifests by tag or digest (HEAD/GET with Accept negotiation, PUT that refuses
a manifest whose blobs or child manifests are missing), blobs (HEAD/GET, GET answered with a redirect to
another host like Docker Hub's CDN), uploads (POST -> PATCH -> PUT ?digest=, digest checked), and either
Docker token auth (401 with `WWW-Authenticate: Bearer realm=...`) or HTTP Basic (as Amazon ECR).
Every request that writes is recorded in `writes`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs|blobs/uploads)/(?P<ref>[^/]*)$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class State:
    """Content by repository, plus the behaviour a test switches on."""

    auth: str = "bearer"  # "bearer" (token flow), "basic" (user/password below), or "none"
    user: str = "AWS"
    password: str = "secret"
    token_user: tuple[str, str] | None = None  # credentials the token endpoint demands, if any
    deny: set[str] = field(default_factory=set)  # "POST", "PUT manifest", ... answered with 403
    throttle: bool = False  # every manifest request answered with 429
    redirect_blobs: str | None = None  # base URL the blob GETs redirect to
    repositories: set[str] | None = None  # as ECR: only these exist (None: any name is accepted)
    immutable: bool = False  # as an ECR repository with immutable tags: a tag is never moved
    patch_status: int = 202  # ECR answers a PATCH with 201 (aws/containers-roadmap#2831)
    patches_kept: int | None = None  # ECR keeps the body of the first PATCH of an upload only
    manifests: dict[str, dict[str, tuple[str, bytes]]] = field(
        default_factory=dict
    )  # repo -> digest -> (type, body)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # repo -> tag -> digest
    blobs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo -> digest -> data
    uploads: dict[str, bytearray] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)

    def add_blob(self, repository: str, data: bytes) -> dict[str, object]:
        digest = digest_of(data)
        self.blobs.setdefault(repository, {})[digest] = data
        return {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": len(data),
        }

    def add_manifest(
        self, repository: str, media_type: str, manifest: dict[str, object], tag: str = ""
    ) -> str:
        body = json.dumps(manifest, indent=2).encode()
        digest = digest_of(body)
        self.manifests.setdefault(repository, {})[digest] = (media_type, body)
        if tag:
            self.tags.setdefault(repository, {})[tag] = digest
        return digest

    def resolve(self, repository: str, reference: str) -> str | None:
        if reference.startswith("sha256:"):
            return reference if reference in self.manifests.get(repository, {}) else None
        return self.tags.get(repository, {}).get(reference)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    # --- helpers -------------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self, name: str) -> bool:
        state = self.server.state
        given = self.headers.get("Authorization", "")
        if state.auth == "none":
            return True
        if state.auth == "basic":
            expected = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
            if given == f"Basic {expected}":
                return True
            self._error(401, "DENIED", "Not Authorized", {"WWW-Authenticate": 'Basic realm="fake"'})
            return False
        if given.startswith("Bearer ") and given.removeprefix("Bearer ") in state.issued:
            return True
        realm = f"{self.server.url}/token"
        challenge = f'Bearer realm="{realm}",service="fake",scope="repository:{name}:pull"'
        self._error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})
        return False

    def _token(self) -> None:
        state = self.server.state
        if state.token_user is not None:
            user, password = state.token_user
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._error(401, "UNAUTHORIZED", "incorrect username or password")
                return
        token = uuid.uuid4().hex
        state.issued.add(token)
        self._send(200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"})

    def _denied(self, what: str, name: str) -> bool:
        if what not in self.server.state.deny:
            return False
        action = {"POST": "ecr:InitiateLayerUpload", "PUT manifest": "ecr:PutImage"}.get(what, what)
        self._error(403, "DENIED", f"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
                    f"{action} on resource: {name}")  # fmt: skip
        return True

    # --- dispatch ------------------------------------------------------------------------------------------
    def _route(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        state.requests.append(f"{self.command} {parts.path}")
        if parts.path == "/token":
            self._token()
            return
        if parts.path.startswith("/cdn/"):
            self._cdn(parts.path.removeprefix("/cdn/"))
            return
        match = _PATH.match(parts.path)
        if match is None:
            self._error(404, "NOT_FOUND", parts.path)
            return
        name, kind, ref = match["name"], match["kind"], match["ref"]
        if not self._authorized(name):
            return
        if state.repositories is not None and name not in state.repositories:
            self._error(404, "NAME_UNKNOWN", f"The repository with name '{name}' does not exist")
            return
        if kind == "manifests":
            self._manifest(name, ref)
        elif kind == "blobs":
            self._blob(name, ref)
        else:
            self._upload(name, ref, parse_qs(parts.query))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _route  # noqa: N815

    def _cdn(self, key: str) -> None:
        if self.headers.get("Authorization"):
            self._error(400, "INVALID", "storage takes no Authorization header")
            return
        repository, _, digest = key.rpartition("/")
        self._send(200, self.server.state.blobs[repository][digest])

    def _manifest(self, name: str, ref: str) -> None:
        state = self.server.state
        if state.throttle:
            self._error(429, "TOOMANYREQUESTS", "You have reached your pull rate limit.")
            return
        if self.command == "PUT":
            if not self._denied("PUT manifest", name):
                self._put_manifest(name, ref)
            return
        digest = state.resolve(name, ref)
        if digest is None:
            self._error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {name}:{ref}")
            return
        media_type, body = state.manifests[name][digest]
        accepted = [kind.split(";")[0].strip() for kind in self.headers.get("Accept", "").split(",")]
        if media_type not in accepted:
            self._error(404, "MANIFEST_UNKNOWN", f"no manifest of an accepted type: {name}:{ref}")
            return
        self._send(200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})

    def _put_manifest(self, name: str, ref: str) -> None:
        state = self.server.state
        media_type = self.headers.get("Content-Type", "")
        body = self._body()
        digest = digest_of(body)
        if ref.startswith("sha256:") and ref != digest:
            self._error(400, "DIGEST_INVALID", "digest does not match")
            return
        data = json.loads(body)
        if media_type in INDEX_TYPES:
            missing = [
                m["digest"] for m in data["manifests"] if m["digest"] not in state.manifests.get(name, {})
            ]
        else:
            refs = [data["config"], *data["layers"]]
            missing = [b["digest"] for b in refs if b["digest"] not in state.blobs.get(name, {})]
        if missing:
            self._error(400, "MANIFEST_BLOB_UNKNOWN", f"missing: {', '.join(missing)}")
            return
        moved = state.tags.get(name, {}).get(ref, digest) != digest
        if state.immutable and not ref.startswith("sha256:") and moved:
            message = f"The image tag '{ref}' already exists in the '{name}' repository and cannot be "
            self._error(400, "TAG_INVALID", message + "overwritten because the repository is immutable.")
            return
        state.writes.append(f"PUT manifest {name}:{ref}")
        state.manifests.setdefault(name, {})[digest] = (media_type, body)
        if not ref.startswith("sha256:"):
            state.tags.setdefault(name, {})[ref] = digest
        self._send(
            201, headers={"Docker-Content-Digest": digest, "Location": f"/v2/{name}/manifests/{digest}"}
        )

    def _blob(self, name: str, digest: str) -> None:
        state = self.server.state
        data = state.blobs.get(name, {}).get(digest)
        if data is None:
            self._error(404, "BLOB_UNKNOWN", digest)
        elif self.command == "GET" and state.redirect_blobs:
            self._send(307, headers={"Location": f"{state.redirect_blobs}/cdn/{name}/{digest}"})
        else:
            self._send(200, data, {"Docker-Content-Digest": digest})

    def _upload(self, name: str, session: str, query: dict[str, list[str]]) -> None:
        state = self.server.state
        if self.command == "POST":
            if self._denied("POST", name):
                return
            session = uuid.uuid4().hex
            state.uploads[session] = bytearray()
            state.writes.append(f"POST upload {name}")
            self._send(202, headers={"Location": f"/v2/{name}/blobs/uploads/{session}?_state=x"})
        elif self.command == "PATCH":
            body = self._body()
            count = sum(1 for w in state.writes if w == f"PATCH upload {name} {session}")
            if state.patches_kept is None or count < state.patches_kept:
                state.uploads[session] += body
            state.writes.append(f"PATCH upload {name} {session}")
            self._send(
                state.patch_status, headers={"Location": f"/v2/{name}/blobs/uploads/{session}?_state=y"}
            )
        elif self.command == "PUT":
            data = bytes(state.uploads.pop(session)) + self._body()
            digest = query.get("digest", [""])[0]
            if digest_of(data) != digest:
                self._error(400, "DIGEST_INVALID", "digest does not match")
                return
            state.blobs.setdefault(name, {})[digest] = data
            state.writes.append(f"PUT blob {name}@{digest}")
            self._send(201, headers={"Docker-Content-Digest": digest})
        else:
            self._error(405, "UNSUPPORTED", self.command)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State
    url: str


@contextmanager
def serve(state: State) -> Iterator[str]:
    """Run a registry holding `state`; yields its base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


def multi_arch_image(state: State, repository: str, tag: str, platforms: list[str]) -> str:
    """An OCI index of one image manifest per platform (plus a buildx attestation for the first), each
    with its own config and two layers, one of them shared by all platforms. Returns the index digest."""
    shared = state.add_blob(repository, b"shared base layer " * 1000)
    entries: list[dict[str, object]] = []
    for platform in platforms:
        os_name, _, arch = platform.partition("/")
        config = state.add_blob(repository, json.dumps({"architecture": arch, "os": os_name}).encode())
        config["mediaType"] = "application/vnd.oci.image.config.v1+json"
        layer = state.add_blob(repository, f"{platform} layer ".encode() * 5000)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [shared, layer],
        }
        digest = state.add_manifest(repository, "application/vnd.oci.image.manifest.v1+json", manifest)
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(state.manifests[repository][digest][1]),
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    statement = state.add_blob(repository, b'{"_type": "https://in-toto.io/Statement/v0.1"}')
    empty = state.add_blob(repository, b"{}")
    attestation = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": empty,
        "layers": [statement],
    }
    digest = state.add_manifest(repository, "application/vnd.oci.image.manifest.v1+json", attestation)
    entries.append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": len(state.manifests[repository][digest][1]),
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.digest": entries[0]["digest"]},
        }
    )
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    return state.add_manifest(repository, "application/vnd.oci.image.index.v1+json", index, tag)
