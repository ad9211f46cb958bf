"""Unit tests for the migration-gate custom resource handler (no AWS access needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.services.runtime.migration import index

REGION = "eu-west-1"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:123456789012:cluster/dify-cluster"
TASK_DEF_ARN = f"arn:aws:ecs:{REGION}:123456789012:task-definition/dify-migration:7"
TASK_ARN = f"arn:aws:ecs:{REGION}:123456789012:task/dify-cluster/0123456789abcdef0123456789abcdef"
CONTAINER = "migration"
LOG_GROUP = "/dify/migration"
STREAM_PREFIX = "dify"
STREAM = f"{STREAM_PREFIX}/{CONTAINER}/0123456789abcdef0123456789abcdef"
# The real client factories, before the fixtures below replace them.
REAL_ECS, REAL_CLOUDFORMATION = index._ecs, index._cloudformation


class FakeEcs:
    """Records calls and replays canned responses."""

    def __init__(
        self,
        run_task_response: dict[str, Any] | None = None,
        describe_response: dict[str, Any] | None = None,
    ) -> None:
        self.run_task_response = run_task_response or {"tasks": [{"taskArn": TASK_ARN}], "failures": []}
        self.describe_response = describe_response or {"tasks": [], "failures": []}
        self.run_task_calls: list[dict[str, Any]] = []
        self.describe_calls: list[dict[str, Any]] = []
        self.stop_calls: list[dict[str, Any]] = []

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.run_task_calls.append(kwargs)
        return self.run_task_response

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        self.describe_calls.append(kwargs)
        return self.describe_response

    def stop_task(self, **kwargs: Any) -> dict[str, Any]:
        self.stop_calls.append(kwargs)
        return {"task": {"taskArn": kwargs["task"]}}


class FakeCloudFormation:
    """The stack's status as DescribeStacks reports it."""

    def __init__(self, status: str = "UPDATE_IN_PROGRESS") -> None:
        self.status = status
        self.calls: list[dict[str, Any]] = []

    def describe_stacks(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"Stacks": [{"StackName": "dify", "StackStatus": self.status}]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEcs:
    client = FakeEcs()
    monkeypatch.setattr(index, "_ecs", lambda region=None: client)
    return client


@pytest.fixture(autouse=True)
def stack(monkeypatch: pytest.MonkeyPatch) -> FakeCloudFormation:
    client = FakeCloudFormation()
    monkeypatch.setattr(index, "_cloudformation", lambda region=None: client)
    return client


def _props(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
        "Cluster": CLUSTER_ARN,
        "TaskDefinition": TASK_DEF_ARN,
        "ContainerName": CONTAINER,
        "Subnets": ["subnet-a", "subnet-b"],
        "SecurityGroups": ["sg-1"],
        "LogGroup": LOG_GROUP,
        "LogStreamPrefix": STREAM_PREFIX,
        "Trigger": "langgenius/dify-api:1.9.0",
    }
    props.update(overrides)
    return props


def _event(request_type: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ResourceProperties": _props(),
        "LogicalResourceId": "MigrationGate",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/dify/guid",
    }
    event.update(extra)
    return event


def _poll_event(**extra: Any) -> dict[str, Any]:
    # The Provider framework merges on_event's result into the event passed to is_complete.
    return _event(
        "Create", PhysicalResourceId="dify-migration-dify-cluster", Data={"TaskArn": TASK_ARN}, **extra
    )


def _stopped_task(container: dict[str, Any], **task: Any) -> dict[str, Any]:
    return {
        "tasks": [{"taskArn": TASK_ARN, "lastStatus": "STOPPED", "containers": [container], **task}],
        "failures": [],
    }


# --- on_event -------------------------------------------------------------------------------------


def test_create_starts_one_task_with_network_config(fake: FakeEcs) -> None:
    result = index.on_event(_event("Create"), None)

    assert result == {"PhysicalResourceId": "dify-migration-dify-cluster", "Data": {"TaskArn": TASK_ARN}}
    assert fake.run_task_calls == [
        {
            "cluster": CLUSTER_ARN,
            "taskDefinition": TASK_DEF_ARN,
            "count": 1,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-a", "subnet-b"],
                    "securityGroups": ["sg-1"],
                    "assignPublicIp": "DISABLED",
                }
            },
            "startedBy": "dify-migration",
            "propagateTags": "TASK_DEFINITION",
        }
    ]


def test_create_uses_configured_capacity_provider_and_cluster_name(fake: FakeEcs) -> None:
    event = _event(
        "Create", ResourceProperties=_props(Cluster="plain-cluster", CapacityProvider="FARGATE_SPOT")
    )

    result = index.on_event(event, None)

    assert result["PhysicalResourceId"] == "dify-migration-plain-cluster"
    strategy = fake.run_task_calls[0]["capacityProviderStrategy"]
    assert strategy == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]


def test_update_reuses_physical_id_and_starts_new_task(fake: FakeEcs) -> None:
    event = _event(
        "Update",
        PhysicalResourceId="existing-id",
        OldResourceProperties=_props(Trigger="langgenius/dify-api:1.8.0"),
    )

    result = index.on_event(event, None)

    assert result == {"PhysicalResourceId": "existing-id", "Data": {"TaskArn": TASK_ARN}}
    assert len(fake.run_task_calls) == 1


def test_forward_update_asks_the_stack_then_runs(fake: FakeEcs, stack: FakeCloudFormation) -> None:
    event = _event("Update", PhysicalResourceId="existing-id", OldResourceProperties=_props())

    index.on_event(event, None)

    assert stack.calls == [{"StackName": event["StackId"]}]
    assert len(fake.run_task_calls) == 1


def test_rollback_update_runs_no_older_migration(fake: FakeEcs, stack: FakeCloudFormation) -> None:
    """A failed update's rollback sends the old image back (Update with the old properties); running its
    migration against the newer schema fails (Alembic cannot find the revision) and leaves the stack in
    UPDATE_ROLLBACK_FAILED (issue 16). The rollback succeeds without starting a task."""
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    event = _event(
        "Update",
        PhysicalResourceId="existing-id",
        ResourceProperties=_props(Trigger="langgenius/dify-api:1.8.0"),
        OldResourceProperties=_props(Trigger="langgenius/dify-api:1.9.0"),
    )

    started = index.on_event(event, None)
    done = index.is_complete({**event, **started}, None)

    assert fake.run_task_calls == []
    assert fake.describe_calls == []
    assert started == {"PhysicalResourceId": "existing-id", "Data": {"Skipped": "rollback"}}
    assert done == {"IsComplete": True, "Data": {"Skipped": "rollback"}}


def test_create_never_asks_the_stack(fake: FakeEcs, stack: FakeCloudFormation) -> None:
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"  # cannot happen on Create; the status must not matter

    index.on_event(_event("Create"), None)

    assert stack.calls == []
    assert len(fake.run_task_calls) == 1


def test_update_without_stack_id_fails_rather_than_guess(fake: FakeEcs) -> None:
    event = _event("Update", PhysicalResourceId="existing-id")
    del event["StackId"]

    with pytest.raises(index.MigrationError, match="StackId"):
        index.on_event(event, None)
    assert fake.run_task_calls == []


def test_delete_starts_nothing(fake: FakeEcs) -> None:
    result = index.on_event(_event("Delete", PhysicalResourceId="existing-id"), None)

    assert result == {"PhysicalResourceId": "existing-id"}
    assert fake.run_task_calls == []
    assert fake.describe_calls == []


def test_run_task_failures_raise_with_reason(fake: FakeEcs) -> None:
    fake.run_task_response = {
        "tasks": [],
        "failures": [{"arn": TASK_DEF_ARN, "reason": "RESOURCE:ENI", "detail": "no free IPs"}],
    }

    with pytest.raises(index.MigrationError) as excinfo:
        index.on_event(_event("Create"), None)

    message = str(excinfo.value)
    assert "RESOURCE:ENI" in message
    assert TASK_DEF_ARN in message
    assert "no free IPs" in message


def test_run_task_without_task_raises(fake: FakeEcs) -> None:
    fake.run_task_response = {"tasks": [], "failures": []}

    with pytest.raises(index.MigrationError, match="returned no task"):
        index.on_event(_event("Create"), None)


def test_missing_required_property_raises(fake: FakeEcs) -> None:
    event = _event("Create", ResourceProperties=_props(Subnets=[]))

    with pytest.raises(index.MigrationError, match="Subnets"):
        index.on_event(event, None)
    assert fake.run_task_calls == []


# --- is_complete ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING"])
def test_not_complete_while_task_is_active(fake: FakeEcs, status: str) -> None:
    fake.describe_response = {
        "tasks": [{"taskArn": TASK_ARN, "lastStatus": status, "containers": [{"name": CONTAINER}]}],
        "failures": [],
    }

    assert index.is_complete(_poll_event(), None) == {"IsComplete": False}
    assert fake.describe_calls == [{"cluster": CLUSTER_ARN, "tasks": [TASK_ARN]}]


def _running_since(seconds_ago: float) -> dict[str, Any]:
    created = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {
        "tasks": [
            {
                "taskArn": TASK_ARN,
                "lastStatus": "RUNNING",
                "createdAt": created,
                "containers": [{"name": CONTAINER, "lastStatus": "RUNNING"}],
            }
        ],
        "failures": [],
    }


def test_overdue_task_is_stopped_and_fails(fake: FakeEcs) -> None:
    """A migration that outlives the deployment is stopped, not left running (and holding Dify's migration
    lock, which would make the next migration skip; issue 16)."""
    fake.describe_response = _running_since(1801)
    event = _poll_event(ResourceProperties=_props(TimeoutSeconds="1800"))

    with pytest.raises(index.MigrationError) as excinfo:
        index.is_complete(event, None)

    assert fake.stop_calls == [
        {"cluster": CLUSTER_ARN, "task": TASK_ARN, "reason": "Dify migration exceeded its 1800 s timeout"}
    ]
    message = str(excinfo.value)
    assert "timed out" in message
    assert "limit 1800 s" in message
    assert STREAM in message


def test_task_within_its_timeout_keeps_running(fake: FakeEcs) -> None:
    fake.describe_response = _running_since(1790)
    event = _poll_event(ResourceProperties=_props(TimeoutSeconds="1800"))

    assert index.is_complete(event, None) == {"IsComplete": False}
    assert fake.stop_calls == []


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_bad_timeout_is_reported(fake: FakeEcs, value: str) -> None:
    fake.describe_response = _running_since(10)

    with pytest.raises(index.MigrationError, match="TimeoutSeconds"):
        index.is_complete(_poll_event(ResourceProperties=_props(TimeoutSeconds=value)), None)
    assert fake.stop_calls == []


def test_complete_on_exit_code_zero(fake: FakeEcs) -> None:
    fake.describe_response = _stopped_task(
        {"name": CONTAINER, "exitCode": 0, "lastStatus": "STOPPED"},
        stoppedReason="Essential container in task exited",
        stopCode="EssentialContainerExited",
    )

    result = index.is_complete(_poll_event(), None)

    assert result == {"IsComplete": True, "Data": {"TaskArn": TASK_ARN, "ExitCode": "0"}}


def test_only_the_named_container_decides(fake: FakeEcs) -> None:
    fake.describe_response = {
        "tasks": [
            {
                "taskArn": TASK_ARN,
                "lastStatus": "STOPPED",
                "containers": [{"name": "sidecar", "exitCode": 137}, {"name": CONTAINER, "exitCode": 0}],
            }
        ],
        "failures": [],
    }

    assert index.is_complete(_poll_event(), None)["IsComplete"] is True


def test_nonzero_exit_code_raises_with_details(fake: FakeEcs) -> None:
    fake.describe_response = _stopped_task(
        {"name": CONTAINER, "exitCode": 1, "lastStatus": "STOPPED"},
        stoppedReason="Essential container in task exited",
        stopCode="EssentialContainerExited",
    )

    with pytest.raises(index.MigrationError) as excinfo:
        index.is_complete(_poll_event(), None)

    message = str(excinfo.value)
    assert "Dify database migration failed" in message
    assert "exit code 1" in message
    assert "Essential container in task exited" in message
    assert TASK_ARN in message
    assert LOG_GROUP in message
    assert STREAM in message
    assert f"aws logs tail {LOG_GROUP} --log-stream-names {STREAM} --region {REGION}" in message


def test_container_never_started_raises_with_none_exit_code(fake: FakeEcs) -> None:
    fake.describe_response = _stopped_task(
        {
            "name": CONTAINER,
            "lastStatus": "STOPPED",
            "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        },
        stoppedReason="CannotPullContainerError: pull access denied",
        stopCode="TaskFailedToStart",
    )

    with pytest.raises(index.MigrationError) as excinfo:
        index.is_complete(_poll_event(), None)

    message = str(excinfo.value)
    assert "exit code none" in message
    assert "CannotPullContainerError: pull access denied" in message
    assert "TaskFailedToStart" in message
    assert "pull image manifest" in message
    assert TASK_ARN in message
    assert STREAM in message


def test_stopped_task_without_named_container_raises(fake: FakeEcs) -> None:
    fake.describe_response = _stopped_task({"name": "other", "exitCode": 0}, stoppedReason="stopped")

    with pytest.raises(index.MigrationError, match="exit code none") as excinfo:
        index.is_complete(_poll_event(), None)
    assert "not found in task" in str(excinfo.value)


def test_delete_is_complete_at_once(fake: FakeEcs) -> None:
    event = _event("Delete", PhysicalResourceId="existing-id")

    assert index.is_complete(event, None) == {"IsComplete": True}
    assert fake.describe_calls == []


def test_missing_task_raises(fake: FakeEcs) -> None:
    fake.describe_response = {"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "MISSING"}]}

    with pytest.raises(index.MigrationError) as excinfo:
        index.is_complete(_poll_event(), None)

    message = str(excinfo.value)
    assert "MISSING" in message
    assert TASK_ARN in message


def test_missing_task_arn_in_event_raises(fake: FakeEcs) -> None:
    event = _event("Create", PhysicalResourceId="dify-migration-dify-cluster", Data={})

    with pytest.raises(index.MigrationError, match="TaskArn"):
        index.is_complete(event, None)


# --- request shapes against the real botocore ECS model -------------------------------------------


def test_requests_match_the_ecs_api_model(monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    monkeypatch.setattr(index, "_ecs", lambda region=None: client)
    with Stubber(client) as stubber:
        # Stubber validates each request against the service model before returning the canned reply.
        stubber.add_response(
            "run_task",
            {"tasks": [{"taskArn": TASK_ARN}], "failures": []},
            {
                "cluster": CLUSTER_ARN,
                "taskDefinition": TASK_DEF_ARN,
                "count": 1,
                "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "subnets": ["subnet-a", "subnet-b"],
                        "securityGroups": ["sg-1"],
                        "assignPublicIp": "DISABLED",
                    }
                },
                "startedBy": "dify-migration",
                "propagateTags": "TASK_DEFINITION",
            },
        )
        stubber.add_response(
            "describe_tasks",
            {
                "tasks": [
                    {
                        "taskArn": TASK_ARN,
                        "lastStatus": "STOPPED",
                        "containers": [{"name": CONTAINER, "exitCode": 0}],
                    }
                ],
                "failures": [],
            },
            {"cluster": CLUSTER_ARN, "tasks": [TASK_ARN]},
        )

        created = index.on_event(_event("Create"), None)
        done = index.is_complete({**_event("Create"), **created}, None)

        stubber.assert_no_pending_responses()
    assert done["IsComplete"] is True


def test_rollback_and_stop_requests_match_the_api_models(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    ecs = boto3.client("ecs", region_name=REGION, **credentials)
    cloudformation = boto3.client("cloudformation", region_name=REGION, **credentials)
    monkeypatch.setattr(index, "_ecs", lambda region=None: ecs)
    monkeypatch.setattr(index, "_cloudformation", lambda region=None: cloudformation)
    stack_id = _event("Update")["StackId"]
    created = datetime.now(UTC) - timedelta(hours=1)
    with Stubber(ecs) as ecs_stub, Stubber(cloudformation) as cfn_stub:
        cfn_stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "dify",
                        "StackId": stack_id,
                        "CreationTime": created,
                        "StackStatus": "UPDATE_ROLLBACK_IN_PROGRESS",
                    }
                ]
            },
            {"StackName": stack_id},
        )
        ecs_stub.add_response(
            "describe_tasks",
            {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "RUNNING", "createdAt": created}], "failures": []},
            {"cluster": CLUSTER_ARN, "tasks": [TASK_ARN]},
        )
        ecs_stub.add_response(
            "stop_task",
            {"task": {"taskArn": TASK_ARN}},
            {"cluster": CLUSTER_ARN, "task": TASK_ARN, "reason": "Dify migration exceeded its 60 s timeout"},
        )

        skipped = index.on_event(_event("Update", PhysicalResourceId="existing-id"), None)
        with pytest.raises(index.MigrationError, match="timed out"):
            index.is_complete(_poll_event(ResourceProperties=_props(TimeoutSeconds="60")), None)

        ecs_stub.assert_no_pending_responses()
        cfn_stub.assert_no_pending_responses()
    assert skipped["Data"] == {"Skipped": "rollback"}


def test_public_ip_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    for flag, expected in (("true", "ENABLED"), ("false", "DISABLED"), (None, "DISABLED")):
        fake = FakeEcs()
        monkeypatch.setattr(index, "_ecs", lambda region=None, fake=fake: fake)
        props = _props() if flag is None else _props(AssignPublicIp=flag)
        index.on_event({"RequestType": "Create", "ResourceProperties": props}, None)
        config = fake.run_task_calls[0]["networkConfiguration"]["awsvpcConfiguration"]
        assert config["assignPublicIp"] == expected


# --- clients and regions --------------------------------------------------------------------------------


def test_clients_are_made_once_per_service_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, str | None]] = []

    def client(service: str, region_name: str | None = None) -> object:
        made.append((service, region_name))
        return object()

    monkeypatch.setattr(boto3, "client", client)
    monkeypatch.setattr(index, "_clients", {})

    ecs = REAL_ECS("eu-west-1")
    assert REAL_ECS("eu-west-1") is ecs
    assert REAL_CLOUDFORMATION("eu-west-1") is not ecs
    assert REAL_ECS() is not ecs
    assert made == [("ecs", "eu-west-1"), ("cloudformation", "eu-west-1"), ("ecs", None)]


def test_requests_go_to_the_regions_they_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack is asked in its own region (from StackId); ECS in ResourceProperties.Region when given."""
    ecs, stack = FakeEcs(), FakeCloudFormation()
    regions: list[tuple[str, str | None]] = []

    def ecs_client(region: str | None = None) -> FakeEcs:
        regions.append(("ecs", region))
        return ecs

    def cfn_client(region: str | None = None) -> FakeCloudFormation:
        regions.append(("cloudformation", region))
        return stack

    monkeypatch.setattr(index, "_ecs", ecs_client)
    monkeypatch.setattr(index, "_cloudformation", cfn_client)
    event = _event(
        "Update",
        PhysicalResourceId="existing-id",
        ResourceProperties=_props(Region="ap-northeast-1"),
        StackId="arn:aws:cloudformation:us-west-2:123456789012:stack/dify/guid",
    )

    index.on_event(event, None)

    assert regions == [("cloudformation", "us-west-2"), ("ecs", "ap-northeast-1")]


@pytest.mark.parametrize("stack_id", ["", None, 7])
def test_update_with_unusable_stack_id_fails(fake: FakeEcs, stack_id: object) -> None:
    event = _event("Update", PhysicalResourceId="existing-id", StackId=stack_id)

    with pytest.raises(index.MigrationError, match="StackId"):
        index.on_event(event, None)
    assert fake.run_task_calls == []


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"])
def test_only_a_rollback_in_progress_skips(fake: FakeEcs, stack: FakeCloudFormation, status: str) -> None:
    stack.status = status

    index.on_event(_event("Update", PhysicalResourceId="existing-id"), None)

    assert len(fake.run_task_calls) == 1


def test_stack_not_described_is_a_forward_update(monkeypatch: pytest.MonkeyPatch, fake: FakeEcs) -> None:
    class NoStacks:
        def describe_stacks(self, **kwargs: Any) -> dict[str, Any]:
            return {}

    monkeypatch.setattr(index, "_cloudformation", lambda region=None: NoStacks())

    index.on_event(_event("Update", PhysicalResourceId="existing-id"), None)

    assert len(fake.run_task_calls) == 1


def test_unsupported_request_type_is_named(fake: FakeEcs) -> None:
    with pytest.raises(index.MigrationError, match="Unsupported RequestType: 'Replace'"):
        index.on_event(_event("Replace"), None)
    assert fake.run_task_calls == []


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"CapacityProvider": ""}, "capacity_provider", "FARGATE"),
        ({"CapacityProvider": 5}, "capacity_provider", "FARGATE"),
        ({"Region": ""}, "region", None),
        ({"Region": "eu-central-1"}, "region", "eu-central-1"),
        ({"Subnets": " subnet-a , ,subnet-b "}, "subnets", ["subnet-a", "subnet-b"]),
        ({"SecurityGroups": ("sg-1", " sg-2 ")}, "security_groups", ["sg-1", "sg-2"]),
        ({"AssignPublicIp": "TRUE"}, "assign_public_ip", True),
    ],
)
def test_properties_are_read_leniently(overrides: dict[str, Any], key: str, expected: object) -> None:
    props = index._parse_props({"ResourceProperties": _props(**overrides)})
    assert getattr(props, key) == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Cluster": ""}, "ResourceProperties.Cluster is required"),
        ({"Cluster": 3}, "ResourceProperties.Cluster is required"),
        ({"Subnets": None}, "ResourceProperties.Subnets must be a non-empty list"),
        ({"SecurityGroups": " , "}, "ResourceProperties.SecurityGroups must be a non-empty list"),
    ],
)
def test_bad_properties_are_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(index.MigrationError, match=message):
        index._parse_props({"ResourceProperties": _props(**overrides)})


def test_arn_parts() -> None:
    assert index._cluster_name(CLUSTER_ARN) == "dify-cluster"
    assert index._cluster_name("team/plain") == "team/plain", "only ARNs are split"
    assert index._task_id(TASK_ARN) == "0123456789abcdef0123456789abcdef"
    assert index._task_id("arn:aws:ecs:eu-west-1:123456789012:task/old-style") == "old-style"
    assert index._arn_region(TASK_ARN) == REGION
    no_regions = ("plain", "arn:aws:ecs::123456789012:task/x", "urn:aws:ecs:eu-west-1:1:x", "arn:aws:ecs")
    for no_region in no_regions:
        assert index._arn_region(no_region) is None, no_region
