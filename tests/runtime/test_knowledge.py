"""Unit tests for the Bedrock knowledge-base External Knowledge API handler (botocore Stubber, no AWS access).

The request and response shapes are Dify's: ExternalDatasetService.fetch_external_knowledge_retrieval and
check_endpoint_and_api_key (langgenius/dify api/services/external_knowledge_service.py) and the External
Knowledge API page of Dify's documentation (error codes 1001, 1002 with 403; 2001 with 404).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.services import knowledge
from dify_on_aws.services.runtime.knowledge import index

KEY = "k3y-for-tests-only-0123456789abcdefghij"  # a fixture value, not a real key
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:KnowledgeApiKey-AbCdEf"
KB = "ABCDEFGHIJ"
OTHER_KB = "ZYXWVUTSRQ"


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, Stubber]]:
    monkeypatch.setenv(index.ENV_KEY_ARN, SECRET_ARN)
    monkeypatch.setenv(index.ENV_KNOWLEDGE_BASES, json.dumps([KB]))
    secrets = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    bedrock = boto3.client(
        "bedrock-agent-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    for cached in (index._api_key, index._secrets, index._bedrock):
        cached.cache_clear()
    monkeypatch.setattr(index, "_secrets", lambda: secrets)
    monkeypatch.setattr(index, "_bedrock", lambda: bedrock)
    with Stubber(secrets) as secret_stub, Stubber(bedrock) as bedrock_stub:
        yield secret_stub, bedrock_stub
        bedrock_stub.assert_no_pending_responses()
    index._api_key.cache_clear()


def _key(stub: Stubber) -> None:
    stub.add_response(
        "get_secret_value", {"SecretString": KEY, "ARN": SECRET_ARN, "Name": "k"}, {"SecretId": SECRET_ARN}
    )


def dify_body(
    knowledge_id: str = KB, top_k: int = 3, threshold: float = 0.0, metadata_condition: Any = None
) -> dict[str, Any]:
    """What Dify posts (fetch_external_knowledge_retrieval): metadata_condition only when set."""
    body: dict[str, Any] = {
        "retrieval_setting": {"top_k": top_k, "score_threshold": threshold},
        "query": "What is Dify?",
        "knowledge_id": knowledge_id,
    }
    if metadata_condition is not None:
        body["metadata_condition"] = metadata_condition
    return body


def event(body: Any = None, authorization: str | None = f"Bearer {KEY}", **extra: Any) -> dict[str, Any]:
    """A function URL event (payload 2.0): Dify sends data=json.dumps(params), Content-Type JSON."""
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return {
        "version": "2.0",
        "rawPath": "/retrieval",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/retrieval"}},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
        **extra,
    }


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def result(text: str, score: float, uri: str, **metadata: Any) -> dict[str, Any]:
    return {
        "content": {"text": text, "type": "TEXT"},
        "score": score,
        "location": {"type": "S3", "s3Location": {"uri": uri}},
        "metadata": {"x-amz-bedrock-kb-source-uri": uri, **metadata},
    }


def expect_retrieve(stub: Stubber, results: list[dict[str, Any]], number: int, **search: Any) -> None:
    stub.add_response(
        "retrieve",
        {"retrievalResults": results},
        {
            "knowledgeBaseId": KB,
            "retrievalQuery": {"text": "What is Dify?"},
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": number, **search}},
        },
    )


def test_missing_authorization_is_1001(stubs: tuple[Stubber, Stubber]) -> None:
    for header in (None, "", "Basic abc", "Bearer", KEY):
        status, body = answer(index.handler(event(dify_body(), authorization=header)))
        assert (status, body["error_code"]) == (403, index.INVALID_AUTH_FORMAT), header


def test_wrong_key_is_1002(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, _ = stubs
    _key(secrets)
    status, body = answer(index.handler(event(dify_body(), authorization="Bearer wrong-key")))
    assert (status, body["error_code"]) == (403, index.AUTH_FAILED)
    assert "wrong-key" not in json.dumps(body)


def test_the_key_is_read_once_per_environment(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, bedrock = stubs
    _key(secrets)  # one GetSecretValue only: the Stubber fails a second, unexpected call
    for _ in range(2):
        expect_retrieve(bedrock, [], 3)
        assert answer(index.handler(event(dify_body()))) == (200, {"records": []})


def test_registration_probe_is_accepted(stubs: tuple[Stubber, Stubber]) -> None:
    """Dify's check_endpoint_and_api_key posts no body with the key and refuses 404, 403 and 502."""
    secrets, _ = stubs
    _key(secrets)
    status, _body = answer(index.handler(event(None)))
    assert status == 400


def test_unlisted_knowledge_base_is_2001(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, _ = stubs
    _key(secrets)
    status, body = answer(index.handler(event(dify_body(OTHER_KB))))
    assert (status, body["error_code"]) == (404, index.KNOWLEDGE_NOT_FOUND)


def test_missing_knowledge_base_is_2001(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, bedrock = stubs
    _key(secrets)
    bedrock.add_client_error("retrieve", "ResourceNotFoundException", "no such knowledge base", 404)
    status, body = answer(index.handler(event(dify_body())))
    assert (status, body["error_code"]) == (404, index.KNOWLEDGE_NOT_FOUND)


def test_other_bedrock_errors_are_not_records(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, bedrock = stubs
    _key(secrets)
    for code, status in (("ThrottlingException", 429), ("AccessDeniedException", 500)):
        bedrock.add_client_error("retrieve", code, "message not echoed", 400)
        got, body = answer(index.handler(event(dify_body())))
        assert got == status and "message not echoed" not in body["error_msg"]


def test_top_k_threshold_and_metadata(stubs: tuple[Stubber, Stubber]) -> None:
    """top_k becomes numberOfResults; results under score_threshold are dropped; the KB's metadata and the
    source location are passed through; the title is the source's file name."""
    secrets, bedrock = stubs
    _key(secrets)
    results = [
        result("Dify is an LLM app platform.", 0.91, "s3://docs/guide/intro.md", team="docs"),
        result("Unrelated.", 0.2, "s3://docs/other.txt"),
    ]
    expect_retrieve(bedrock, results, 2)
    status, body = answer(index.handler(event(dify_body(top_k=2, threshold=0.5))))
    assert status == 200
    (record,) = body["records"]
    assert set(record) == {"content", "score", "title", "metadata"}
    assert record["content"] == "Dify is an LLM app platform." and record["score"] == 0.91
    assert record["title"] == "intro.md"
    assert record["metadata"]["team"] == "docs"
    assert record["metadata"]["x-amz-bedrock-kb-source-uri"] == "s3://docs/guide/intro.md"
    assert record["metadata"]["source_uri"] == "s3://docs/guide/intro.md"
    assert record["metadata"]["location"]["s3Location"]["uri"] == "s3://docs/guide/intro.md"


def test_records_always_carry_an_object_as_metadata(stubs: tuple[Stubber, Stubber]) -> None:
    """Dify's documentation: metadata must be an object, never null."""
    secrets, bedrock = stubs
    _key(secrets)
    web = {
        "content": {"text": "t"},
        "score": 0.5,
        "location": {"type": "WEB", "webLocation": {"url": "https://ex.com/"}},
    }
    expect_retrieve(bedrock, [web], 100)
    _status, body = answer(index.handler(event(dify_body(top_k=500))))
    (record,) = body["records"]
    assert isinstance(record["metadata"], dict) and record["title"] == "ex.com"


def test_metadata_condition_becomes_a_filter(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, bedrock = stubs
    _key(secrets)
    condition = {
        "logical_operator": "or",
        "conditions": [
            {"name": "team", "comparison_operator": "is", "value": "docs"},
            {"name": "year", "comparison_operator": "≥", "value": 2024},
        ],
    }
    search_filter = {
        "orAll": [
            {"equals": {"key": "team", "value": "docs"}},
            {"greaterThanOrEquals": {"key": "year", "value": 2024}},
        ]
    }
    expect_retrieve(bedrock, [], 3, filter=search_filter)
    assert answer(index.handler(event(dify_body(metadata_condition=condition))))[0] == 200
    unsupported = {"conditions": [{"name": "team", "comparison_operator": "empty"}]}
    assert answer(index.handler(event(dify_body(metadata_condition=unsupported))))[0] == 400


def test_bad_requests(stubs: tuple[Stubber, Stubber]) -> None:
    secrets, _ = stubs
    _key(secrets)
    assert answer(index.handler(event(dify_body(), rawPath="/other")))[0] == 404
    get = event(dify_body(), requestContext={"http": {"method": "GET", "path": "/retrieval"}})
    assert answer(index.handler(get))[0] == 405
    assert answer(index.handler(event(dify_body(top_k=0))))[0] == 400
    encoded = {**event(None), "body": base64.b64encode(b"{not json").decode(), "isBase64Encoded": True}
    assert answer(index.handler(encoded))[0] == 400


def test_the_construct_sets_the_names_the_handler_reads() -> None:
    assert (knowledge.ENV_KEY_ARN, knowledge.ENV_KNOWLEDGE_BASES, knowledge.ENV_REGION) == (
        index.ENV_KEY_ARN,
        index.ENV_KNOWLEDGE_BASES,
        index.ENV_REGION,
    )


def test_trailing_slash_endpoint_and_unexpected_failures(stubs: tuple[Stubber, Stubber]) -> None:
    """An endpoint saved as '.../' makes Dify post to '//retrieval'; a failure reading the key answers 500
    (not Lambda's bare 502, which Dify reports as a bad gateway) without its message."""
    secrets, bedrock = stubs
    secrets.add_client_error("get_secret_value", "AccessDeniedException", "arn and details", 400)
    status, body = answer(index.handler(event(dify_body(), rawPath="//retrieval")))
    assert status == 500 and "arn and details" not in body["error_msg"]
    _key(secrets)
    expect_retrieve(bedrock, [], 3)
    assert answer(index.handler(event(dify_body(), rawPath="//retrieval")))[0] == 200


def rest_event(
    body: Any = None, method: str = "POST", path: str = "/retrieval", **headers: str
) -> dict[str, Any]:
    """What the closed network's private REST API passes on (Lambda proxy integration, payload format 1.0,
    "Set up Lambda proxy integrations in API Gateway"): `path` without the stage, header names as sent."""
    host = "a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.eu-central-1.amazonaws.com"
    sent = {"Content-Type": "application/json", "Host": host, **headers}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{knowledge.STAGE}{path}",
            "stage": knowledge.STAGE,
            "identity": {"vpceId": "vpce-0123456789abcdef0", "sourceIp": "10.0.1.23"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_private_rest_api_events(stubs: tuple[Stubber, Stubber]) -> None:
    """The same answers through the private API of a closed network as through the function URL."""
    secrets, bedrock = stubs
    _key(secrets)
    expect_retrieve(bedrock, [result("Dify is an LLM app platform.", 0.8, "s3://b/d.pdf")], 3)
    status, body = answer(index.handler(rest_event(dify_body(), Authorization=f"Bearer {KEY}")))
    assert status == 200 and body["records"][0]["content"] == "Dify is an LLM app platform."
    assert answer(index.handler(rest_event(dify_body())))[1]["error_code"] == index.INVALID_AUTH_FORMAT
    authorized = {"Authorization": f"Bearer {KEY}"}
    assert answer(index.handler(rest_event(dify_body(), method="GET", **authorized)))[0] == 405
    assert answer(index.handler(rest_event(dify_body(), path="/other", **authorized)))[0] == 404
    assert answer(index.handler(rest_event(None, **authorized)))[0] == 400  # Dify's registration probe


def test_aws_calls_give_up_before_the_function_does() -> None:
    """Each AWS call (all attempts, connect and read timeouts) ends within the function's timeout, so a slow
    Bedrock answers Dify with the function's JSON error instead of a gateway's bare 502 or 504."""
    config = index._CLIENT_CONFIG
    attempts = config.retries["max_attempts"]
    assert (config.connect_timeout + config.read_timeout) * attempts < knowledge.TIMEOUT.to_seconds()
