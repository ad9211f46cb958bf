"""Migration gate: run Dify's one-shot database migration task before the ECS services roll.

Entry points for an AWS CDK ``custom_resources.Provider`` in the asynchronous "waiter" pattern:

* ``on_event`` starts the migration task (the dify-api image running the upgrade and then checking that the
  schema is at the image's head) with ECS RunTask on Create and Update, and does nothing on Delete.
* ``is_complete`` polls the task until it stops. Exit code 0 completes the resource; anything else raises,
  and the Provider framework reports the raised message to CloudFormation, which fails the deployment and
  rolls back. The message names the exit code, the stopped reason, the task ARN and the log stream.

Rollbacks: when a later resource fails, CloudFormation rolls the stack back and sends this resource an Update
with its old properties, i.e. the old image. Its migrations cannot run against the newer schema (Alembic
does not know the newer revision, the task exits 1 and the stack ends in UPDATE_ROLLBACK_FAILED), and
migrations are never undone anyway. So an Update first reads the stack's status (DescribeStacks on the
event's StackId): during ``UPDATE_ROLLBACK_IN_PROGRESS`` it starts nothing and succeeds at once.

Timeouts: ``TimeoutSeconds`` (set a little below the Provider framework's ``total_timeout``) bounds the task's
age. Past it, ``is_complete`` stops the task (ECS StopTask) and fails, so no migration keeps running (and
holding Dify's migration lock) after its deployment gave up.

ResourceProperties: ``Cluster``, ``TaskDefinition``, ``ContainerName``, ``Subnets``, ``SecurityGroups``,
``LogGroup``, ``LogStreamPrefix``, optional ``AssignPublicIp`` ("true" without NAT),
optional ``CapacityProvider`` (default ``FARGATE``), ``TimeoutSeconds``, ``Trigger`` (opaque;
changing it makes CloudFormation send an Update, which reruns the migration) and optional ``Region``.

Only the Lambda runtime's boto3 is used; the module must stay self-contained (it is shipped as an asset).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

# A named logger keeps tests' root logger untouched; on Lambda its records propagate to the runtime handler.
LOG = logging.getLogger("dify_migration")
LOG.setLevel(logging.INFO)

STARTED_BY = "dify-migration"
PHYSICAL_ID_PREFIX = "dify-migration-"
DEFAULT_CAPACITY_PROVIDER = "FARGATE"
# DELETED follows STOPPED in the ECS task lifecycle; both mean the container will not run any further.
_TERMINAL_STATUSES = frozenset({"STOPPED", "DELETED"})
# The stack status while CloudFormation sends the old properties back during a failed update.
ROLLBACK_STATUS = "UPDATE_ROLLBACK_IN_PROGRESS"
SKIPPED_ROLLBACK = "rollback"

_clients: dict[tuple[str, str | None], Any] = {}


class MigrationError(RuntimeError):
    """Raised to make the Provider framework fail the custom resource (and the deployment)."""


def _cached(service: str, region: str | None, make: Callable[[], Any]) -> Any:
    key = (service, region)
    if key not in _clients:
        _clients[key] = make()
    return _clients[key]


# Literal service names at each boto3.client call: the IAM-coverage test reads them from this file.
def _ecs(region: str | None = None) -> Any:
    """Return a cached ECS client; created lazily so tests can replace this function."""
    return _cached("ecs", region, lambda: boto3.client("ecs", region_name=region))


def _cloudformation(region: str | None = None) -> Any:
    """Return a cached CloudFormation client; created lazily so tests can replace this function."""
    return _cached("cloudformation", region, lambda: boto3.client("cloudformation", region_name=region))


@dataclass(frozen=True)
class _Props:
    cluster: str
    task_definition: str
    container_name: str
    subnets: list[str]
    security_groups: list[str]
    log_group: str
    log_stream_prefix: str
    capacity_provider: str
    region: str | None
    assign_public_ip: bool = False


def _required(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise MigrationError(f"ResourceProperties.{key} is required and must be a non-empty string")
    return value


def _string_list(props: Mapping[str, Any], key: str) -> list[str]:
    value = props.get(key)
    # CloudFormation passes lists as JSON arrays, but a joined Fn::Join string is tolerated too.
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, Sequence):
        items = [str(part).strip() for part in value]
    else:
        items = []
    items = [item for item in items if item]
    if not items:
        raise MigrationError(f"ResourceProperties.{key} must be a non-empty list of IDs")
    return items


def _parse_props(event: Mapping[str, Any]) -> _Props:
    props: Mapping[str, Any] = event.get("ResourceProperties") or {}
    region = props.get("Region")
    capacity_provider = props.get("CapacityProvider")
    return _Props(
        cluster=_required(props, "Cluster"),
        task_definition=_required(props, "TaskDefinition"),
        container_name=_required(props, "ContainerName"),
        subnets=_string_list(props, "Subnets"),
        security_groups=_string_list(props, "SecurityGroups"),
        log_group=_required(props, "LogGroup"),
        log_stream_prefix=_required(props, "LogStreamPrefix"),
        capacity_provider=capacity_provider
        if isinstance(capacity_provider, str) and capacity_provider
        else DEFAULT_CAPACITY_PROVIDER,
        region=region if isinstance(region, str) and region else None,
        # CloudFormation passes booleans as strings.
        assign_public_ip=str(props.get("AssignPublicIp", "false")).lower() == "true",
    )


def _cluster_name(cluster: str) -> str:
    # Accepts "arn:aws:ecs:<region>:<account>:cluster/<name>" or a bare name.
    return cluster.rsplit("/", 1)[-1] if cluster.startswith("arn:") else cluster


def _task_id(task_arn: str) -> str:
    # Task ARNs end in ".../task/<cluster-name>/<task-id>" (or the old ".../task/<task-id>").
    return task_arn.rsplit("/", 1)[-1]


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" and parts[3] else None


def _rolling_back(event: Mapping[str, Any]) -> bool:
    """Whether the stack that sent `event` is rolling back a failed update."""
    stack_id = event.get("StackId")
    if not isinstance(stack_id, str) or not stack_id:
        raise MigrationError("Update without StackId: cannot tell a rollback from a forward update")
    stacks = _cloudformation(_arn_region(stack_id)).describe_stacks(StackName=stack_id).get("Stacks") or []
    status = stacks[0].get("StackStatus") if stacks else None
    LOG.info("Stack %s status=%s", stack_id, status)
    return status == ROLLBACK_STATUS


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Start the migration task on Create/Update; Delete is a no-op (migrations are never undone), and so is
    the Update that a rollback sends with the old image (an older migration must never run)."""
    request_type = event.get("RequestType")
    if request_type == "Delete":
        LOG.info("Delete: nothing to do for %s", event.get("PhysicalResourceId"))
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request_type not in {"Create", "Update"}:
        raise MigrationError(f"Unsupported RequestType: {request_type!r}")

    props = _parse_props(event)
    if request_type == "Update" and _rolling_back(event):
        LOG.warning(
            "Rollback: not running the migration of %s; the schema stays at the newer revision",
            (event.get("ResourceProperties") or {}).get("Trigger"),
        )
        return {"PhysicalResourceId": event["PhysicalResourceId"], "Data": {"Skipped": SKIPPED_ROLLBACK}}
    response = _ecs(props.region).run_task(
        cluster=props.cluster,
        taskDefinition=props.task_definition,
        count=1,
        capacityProviderStrategy=[{"capacityProvider": props.capacity_provider, "weight": 1}],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": props.subnets,
                "securityGroups": props.security_groups,
                # Private subnets reach registries through NAT; without NAT the task needs a public IP.
                "assignPublicIp": "ENABLED" if props.assign_public_ip else "DISABLED",
            }
        },
        startedBy=STARTED_BY,
        propagateTags="TASK_DEFINITION",
    )
    failures = response.get("failures") or []
    tasks = response.get("tasks") or []
    if failures or not tasks:
        details = "; ".join(
            f"reason={f.get('reason', 'unknown')} arn={f.get('arn', 'n/a')}"
            + (f" detail={f['detail']}" if f.get("detail") else "")
            for f in failures
        )
        raise MigrationError(
            "Dify database migration could not be started: ECS RunTask "
            + (f"returned failures: {details}" if details else "returned no task")
            + f" (cluster={props.cluster}, taskDefinition={props.task_definition})"
        )

    task_arn: str = tasks[0]["taskArn"]
    LOG.info("Started migration task %s (%s)", task_arn, request_type)
    # Updates keep the physical id: a new id would make CloudFormation issue a Delete for the old one.
    physical_id = (
        event["PhysicalResourceId"]
        if request_type == "Update"
        else PHYSICAL_ID_PREFIX + _cluster_name(props.cluster)
    )
    return {"PhysicalResourceId": physical_id, "Data": {"TaskArn": task_arn}}


def _log_location(props: Mapping[str, Any], container_name: str, task_arn: str, region: str | None) -> str:
    group = props.get("LogGroup") or "<unknown log group>"
    prefix = props.get("LogStreamPrefix") or "<unknown prefix>"
    stream = f"{prefix}/{container_name}/{_task_id(task_arn)}"
    region_flag = f" --region {region}" if region else ""
    return (
        f"logs: group={group} stream={stream} "
        f"(view with: aws logs tail {group} --log-stream-names {stream}{region_flag})"
    )


def _timeout_seconds(props: Mapping[str, Any]) -> int | None:
    value = props.get("TimeoutSeconds")
    if value is None or value == "":
        return None
    try:
        seconds = int(str(value))
    except ValueError:
        raise MigrationError(
            f"ResourceProperties.TimeoutSeconds must be a whole number, got {value!r}"
        ) from None
    if seconds <= 0:
        raise MigrationError(f"ResourceProperties.TimeoutSeconds must be positive, got {value!r}")
    return seconds


def _stop_when_overdue(
    task: Mapping[str, Any], props: Mapping[str, Any], cluster: str, region: str | None
) -> None:
    """Stop a task older than TimeoutSeconds and fail: the deployment gives up on it, so must the task."""
    limit = _timeout_seconds(props)
    created = task.get("createdAt")
    if limit is None or not isinstance(created, datetime):
        return
    age = (datetime.now(UTC) - created).total_seconds()
    if age <= limit:
        return
    task_arn = str(task.get("taskArn"))
    reason = f"Dify migration exceeded its {limit} s timeout"
    LOG.error("Stopping migration task %s after %d s", task_arn, age)
    _ecs(region).stop_task(cluster=cluster, task=task_arn, reason=reason)
    raise MigrationError(
        f"Dify database migration timed out after {int(age)} s (limit {limit} s); the task {task_arn} was "
        "stopped. Check its log stream, then redeploy: the next migration resumes from the last revision. "
        + _log_location(props, _required(props, "ContainerName"), task_arn, region or _arn_region(task_arn))
    )


def is_complete(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Report completion once the migration task stops; raise if it did not exit with code 0."""
    if event.get("RequestType") == "Delete":
        return {"IsComplete": True}

    data: Mapping[str, Any] = event.get("Data") or {}
    if data.get("Skipped") == SKIPPED_ROLLBACK:
        return {"IsComplete": True, "Data": {"Skipped": SKIPPED_ROLLBACK}}
    props_raw: Mapping[str, Any] = event.get("ResourceProperties") or {}
    cluster = _required(props_raw, "Cluster")
    container_name = _required(props_raw, "ContainerName")
    region_prop = props_raw.get("Region")
    client_region = region_prop if isinstance(region_prop, str) and region_prop else None
    task_arn = data.get("TaskArn")
    if not isinstance(task_arn, str) or not task_arn:
        raise MigrationError("Dify database migration state lost: on_event returned no TaskArn")
    region = client_region or _arn_region(task_arn)

    response = _ecs(client_region).describe_tasks(cluster=cluster, tasks=[task_arn])
    tasks = [t for t in response.get("tasks") or [] if t.get("taskArn") == task_arn]
    if not tasks:
        reasons = ", ".join(str(f.get("reason", "unknown")) for f in response.get("failures") or [])
        raise MigrationError(
            f"Dify database migration task {task_arn} could not be described "
            f"(reason: {reasons or 'not returned by DescribeTasks'}; cluster={cluster})"
        )

    task: Mapping[str, Any] = tasks[0]
    status = task.get("lastStatus", "UNKNOWN")
    LOG.info("Migration task %s status=%s", task_arn, status)
    if status not in _TERMINAL_STATUSES:
        _stop_when_overdue(task, props_raw, cluster, client_region)
        return {"IsComplete": False}

    container: Mapping[str, Any] = next(
        (c for c in task.get("containers") or [] if c.get("name") == container_name), {}
    )
    exit_code = container.get("exitCode")
    if exit_code == 0:
        LOG.info("Migration task %s succeeded", task_arn)
        return {"IsComplete": True, "Data": {"TaskArn": task_arn, "ExitCode": "0"}}

    # A missing exit code means the container never ran (image pull, ENI or secret retrieval failure).
    reason_parts = [
        str(task.get("stoppedReason") or "no stoppedReason"),
        f"stopCode={task['stopCode']}" if task.get("stopCode") else "",
        f"container reason={container['reason']}" if container.get("reason") else "",
        "" if container else f"container {container_name!r} not found in task",
    ]
    reason = "; ".join(part for part in reason_parts if part)
    LOG.error("Migration task %s failed: exit code %s", task_arn, exit_code)
    raise MigrationError(
        f"Dify database migration failed: container {container_name} exit code "
        f"{'none' if exit_code is None else exit_code}; stopped reason: {reason}; task: {task_arn}; "
        + _log_location(props_raw, container_name, task_arn, region)
    )
