"""Redeploy Dify after Secrets Manager rotated the database password.

ECS tasks and Lambda execution environments read the password once, when they start, so after a rotation
the running ones hold a password the database no longer accepts for new connections. This function is
the target of an EventBridge rule on the secret's ``RotationSucceeded`` event and replaces them:

* every ECS service in ``DIFY_ECS_SERVICES`` (JSON list of ``{"cluster": ..., "service": ...}``) gets
  ``UpdateService(forceNewDeployment=True)``: new tasks read the new password, the old ones drain;
* every function in ``DIFY_FUNCTIONS`` (JSON list of names or ARNs) gets its environment rewritten with
  ``DIFY_SECRET_ROTATED_AT`` set to the rotation time, which makes Lambda start fresh environments. The
  current environment is read first and every other variable is kept as it is.

One failing target does not stop the others; the function raises at the end naming every failure, so the
invocation shows up as an error. Every wait is bounded by the invocation's remaining time (Lambda context):
a target is started only while a whole API call still fits, the wait for a function being updated is cut to
the time left, and targets that were not reached are named as "not attempted" in that final error, which is
raised before Lambda's own timeout could swallow it.
Only names, ARNs and AWS error codes are logged: never the event in full,
never an environment variable value, and never a Lambda error message (those can quote the environment).

Only the Lambda runtime's boto3 is used; the module must stay self-contained (it is shipped as an asset).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# A named logger keeps tests' root logger untouched; on Lambda its records propagate to the runtime handler.
LOG = logging.getLogger("dify_redeploy")
LOG.setLevel(logging.INFO)

ENV_SERVICES = "DIFY_ECS_SERVICES"
ENV_FUNCTIONS = "DIFY_FUNCTIONS"
MARKER = "DIFY_SECRET_ROTATED_AT"
# A concurrent update (a deployment, another rotation) makes Lambda refuse ours; re-read and try again.
_RETRYABLE = frozenset({"ResourceConflictException", "PreconditionFailedException"})
_ATTEMPTS = 3
# Each API call is bounded: at most CLIENT_ATTEMPTS tries of CONNECT_TIMEOUT + READ_TIMEOUT seconds.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20
CLIENT_ATTEMPTS = 2
_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
    retries={"mode": "standard", "max_attempts": CLIENT_ATTEMPTS},
)
# Kept free at the end of the invocation: one whole API call, and time to log and raise the summary.
RESERVE_SECONDS = CLIENT_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 10
WAIT_DELAY_SECONDS = 5
WAIT_MAX_ATTEMPTS = 60  # the function_updated waiter's own default

_clients: dict[str, Any] = {}
_clock = time.monotonic


class RedeployError(RuntimeError):
    """Raised after every target was tried when at least one could not be redeployed."""


def _ecs() -> Any:
    """Cached clients, created lazily so tests can replace these functions."""
    if "ecs" not in _clients:
        _clients["ecs"] = boto3.client("ecs", config=_CONFIG)
    return _clients["ecs"]


def _lambda() -> Any:
    if "lambda" not in _clients:
        _clients["lambda"] = boto3.client("lambda", config=_CONFIG)
    return _clients["lambda"]


class OutOfTimeError(RedeployError):
    """The invocation has no time left for this step."""


class Deadline:
    """The end of the time this invocation may spend on targets: the Lambda context's remaining time less
    RESERVE_SECONDS. Without a context (a test, a local run) there is no end."""

    def __init__(self, context: object) -> None:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        self._end = _clock() + remaining_ms() / 1000 - RESERVE_SECONDS if callable(remaining_ms) else math.inf

    def left(self) -> float:
        return self._end - _clock()


@dataclass(frozen=True)
class Service:
    cluster: str
    service: str


def _json_list(name: str) -> list[Any]:
    raw = os.environ.get(name, "[]")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RedeployError(f"{name} is not JSON ({exc.msg})") from None
    if not isinstance(value, list):
        raise RedeployError(f"{name} must be a JSON list")
    return value


def services_from_env() -> list[Service]:
    found = []
    for item in _json_list(ENV_SERVICES):
        if not isinstance(item, Mapping) or not item.get("cluster") or not item.get("service"):
            raise RedeployError(f"{ENV_SERVICES} entries need 'cluster' and 'service'")
        found.append(Service(str(item["cluster"]), str(item["service"])))
    return found


def functions_from_env() -> list[str]:
    names = _json_list(ENV_FUNCTIONS)
    if not all(isinstance(name, str) and name for name in names):
        raise RedeployError(f"{ENV_FUNCTIONS} entries must be function names or ARNs")
    return [str(name) for name in names]


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def redeploy_service(target: Service) -> None:
    response = _ecs().update_service(cluster=target.cluster, service=target.service, forceNewDeployment=True)
    deployments = response.get("service", {}).get("deployments") or [{}]
    LOG.info("Forced a new deployment of ECS service %s (%s)", target.service, deployments[0].get("id", "?"))


def _wait_for_update(client: Any, name: str, deadline: Deadline) -> None:
    """Wait for a function's update to finish, but no longer than the time left."""
    attempts = math.floor(min(WAIT_MAX_ATTEMPTS, deadline.left() / WAIT_DELAY_SECONDS))
    if attempts < 1:
        raise OutOfTimeError(f"no time left to wait for the update of {name} to finish")
    client.get_waiter("function_updated").wait(
        FunctionName=name, WaiterConfig={"Delay": WAIT_DELAY_SECONDS, "MaxAttempts": attempts}
    )


def refresh_function(name: str, stamp: str, deadline: Deadline | None = None) -> None:
    """Set the marker variable, keeping every other variable; retried when Lambda reports a conflict."""
    deadline = deadline or Deadline(None)
    client = _lambda()
    for attempt in range(1, _ATTEMPTS + 1):
        config = client.get_function_configuration(FunctionName=name)
        variables = dict((config.get("Environment") or {}).get("Variables") or {})
        variables[MARKER] = stamp
        request: dict[str, Any] = {"FunctionName": name, "Environment": {"Variables": variables}}
        if config.get("RevisionId"):
            # Fails instead of overwriting a change made between our read and our write.
            request["RevisionId"] = config["RevisionId"]
        try:
            client.update_function_configuration(**request)
        except ClientError as exc:
            if _error_code(exc) not in _RETRYABLE or attempt == _ATTEMPTS:
                raise
            LOG.info("Function %s is being updated (%s); waiting to retry", name, _error_code(exc))
            _wait_for_update(client, name, deadline)
            continue
        LOG.info("Function %s will start fresh environments (%s=%s)", name, MARKER, stamp)
        return


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    detail = event.get("detail") or {}
    secret = (detail.get("additionalEventData") or {}).get("SecretId", "<not in event>")
    LOG.info("Secret %s rotated (%s); redeploying", secret, detail.get("eventName", "manual invocation"))
    services, functions = services_from_env(), functions_from_env()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    deadline = Deadline(context)
    failures: list[str] = []
    for target in services:
        if deadline.left() <= 0:
            LOG.error("No time left to redeploy ECS service %s", target.service)
            failures.append(f"ECS service {target.service} (not attempted: the invocation ran out of time)")
            continue
        try:
            redeploy_service(target)
        except Exception as exc:
            # ECS messages name the service or cluster only, so they are safe to keep.
            reason = f"{_error_code(exc)}: {exc}" if isinstance(exc, ClientError) else _error_code(exc)
            LOG.error("Could not redeploy ECS service %s in %s: %s", target.service, target.cluster, reason)
            failures.append(f"ECS service {target.service} ({reason})")
    for name in functions:
        if deadline.left() <= 0:
            LOG.error("No time left to refresh function %s", name)
            failures.append(f"function {name} (not attempted: the invocation ran out of time)")
            continue
        try:
            refresh_function(name, stamp, deadline)
        except OutOfTimeError:
            LOG.error("No time left to finish refreshing function %s", name)
            failures.append(f"function {name} (not done: the invocation ran out of time)")
        except Exception as exc:
            # Only the code: Lambda's messages can quote the environment (e.g. when it exceeds 4 KB).
            LOG.error("Could not refresh function %s: %s", name, _error_code(exc))
            failures.append(f"function {name} ({_error_code(exc)})")
    if failures:
        raise RedeployError(
            f"{len(failures)} of {len(services) + len(functions)} targets were not redeployed after the "
            f"rotation of {secret}: " + "; ".join(failures)
        )
    return {
        "services": [target.service for target in services],
        "functions": functions,
        "rotatedAt": stamp,
    }
