"""The SES SMTP credentials custom resource, with botocore's Stubber (no AWS access).

The expected password is computed here from the steps AWS documents ("Obtaining Amazon SES SMTP
credentials" > "Converting existing AWS credentials": kDate = HMAC-SHA256("AWS4" + key, "11111111"), then
the region, "ses", "aws4_request" and "SendRawEmail" in turn, version byte 0x04 in front, Base64), written
out step by step rather than through the handler's loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.services.runtime.smtp_credentials import index

USER = "Dify-MailSmtpUser-ABCDEF123456"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:MailSmtpCredentials-AbCdEf"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PROPS = {"ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:x", "UserName": USER,
         "SecretArn": SECRET_ARN, "Region": "eu-west-1"}  # fmt: skip


def documented_password(secret_access_key: str, region: str) -> str:
    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()

    k_date = sign(("AWS4" + secret_access_key).encode("utf-8"), "11111111")
    k_region = sign(k_date, region)
    k_service = sign(k_region, "ses")
    k_terminal = sign(k_service, "aws4_request")
    k_message = sign(k_terminal, "SendRawEmail")
    return base64.b64encode(b"\x04" + k_message).decode("utf-8")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Stubber]]:
    made = {
        name: boto3.client(
            name, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        for name in ("iam", "secretsmanager")
    }
    stubs = {name: Stubber(client) for name, client in made.items()}
    monkeypatch.setattr(index, "_iam", lambda: made["iam"])
    monkeypatch.setattr(index, "_secrets", lambda: made["secretsmanager"])
    for stub in stubs.values():
        stub.activate()
    yield stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def _created_key() -> dict[str, Any]:
    return {
        "AccessKey": {
            "UserName": USER,
            "AccessKeyId": KEY_ID,
            "Status": "Active",
            "SecretAccessKey": SECRET_ACCESS_KEY,
        }
    }


def _expect_create(stubs: dict[str, Stubber], props: dict[str, Any] = PROPS) -> None:
    stubs["iam"].add_response("create_access_key", _created_key(), {"UserName": props["UserName"]})
    secret = {"username": KEY_ID, "password": documented_password(SECRET_ACCESS_KEY, props["Region"])}
    stubs["secretsmanager"].add_response(
        "put_secret_value",
        {"ARN": props["SecretArn"], "Name": "MailSmtpCredentials", "VersionId": "v" * 32},
        {"SecretId": props["SecretArn"], "SecretString": json.dumps(secret)},
    )


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-1"])
def test_password_follows_the_documented_derivation(region: str) -> None:
    assert index.smtp_password(SECRET_ACCESS_KEY, region) == documented_password(SECRET_ACCESS_KEY, region)
    raw = base64.b64decode(index.smtp_password(SECRET_ACCESS_KEY, region))
    assert raw[0] == 0x04 and len(raw) == 33


def test_password_is_region_specific() -> None:
    assert index.smtp_password(SECRET_ACCESS_KEY, "us-east-1") != index.smtp_password(
        SECRET_ACCESS_KEY, "eu-west-1"
    )


def test_create_writes_the_secret_and_returns_no_credentials(
    clients: dict[str, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    _expect_create(clients)
    with caplog.at_level(logging.DEBUG):
        response = index.on_event({"RequestType": "Create", "ResourceProperties": PROPS})
    assert response == {"PhysicalResourceId": index.fingerprint(KEY_ID)}
    shown = json.dumps(response) + caplog.text
    for value in (KEY_ID, SECRET_ACCESS_KEY, documented_password(SECRET_ACCESS_KEY, "eu-west-1")):
        assert value not in shown


def test_a_failed_secret_write_deletes_the_new_key(clients: dict[str, Stubber]) -> None:
    clients["iam"].add_response("create_access_key", _created_key(), {"UserName": USER})
    clients["secretsmanager"].add_client_error("put_secret_value", "AccessDeniedException")
    clients["iam"].add_response("delete_access_key", {}, {"UserName": USER, "AccessKeyId": KEY_ID})
    with pytest.raises(Exception, match="AccessDenied"):
        index.on_event({"RequestType": "Create", "ResourceProperties": PROPS})


def _keys(*ids: str) -> dict[str, Any]:
    return {"AccessKeyMetadata": [{"UserName": USER, "AccessKeyId": i, "Status": "Active"} for i in ids]}


def test_delete_removes_only_the_key_it_made(clients: dict[str, Stubber]) -> None:
    other = "AKIAI44QH8DHBEXAMPLE"
    clients["iam"].add_response("list_access_keys", _keys(other, KEY_ID), {"UserName": USER})
    clients["iam"].add_response("delete_access_key", {}, {"UserName": USER, "AccessKeyId": KEY_ID})
    physical = index.fingerprint(KEY_ID)
    response = index.on_event(
        {"RequestType": "Delete", "ResourceProperties": PROPS, "PhysicalResourceId": physical}
    )
    assert response == {"PhysicalResourceId": physical}


def test_delete_of_a_failed_create_or_a_gone_user_does_nothing(clients: dict[str, Stubber]) -> None:
    clients["iam"].add_response("list_access_keys", _keys("AKIAI44QH8DHBEXAMPLE"), {"UserName": USER})
    clients["iam"].add_client_error("list_access_keys", "NoSuchEntity")
    for _ in range(2):
        index.on_event({"RequestType": "Delete", "ResourceProperties": PROPS, "PhysicalResourceId": "x"})


def test_update_keeps_the_key_unless_user_secret_or_region_change(clients: dict[str, Stubber]) -> None:
    physical = index.fingerprint(KEY_ID)
    same = {"RequestType": "Update", "ResourceProperties": PROPS, "OldResourceProperties": dict(PROPS),
            "PhysicalResourceId": physical}  # fmt: skip
    assert index.on_event(same) == {"PhysicalResourceId": physical}
    moved = {**PROPS, "Region": "us-east-1"}
    _expect_create(clients, moved)
    changed = {**same, "ResourceProperties": moved}
    # A new key (new physical ID): CloudFormation then deletes the old one with a Delete request.
    assert index.on_event(changed) == {"PhysicalResourceId": index.fingerprint(KEY_ID)}
