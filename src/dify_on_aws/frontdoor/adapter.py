"""Container-image Lambda functions that serve HTTP through Lambda Web Adapter (the `lambda` and
`lambda_proxy` front doors): image built at deploy time, own log group, optional VPC attachment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.nag import BASIC_EXECUTION_ROLE, VPC_ACCESS_ROLE, acknowledge


def adapter_environment(
    port: int,
    *,
    streaming: bool,
    readiness_path: str,
    async_init: bool = False,
    authorization_source: str | None = None,
) -> dict[str, str]:
    """Lambda Web Adapter settings: the app's port, readiness check, invoke mode, and optionally async init
    (for apps that start slower than Lambda's 10 s init phase) and the header it restores as Authorization."""
    environment = {
        "AWS_LWA_PORT": str(port),
        "AWS_LWA_READINESS_CHECK_PATH": readiness_path,
        "AWS_LWA_INVOKE_MODE": "response_stream" if streaming else "buffered",
    }
    if async_init:
        environment["AWS_LWA_ASYNC_INIT"] = "true"
    if authorization_source is not None:
        environment["AWS_LWA_AUTHORIZATION_SOURCE"] = authorization_source
    return environment


@dataclass(frozen=True)
class FunctionNetwork:
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup


def adapter_function(
    scope: Construct,
    id_: str,
    *,
    directory: Path,
    architecture: lambda_.Architecture,
    memory_mib: int,
    timeout: cdk.Duration,
    environment: Mapping[str, str],
    description: str,
    log_retention: logs.RetentionDays,
    network: FunctionNetwork | None,
    build_args: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
) -> lambda_.DockerImageFunction:
    log_group = logs.LogGroup(
        scope, f"{id_}Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    arm = architecture == lambda_.Architecture.ARM_64
    function = lambda_.DockerImageFunction(
        scope,
        id_,
        code=lambda_.DockerImageCode.from_image_asset(
            str(directory),
            build_args=dict(build_args) if build_args else None,
            platform=ecr_assets.Platform.LINUX_ARM64 if arm else ecr_assets.Platform.LINUX_AMD64,
            entrypoint=list(entrypoint) if entrypoint else None,
            exclude=["__pycache__", "*.pyc", "__init__.py"],
        ),
        architecture=architecture,
        memory_size=memory_mib,
        timeout=timeout,
        environment=dict(environment),
        log_group=log_group,
        vpc=network.vpc if network else None,
        vpc_subnets=network.subnets if network else None,
        security_groups=[network.security_group] if network else None,
        description=description,
    )
    assert function.role is not None
    acknowledge(function.role, BASIC_EXECUTION_ROLE, "Lambda's standard logging policy.")
    if network is not None:
        acknowledge(function.role, VPC_ACCESS_ROLE, "Lambda's standard policy for VPC network interfaces.")
    return function
