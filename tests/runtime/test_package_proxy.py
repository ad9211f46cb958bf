"""The package proxy (services/runtime/package_proxy): CodeArtifact tokens renewed before they expire, the
simple index passed through with links rewritten, redirects, errors, and pip installing through it.

The proxy uses only the standard library (it runs on a stock Python image, in a closed network too), so its
GetAuthorizationToken call is checked against botocore: the request shape against the service model, the
SigV4 signature against botocore's signer, and the canned responses against the model with Stubber. The
repository and the credentials endpoint are local fakes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import io
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.serialize import create_serializer
from botocore.stub import Stubber

from dify_on_aws.services.runtime.package_proxy import index

REGION = "eu-west-1"
DOMAIN, OWNER, REPOSITORY = "dify-packages", "123456789012", "pypi"
CREDS = index.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-example")
NOW = dt.datetime(2026, 11, 30, 6, 30, 15, tzinfo=dt.UTC)


# --- fakes -------------------------------------------------------------------------------------------------


@dataclass
class Fake:
    """A local HTTP server whose handler is `respond(handler) -> (status, headers, body)`."""

    respond: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _start(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def fake() -> Iterator[Callable[..., Fake]]:
    started: list[ThreadingHTTPServer] = []

    def make(respond: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]) -> Fake:
        instance = Fake(respond)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                instance.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers, payload = respond(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _any  # noqa: N815 - http.server's method names

            def log_message(self, format: str, *args: Any) -> None:
                pass

        instance.server = _start(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        started.append(instance.server)
        return instance

    yield make
    for server in started:
        server.shutdown()
        server.server_close()


def _basic(grant: str) -> str:
    return "Basic " + base64.b64encode(f"aws:{grant}".encode()).decode()


def _wheel(name: str, version: str) -> bytes:
    """A minimal, valid pure-Python wheel."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist}/RECORD", "".join(f"{p},,\n" for p in [*files, f"{dist}/RECORD"]))
    return buffer.getvalue()


WHEEL = _wheel("demo_pkg", "1.0")
WHEEL_NAME = "demo_pkg-1.0-py3-none-any.whl"


class Repository:
    """A CodeArtifact-like PyPI repository: Basic auth `aws:<token>`, index pages with a relative and an
    absolute link, the JSON simple API, and a file that may live in another store (a redirect)."""

    def __init__(self, accepted: set[str], store: str | None = None) -> None:
        self.accepted = accepted
        self.store = store
        self.base = ""  # set once the server listens

    def __call__(self, h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:  # noqa: PLR0911
        if h.headers.get("Authorization") not in {_basic(g) for g in self.accepted}:
            return 401, {"Content-Type": "text/plain"}, b"unauthorized"
        prefix = f"/pypi/{REPOSITORY}/simple/"
        if h.path == prefix.rstrip("/") + "/demo-pkg":
            return 301, {"Location": f"{prefix}demo-pkg/"}, b""
        if h.path == f"{prefix}demo-pkg/":
            digest = hashlib.sha256(WHEEL).hexdigest()
            if "application/vnd.pypi.simple.v1+json" in h.headers.get("Accept", ""):
                url = f"{self.base}{prefix}demo-pkg/1.0/{WHEEL_NAME}"
                doc = {
                    "meta": {"api-version": "1.0"},
                    "name": "demo-pkg",
                    "files": [{"filename": WHEEL_NAME, "url": url, "hashes": {"sha256": digest}}],
                }
                return 200, {"Content-Type": "application/vnd.pypi.simple.v1+json"}, json.dumps(doc).encode()
            html = (
                f'<html><body><a href="1.0/{WHEEL_NAME}#sha256={digest}">{WHEEL_NAME}</a>'
                f'<a href="{self.base}{prefix}demo-pkg/0.9/old.tar.gz">old.tar.gz</a>'
                f'<a href="/pypi/{REPOSITORY}/simple/demo-pkg/0.8/older.tar.gz">older</a></body></html>'
            )
            return 200, {"Content-Type": "text/html"}, html.encode()
        if h.path == f"{prefix}demo-pkg/1.0/{WHEEL_NAME}":
            if self.store:
                return 302, {"Location": f"{self.store}/assets/{WHEEL_NAME}?X-Amz-Signature=abc"}, b""
            return 200, {"Content-Type": "application/octet-stream"}, WHEEL
        return 404, {"Content-Type": "text/plain"}, b"not found"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Grants:
    """Hands out g1, g2, ... each valid for `seconds`; counts calls."""

    def __init__(self, clock: Clock, seconds: float = 3600) -> None:
        self.clock, self.seconds, self.calls = clock, seconds, 0

    def __call__(self) -> index.Grant:
        self.calls += 1
        return index.Grant(f"g{self.calls}", self.clock() + self.seconds)


@pytest.fixture
def run_proxy() -> Iterator[Callable[[index.Proxy], str]]:
    started: list[ThreadingHTTPServer] = []

    def run(proxy: index.Proxy) -> str:
        server = _start(ThreadingHTTPServer(("127.0.0.1", 0), index.handler_class(proxy)))
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield run
    for server in started:
        server.shutdown()
        server.server_close()


def _get(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310 - local
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _proxy_to(
    fake: Callable[..., Fake], repository: Repository, tokens: index.TokenSource
) -> tuple[Fake, index.Proxy]:
    upstream = fake(repository)
    repository.base = upstream.url
    return upstream, index.Proxy(f"{upstream.url}/pypi/{REPOSITORY}/", tokens)


def _simple(fake: Callable[..., Fake], repository: Repository | None = None) -> tuple[Fake, index.Proxy]:
    """A proxy in front of a repository that accepts the first token handed out."""
    clock = Clock()
    return _proxy_to(fake, repository or Repository({"g1"}), index.TokenSource(Grants(clock), clock=clock))


# --- GetAuthorizationToken against botocore -----------------------------------------------------------------


def test_the_request_is_the_service_models() -> None:
    """Method, path and query parameters are those botocore's serializer makes from the codeartifact model
    (GetAuthorizationToken API reference: POST /v1/authorization-token?domain&domain-owner&duration)."""
    model = botocore.session.get_session().get_service_model("codeartifact")
    operation = model.operation_model("GetAuthorizationToken")
    expected = create_serializer(model.metadata["protocol"]).serialize_to_request(
        {"domain": DOMAIN, "domainOwner": OWNER, "durationSeconds": index.TOKEN_SECONDS}, operation
    )
    url = urllib.parse.urlsplit(index.authorization_url("https://api.example", domain=DOMAIN, owner=OWNER))
    assert expected["method"] == "POST"
    assert url.path == expected["url_path"]
    assert dict(urllib.parse.parse_qsl(url.query)) == {k: str(v) for k, v in expected["query_string"].items()}
    assert index.TOKEN_SECONDS <= 43200, "CodeArtifact tokens last at most 12 hours"


def _botocore_authorization(method: str, url: str, creds: index.Credentials, when: dt.datetime) -> str:
    request = AWSRequest(method=method, url=url, data=b"")
    signer = botocore.auth.SigV4Auth(
        BotoCredentials(creds.access_key, creds.signing_key, creds.session), index.SERVICE, REGION
    )
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when.replace(tzinfo=None)
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    return str(request.headers["Authorization"])


@pytest.mark.parametrize("session", [CREDS.session, None])
def test_the_signature_is_botocores(session: str | None) -> None:
    """Signature Version 4, byte for byte as botocore signs the same request at the same time."""
    creds = index.Credentials(CREDS.access_key, CREDS.signing_key, session)
    url = index.authorization_url(f"https://codeartifact.{REGION}.amazonaws.com", domain=DOMAIN, owner=OWNER)
    mine = index.sign("POST", url, region=REGION, service=index.SERVICE, creds=creds, now=NOW)
    assert mine["authorization"] == _botocore_authorization("POST", url, creds, NOW)
    assert mine["x-amz-date"] == "20261130T063015Z"


def test_fetch_grant_against_a_fake_api(fake: Callable[..., Fake]) -> None:
    """The fake API checks the signature with botocore and answers what Stubber accepts as the model's
    response; fetch_grant returns its token and expiry."""
    expires = NOW + dt.timedelta(hours=1)
    response = {"authorizationToken": "grant-from-fake", "expiration": expires}
    client = boto3.client(
        "codeartifact", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    with Stubber(client) as stubber:  # validates the canned response against the service model
        stubber.add_response("get_authorization_token", response, {"domain": DOMAIN, "domainOwner": OWNER})
        client.get_authorization_token(domain=DOMAIN, domainOwner=OWNER)

    def respond(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        url = f"http://{h.headers['Host']}{h.path}"
        when = dt.datetime.strptime(h.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        if h.headers["Authorization"] != _botocore_authorization("POST", url, CREDS, when):
            return 403, {}, b'{"message": "signature mismatch"}'
        body = {"authorizationToken": response["authorizationToken"], "expiration": expires.timestamp()}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    api = fake(respond)
    grant = index.fetch_grant(
        api=api.url, domain=DOMAIN, owner=OWNER, region=REGION, credentials=lambda: CREDS, clock=NOW.timestamp
    )
    assert grant == index.Grant("grant-from-fake", expires.timestamp())
    (request,) = api.requests
    assert request["method"] == "POST"
    assert request["headers"]["X-Amz-Security-Token"] == CREDS.session


def test_a_refused_grant_names_the_error(fake: Callable[..., Fake]) -> None:
    api = fake(lambda h: (403, {}, b'{"message": "not authorized to perform sts:GetServiceBearerToken"}'))
    with pytest.raises(index.ProxyError, match=r"HTTP 403.*sts:GetServiceBearerToken") as caught:
        index.fetch_grant(api=api.url, domain=DOMAIN, owner=OWNER, region=REGION, credentials=lambda: CREDS)
    assert caught.value.status == HTTPStatus.SERVICE_UNAVAILABLE


# --- credentials -------------------------------------------------------------------------------------------


def test_credentials_from_the_container_endpoint(fake: Callable[..., Fake]) -> None:
    body = {"AccessKeyId": "AKIDTASK", "SecretAccessKey": "task-signing", "Token": "task-session"}
    endpoint = fake(lambda h: (200, {"Content-Type": "application/json"}, json.dumps(body).encode()))
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint.url}/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "a1",
    }
    assert index.credentials_from_environment(env) == index.Credentials(
        "AKIDTASK", "task-signing", "task-session"
    )
    assert endpoint.requests[0]["headers"]["Authorization"] == "a1"
    relative = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"}
    assert urllib.parse.urljoin(
        index.CREDENTIALS_HOST, relative["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
    ) == ("http://169.254.170.2/v2/credentials/abc")


def test_credentials_from_variables_or_none() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-signing"}
    assert index.credentials_from_environment(env) == index.Credentials("AKIDENV", "env-signing", None)
    with pytest.raises(index.ProxyError, match="no AWS credentials"):
        index.credentials_from_environment({})


# --- token renewal -----------------------------------------------------------------------------------------


def test_the_token_is_renewed_before_it_expires() -> None:
    clock = Clock()
    grants = Grants(clock)
    tokens = index.TokenSource(grants, clock=clock, margin=900)
    assert tokens.current() == "g1"
    clock.now += 3600 - 900 - 1  # 901 s left: kept
    assert tokens.current() == "g1"
    clock.now += 1  # 900 s left: renewed while it still works
    assert tokens.current() == "g2"
    assert grants.calls == 2


def test_a_refused_token_is_dropped_once() -> None:
    clock = Clock()
    grants = Grants(clock)
    tokens = index.TokenSource(grants, clock=clock)
    tokens.current()
    tokens.invalidate("g0")  # not the current one (another request already renewed it): kept
    assert tokens.current() == "g1"
    tokens.invalidate("g1")
    assert tokens.current() == "g2"


def test_the_default_lifetime_leaves_room_to_retry() -> None:
    """A token asked for TOKEN_SECONDS is renewed REFRESH_MARGIN before its end: well inside the 12-hour
    maximum, and early enough to retry a failed renewal for a quarter of an hour."""
    assert 0 < index.REFRESH_MARGIN < index.TOKEN_SECONDS <= 12 * 3600
    assert index.REFRESH_MARGIN >= 600


# --- the index through the proxy ---------------------------------------------------------------------------


def test_index_pages_pass_through_with_links_on_the_proxy(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]
) -> None:
    upstream, proxy = _simple(fake)
    url = run_proxy(proxy)
    status, headers, body = _get(f"{url}/simple/demo-pkg/")
    assert status == 200
    page = body.decode()
    assert f'href="1.0/{WHEEL_NAME}#sha256=' in page  # relative: resolves on the proxy already
    assert f'href="{url}/simple/demo-pkg/0.9/old.tar.gz"' in page  # absolute: rewritten
    assert 'href="/simple/demo-pkg/0.8/older.tar.gz"' in page  # path-absolute: rewritten
    assert upstream.url not in page
    assert int(headers["content-length"]) == len(body)
    assert upstream.requests[-1]["headers"]["Authorization"] == _basic("g1")
    status, _, wheel = _get(f"{url}/simple/demo-pkg/1.0/{WHEEL_NAME}")
    assert (status, wheel) == (200, WHEEL)


def test_the_json_simple_api_is_negotiated_and_rewritten(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]
) -> None:
    _, proxy = _simple(fake)
    url = run_proxy(proxy)
    status, headers, body = _get(
        f"{url}/simple/demo-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert status == 200 and headers["content-type"] == "application/vnd.pypi.simple.v1+json"
    assert json.loads(body)["files"][0]["url"] == f"{url}/simple/demo-pkg/1.0/{WHEEL_NAME}"


def test_head_gets_headers_only(fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]) -> None:
    _, proxy = _simple(fake)
    status, headers, body = _get(f"{run_proxy(proxy)}/simple/demo-pkg/1.0/{WHEEL_NAME}", method="HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", str(len(WHEEL)))


def test_a_refused_token_is_renewed_and_the_request_retried(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]
) -> None:
    """The repository refuses g1 (revoked, or expired early): the proxy asks for g2 and retries once."""
    clock = Clock()
    grants = Grants(clock)
    upstream, proxy = _proxy_to(fake, Repository({"g2"}), index.TokenSource(grants, clock=clock))
    status, _, _ = _get(f"{run_proxy(proxy)}/simple/demo-pkg/")
    assert status == 200 and grants.calls == 2
    assert [r["headers"]["Authorization"] for r in upstream.requests] == [_basic("g1"), _basic("g2")]


def test_a_token_refused_twice_reaches_the_client(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]
) -> None:
    clock = Clock()
    grants = Grants(clock)
    upstream, proxy = _proxy_to(fake, Repository(set()), index.TokenSource(grants, clock=clock))
    status, _, _ = _get(f"{run_proxy(proxy)}/simple/demo-pkg/")
    assert status == 401 and grants.calls == 2 and len(upstream.requests) == 2


def test_a_redirect_to_file_storage_is_followed_without_the_token(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]
) -> None:
    store = fake(
        lambda h: (
            (400, {}, b"only one auth mechanism allowed")
            if "Authorization" in h.headers
            else (200, {"Content-Type": "application/octet-stream"}, WHEEL)
        )
    )
    _, proxy = _simple(fake, Repository({"g1"}, store=store.url))
    status, _, body = _get(f"{run_proxy(proxy)}/simple/demo-pkg/1.0/{WHEEL_NAME}")
    assert (status, body) == (200, WHEEL)
    assert store.requests[0]["path"].startswith(f"/assets/{WHEEL_NAME}?X-Amz-Signature=")


def test_a_redirect_within_the_repository_points_at_the_proxy(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str]
) -> None:
    _, proxy = _simple(fake)
    url = run_proxy(proxy)
    status, headers, _ = _get(f"{url}/simple/demo-pkg")
    assert (status, headers["location"]) == (301, f"{url}/simple/demo-pkg/")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/simple/unknown/", 404),  # the repository's own 404
        ("GET", "/pypi/other/simple/", 404),  # not a simple-index path
        ("GET", "/simple/../../other/", 404),
        ("POST", "/simple/demo-pkg/", 405),
    ],
)
def test_paths_and_methods(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str], method: str, path: str, status: int
) -> None:
    upstream, proxy = _simple(fake)
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(run_proxy(proxy)).netloc, timeout=10)
    conn.request(method, path)  # sent as is (urllib would normalise "..")
    assert conn.getresponse().status == status
    if status != 404 or path == "/simple/unknown/":
        assert all(r["path"].startswith(f"/pypi/{REPOSITORY}/simple/") for r in upstream.requests)
    else:
        assert upstream.requests == []


def test_an_unreachable_repository_is_a_bad_gateway(run_proxy: Callable[[index.Proxy], str]) -> None:
    clock = Clock()
    proxy = index.Proxy("http://127.0.0.1:9/pypi/x/", index.TokenSource(Grants(clock), clock=clock))
    status, _, body = _get(f"{run_proxy(proxy)}/simple/demo-pkg/")
    assert status == 502 and b"repository unreachable" in body


def test_no_token_is_service_unavailable_with_the_reason(run_proxy: Callable[[index.Proxy], str]) -> None:
    def refuse() -> index.Grant:
        raise index.ProxyError(
            HTTPStatus.SERVICE_UNAVAILABLE, "GetAuthorizationToken failed: HTTP 403 denied"
        )

    proxy = index.Proxy("http://127.0.0.1:9/pypi/x/", index.TokenSource(refuse))
    status, _, body = _get(f"{run_proxy(proxy)}/simple/demo-pkg/")
    assert status == 503 and b"HTTP 403 denied" in body


# --- real clients ------------------------------------------------------------------------------------------


def test_pip_downloads_through_the_proxy(
    fake: Callable[..., Fake], run_proxy: Callable[[index.Proxy], str], tmp_path: Path
) -> None:
    """pip (as the sandbox runs it: `pip install -i <index>`) resolves and downloads a wheel through the
    proxy, hash-checked against the index page's #sha256 fragment."""
    _, proxy = _simple(fake)
    url = run_proxy(proxy)
    env = {
        k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("PIP_")
    }
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--no-cache-dir",
         "--disable-pip-version-check", "-d", str(tmp_path), "-i", f"{url}/simple/", "demo-pkg==1.0"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / WHEEL_NAME).read_bytes() == WHEEL


def test_the_container_command_serves_the_index(fake: Callable[..., Fake], tmp_path: Path) -> None:
    """The exact entry point and environment of the task definition, run as a process: the source goes
    in as an environment variable and runs with `python3 -c`; credentials come from the container
    credentials endpoint; /health answers, and the index is served with a fresh token."""
    from dify_on_aws.services import package_index  # noqa: PLC0415  (imports the CDK)

    creds = fake(
        lambda h: (
            200,
            {},
            json.dumps({"AccessKeyId": "AKIDTASK", "SecretAccessKey": "s", "Token": "t"}).encode(),
        )
    )
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    api = fake(
        lambda h: (
            200,
            {},
            json.dumps({"authorizationToken": "g1", "expiration": expires.timestamp()}).encode(),
        )
    )
    repository = Repository({"g1"})
    upstream = fake(repository)
    repository.base = upstream.url
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT")},
        **package_index.proxy_environment(
            api_endpoint=api.url,
            repository_endpoint=f"{upstream.url}/pypi/{REPOSITORY}/",
            domain=DOMAIN,
            owner=OWNER,
            region=REGION,
        ),
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{creds.url}/creds",
        "PORT": str(port),
    }
    entry = [sys.executable if part == "python3" else part for part in package_index.ENTRY_POINT]
    process = subprocess.Popen([*entry], env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/health", process)
        status, _, body = _get(f"{base}/simple/demo-pkg/")
        assert status == 200 and WHEEL_NAME in body.decode()
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert "new CodeArtifact authorization token" in errors
    assert "g1" not in errors  # the token is never logged


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[str]) -> None:
    import time  # noqa: PLC0415

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the proxy exited: {process.communicate()[1]}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the proxy did not answer /health in 20 s")
