"""Unit tests for the Lambda@Edge origin-request signer helper (hashes checked against hashlib)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
from typing import Any

import pytest

from dify_on_aws.frontdoor.runtime.edge_signer import index

SHA_HEADER = "x-amz-content-sha256"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
BEARER = "Bearer app-0123456789abcdef"


def _header(key: str, value: str) -> list[dict[str, str]]:
    return [{"key": key, "value": value}]


def _request(
    method: str = "POST",
    *,
    body: dict[str, Any] | None = None,
    headers: dict[str, list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "clientIp": "203.0.113.178",
        "method": method,
        "uri": "/v1/chat-messages",
        "querystring": "",
        "headers": {
            "host": _header("Host", "abcdefghij.lambda-url.eu-west-1.on.aws"),
            "content-type": _header("Content-Type", "application/json"),
            **(headers or {}),
        },
        "origin": {
            "custom": {
                "domainName": "abcdefghij.lambda-url.eu-west-1.on.aws",
                "path": "",
                "port": 443,
                "protocol": "https",
            }
        },
    }
    if body is not None:
        request["body"] = body
    return request


def _body(data: str, encoding: str = "base64", truncated: bool = False) -> dict[str, Any]:
    return {"inputTruncated": truncated, "action": "read-only", "encoding": encoding, "data": data}


def _b64(raw: bytes) -> dict[str, Any]:
    return _body(base64.b64encode(raw).decode("ascii"))


def _event(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": "d111111abcdef8.cloudfront.net",
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": "origin-request",
                        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                    },
                    "request": request,
                }
            }
        ]
    }


def _run(request: dict[str, Any]) -> dict[str, Any]:
    return index.handler(_event(request), None)


def _sha(result: dict[str, Any]) -> str | None:
    entries = result["headers"].get(SHA_HEADER)
    if entries is None:
        return None
    assert entries == [{"key": SHA_HEADER, "value": entries[0]["value"]}]
    value: str = entries[0]["value"]
    return value


def test_constants() -> None:
    assert index.PRESERVED_AUTHORIZATION_HEADER == "x-dify-authorization"
    assert index.EMPTY_PAYLOAD_SHA256 == EMPTY_SHA
    assert EMPTY_SHA.startswith("e3b0c442")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET"])
def test_empty_body_data_is_hashed_for_any_method(method: str) -> None:
    result = _run(_request(method, body=_body("")))
    assert _sha(result) == EMPTY_SHA


def test_empty_text_body_is_hashed() -> None:
    assert _sha(_run(_request(body=_body("", encoding="text")))) == EMPTY_SHA


def test_base64_body() -> None:
    raw = json.dumps({"inputs": {}, "query": "hello", "user": "abc-123"}).encode()
    result = _run(_request(body=_b64(raw)))
    assert _sha(result) == hashlib.sha256(raw).hexdigest()


def test_text_body_with_non_ascii_is_hashed_as_utf8() -> None:
    text = '{"query": "Grüße, 你好, 🚀"}'
    result = _run(_request(body=_body(text, encoding="text")))
    assert _sha(result) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert _sha(result) != hashlib.sha256(text.encode("latin-1", "replace")).hexdigest()


def test_binary_body_all_byte_values() -> None:
    raw = bytes(range(256)) * 3
    result = _run(_request("PUT", body=_b64(raw)))
    assert _sha(result) == hashlib.sha256(raw).hexdigest()


def test_body_is_forwarded_unchanged_and_request_returned() -> None:
    raw = b"payload"
    request = _request(body=_b64(raw))
    original = copy.deepcopy(request)
    result = _run(request)
    assert result is request
    assert result["body"] == original["body"]
    assert result["uri"] == original["uri"]
    assert result["origin"] == original["origin"]
    assert result["headers"]["host"] == original["headers"]["host"]
    assert result["headers"]["content-type"] == original["headers"]["content-type"]


def test_viewer_supplied_hash_is_replaced_by_the_real_one() -> None:
    raw = b"real body"
    request = _request(body=_b64(raw), headers={SHA_HEADER: _header("X-Amz-Content-Sha256", "0" * 64)})
    assert _sha(_run(request)) == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "post"])
def test_body_methods_without_body_data_get_the_empty_hash(method: str) -> None:
    assert _sha(_run(_request(method))) == EMPTY_SHA


@pytest.mark.parametrize("body", [{"inputTruncated": False, "action": "read-only", "encoding": "base64"}, {}])
def test_body_without_data_counts_as_no_body(body: dict[str, Any]) -> None:
    assert _sha(_run(_request("POST", body=body))) == EMPTY_SHA
    assert _sha(_run(_request("GET", body=body))) is None


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "DELETE"])
def test_methods_without_body_are_untouched(method: str) -> None:
    request = _request(method)
    original = copy.deepcopy(request)
    result = _run(request)
    assert _sha(result) is None
    assert result == original


def test_authorization_is_moved_to_the_preserved_header() -> None:
    result = _run(_request(body=_b64(b"{}"), headers={"authorization": _header("Authorization", BEARER)}))
    headers = result["headers"]
    assert "authorization" not in headers
    assert headers["x-dify-authorization"] == [{"key": "X-Dify-Authorization", "value": BEARER}]
    assert _sha(result) == hashlib.sha256(b"{}").hexdigest()


def test_authorization_is_moved_on_get_too() -> None:
    result = _run(_request("GET", headers={"authorization": _header("authorization", BEARER)}))
    assert result["headers"]["x-dify-authorization"] == [{"key": "X-Dify-Authorization", "value": BEARER}]
    assert "authorization" not in result["headers"]
    assert _sha(result) is None


def test_viewer_preserved_header_is_overwritten_by_authorization() -> None:
    headers = {
        "authorization": _header("Authorization", BEARER),
        "x-dify-authorization": _header("X-Dify-Authorization", "Bearer smuggled"),
    }
    result = _run(_request(headers=headers))
    assert result["headers"]["x-dify-authorization"] == [{"key": "X-Dify-Authorization", "value": BEARER}]
    assert "authorization" not in result["headers"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_viewer_preserved_header_without_authorization_is_dropped(method: str) -> None:
    headers = {"x-dify-authorization": _header("x-dify-authorization", "Bearer smuggled")}
    result = _run(_request(method, headers=headers))
    assert "x-dify-authorization" not in result["headers"]
    assert "authorization" not in result["headers"]


def test_empty_authorization_list_leaves_no_preserved_header() -> None:
    result = _run(_request("GET", headers={"authorization": []}))
    assert "authorization" not in result["headers"]
    assert "x-dify-authorization" not in result["headers"]


def test_request_without_headers_gets_them() -> None:
    request = _request()
    del request["headers"]
    assert _run(request)["headers"] == {SHA_HEADER: [{"key": SHA_HEADER, "value": EMPTY_SHA}]}


def _assert_generated(result: dict[str, Any], status: str) -> dict[str, Any]:
    assert result["status"] == status
    assert isinstance(result["statusDescription"], str)
    assert result["headers"]["content-type"] == [{"key": "Content-Type", "value": "application/json"}]
    assert result["headers"]["cache-control"] == [{"key": "Cache-Control", "value": "no-store"}]
    assert "uri" not in result and "origin" not in result  # a response, not a request
    payload: dict[str, Any] = json.loads(result["body"])
    assert payload["status"] == int(status)
    return payload


@pytest.mark.parametrize("encoding", ["base64", "text"])
def test_truncated_body_is_answered_with_413(encoding: str, caplog: pytest.LogCaptureFixture) -> None:
    data = base64.b64encode(b"x" * 1024).decode() if encoding == "base64" else "x" * 1024
    request = _request(
        body=_body(data, encoding=encoding, truncated=True),
        headers={"authorization": _header("Authorization", BEARER)},
    )
    with caplog.at_level(logging.DEBUG, logger="dify_edge_signer"):
        result = _run(request)
    payload = _assert_generated(result, "413")
    assert "1 MB" in payload["message"]
    assert "Lambda@Edge" in payload["message"]
    assert "front door" in payload["message"]
    assert BEARER not in caplog.text


@pytest.mark.parametrize("data", ["not base64!", "YWJjZA==YWJj", "YWJjZA", "YW Jj", "\nYWJj", "wqDDqQ==é"])
def test_invalid_base64_body_is_answered_with_400(data: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="dify_edge_signer"):
        result = _run(_request(body=_body(data)))
    payload = _assert_generated(result, "400")
    assert "base64" in payload["message"]
    assert data not in caplog.text


def test_unsupported_encoding_is_answered_with_400() -> None:
    _assert_generated(_run(_request(body=_body("abc", encoding="gzip"))), "400")


def test_text_body_that_is_not_encodable_is_answered_with_400() -> None:
    _assert_generated(_run(_request(body=_body("lone \ud800 surrogate", encoding="text"))), "400")


def test_nothing_secret_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret_body = base64.b64encode(b'{"password": "hunter2"}').decode()
    with caplog.at_level(logging.DEBUG, logger="dify_edge_signer"):
        _run(_request(body=_body(secret_body), headers={"authorization": _header("Authorization", BEARER)}))
        _run(_request(body=_body(secret_body, truncated=True)))
        _run(_request(body=_body("%%%")))
    assert BEARER not in caplog.text
    assert "hunter2" not in caplog.text
    assert secret_body not in caplog.text
