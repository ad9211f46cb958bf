"""Package proxy: a PEP 503 simple index on a fixed URL inside the VPC, backed by AWS CodeArtifact.

CodeArtifact tokens live at most 12 hours, so a token written into an index URL stops working. Here uv
(plugin daemon) and pip (sandbox) get a plain URL; this process signs in with its ECS task role, renews its
token before it expires (and when the repository answers 401/403) and forwards GET/HEAD ``/simple/...`` to
``<repository endpoint>simple/...`` with it. Absolute links to the repository are rewritten to the proxy;
redirects within it are passed on rewritten, redirects elsewhere (file storage) followed without the token.
Errors: 404 other paths, 405 other methods, 502 repository unreachable, 503 no token (logged with the
reason, never the token). Standard library only, one self-contained file: the stack runs this source with
``python3 -c`` on a stock Python image (environment: services/package_index.py, proxy_environment).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE = "codeartifact"
# Token lifetime asked for, and time left when it is renewed: a failed renewal has 15 minutes of retries.
TOKEN_SECONDS = 3600
REFRESH_MARGIN = 900
CHUNK = 64 * 1024
TIMEOUT = 60
MAX_REDIRECTS = 5
WEB = ("https://", "http://")
# Response types whose body may carry absolute links to the repository (PEP 503 HTML, PEP 691 JSON).
TEXT_TYPES = ("text/html", "application/vnd.pypi.simple", "application/json")
# Request headers passed on (not Accept-Encoding: index pages must arrive uncompressed to be rewritten).
FORWARDED_REQUEST = ("accept", "if-none-match", "if-modified-since", "range")
# Response headers passed back to the client.
FORWARDED_RESPONSE = ("content-type", "content-length", "content-encoding", "etag", "last-modified",
                      "cache-control", "accept-ranges", "content-range")  # fmt: skip
CREDENTIALS_HOST = "http://169.254.170.2"
Clock = Callable[[], float]


class ProxyError(Exception):
    """A failure with the HTTP status the client gets."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    access_key: str
    signing_key: str
    session: str | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# urllib without proxies from the environment and without following redirects.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def credentials_from_environment(environ: dict[str, str] | None = None) -> Credentials:
    """The task role's credentials (ECS container credentials endpoint), else the AWS_* variables."""
    env = os.environ if environ is None else environ
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if relative or full:
        where = f"{CREDENTIALS_HOST}{relative}" if relative else str(full)
        request = urllib.request.Request(where)  # noqa: S310 - ECS's credentials endpoint (http)
        authorization = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        if authorization:
            request.add_header("Authorization", authorization)
        with OPENER.open(request, timeout=10) as response:
            body = json.loads(response.read())
        return Credentials(body["AccessKeyId"], body["SecretAccessKey"], body.get("Token"))
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN")
        )
    raise ProxyError(HTTPStatus.SERVICE_UNAVAILABLE, "no AWS credentials (task role) in the environment")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str, url: str, *, region: str, service: str, creds: Credentials, now: dt.datetime
) -> dict[str, str]:
    """The headers of a Signature Version 4 signed request without a body (Host, X-Amz-Date, the session
    and Authorization), for a URL whose path needs no further encoding."""
    parts = urllib.parse.urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {"host": parts.netloc, "x-amz-date": stamp}
    if creds.session:
        headers["x-amz-security-token"] = creds.session
    query, quote = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)), urllib.parse.quote
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query),
            "".join(f"{name}:{headers[name].strip()}\n" for name in sorted(headers)),
            ";".join(sorted(headers)),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + creds.signing_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    names = ";".join(sorted(headers))
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return headers


@dataclass(frozen=True)
class Grant:
    """A CodeArtifact authorization token and when it expires (epoch seconds)."""

    value: str
    expires: float


def authorization_url(api: str, *, domain: str, owner: str, seconds: int = TOKEN_SECONDS) -> str:
    """The GetAuthorizationToken request (REST: POST /v1/authorization-token with query parameters)."""
    query = urllib.parse.urlencode({"domain": domain, "domain-owner": owner, "duration": str(seconds)})
    return f"{api.rstrip('/')}/v1/authorization-token?{query}"


def fetch_grant(
    *,
    api: str,
    domain: str,
    owner: str,
    region: str,
    credentials: Callable[[], Credentials] = credentials_from_environment,
    clock: Clock = time.time,
) -> Grant:
    """Call GetAuthorizationToken with the task role (needs codeartifact:GetAuthorizationToken on the
    domain and sts:GetServiceBearerToken)."""
    url = authorization_url(api, domain=domain, owner=owner)
    now = dt.datetime.fromtimestamp(clock(), tz=dt.UTC)
    headers = sign("POST", url, region=region, service=SERVICE, creds=credentials(), now=now)
    request = urllib.request.Request(url, data=b"", headers=headers, method="POST")  # noqa: S310 - https
    try:
        with OPENER.open(request, timeout=TIMEOUT) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace")
        raise ProxyError(
            HTTPStatus.SERVICE_UNAVAILABLE, f"GetAuthorizationToken failed: HTTP {exc.code} {detail}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ProxyError(HTTPStatus.SERVICE_UNAVAILABLE, f"GetAuthorizationToken unreachable: {exc}") from exc
    return Grant(str(body["authorizationToken"]), float(body["expiration"]))


class TokenSource:
    """The current authorization token, renewed `margin` seconds before it expires, or on demand."""

    def __init__(
        self, fetch: Callable[[], Grant], *, clock: Clock = time.time, margin: float = REFRESH_MARGIN
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._grant: Grant | None = None
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            if self._grant is None or self._grant.expires - self._clock() <= self._margin:
                self._grant = self._fetch()
                left = self._grant.expires - self._clock()
                log(f"new CodeArtifact authorization token, valid for {left:.0f} s")
            return self._grant.value

    def invalidate(self, seen: str) -> None:
        """Drop the token `seen` (the repository refused it); a newer one is kept."""
        with self._lock:
            if self._grant is not None and self._grant.value == seen:
                self._grant = None


@dataclass
class Upstream:
    """One response from the repository, ready to be passed on."""

    status: int
    headers: dict[str, str]
    body: Any  # http.client's response, or urllib's HTTPError for error statuses (both read and close)


class Proxy:
    """Maps proxy paths to the repository and fetches them with the current token."""

    def __init__(self, repository: str, grants: TokenSource) -> None:
        self.repository = repository if repository.endswith("/") else repository + "/"
        parts = urllib.parse.urlsplit(self.repository)
        self.base_path = parts.path
        self.grants = grants

    def upstream_url(self, path: str) -> str:
        """`/simple/...` to the repository URL; anything else is not ours."""
        clean = urllib.parse.urlsplit(path).path
        if not clean.startswith("/simple/") and clean != "/simple":
            raise ProxyError(HTTPStatus.NOT_FOUND, f"not a simple-index path: {clean}")
        if any(s in ("..", ".") for s in clean.split("/")):
            raise ProxyError(HTTPStatus.NOT_FOUND, f"relative segments are not allowed: {clean}")
        return self.repository + clean.lstrip("/")

    def rewrite(self, data: bytes, base: str) -> bytes:
        """Absolute links to the repository become links to this proxy (`base`: http://host:port)."""
        return data.replace(self.repository.encode(), f"{base}/".encode()).replace(
            f'"{self.base_path}'.encode(), b'"/'
        )

    def location(self, value: str, base: str) -> str | None:
        """A redirect within the repository, as a proxy URL; None when it points elsewhere."""
        target = urllib.parse.urljoin(self.repository, value)
        if target.startswith(self.repository):
            return f"{base}/{target[len(self.repository) :]}"
        return None

    def fetch(self, method: str, path: str, headers: dict[str, str]) -> Upstream:
        url = self.upstream_url(path)
        grant = self.grants.current()
        response = self._open(method, url, headers, grant)
        if response.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            _close(response)
            self.grants.invalidate(grant)
            response = self._open(method, url, headers, self.grants.current())
        return response

    def _open(self, method: str, url: str, headers: dict[str, str], grant: str) -> Upstream:
        basic = base64.b64encode(f"aws:{grant}".encode()).decode()
        request = urllib.request.Request(url, headers=headers, method=method)  # noqa: S310 - the repository
        request.add_header("Authorization", f"Basic {basic}")
        response = _send(request)
        hops = 0
        while 300 <= response.status < 400 and "location" in response.headers:
            target = urllib.parse.urljoin(url, response.headers["location"])
            if target.startswith(self.repository) or hops >= MAX_REDIRECTS or not target.startswith(WEB):
                return response  # passed on (rewritten) to the client; never to file: or other schemes
            _close(response)
            hops += 1
            # Elsewhere (file storage): follow without the token.
            url = target
            response = _send(urllib.request.Request(url, headers=headers, method=method))  # noqa: S310 - WEB
        return response


def _send(request: urllib.request.Request) -> Upstream:
    try:
        response = OPENER.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        return Upstream(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc)
    except (urllib.error.URLError, OSError) as exc:
        raise ProxyError(HTTPStatus.BAD_GATEWAY, f"repository unreachable: {exc}") from exc
    return Upstream(response.status, {k.lower(): v for k, v in response.headers.items()}, response)


def _close(response: Upstream) -> None:
    if response.body is not None:
        response.body.close()


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}", file=sys.stderr, flush=True)


def handler_class(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "dify-package-proxy"
        sys_version = ""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def _refuse(self) -> None:
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not supported")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815 - http.server's method names

        def _serve(self, method: str) -> None:
            if self.path == "/health":
                self._reply(HTTPStatus.OK, "ok")
                return
            try:
                forwarded = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_REQUEST}
                response = proxy.fetch(method, self.path, forwarded)
            except ProxyError as exc:
                self._reply(exc.status, str(exc))
                return
            try:
                self._relay(method, response)
            except (BrokenPipeError, ConnectionResetError):
                log(f"{method} {self.path}: the client went away")
            finally:
                _close(response)

        def _relay(self, method: str, response: Upstream) -> None:
            # Links point where the client sent this request (Host is mandatory in HTTP/1.1).
            base = f"http://{self.headers.get('Host') or 'localhost'}"
            kind = response.headers.get("content-type", "")
            textual = kind.startswith(TEXT_TYPES) and "content-encoding" not in response.headers
            data = None
            if textual and response.body is not None and method == "GET":
                data = proxy.rewrite(response.body.read(), base)
            self.send_response(response.status)
            for name in FORWARDED_RESPONSE:
                if name in response.headers and not (data is not None and name == "content-length"):
                    self.send_header(name, response.headers[name])
            if "location" in response.headers:
                moved = proxy.location(response.headers["location"], base)
                if moved is not None:
                    self.send_header("Location", moved)
            if data is not None:
                self.send_header("Content-Length", str(len(data)))
            elif "content-length" not in response.headers:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if method == "HEAD":
                return
            if data is not None:
                self.wfile.write(data)
            elif response.body is not None:
                while chunk := response.body.read(CHUNK):
                    self.wfile.write(chunk)

        def _reply(self, status: HTTPStatus, text: str) -> None:
            payload = f"{text}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            if status >= HTTPStatus.BAD_REQUEST:
                log(f"{self.command} {self.path} -> {int(status)}: {text}")

        def log_message(self, format: str, *args: Any) -> None:
            if self.path != "/health":
                log(format % args)

    return Handler


def serve(environ: dict[str, str] | None = None) -> ThreadingHTTPServer:
    """A server for the configuration in the environment (not started)."""
    env = dict(os.environ if environ is None else environ)
    fetch = functools.partial(
        fetch_grant,
        api=env["CODEARTIFACT_API_ENDPOINT"],
        domain=env["CODEARTIFACT_DOMAIN"],
        owner=env["CODEARTIFACT_DOMAIN_OWNER"],
        region=env["AWS_REGION"],
        credentials=lambda: credentials_from_environment(env),
    )
    proxy = Proxy(env["CODEARTIFACT_REPOSITORY_ENDPOINT"], TokenSource(fetch))
    server = ThreadingHTTPServer(("0.0.0.0", int(env.get("PORT", "8080"))), handler_class(proxy))  # noqa: S104
    server.daemon_threads = True
    try:
        proxy.grants.current()
    except ProxyError as exc:  # keep serving: every request retries, and says why it fails
        log(f"no token yet: {exc}")
    return server


if __name__ == "__main__":
    server = serve()
    log(f"serving the package index on port {server.server_address[1]}")
    server.serve_forever()
