"""Dify's External Knowledge API on top of Amazon Bedrock knowledge bases (Retrieve).

Dify (api and worker, through its SSRF proxy) sends ``POST <endpoint>/retrieval`` with
``Authorization: Bearer <key>`` and the JSON body that ``ExternalDatasetService.fetch_external_knowledge_
retrieval`` builds (api/services/external_knowledge_service.py)::

    {"knowledge_id": "<knowledge base ID>", "query": "...",
     "retrieval_setting": {"top_k": 4, "score_threshold": 0.0},   # 0.0 when the threshold is disabled
     "metadata_condition": {"logical_operator": "and", "conditions": [...]}}   # only when set

and reads ``response.json()["records"]`` on HTTP 200 (anything else becomes no records). Each record is
``{"content", "score", "title", "metadata"}``; metadata must be an object, never null. Registering the API in
Dify (``check_endpoint_and_api_key``) posts an empty body with the key and refuses the endpoint on 404
(not found), 403 (authorization failed) and 502, so an empty body with the right key answers 400.

Errors follow Dify's documented codes: 1001 (invalid Authorization header format) and 1002 (authorization
failed) with HTTP 403, 2001 (the knowledge does not exist) with HTTP 404.

Only knowledge bases named in ``DIFY_KNOWLEDGE_BASES`` (JSON list of IDs) are served; the function's role may
Retrieve on exactly those. The bearer key is the string of the Secrets Manager secret named in
``DIFY_KNOWLEDGE_API_KEY_ARN``, read once per execution environment. Nothing from the request body, the
key or the results is logged, only AWS error codes.

Only the Lambda runtime's boto3 is used; the module must stay self-contained (it is shipped as an asset).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOG = logging.getLogger("dify_knowledge")
LOG.setLevel(logging.INFO)

ENV_KEY_ARN = "DIFY_KNOWLEDGE_API_KEY_ARN"
ENV_KNOWLEDGE_BASES = "DIFY_KNOWLEDGE_BASES"
ENV_REGION = "DIFY_KNOWLEDGE_REGION"
PATH = "/retrieval"
# Retrieve's numberOfResults: 1 to 100 (Bedrock API reference, KnowledgeBaseVectorSearchConfiguration).
MAX_RESULTS = 100

INVALID_AUTH_FORMAT = 1001
AUTH_FAILED = 1002
KNOWLEDGE_NOT_FOUND = 2001

# Dify's comparison operators (core/rag/entities/metadata_entities.py) that a Bedrock Retrieve filter can
# express; the others ("not contains", "end with", "empty", "not empty", "before", "after") answer 400.
_OPERATORS: Mapping[str, str] = {
    "is": "equals",
    "=": "equals",
    "is not": "notEquals",
    "≠": "notEquals",
    "contains": "stringContains",
    "start with": "startsWith",
    "in": "in",
    "not in": "notIn",
    ">": "greaterThan",
    "<": "lessThan",
    "≥": "greaterThanOrEquals",
    "≤": "lessThanOrEquals",
}
# Two attempts of at most 2 + 10 s each fit in the function's 28 s (services/knowledge.py TIMEOUT), which
# itself ends before API Gateway's 29 s: a slow Bedrock call ends in the function's own 500, not a 502/504.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@cache
def _secrets() -> Any:
    return boto3.client("secretsmanager", config=_CLIENT_CONFIG)


@cache
def _bedrock() -> Any:
    return boto3.client(
        "bedrock-agent-runtime", region_name=os.environ.get(ENV_REGION), config=_CLIENT_CONFIG
    )


@cache
def _api_key() -> str:
    """The bearer key, read at the first request of an execution environment and kept."""
    return str(_secrets().get_secret_value(SecretId=os.environ[ENV_KEY_ARN])["SecretString"])


def _knowledge_bases() -> frozenset[str]:
    return frozenset(json.loads(os.environ.get(ENV_KNOWLEDGE_BASES, "[]")))


def handler(event: Mapping[str, Any], _context: object = None) -> dict[str, Any]:
    """A Lambda function URL event (payload format 2.0) or an API Gateway REST API proxy event (format 1.0,
    the private API of a closed network) in, an HTTP response out (the same shape suits both)."""
    try:
        return _response(200, {"records": _handle(event)})
    except ApiError as exc:
        body: dict[str, Any] = {"error_msg": exc.message}
        if exc.code is not None:
            body = {"error_code": exc.code, **body}
        return _response(exc.status, body)
    # Anything else answers 500 rather than Lambda's bare 502; only the exception type is logged.
    except Exception as exc:
        LOG.error("request failed: %s", type(exc).__name__)
        return _response(500, {"error_msg": "internal error; see the function's log"})


def _handle(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    http = (event.get("requestContext") or {}).get("http") or {}
    # Format 1.0 has `path` (without the stage) and `httpMethod`; 2.0 has `rawPath` and requestContext.http.
    path = event.get("rawPath", http.get("path", event.get("path", "")))
    method = http.get("method", event.get("httpMethod", ""))
    # An endpoint registered with a trailing slash makes Dify request "//retrieval".
    if "/" + str(path).lstrip("/") != PATH:
        raise ApiError(404, f"not found: the only path is POST {PATH}")
    if str(method).upper() != "POST":
        raise ApiError(405, f"method not allowed: use POST {PATH}")
    _authorize({str(k).lower(): v for k, v in (event.get("headers") or {}).items()}.get("authorization"))
    request = _body(event)
    knowledge_id = request["knowledge_id"]
    if knowledge_id not in _knowledge_bases():
        raise ApiError(404, "The knowledge does not exist.", KNOWLEDGE_NOT_FOUND)
    return _retrieve(knowledge_id, request)


def _authorize(header: object) -> None:
    scheme, _, token = str(header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            403,
            "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
            INVALID_AUTH_FORMAT,
        )
    if not hmac.compare_digest(token.strip().encode(), _api_key().encode()):
        raise ApiError(403, "Authorization failed.", AUTH_FAILED)


def _body(event: Mapping[str, Any]) -> dict[str, Any]:
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else str(raw)
        request = json.loads(text) if text else None
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(request, dict):
        raise ApiError(400, "expected a JSON object with knowledge_id, query and retrieval_setting")
    knowledge_id, query = request.get("knowledge_id"), request.get("query")
    if not isinstance(knowledge_id, str) or not knowledge_id:
        raise ApiError(400, "knowledge_id (the knowledge base ID) is required")
    if not isinstance(query, str) or not query.strip():
        raise ApiError(400, "query is required")
    setting = request.get("retrieval_setting")
    if not isinstance(setting, dict):
        raise ApiError(400, "retrieval_setting (top_k, score_threshold) is required")
    top_k, threshold = setting.get("top_k"), setting.get("score_threshold") or 0.0
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ApiError(400, "retrieval_setting.top_k must be a positive integer")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ApiError(400, "retrieval_setting.score_threshold must be a number")
    return {
        "knowledge_id": knowledge_id,
        "query": query,
        "top_k": min(top_k, MAX_RESULTS),
        "score_threshold": float(threshold),
        "filter": _filter(request.get("metadata_condition")),
    }


def _filter(condition: object) -> dict[str, Any] | None:
    """Dify's metadata_condition as a Retrieve filter (None: no filtering)."""
    if not condition:
        return None
    if not isinstance(condition, dict) or not isinstance(condition.get("conditions"), list):
        raise ApiError(400, "metadata_condition must be an object with a conditions list")
    filters: list[dict[str, Any]] = []
    for item in condition["conditions"]:
        if not isinstance(item, dict):
            raise ApiError(400, "each metadata_condition.conditions entry must be an object")
        operator = _OPERATORS.get(str(item.get("comparison_operator")))
        if operator is None:
            raise ApiError(
                400,
                f"comparison_operator {item.get('comparison_operator')!r} is not supported by Bedrock "
                f"knowledge base filters; use one of {', '.join(_OPERATORS)}",
            )
        names = item.get("name")
        for name in names if isinstance(names, list) else [names]:
            if not isinstance(name, str) or not name:
                raise ApiError(400, "metadata_condition.conditions[].name must be a metadata key")
            filters.append({operator: {"key": name, "value": item.get("value")}})
    if not filters:
        return None
    if len(filters) == 1:
        return filters[0]
    return {"orAll" if condition.get("logical_operator") == "or" else "andAll": filters}


def _retrieve(knowledge_id: str, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    search: dict[str, Any] = {"numberOfResults": request["top_k"]}
    if request["filter"] is not None:
        search["filter"] = request["filter"]
    try:
        response = _bedrock().retrieve(
            knowledgeBaseId=knowledge_id,
            retrievalQuery={"text": request["query"]},
            retrievalConfiguration={"vectorSearchConfiguration": search},
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        LOG.warning("Retrieve on %s failed: %s", knowledge_id, code)
        if code == "ResourceNotFoundException":
            raise ApiError(404, "The knowledge does not exist.", KNOWLEDGE_NOT_FOUND) from None
        if code == "ValidationException":
            raise ApiError(400, "Amazon Bedrock rejected the request (ValidationException)") from None
        if code == "ThrottlingException":
            raise ApiError(429, "Amazon Bedrock is throttling requests; try again") from None
        raise ApiError(500, f"Amazon Bedrock Retrieve failed ({code or 'unknown error'})") from None
    records = [_record(result) for result in response.get("retrievalResults", [])]
    kept = [r for r in records if r["score"] >= request["score_threshold"]]
    return sorted(kept, key=lambda r: r["score"], reverse=True)[: request["top_k"]]


def _record(result: Mapping[str, Any]) -> dict[str, Any]:
    content = result.get("content") or {}
    text = content.get("text")
    if text is None and content.get("row") is not None:
        text = json.dumps({cell.get("columnName"): cell.get("columnValue") for cell in content["row"]})
    location = result.get("location") or {}
    source = _source(location)
    metadata: dict[str, Any] = {**(result.get("metadata") or {})}
    metadata["location"] = location
    if source:
        metadata["source_uri"] = source
    return {
        "content": text or "",
        "score": float(result.get("score") or 0.0),
        "title": _title(source) or str(location.get("type") or "Amazon Bedrock knowledge base"),
        "metadata": metadata,
    }


def _source(location: Mapping[str, Any]) -> str:
    """The URI or URL of a result's source document, whatever the data source type."""
    for value in location.values():
        if isinstance(value, dict):
            for key in ("uri", "url"):
                if isinstance(value.get(key), str):
                    return str(value[key])
    return ""


def _title(source: str) -> str:
    """The file name of the source (an S3 object's, a page's last path segment), else its host."""
    parsed = urlparse(source)
    return parsed.path.rstrip("/").rsplit("/", 1)[-1] or parsed.netloc or source


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False, default=str),
    }
