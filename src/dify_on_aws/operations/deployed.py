"""The deployed stack as the operating commands (`status`, `exec`, `run-task`) see it: found by the config's
name (the stack name `app.py` gives it) in the config's region, read with the caller's AWS credentials.

AWS errors become one clear line and exit status 2 (`OperatingError`): no credentials, a stack that does not
exist, or an action the caller may not perform (named). boto3 is imported only when a command runs, so the
rest of the CLI works without it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dify_on_aws.aws_errors import error_code, explain
from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.inputs import config_path, default_config

EXIT_ERROR = 2
MIGRATION_TYPE = "Custom::DifyMigration"
SNAPSHOT_TYPE = "Custom::DifyPreUpgradeSnapshot"


class OperatingError(Exception):
    """A problem to print as one line (exit status 2)."""


class Aws:
    """boto3 clients for one region, created once each (tests hand in clients wrapped by Stubber)."""

    def __init__(self, region: str | None, clients: Mapping[str, Any] | None = None) -> None:
        self.region = region
        self._clients: dict[str, Any] = dict(clients or {})

    def client(self, service: str) -> Any:
        if service not in self._clients:
            try:
                import boto3  # noqa: PLC0415  (only the operating commands need it)
            except ImportError:
                raise OperatingError(
                    "the operating commands need boto3: `pip install boto3` in this environment"
                ) from None
            self._clients[service] = boto3.session.Session(region_name=self.region).client(service)
        return self._clients[service]

    @property
    def region_name(self) -> str:
        return str(self.region or self.client("cloudformation").meta.region_name)

    def action(self, operation: str) -> str:
        """The IAM action of an operation of one of the clients made so far, e.g. ecs:DescribeServices."""
        for client in self._clients.values():
            model = client.meta.service_model
            if operation in model.operation_names:
                return f"{model.signing_name}:{operation}"
        return operation


@contextmanager
def aws_errors(aws: Aws, stack_name: str, region: str | None) -> Iterator[None]:
    """Turn botocore's exceptions into an OperatingError with what to do about them."""
    try:
        from botocore.exceptions import (  # noqa: PLC0415
            ClientError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )
    except ImportError:  # boto3 missing: Aws.client says so
        yield
        return
    where = f" in {region}" if region else ""
    try:
        yield
    except (ClientError, NoCredentialsError, PartialCredentialsError, NoRegionError) as exc:
        code, message = error_code(exc)
        if code == "ValidationError" and "does not exist" in message:
            raise OperatingError(
                f"stack {stack_name!r} does not exist{where}: deploy it first (`make deploy`), or pass the "
                "--config of the deployed instance (its `name` is the stack name, its `region` the region)"
            ) from None
        operation = getattr(exc, "operation_name", "an AWS call")
        fix = explain(exc, aws.action(operation))
        if fix is not None:
            raise OperatingError(fix) from None
        raise OperatingError(f"{operation} failed{where}: {code}: {message}") from None


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    physical_id: str
    type: str
    status: str
    reason: str = ""
    updated: Any = None


@dataclass
class DeployedStack:
    """A stack's status, outputs and resources (from DescribeStacks and ListStackResources)."""

    name: str
    status: str
    outputs: dict[str, str]
    resources: list[StackResource] = field(default_factory=list)

    def of_type(self, kind: str) -> list[StackResource]:
        return [r for r in self.resources if r.type == kind]

    def physical(self, logical_id: str) -> str | None:
        found = next((r for r in self.resources if r.logical_id == logical_id), None)
        return found.physical_id if found else None

    def one(self, kind: str) -> StackResource:
        found = self.of_type(kind)
        if not found:
            raise OperatingError(
                f"stack {self.name!r} has no {kind}: is it a dify-on-aws stack, deployed completely?"
            )
        return found[0]


def read_stack(aws: Aws, name: str) -> DeployedStack:
    cfn = aws.client("cloudformation")
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    outputs = {o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs") or []}
    resources = [
        StackResource(
            logical_id=r["LogicalResourceId"],
            physical_id=str(r.get("PhysicalResourceId", "")),
            type=r["ResourceType"],
            status=r["ResourceStatus"],
            reason=str(r.get("ResourceStatusReason", "") or ""),
            updated=r.get("LastUpdatedTimestamp"),
        )
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name)
        for r in page.get("StackResourceSummaries") or []
    ]
    return DeployedStack(name=name, status=stack["StackStatus"], outputs=outputs, resources=resources)


@dataclass(frozen=True)
class RoleService:
    """An ECS service of the stack and the roles (container names) its task runs."""

    arn: str
    name: str
    containers: tuple[str, ...]
    images: dict[str, str]
    running: int
    desired: int
    pending: int
    rollout: str
    exec_enabled: bool
    task_definition: str


def cluster_name(stack: DeployedStack) -> str:
    return stack.one("AWS::ECS::Cluster").physical_id


def role_services(aws: Aws, stack: DeployedStack) -> list[RoleService]:
    """Every ECS service of the stack with its task definition's containers and images."""
    arns = [r.physical_id for r in stack.of_type("AWS::ECS::Service")]
    if not arns:
        return []
    ecs = aws.client("ecs")
    cluster = cluster_name(stack)
    found: list[RoleService] = []
    for start in range(0, len(arns), 10):  # DescribeServices takes up to 10 services
        for service in ecs.describe_services(cluster=cluster, services=arns[start : start + 10])["services"]:
            definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
            containers = definition["taskDefinition"]["containerDefinitions"]
            primary: dict[str, Any] = next(
                (d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), {}
            )
            found.append(
                RoleService(
                    arn=service["serviceArn"],
                    name=service["serviceName"],
                    containers=tuple(c["name"] for c in containers),
                    images={c["name"]: c["image"] for c in containers},
                    running=int(service.get("runningCount", 0)),
                    desired=int(service.get("desiredCount", 0)),
                    pending=int(service.get("pendingCount", 0)),
                    rollout=str(primary.get("rolloutState", "")),
                    exec_enabled=bool(service.get("enableExecuteCommand")),
                    task_definition=service["taskDefinition"],
                )
            )
    return found


def service_of_role(services: list[RoleService], role: str) -> RoleService:
    for service in services:
        if role in service.containers:
            return service
    known = sorted({c for s in services for c in s.containers})
    raise OperatingError(f"no running service has a container {role!r}; roles: {', '.join(known)}")


# --- argparse glue shared by the commands --------------------------------------------------------------


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=default_config(), help="config of the deployed instance (name and region)"
    )


def run_command(args: argparse.Namespace, body: Callable[[Aws, DifyConfig, argparse.Namespace], int]) -> int:
    """Load the config, then run `body` with AWS errors turned into one line and exit status 2."""
    config = load_config(config_path(args.config))
    aws = getattr(args, "aws", None) or Aws(config.region)
    try:
        with aws_errors(aws, config.name, config.region):
            return body(aws, config, args)
    except OperatingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
