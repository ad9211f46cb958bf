"""`dify-on-aws smoke --url URL`: after a deploy, check through the front door that Dify answers.

Checks (paths from Dify 1.13.3's api controllers; all go through the front door, as a browser does):

* front door: `GET /` answers (the web app; a redirect to /install or /apps is fine).
* console ping: `GET /console/api/ping` returns `{"result": "pong"}` (controllers/console/ping.py).
* console setup: `GET /console/api/setup` returns `{"step": ...}` (controllers/console/setup.py);
  `not_started` is reported, because until the admin is created the first visitor becomes admin.
* streaming: with `--api-key` (an app's API key), `POST /v1/chat-messages` with `response_mode=streaming`
  must deliver its server-sent events spread over time, not all at once at the end (a buffering front door
  breaks typing-as-you-go and long workflows). Without a key the check is skipped: no Dify endpoint
  streams without credentials.
* plugin daemon route: `GET /e/<id>` must be answered by the plugin daemon (any non-HTML answer below 500),
  not by the web app (an HTML page) or a failing origin (5xx).
* upload: a body of `--upload-mb` MB (default: Dify's default UPLOAD_FILE_SIZE_LIMIT of 15 MB) sent to
  `/console/api/files/upload` without credentials must reach Dify (which then answers 401); a front door that
  refuses the body (413, or closing the connection) is reported with the size as the limit it found.

Exit status: 0 when nothing failed (skips and warnings do not fail), 1 otherwise. Only the standard library.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
DEFAULT_TIMEOUT = 30.0
DEFAULT_UPLOAD_MB = 15.0
PLUGIN_PROBE = "/e/dify-on-aws-smoke"
# Events that arrive closer together than this are taken as delivered at once.
MIN_STREAM_SPREAD_SECONDS = 0.1
USER_AGENT = "dify-on-aws-smoke"
API_KEY_VARIABLE = "DIFY_APP_API_KEY"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    # (seconds since the request was sent, bytes) per read, for streamed bodies.
    reads: list[tuple[float, bytes]] = field(default_factory=list)


class CheckError(Exception):
    """A check's failure with the message to show (and the network error behind it, if any)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class Target:
    url: str
    timeout: float

    def _connection(self) -> tuple[http.client.HTTPConnection, str]:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise CheckError(f"--url must be an http(s) URL, got {self.url!r}")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        return kind(parts.hostname, parts.port, timeout=self.timeout), parts.path.rstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> Response:
        connection, base = self._connection()
        started = time.monotonic()
        try:
            connection.request(
                method, base + path, body=body, headers={"User-Agent": USER_AGENT, **(headers or {})}
            )
            raw = connection.getresponse()
            response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()})
            if not stream:
                response.body = raw.read()
                return response
            while chunk := raw.read1(65536):
                response.reads.append((time.monotonic() - started, chunk))
            response.body = b"".join(chunk for _, chunk in response.reads)
            return response
        except TimeoutError:
            raise CheckError(f"no answer within {self.timeout:g} s ({method} {path})") from None
        except (ConnectionError, socket.gaierror, http.client.HTTPException, OSError) as exc:
            raise CheckError(f"{method} {path}: {type(exc).__name__}: {exc}", exc) from None
        finally:
            connection.close()


def _json(response: Response, path: str) -> dict[str, object]:
    try:
        data = json.loads(response.body)
    except ValueError:
        raise CheckError(f"{path} answered {response.status} with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise CheckError(f"{path} answered {response.status} with JSON that is not an object")
    return data


def _expect_ok(response: Response, path: str) -> None:
    if response.status >= 500:
        raise CheckError(f"{path} answered {response.status}: the origin behind the front door is failing")
    if response.status >= 400:
        raise CheckError(f"{path} answered {response.status}")


def check_front_door(target: Target) -> str:
    response = target.request("GET", "/")
    _expect_ok(response, "/")
    where = response.headers.get("location")
    return f"/ answered {response.status}" + (f" (redirect to {where})" if where else "")


def check_console_ping(target: Target) -> str:
    path = "/console/api/ping"
    response = target.request("GET", path)
    _expect_ok(response, path)
    if _json(response, path).get("result") != "pong":
        raise CheckError(f"{path} answered without result 'pong': not the Dify api")
    return f"{path}: pong"


def check_console_setup(target: Target) -> tuple[str, str]:
    path = "/console/api/setup"
    response = target.request("GET", path)
    _expect_ok(response, path)
    step = _json(response, path).get("step")
    if step == "finished":
        return PASS, f"{path}: admin account exists"
    if step == "not_started":
        return WARN, f"{path}: no admin yet; open /install now (the first visitor becomes the admin)"
    raise CheckError(f"{path} answered an unknown setup step {step!r}")


def _events(reads: list[tuple[float, bytes]]) -> list[float]:
    """Arrival time of each `data:` line of a server-sent event stream."""
    times: list[float] = []
    pending = b""
    for at, chunk in reads:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        times += [at for line in lines if line.startswith(b"data:")]
    if pending.startswith(b"data:"):
        times.append(reads[-1][0])
    return times


def check_streaming(target: Target, api_key: str | None) -> tuple[str, str]:
    if not api_key:
        return SKIP, "give --api-key (an app's API key, chat or agent app) to check streaming through /v1"
    path = "/v1/chat-messages"
    body = json.dumps(
        {"inputs": {}, "query": "Count from 1 to 20.", "response_mode": "streaming", "user": USER_AGENT}
    ).encode()
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    response = target.request("POST", path, body=body, headers=headers, stream=True)
    _expect_ok(response, path)
    kind = response.headers.get("content-type", "")
    if "text/event-stream" not in kind:
        raise CheckError(f"{path} answered {kind or 'no content type'}, not text/event-stream")
    times = _events(response.reads)
    if len(times) < 2:
        raise CheckError(f"{path} sent {len(times)} event(s); a streamed answer has several")
    spread = times[-1] - times[0]
    if spread < MIN_STREAM_SPREAD_SECONDS:
        raise CheckError(
            f"all {len(times)} events arrived at once after {times[-1]:.1f} s: the front door buffers "
            "streamed responses (check its response streaming / buffering settings)"
        )
    return PASS, f"{len(times)} events over {spread:.1f} s, first after {times[0]:.1f} s"


def check_plugin_route(target: Target) -> str:
    response = target.request("GET", PLUGIN_PROBE)
    if response.status >= 500:
        raise CheckError(f"{PLUGIN_PROBE} answered {response.status}: the plugin daemon is not reachable")
    if "text/html" in response.headers.get("content-type", ""):
        raise CheckError(
            f"{PLUGIN_PROBE} answered an HTML page: /e/ reaches the web app, not the plugin daemon"
        )
    return f"{PLUGIN_PROBE} answered {response.status} (plugin daemon)"


def check_upload(target: Target, megabytes: float) -> tuple[str, str]:
    path = "/console/api/files/upload"
    size = int(megabytes * 1024 * 1024)
    headers = {"Content-Type": "application/octet-stream"}
    try:
        response = target.request("POST", path, body=b"\0" * size, headers=headers)
    except CheckError as exc:
        # Closed while the body was being sent: a front door that stops reading at its limit.
        if not isinstance(exc.cause, (BrokenPipeError, ConnectionResetError)):
            raise
        return (
            WARN,
            f"the connection closed while sending {megabytes:g} MB ({exc}): "
            "the front door's body limit is lower",
        )
    if response.status == 413:
        return (
            WARN,
            f"the front door refused {megabytes:g} MB (413): its body limit is lower; uploads that size fail",
        )
    if response.status >= 500:
        raise CheckError(f"{path} answered {response.status} to a {megabytes:g} MB body")
    if response.status >= 400 and "json" not in response.headers.get("content-type", ""):
        # Dify answers in JSON; a page is the front door's or the firewall's (e.g. WAF body inspection).
        return (
            WARN,
            f"the front door answered {response.status} to {megabytes:g} MB (not Dify): check its body limit",
        )
    return PASS, f"{megabytes:g} MB reached Dify ({response.status} without credentials)"


def run_smoke(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    upload_mb: float = DEFAULT_UPLOAD_MB,
) -> list[CheckResult]:
    target = Target(url.rstrip("/"), timeout)
    checks: list[tuple[str, Callable[[], str | tuple[str, str]]]] = [
        ("front door", lambda: check_front_door(target)),
        ("console ping", lambda: check_console_ping(target)),
        ("console setup", lambda: check_console_setup(target)),
        ("streaming (SSE)", lambda: check_streaming(target, api_key)),
        ("plugin daemon route", lambda: check_plugin_route(target)),
        ("upload near body limit", lambda: check_upload(target, upload_mb)),
    ]
    results: list[CheckResult] = []
    for name, check in checks:
        started = time.monotonic()
        try:
            outcome = check()
            status, detail = outcome if isinstance(outcome, tuple) else (PASS, outcome)
        except CheckError as exc:
            status, detail = FAIL, str(exc)
        results.append(CheckResult(name, status, detail, time.monotonic() - started))
    return results


def render(results: Sequence[CheckResult]) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'check':<{width}}  status  time    detail"]
    lines += [f"{r.name:<{width}}  {r.status:<6}  {r.seconds:5.1f}s  {r.detail}" for r in results]
    failed = [r for r in results if r.status == FAIL]
    lines.append(f"{len(results) - len(failed)}/{len(results)} checks did not fail")
    return "\n".join(lines)


def cmd_smoke(args: argparse.Namespace) -> int:
    results = run_smoke(args.url, api_key=args.api_key, timeout=args.timeout, upload_mb=args.upload_mb)
    for result in results:
        if result.status == FAIL:
            print(f"FAIL {result.name}: {result.detail}", file=sys.stderr)
    print(render(results))
    return 1 if any(r.status == FAIL for r in results) else 0


def add_smoke_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "smoke",
        help="check a deployed Dify through its front door (after `make deploy`)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument(
        "--url", required=True, help="the DifyUrl output of the stack, e.g. https://d123.cloudfront.net"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_VARIABLE),
        help="an app's API key (chat or agent app) to check streaming through /v1; default "
        f"${API_KEY_VARIABLE} (keeps the key out of the shell history)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request (default 30)"
    )
    parser.add_argument(
        "--upload-mb",
        type=float,
        default=DEFAULT_UPLOAD_MB,
        help="body size for the upload check (default 15, Dify's default upload limit)",
    )
    parser.set_defaults(func=cmd_smoke)
