"""Custom resource: Amazon SES SMTP credentials that exist only in Secrets Manager.

SES's SMTP password is derived from an IAM user's secret access key (AWS docs "Obtaining Amazon SES SMTP
credentials", "Converting existing AWS credentials"): HMAC-SHA256 chained over a fixed date, the region,
the service, the terminal string and the message "SendRawEmail", then version byte 0x04 in front and
Base64. The username is the access key ID. So the password is region-specific, and it can only be made
where the secret access key is seen, which is here, never in a template.

* Create: a new access key for ``UserName`` (a dedicated user that may only send), the derived password,
  and ``{"username", "password"}`` written to ``SecretArn`` (PutSecretValue). If the write fails the key
  is deleted again.
* Update: nothing when the user, secret and region are unchanged; otherwise a new key as in Create, and
  the new physical ID makes CloudFormation delete the old key afterwards.
* Delete: the access key this resource made, found by its fingerprint (the physical ID); nothing else.

The physical ID is ``smtp-`` and a SHA-256 prefix of the access key ID, so neither the username nor the
password ever reaches the response, CloudFormation or a log; the response carries no Data.

Only the Lambda runtime's boto3 is used; the module stays self-contained (it is shipped as an asset).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import boto3
from botocore.exceptions import ClientError

LOG = logging.getLogger("dify_smtp_credentials")
LOG.setLevel(logging.INFO)

# The fixed inputs of SES's derivation; only the region varies.
_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = 0x04
PREFIX = "smtp-"
# What the resource's identity depends on; other property changes need no new key.
IDENTITY = ("UserName", "SecretArn", "Region")


def smtp_password(secret_access_key: str, region: str) -> str:
    """The SES SMTP password for a secret access key in `region`."""
    signature = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (_DATE, region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = hmac.new(signature, part.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(bytes([_VERSION]) + signature).decode("ascii")


def fingerprint(access_key_id: str) -> str:
    """The physical ID for an access key: enough to find the key again, nothing to log in with."""
    return PREFIX + hashlib.sha256(access_key_id.encode("ascii")).hexdigest()[:24]


def _create(iam: Any, secrets: Any, props: dict[str, Any]) -> dict[str, Any]:
    key = iam.create_access_key(UserName=props["UserName"])["AccessKey"]
    key_id = key["AccessKeyId"]
    try:
        secrets.put_secret_value(
            SecretId=props["SecretArn"],
            SecretString=json.dumps(
                {"username": key_id, "password": smtp_password(key["SecretAccessKey"], props["Region"])}
            ),
        )
    except ClientError:
        iam.delete_access_key(UserName=props["UserName"], AccessKeyId=key_id)
        raise
    physical = fingerprint(key_id)
    LOG.info("created SMTP credentials %s for user %s", physical, props["UserName"])
    return {"PhysicalResourceId": physical}


def _delete(iam: Any, props: dict[str, Any], physical: str) -> None:
    user = props["UserName"]
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            LOG.info("user %s is gone; nothing to delete", user)
            return
        raise
    for key in keys:
        if fingerprint(key["AccessKeyId"]) == physical:
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
            LOG.info("deleted SMTP credentials %s of user %s", physical, user)
            return
    LOG.info("no access key %s on user %s; nothing to delete", physical, user)


def _iam() -> Any:
    return boto3.client("iam")


def _secrets() -> Any:
    return boto3.client("secretsmanager")


def on_event(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    request = event["RequestType"]
    props = event["ResourceProperties"]
    LOG.info("%s request", request)
    iam = _iam()
    if request == "Delete":
        _delete(iam, props, event["PhysicalResourceId"])
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request == "Update":
        old = event.get("OldResourceProperties", {})
        if all(old.get(name) == props.get(name) for name in IDENTITY):
            return {"PhysicalResourceId": event["PhysicalResourceId"]}
    return _create(iam, _secrets(), props)
