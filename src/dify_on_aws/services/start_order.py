"""The order in which the Dify services start: ECS Service Connect gives a task only the endpoints that
exist when it starts ("Existing tasks can't resolve and connect to the new endpoint", ECS docs), so every
service is created after the providers it calls, and the one pair that calls each other is rolled once."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from dify_on_aws.roles import PORTS, Role
from dify_on_aws.services.proxy_settings import internal_url
from dify_on_aws.services.service import ContainerSpec, DifyService

# Service Connect clients that start before one of their providers (the pair calls each other), and that
# provider: they are redeployed once after it exists, when the stack is created.
ROLLED_AFTER = {Role.PLUGIN_DAEMON: Role.API}


def providers_first(
    scope: Construct,
    *,
    cluster: ecs.ICluster,
    services: Mapping[Role, DifyService],
    specs: Mapping[Role, ContainerSpec],
) -> None:
    """A task learns only the Service Connect endpoints that exist when it starts, so each service is
    created after the services whose Service Connect URLs are in its environment (CloudFormation waits
    for a new ECS service to be stable). The plugin daemon and the api call each other: the daemon comes
    first and is redeployed once, on the stack's creation, after the api exists."""
    urls = {role: internal_url(role) for role in services if role in PORTS}
    for client, spec in specs.items():
        for provider, url in urls.items():
            if provider is client or not any(url in value for value in spec.environment.values()):
                continue
            if ROLLED_AFTER.get(client) is provider:
                _roll_once_after(scope, cluster, services[client], services[provider])
            else:
                # The ECS service resources only: their security groups reference each other.
                service_resource(services[client]).add_resource_dependency(
                    service_resource(services[provider])
                )


def _roll_once_after(scope: Construct, cluster: ecs.ICluster, early: DifyService, late: DifyService) -> None:
    """Force one new deployment of `early` once `late` is stable, only when the stack is created."""
    call = cr.AwsSdkCall(
        service="ECS",
        action="updateService",
        parameters={
            "cluster": cluster.cluster_name,
            "service": early.service.service_name,
            "forceNewDeployment": True,
        },
        physical_resource_id=cr.PhysicalResourceId.of(f"{early.role_name}-after-{late.role_name}"),
    )
    roll = cr.AwsCustomResource(
        scope,
        f"Roll{early.node.id}After{late.node.id}",
        on_create=call,
        policy=cr.AwsCustomResourcePolicy.from_statements(
            [iam.PolicyStatement(actions=["ecs:UpdateService"], resources=[early.service.service_arn])]
        ),
        install_latest_aws_sdk=False,
    )
    roll.node.add_dependency(service_resource(late))


def service_resource(service: DifyService) -> cdk.CfnResource:
    """The AWS::ECS::Service resource (dependencies on it leave the security groups alone)."""
    resource = service.service.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    return resource
