"""The CloudWatch dashboard of one Dify instance: notes, alarm states, the front door's requests, errors and
latency, the roles' CPU, memory and running tasks, the Celery queue, Aurora and the cache.

A dashboard body holds at most 500 widgets ("CloudWatch dashboard body structure and syntax"); this one
has about 20. Widgets of CloudFront metrics name region us-east-1, where CloudFront publishes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from dify_on_aws.operations.monitoring_signals import (
    CLOUDFRONT_METRICS_REGION,
    RequestSignals,
    WatchedData,
    cache_metric,
    database_metric,
    queue_depth,
    service_signals,
)


def build_dashboard(
    scope: Construct,
    id_: str,
    *,
    instance: str,
    doors: Sequence[RequestSignals],
    alarms: Sequence[cloudwatch.IAlarm],
    cluster: ecs.ICluster,
    services: Mapping[str, ecs.FargateService],
    container_insights: bool,
    data: WatchedData,
) -> cloudwatch.Dashboard:
    stack = cdk.Stack.of(scope)
    dashboard = cloudwatch.Dashboard(
        scope,
        id_,
        dashboard_name=f"{stack.stack_name}-{stack.region}",
        default_interval=cdk.Duration.hours(3),
    )
    notes = [f"# Dify {instance}", "Alarms go to the SNS topic in the stack outputs (AlarmTopicArn)."]
    if any(d.region == CLOUDFRONT_METRICS_REGION for d in doors):
        notes.append("CloudFront graphs read us-east-1, where CloudFront publishes its metrics.")
    if not container_insights:
        notes.append("Running tasks need services.container_insights = true.")
    dashboard.add_widgets(cloudwatch.TextWidget(markdown="\n\n".join(notes), width=24, height=3))
    dashboard.add_widgets(cloudwatch.AlarmStatusWidget(alarms=list(alarms), width=24, height=3))
    for signals in doors:
        unit = " (%)" if signals.rate else ""
        row: list[cloudwatch.IWidget] = [
            graph(f"{signals.source}: requests", signals.requests, signals.region),
            graph(
                f"{signals.source}: errors{unit}",
                [*signals.client_errors, *signals.server_errors],
                signals.region,
            ),
        ]
        if signals.latency:
            row.append(graph(f"{signals.source}: latency", signals.latency, signals.region))
        dashboard.add_widgets(*row)
    names = {label: service.service_name for label, service in services.items()}
    roles = service_signals(names, cluster=cluster.cluster_name, insights=container_insights)
    dashboard.add_widgets(*(graph(title, m) for title, m in roles.items()))
    database = data.database_cluster
    dashboard.add_widgets(
        graph("Celery queue depth", [queue_depth(instance)]),
        cloudwatch.GraphWidget(
            title="Aurora capacity (ACU; 0 while paused)",
            left=[database_metric(database, "ServerlessDatabaseCapacity")],
            right=[database_metric(database, "ACUUtilization")],
            width=8,
        ),
        graph("Aurora connections", [database_metric(database, "DatabaseConnections")]),
    )
    if data.cache_clusters:
        dashboard.add_widgets(
            *(
                graph(title, [cache_metric(c, name) for c in data.cache_clusters])
                for title, name in (
                    ("Cache memory %", "DatabaseMemoryUsagePercentage"),
                    ("Cache evictions", "Evictions"),
                    ("Cache connections", "CurrConnections"),
                )
            )
        )
    return dashboard


def graph(
    title: str, metrics: Sequence[cloudwatch.IMetric], region: str | None = None
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, region=region)
