"""Shared pieces for the Lambda functions that back custom resources (code lives in `runtime/` folders)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from dify_on_aws.nag import BASIC_EXECUTION_ROLE, VPC_ACCESS_ROLE, acknowledge

PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_14


def python_function(
    scope: Construct,
    id_: str,
    *,
    code_dir: Path,
    handler: str,
    description: str,
    timeout: cdk.Duration,
    log_retention: logs.RetentionDays,
    environment: Mapping[str, str] | None = None,
    vpc: ec2.IVpc | None = None,
    subnets: ec2.SubnetSelection | None = None,
    security_groups: Sequence[ec2.ISecurityGroup] | None = None,
) -> lambda_.Function:
    """A Python function from a plain folder (no bundling, so no Docker) with its own log group and a
    role that may write only to that log group instead of the broad AWS managed policy. With `vpc`, it
    runs in `subnets` with `security_groups` (CDK adds Lambda's managed policy for network interfaces)."""
    log_group = logs.LogGroup(
        scope, f"{id_}Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    role = iam.Role(scope, f"{id_}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_group.grant_write(role)
    if vpc is not None:
        # Lambda creates the function's network interfaces with its role, and checks that when the
        # function is created (CDK adds this policy only to roles it creates itself).
        role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
        )
        acknowledge(role, VPC_ACCESS_ROLE, "Lambda's standard policy for VPC network interfaces.")
    return lambda_.Function(
        scope,
        id_,
        runtime=PYTHON_RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        code=lambda_.Code.from_asset(str(code_dir), exclude=["__pycache__", "*.pyc"]),
        handler=handler,
        description=description,
        timeout=timeout,
        memory_size=256,
        role=role,
        log_group=log_group,
        environment=dict(environment or {}),
        vpc=vpc,
        vpc_subnets=subnets,
        security_groups=list(security_groups) if security_groups is not None else None,
    )


def https_only_group(scope: Construct, *, vpc: ec2.IVpc, description: str, apis: str) -> ec2.SecurityGroup:
    """A security group for a function in the VPC that may open only HTTPS connections (to AWS APIs,
    through NAT); whoever it must reach besides opens that port on its own group."""
    group = ec2.SecurityGroup(
        scope, "SecurityGroup", vpc=vpc, description=description, allow_all_outbound=False
    )
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), f"{apis} (HTTPS)")
    return group


def logical_id(construct: IConstruct) -> str:
    """Logical ID of an L2 construct's resource, as cdk-nag names it in finding IDs."""
    child = construct.node.default_child if not isinstance(construct, cdk.CfnElement) else construct
    assert isinstance(child, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(child)


def acknowledge_provider(provider: cr.Provider, handlers: list[lambda_.Function]) -> None:
    """The CDK Provider framework's own functions are built by CDK; their findings are CDK's design."""
    acknowledge(
        provider,
        BASIC_EXECUTION_ROLE,
        "The CDK custom-resource Provider framework function uses AWSLambdaBasicExecutionRole for its logs.",
    )
    framework = [c for c in provider.node.find_all() if isinstance(c, lambda_.CfnFunction)]
    for handler in [*handlers, *framework]:
        acknowledge(
            provider,
            f"AwsSolutions-IAM5[Resource::<{logical_id(handler)}.Arn>:*]",
            "The CDK Provider framework may invoke any version of the handler function it was built for.",
        )
    acknowledge(
        provider,
        "AwsSolutions-L1",
        "The CDK Provider framework picks its own Node.js runtime; it is updated with aws-cdk-lib.",
    )


def waiter_functions(
    scope: Construct, *, code_dir: Path, what: str, log_retention: logs.RetentionDays
) -> tuple[lambda_.Function, lambda_.Function]:
    """The `Start` (index.on_event) and `Wait` (index.is_complete) functions of a waiter-pattern custom
    resource whose handler module lives in `code_dir`."""
    start, wait = (
        python_function(
            scope,
            name,
            code_dir=code_dir,
            handler=handler,
            description=f"{verb} {what}",
            timeout=cdk.Duration.minutes(1),
            log_retention=log_retention,
        )
        for name, handler, verb in (
            ("Start", "index.on_event", "Starts"),
            ("Wait", "index.is_complete", "Waits for"),
        )
    )
    return start, wait


def waiter_provider(
    scope: Construct,
    id_: str,
    *,
    on_event: lambda_.Function,
    is_complete: lambda_.Function,
    query_interval: cdk.Duration,
    total_timeout: cdk.Duration,
) -> cr.Provider:
    """A CDK Provider in the asynchronous waiter pattern, with the acknowledgements its own parts need."""
    provider = cr.Provider(
        scope,
        id_,
        on_event_handler=on_event,
        is_complete_handler=is_complete,
        query_interval=query_interval,
        total_timeout=total_timeout,
    )
    acknowledge_provider(provider, [on_event, is_complete])
    acknowledge(
        provider,
        "AwsSolutions-SF1",
        "The CDK Provider framework's waiter state machine; the handlers log every step themselves.",
    )
    acknowledge(
        provider,
        "AwsSolutions-SF2",
        "The CDK Provider framework's waiter state machine is internal to CDK; X-Ray adds nothing here.",
    )
    return provider
