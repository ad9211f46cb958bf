"""Builds `[monitoring]` from the stack's units: which resources of the configured front door publish
request metrics, the services per role, the data stores' identifiers and the log groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.cache import Cache
from dify_on_aws.data.retention import log_retention
from dify_on_aws.frontdoor.alb import AlbFrontDoor
from dify_on_aws.frontdoor.api_gateway import ApiGatewayFrontDoor
from dify_on_aws.frontdoor.base import FrontDoor
from dify_on_aws.frontdoor.cloudfront import CloudFrontFrontDoor
from dify_on_aws.frontdoor.lambda_proxy import LambdaProxyFrontDoor
from dify_on_aws.frontdoor.lambda_urls import LambdaFrontDoor
from dify_on_aws.operations.log_queries import SavedQueries
from dify_on_aws.operations.monitoring import (
    AlarmLimits,
    DifyMonitoring,
)
from dify_on_aws.operations.monitoring_signals import FrontDoorResources, WatchedData

if TYPE_CHECKING:
    from dify_on_aws.stack.dify_stack import DifyStack


def front_door_resources(door: FrontDoor) -> FrontDoorResources:
    """The resources of each front door type that publish request metrics."""
    if isinstance(door, AlbFrontDoor | CloudFrontFrontDoor):
        balancer = door.load_balancer
        distribution = door.distribution if isinstance(door, CloudFrontFrontDoor) else None
        return FrontDoorResources(
            distribution=distribution, load_balancer=balancer.alb, target_groups=balancer.target_groups
        )
    if isinstance(door, ApiGatewayFrontDoor):
        return FrontDoorResources(http_api=door.api)
    if isinstance(door, LambdaFrontDoor):
        functions: list[lambda_.IFunction] = [door.web, door.api]
        return FrontDoorResources(distribution=door.distribution, functions=functions)
    if isinstance(door, LambdaProxyFrontDoor):
        return FrontDoorResources(distribution=door.distribution, functions=[door.function])
    raise TypeError(f"no monitoring for front door {type(door).__name__}")


def build_monitoring(stack: DifyStack, config: DifyConfig) -> DifyMonitoring | None:
    """The dashboard, alarms and saved queries when `monitoring.enabled`."""
    settings = config.monitoring
    if not settings.enabled:
        return None
    dify = stack.dify
    services: dict[str, ecs.FargateService] = {}
    for role, service in dify.services.items():
        # One task for every role is one service: graph it once, as "dify".
        label = "dify" if config.services.layout == "single_task" else role.value
        services.setdefault(label, service.service)
    cache = stack.cache
    cache_clusters = (
        [
            cdk.Fn.join("-", [cache.replication_group.ref, f"{member:03d}"])
            for member in range(1, (2 if config.cache.multi_az else 1) + 1)
        ]
        if isinstance(cache, Cache)
        else []
    )
    door = stack.front_door
    resources = front_door_resources(door)
    monitoring = DifyMonitoring(
        stack,
        "Monitoring",
        instance=config.name,
        front_door=resources,
        cluster=dify.cluster,
        services=services,
        container_insights=config.services.container_insights,
        data=WatchedData(
            database_cluster=stack.database.cluster.cluster_identifier, cache_clusters=cache_clusters
        ),
        limits=AlarmLimits(
            queue_depth=settings.queue_depth_threshold,
            cache_memory_percent=settings.cache_memory_percent,
            error_rate_percent=settings.error_rate_percent,
        ),
        email=settings.email,
        log_retention=log_retention(config.services.log_retention_days),
    )
    SavedQueries(
        stack,
        "SavedQueries",
        instance=config.name,
        dify_logs=dify.log_group,
        task_events=monitoring.events_log,
        access_logs=door.access_logs if isinstance(door, ApiGatewayFrontDoor) else None,
        function_logs=[f.log_group for f in resources.functions if isinstance(f, lambda_.Function)],
    )
    cdk.CfnOutput(stack, "AlarmTopicArn", value=monitoring.topic.topic_arn, description="Dify alarms (SNS)")
    return monitoring
