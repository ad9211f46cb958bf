"""`dify-on-aws smoke` against a local HTTP server on 127.0.0.1 that plays a front door in each behaviour:
good, slow, buffered (the whole SSE body at once), failing (5xx) and refusing large bodies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dify_on_aws.cli import main
from dify_on_aws.operations.smoke import FAIL, PASS, SKIP, WARN, CheckResult, run_smoke

UPLOAD_MB = 0.25
BODY_LIMIT = 64 * 1024
EVENTS = 4


class FrontDoor(BaseHTTPRequestHandler):
    """Plays Dify behind a front door; `behaviour` is set per server."""

    behaviour = "good"
    setup_step = "finished"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode())

    def do_GET(self) -> None:
        if self.behaviour == "failing":
            self._send(502, b"<html>502 Bad Gateway</html>", "text/html")
        elif self.path == "/":
            self.send_response(307)
            self.send_header("Location", "/apps")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/console/api/ping":
            if self.behaviour == "slow":
                time.sleep(1.5)
            self._json(200, {"result": "pong"})
        elif self.path == "/console/api/setup":
            self._json(200, {"step": self.setup_step})
        elif self.path.startswith("/e/") and self.behaviour != "web-only":
            self._json(404, {"code": -404, "message": "endpoint not found"})
        else:
            self._send(404, b"<html>not found</html>", "text/html")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        if self.behaviour == "failing":
            self._send(503, b"<html>503</html>", "text/html")
        elif self.path == "/console/api/files/upload":
            if self.behaviour in {"refusing", "firewall"} and length > BODY_LIMIT:
                status = 413 if self.behaviour == "refusing" else 403
                self._send(status, b"<html>Request blocked</html>", "text/html")
                self.close_connection = True
                return
            self.rfile.read(length)
            self._json(401, {"code": "unauthorized"})
        elif self.path == "/v1/chat-messages":
            self.rfile.read(length)
            if self.headers.get("Authorization") != "Bearer app-key":
                self._json(401, {"code": "unauthorized"})
                return
            self._stream()

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [f'data: {{"event": "message", "answer": "{n}"}}\n\n'.encode() for n in range(EVENTS)]
        if self.behaviour == "buffered":
            time.sleep(0.3)
            events = [b"".join(events)]
        for event in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            if self.behaviour != "buffered":
                time.sleep(0.15)
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def front_door(request: pytest.FixtureRequest) -> Iterator[str]:
    behaviour = getattr(request, "param", "good")
    handler = type("Handler", (FrontDoor,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _smoke(url: str, api_key: str = "app-key") -> dict[str, CheckResult]:
    """Every check against the server, by name."""
    return {r.name: r for r in run_smoke(url, api_key=api_key, timeout=5, upload_mb=UPLOAD_MB)}


def test_good_front_door_passes(front_door: str) -> None:
    results = _smoke(front_door)
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(results, PASS)
    assert f"{EVENTS} events" in results["streaming (SSE)"].detail


def test_without_api_key_streaming_is_skipped_and_exit_is_zero(
    front_door: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIFY_APP_API_KEY", raising=False)
    code = main(["smoke", "--url", front_door, "--timeout", "5", "--upload-mb", str(UPLOAD_MB)])
    out = capsys.readouterr().out
    assert code == 0
    assert "streaming (SSE)" in out
    assert SKIP in out
    assert "6 checks did not fail" in out


@pytest.mark.parametrize("front_door", ["slow"], indirect=True)
def test_slow_answer_fails_with_the_timeout(front_door: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["smoke", "--url", front_door, "--timeout", "0.5", "--upload-mb", str(UPLOAD_MB)])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL console ping: no answer within 0.5 s" in captured.err
    assert "5/6 checks did not fail" in captured.out


@pytest.mark.parametrize("front_door", ["buffered"], indirect=True)
def test_buffered_stream_fails(front_door: str) -> None:
    streaming = _smoke(front_door)["streaming (SSE)"]
    assert streaming.status == FAIL
    assert "arrived at once" in streaming.detail
    assert "buffers" in streaming.detail


@pytest.mark.parametrize("front_door", ["failing"], indirect=True)
def test_failing_origin_fails_every_check(front_door: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["smoke", "--url", front_door, "--api-key", "app-key", "--timeout", "5", "--upload-mb", "0.1"]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("FAIL ") == 6
    assert "502" in captured.err
    assert "origin behind the front door is failing" in captured.err


@pytest.mark.parametrize("front_door", ["refusing", "firewall"], indirect=True)
def test_refused_large_body_reports_the_limit(front_door: str) -> None:
    results = _smoke(front_door)
    upload = results["upload near body limit"]
    assert upload.status == WARN
    assert f"{UPLOAD_MB:g} MB" in upload.detail
    assert all(r.status == PASS for name, r in results.items() if name != "upload near body limit")


@pytest.mark.parametrize("front_door", ["web-only"], indirect=True)
def test_wrong_api_key_and_web_app_on_plugin_route_fail(front_door: str) -> None:
    results = _smoke(front_door, "wrong")
    assert results["streaming (SSE)"].status == FAIL
    assert "401" in results["streaming (SSE)"].detail
    assert results["plugin daemon route"].status == FAIL
    assert "reaches the web app" in results["plugin daemon route"].detail


def test_unreachable_url_fails_clearly() -> None:
    results = run_smoke("http://127.0.0.1:9", timeout=1, upload_mb=0.01)
    assert all(r.status in {FAIL, SKIP} for r in results)
    assert "ConnectionRefusedError" in results[0].detail
