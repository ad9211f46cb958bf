"""Unit tests for the post-rotation redeploy handler (stub clients, no AWS access)."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dify_on_aws.operations.runtime.redeploy import index

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:DatabaseSecret-AbCdEf"
SECRET_VALUE = "pa55-Word-never-logged"
SERVICES = [
    {"cluster": "dify-cluster", "service": name} for name in ("api", "worker", "beat", "plugin-daemon")
]
FUNCTION = "Dify-FrontDoorApi-0123456789ab"


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeEcs:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.calls: list[dict[str, Any]] = []

    def update_service(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if kwargs["service"] in self.failing:
            raise _client_error("ServiceNotFoundException", "Service not found.", "UpdateService")
        return {"service": {"serviceName": kwargs["service"], "deployments": [{"id": "ecs-svc/1"}]}}


class FakeWaiter:
    def __init__(self, owner: FakeLambda) -> None:
        self.owner = owner

    def wait(self, **kwargs: Any) -> None:
        self.owner.waits.append(kwargs)


class FakeLambda:
    def __init__(self, variables: dict[str, str], errors: list[ClientError] | None = None) -> None:
        self.variables = variables
        self.errors = list(errors or [])
        self.revision = 1
        self.updates: list[dict[str, Any]] = []
        self.waits: list[dict[str, Any]] = []

    def get_function_configuration(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "FunctionName": kwargs["FunctionName"],
            "RevisionId": f"rev-{self.revision}",
            "Environment": {"Variables": dict(self.variables)},
        }

    def update_function_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        self.variables = dict(kwargs["Environment"]["Variables"])
        self.revision += 1
        return {"FunctionName": kwargs["FunctionName"]}

    def get_waiter(self, name: str) -> FakeWaiter:
        assert name == "function_updated"
        return FakeWaiter(self)


def _event() -> dict[str, Any]:
    return {
        "source": "aws.secretsmanager",
        "detail-type": "AWS Service Event via CloudTrail",
        "detail": {
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "RotationSucceeded",
            "additionalEventData": {"SecretId": SECRET_ARN},
        },
    }


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(index.ENV_SERVICES, json.dumps(SERVICES))
    monkeypatch.setenv(index.ENV_FUNCTIONS, json.dumps([FUNCTION]))


def _install(monkeypatch: pytest.MonkeyPatch, ecs: FakeEcs, fn: FakeLambda) -> None:
    monkeypatch.setattr(index, "_ecs", lambda: ecs)
    monkeypatch.setattr(index, "_lambda", lambda: fn)


def _function_env() -> dict[str, str]:
    return {"DIFY_SECRET_ARNS": "DB_PASSWORD=arn:...", "DB_PASSWORD_HINT": SECRET_VALUE, "LOG_LEVEL": "INFO"}


def test_every_service_gets_a_forced_deployment(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs, fn = FakeEcs(), FakeLambda(_function_env())
    _install(monkeypatch, ecs, fn)

    result = index.handler(_event(), None)

    assert ecs.calls == [
        {"cluster": "dify-cluster", "service": name, "forceNewDeployment": True}
        for name in ("api", "worker", "beat", "plugin-daemon")
    ]
    assert result["services"] == ["api", "worker", "beat", "plugin-daemon"]
    assert result["functions"] == [FUNCTION]


def test_function_environment_is_preserved_and_marked(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs, fn = FakeEcs(), FakeLambda(_function_env())
    _install(monkeypatch, ecs, fn)

    result = index.handler(_event(), None)

    (update,) = fn.updates
    assert update["FunctionName"] == FUNCTION
    assert update["RevisionId"] == "rev-1", "the write is conditional on the configuration it read"
    assert set(update) == {"FunctionName", "Environment", "RevisionId"}, "nothing but the environment"
    assert fn.variables == {**_function_env(), index.MARKER: result["rotatedAt"]}


def test_marker_is_replaced_on_the_next_rotation(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fn = FakeLambda({**_function_env(), index.MARKER: "2020-01-01T00:00:00+00:00"})
    _install(monkeypatch, FakeEcs(), fn)

    result = index.handler(_event(), None)

    assert fn.variables[index.MARKER] == result["rotatedAt"] != "2020-01-01T00:00:00+00:00"
    assert {k: v for k, v in fn.variables.items() if k != index.MARKER} == _function_env()


def test_function_without_environment_gets_only_the_marker(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = FakeLambda({})
    _install(monkeypatch, FakeEcs(), fn)

    result = index.handler(_event(), None)

    assert fn.variables == {index.MARKER: result["rotatedAt"]}


def test_one_failing_service_does_not_stop_the_others(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs, fn = FakeEcs(failing={"worker"}), FakeLambda(_function_env())
    _install(monkeypatch, ecs, fn)

    with pytest.raises(index.RedeployError) as raised:
        index.handler(_event(), None)

    assert [call["service"] for call in ecs.calls] == ["api", "worker", "beat", "plugin-daemon"]
    assert len(fn.updates) == 1, "functions are refreshed even when a service failed"
    message = str(raised.value)
    assert "ECS service worker" in message and "ServiceNotFoundException" in message
    assert "1 of 5 targets" in message and SECRET_ARN in message
    for name in ("api", "beat", "plugin-daemon"):
        assert f"ECS service {name} " not in message


def test_failing_function_is_named_without_its_environment(
    env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Lambda's own message for an oversized environment quotes the variables; it must not be repeated.
    leak = _client_error(
        "InvalidParameterValueException",
        f"Environment variables exceed 4 KB. String measured: {json.dumps(_function_env())}",
        "UpdateFunctionConfiguration",
    )
    ecs, fn = FakeEcs(), FakeLambda(_function_env(), errors=[leak])
    _install(monkeypatch, ecs, fn)

    with caplog.at_level(logging.INFO, logger="dify_redeploy"), pytest.raises(index.RedeployError) as raised:
        index.handler(_event(), None)

    assert len(ecs.calls) == 4
    assert f"function {FUNCTION} (InvalidParameterValueException)" in str(raised.value)
    assert SECRET_VALUE not in str(raised.value)
    assert SECRET_VALUE not in caplog.text


def test_conflicting_update_waits_and_retries(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    busy = _client_error(
        "ResourceConflictException", "An update is in progress", "UpdateFunctionConfiguration"
    )
    fn = FakeLambda(_function_env(), errors=[busy])
    _install(monkeypatch, FakeEcs(), fn)

    index.handler(_event(), None)

    assert len(fn.updates) == 2
    assert fn.waits == [{"FunctionName": FUNCTION, "WaiterConfig": {"Delay": 5, "MaxAttempts": 60}}]
    assert fn.variables[index.MARKER]


class Clock:
    """Monotonic time that moves only when a fake AWS call takes time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Context:
    """The Lambda context: the remaining time follows the clock."""

    def __init__(self, clock: Clock, remaining_seconds: float) -> None:
        self.clock = clock
        self.end = clock.now + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.end - self.clock.now) * 1000)


class SlowEcs(FakeEcs):
    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def update_service(self, **kwargs: Any) -> dict[str, Any]:
        self.clock.now += self.seconds
        return super().update_service(**kwargs)


def test_each_api_call_is_bounded() -> None:
    """One call lasts at most CLIENT_ATTEMPTS x (connect + read timeout); the reserve holds one whole call."""
    config = index._CONFIG
    assert config.retries == {"mode": "standard", "max_attempts": 2}
    longest_call = 2 * (config.connect_timeout + config.read_timeout)
    assert longest_call == 50
    assert longest_call < index.RESERVE_SECONDS


def test_targets_past_the_remaining_time_are_reported_not_attempted(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda stops an invocation at its timeout without running the code after it, so the failure summary
    must be raised before (issue 16: a 60 x 5 s waiter inside a 5-minute function)."""
    clock = Clock()
    monkeypatch.setattr(index, "_clock", clock)
    ecs, fn = SlowEcs(clock, seconds=15), FakeLambda(_function_env())
    _install(monkeypatch, ecs, fn)
    context = Context(clock, remaining_seconds=index.RESERVE_SECONDS + 40)

    with pytest.raises(index.RedeployError) as raised:
        index.handler(_event(), context)

    # Started at 0, 15 and 30 s of a 40 s budget; the fourth service (45 s) and the function are not.
    assert [call["service"] for call in ecs.calls] == ["api", "worker", "beat"]
    assert fn.updates == []
    message = str(raised.value)
    assert "2 of 5 targets" in message
    assert "ECS service plugin-daemon (not attempted: the invocation ran out of time)" in message
    assert f"function {FUNCTION} (not attempted: the invocation ran out of time)" in message
    assert context.get_remaining_time_in_millis() / 1000 > index.RESERVE_SECONDS - 15


def _busy_function(monkeypatch: pytest.MonkeyPatch) -> tuple[Clock, FakeLambda]:
    """A function that is being updated (the first write conflicts), and a clock the handler reads."""
    clock = Clock()
    monkeypatch.setattr(index, "_clock", clock)
    busy = _client_error("ResourceConflictException", "in progress", "UpdateFunctionConfiguration")
    fn = FakeLambda(_function_env(), errors=[busy])
    _install(monkeypatch, FakeEcs(), fn)
    return clock, fn


def test_wait_for_a_busy_function_is_cut_to_the_time_left(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fn = _busy_function(monkeypatch)

    index.handler(_event(), Context(clock, remaining_seconds=index.RESERVE_SECONDS + 23))

    assert fn.waits == [{"FunctionName": FUNCTION, "WaiterConfig": {"Delay": 5, "MaxAttempts": 4}}]
    assert len(fn.updates) == 2


def test_no_time_to_wait_for_a_busy_function_is_reported(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fn = _busy_function(monkeypatch)

    with pytest.raises(index.RedeployError) as raised:
        index.handler(_event(), Context(clock, remaining_seconds=index.RESERVE_SECONDS + 3))

    assert fn.waits == []
    assert f"function {FUNCTION} (not done: the invocation ran out of time)" in str(raised.value)


def test_persistent_conflict_fails_after_the_last_attempt(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    busy = [
        _client_error("PreconditionFailedException", "revision changed", "UpdateFunctionConfiguration")
        for _ in range(index._ATTEMPTS)
    ]
    fn = FakeLambda(_function_env(), errors=busy)
    _install(monkeypatch, FakeEcs(), fn)

    with pytest.raises(index.RedeployError, match="PreconditionFailedException"):
        index.handler(_event(), None)

    assert len(fn.updates) == index._ATTEMPTS


def test_no_secret_value_is_logged(
    env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _install(monkeypatch, FakeEcs(failing={"beat"}), FakeLambda(_function_env()))
    event = _event()
    # Whatever else arrives in the event is not echoed either.
    event["detail"]["requestParameters"] = {"secretString": SECRET_VALUE}

    with caplog.at_level(logging.DEBUG), pytest.raises(index.RedeployError):
        index.handler(event, None)

    assert SECRET_ARN in caplog.text, "the secret is named by ARN"
    assert SECRET_VALUE not in caplog.text
    assert "DB_PASSWORD_HINT" not in caplog.text, "environment variables are not listed"


def test_manual_invocation_without_event_detail(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ecs = FakeEcs()
    _install(monkeypatch, ecs, FakeLambda({}))

    index.handler({}, None)

    assert len(ecs.calls) == 4


def test_no_targets_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(index.ENV_SERVICES, "[]")
    monkeypatch.setenv(index.ENV_FUNCTIONS, "[]")
    ecs, fn = FakeEcs(), FakeLambda({})
    _install(monkeypatch, ecs, fn)

    assert index.handler(_event(), None)["services"] == []
    assert ecs.calls == [] and fn.updates == []


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("not json", "is not JSON"),
        ('{"cluster": "c"}', "must be a JSON list"),
        ('[{"cluster": "c"}]', "need 'cluster' and 'service'"),
    ],
)
def test_bad_configuration_is_reported(monkeypatch: pytest.MonkeyPatch, services: str, message: str) -> None:
    monkeypatch.setenv(index.ENV_SERVICES, services)
    monkeypatch.setenv(index.ENV_FUNCTIONS, "[]")
    _install(monkeypatch, FakeEcs(), FakeLambda({}))

    with pytest.raises(index.RedeployError, match=message):
        index.handler(_event(), None)


def test_the_log_is_the_record_of_what_happened(
    env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The function's log is what an operator reads after a rotation: every target by name, each outcome,
    the deployment ID, the error code, and nothing from the environment."""
    busy = _client_error("ResourceConflictException", "in progress", "UpdateFunctionConfiguration")
    ecs, fn = FakeEcs(failing={"beat"}), FakeLambda(_function_env(), errors=[busy])
    _install(monkeypatch, ecs, fn)

    with caplog.at_level(logging.INFO, logger="dify_redeploy"), pytest.raises(index.RedeployError) as raised:
        index.handler(_event(), None)

    assert [r.getMessage() for r in caplog.records] == [
        f"Secret {SECRET_ARN} rotated (RotationSucceeded); redeploying",
        "Forced a new deployment of ECS service api (ecs-svc/1)",
        "Forced a new deployment of ECS service worker (ecs-svc/1)",
        "Could not redeploy ECS service beat in dify-cluster: ServiceNotFoundException: An error occurred "
        "(ServiceNotFoundException) when calling the UpdateService operation: Service not found.",
        "Forced a new deployment of ECS service plugin-daemon (ecs-svc/1)",
        f"Function {FUNCTION} is being updated (ResourceConflictException); waiting to retry",
        f"Function {FUNCTION} will start fresh environments ({index.MARKER}={fn.variables[index.MARKER]})",
    ]
    assert str(raised.value) == (
        f"1 of 5 targets were not redeployed after the rotation of {SECRET_ARN}: ECS service beat "
        "(ServiceNotFoundException: An error occurred (ServiceNotFoundException) when calling the "
        "UpdateService operation: Service not found.)"
    )


def test_summary_names_every_failure_and_a_manual_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(index.ENV_SERVICES, json.dumps(SERVICES[:2]))
    monkeypatch.setenv(index.ENV_FUNCTIONS, "[]")
    _install(monkeypatch, FakeEcs(failing={"api", "worker"}), FakeLambda({}))

    with pytest.raises(index.RedeployError) as raised:
        index.handler({}, None)

    assert str(raised.value) == (
        "2 of 2 targets were not redeployed after the rotation of <not in event>: "
        "ECS service api (ServiceNotFoundException: An error occurred (ServiceNotFoundException) when "
        "calling the UpdateService operation: Service not found.); ECS service worker "
        "(ServiceNotFoundException: An error occurred (ServiceNotFoundException) when calling the "
        "UpdateService operation: Service not found.)"
    )


def test_service_without_deployments_is_still_logged(
    env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Bare(FakeEcs):
        def update_service(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {}

    _install(monkeypatch, Bare(), FakeLambda({}))

    with caplog.at_level(logging.INFO, logger="dify_redeploy"):
        index.handler(_event(), None)

    assert "Forced a new deployment of ECS service api (?)" in caplog.messages


def test_clients_are_made_once_with_bounded_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, object]] = []

    def client(service: str, config: object = None) -> object:
        made.append((service, config))
        return object()

    monkeypatch.setattr(boto3, "client", client)
    monkeypatch.setattr(index, "_clients", {})

    assert index._ecs() is index._ecs()
    assert index._lambda() is index._lambda()
    assert index._ecs() is not index._lambda()
    assert made == [("ecs", index._CONFIG), ("lambda", index._CONFIG)]
