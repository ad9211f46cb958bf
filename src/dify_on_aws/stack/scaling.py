"""The stack's scaling: each service's task count from the config (CPU, requests per task on the load
balancer, the worker's Celery queue depth, the working-hours schedule). The queue-depth publisher's access
(cache port, broker secret) is wired in wiring.py."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.config import DifyConfig
from dify_on_aws.network.vpc import Network
from dify_on_aws.operations.queue_depth import QueueDepthPublisher
from dify_on_aws.operations.scaling import (
    request_target_groups,
    scale_on_queue_depth,
    scale_on_requests,
    scale_services,
)
from dify_on_aws.roles import Role
from dify_on_aws.services import dify_contract
from dify_on_aws.services.service import DifyService


def build_scaling(
    scope: Construct,
    *,
    config: DifyConfig,
    services: Mapping[Role, DifyService],
    desired: Mapping[Role, int],
    front_door: object,
    network: Network,
    log_retention: logs.RetentionDays,
) -> QueueDepthPublisher | None:
    """Scale every service; returns the queue-depth publisher when the worker scales on its queue."""
    svc = config.services
    schedule = config.schedule
    queue = svc.worker.queue_scaling and Role.WORKER in services
    scaling = scale_services(
        services,
        desired=desired,
        maximum=svc.max_counts(),
        single_task=svc.layout == "single_task",
        working_hours=schedule.working_hours if schedule.enabled else None,
        timezone=schedule.timezone,
        queue_scaled=frozenset({Role.WORKER}) if queue else frozenset(),
    )
    groups = request_target_groups(front_door)
    for role, requests in svc.requests_per_target().items():
        if role in scaling and role in groups:
            scale_on_requests(scaling[role], target_group=groups[role], requests_per_target=requests)
    if not queue:
        return None
    publisher = QueueDepthPublisher(
        scope,
        "QueueDepth",
        instance=config.name,
        queues=dify_contract.load(config.images.contract_release()).worker_queues(),
        vpc=network.vpc,
        subnets=network.private_subnets,
        log_retention=log_retention,
    )
    scale_on_queue_depth(
        scaling[Role.WORKER], metric=publisher.metric, idle_minutes=svc.worker.queue_idle_minutes
    )
    return publisher
