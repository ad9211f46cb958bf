"""Lambda@Edge ORIGIN_REQUEST handler for CloudFront origins that are Lambda function URLs behind OAC.

Two things stand between a viewer request and an IAM-authenticated function URL:

* OAC signs requests with SigV4, and Lambda accepts no unsigned payloads, so a request with a body must
  carry ``x-amz-content-sha256``. It is computed here from the body CloudFront passes in (include-body on).
* OAC replaces the viewer's ``Authorization`` header with its signature. Dify's API authenticates with
  Bearer tokens, so the viewer's header travels as ``x-dify-authorization`` and Lambda Web Adapter puts it
  back (``AWS_LWA_AUTHORIZATION_SOURCE=x-dify-authorization``).

Bodies that CloudFront truncated (over 1 MB for origin-request events) cannot be hashed, so they are
answered with 413 instead of a signature failure. Lambda@Edge has no environment variables: constants only.
Header values and bodies are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

LOG = logging.getLogger("dify_edge_signer")
LOG.setLevel(logging.INFO)

PRESERVED_AUTHORIZATION_HEADER = "x-dify-authorization"
PRESERVED_AUTHORIZATION_KEY = "X-Dify-Authorization"
CONTENT_SHA256_HEADER = "x-amz-content-sha256"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
# Methods that normally carry a body: without body data they are signed as an empty payload.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BODY_LIMIT_TEXT = "1 MB"


def _response(status: int, description: str, code: str, message: str) -> dict[str, Any]:
    # Dify's API reports errors as {"code", "message", "status"}; matching it lets its clients show the text.
    body = json.dumps({"code": code, "message": message, "status": status})
    return {
        "status": str(status),
        "statusDescription": description,
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "application/json"}],
            "cache-control": [{"key": "Cache-Control", "value": "no-store"}],
        },
        "body": body,
    }


def payload_too_large() -> dict[str, Any]:
    return _response(
        413,
        "Payload Too Large",
        "payload_too_large",
        f"The request body is larger than the {BODY_LIMIT_TEXT} that CloudFront passes to Lambda@Edge, "
        "so it cannot be signed for the origin. Large uploads need a different front door.",
    )


def bad_request(message: str) -> dict[str, Any]:
    return _response(400, "Bad Request", "invalid_request_body", message)


class _BodyError(ValueError):
    pass


def _body_bytes(body: Mapping[str, Any]) -> bytes:
    data = body["data"]
    encoding = body.get("encoding", "base64")
    if encoding == "base64":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _BodyError("The request body is not valid base64.") from None
    if encoding == "text":
        try:
            return str(data).encode("utf-8")
        except UnicodeEncodeError:
            raise _BodyError("The request body is not valid UTF-8 text.") from None
    raise _BodyError("The request body has an unsupported encoding.")


def _move_authorization(headers: dict[str, Any]) -> None:
    viewer_auth = headers.pop("authorization", None)
    # A viewer-supplied x-dify-authorization is always dropped, so the Authorization the app receives is
    # exactly what the viewer sent as Authorization: the header WAF rules, cache keys and logging treat as
    # a credential. Nothing can reach the app as Authorization under the internal name.
    headers.pop(PRESERVED_AUTHORIZATION_HEADER, None)
    if viewer_auth:
        headers[PRESERVED_AUTHORIZATION_HEADER] = [
            {"key": PRESERVED_AUTHORIZATION_KEY, "value": entry["value"]} for entry in viewer_auth
        ]


def process_request(request: dict[str, Any]) -> dict[str, Any]:
    """Return the request to forward, or a generated response that ends the request at the edge."""
    headers: dict[str, Any] = request.setdefault("headers", {})
    method = str(request.get("method", "")).upper()
    body = request.get("body")

    payload_hash: str | None
    if isinstance(body, Mapping) and isinstance(body.get("data"), str):
        if body.get("inputTruncated"):
            LOG.warning("Rejected %s %s: body truncated by CloudFront", method, request.get("uri"))
            return payload_too_large()
        try:
            payload_hash = hashlib.sha256(_body_bytes(body)).hexdigest()
        except _BodyError as exc:
            LOG.warning("Rejected %s %s: %s", method, request.get("uri"), exc)
            return bad_request(str(exc))
    elif method in BODY_METHODS:
        payload_hash = EMPTY_PAYLOAD_SHA256
    else:
        payload_hash = None

    # Always overwrite a viewer-supplied hash when one is computed: the signature must match the real body.
    if payload_hash is not None:
        headers[CONTENT_SHA256_HEADER] = [{"key": CONTENT_SHA256_HEADER, "value": payload_hash}]
    _move_authorization(headers)
    return request


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    request: dict[str, Any] = event["Records"][0]["cf"]["request"]
    return process_request(request)
