"""The metrics the dashboard graphs and the alarms watch, per resource: the front door's requests, errors
and latency (whichever type is configured), the ECS services, Aurora, ElastiCache and the Celery queue.

Sources: "Amazon CloudFront metrics" (AWS/CloudFront, dimensions DistributionId and Region=Global, published
in us-east-1 only), "CloudWatch metrics for your Application Load Balancer" (AWS/ApplicationELB), "Monitor
HTTP API metrics" (AWS/ApiGateway, ApiId), "Monitoring Lambda function URLs" (AWS/Lambda Url* metrics,
FunctionName), "Amazon ECS CloudWatch metrics" (AWS/ECS CPUUtilization and MemoryUtilization by ClusterName
and ServiceName) and "Amazon ECS Container Insights metrics" (ECS/ContainerInsights RunningTaskCount, only
with Container Insights), "Amazon Aurora metrics" (ServerlessDatabaseCapacity, ACUUtilization,
DatabaseConnections by DBClusterIdentifier), "Metrics for Valkey and Redis OSS" (AWS/ElastiCache by
CacheClusterId).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_

from dify_on_aws.operations.metrics import INSTANCE_DIMENSION, NAMESPACE, QUEUE_DEPTH

# CloudFront publishes its metrics in us-east-1 only, whatever the region of the dashboard.
CLOUDFRONT_METRICS_REGION = "us-east-1"
FIVE_MINUTES = cdk.Duration.minutes(5)
ONE_MINUTE = cdk.Duration.minutes(1)


@dataclass(frozen=True)
class FrontDoorResources:
    """The front door's resources that publish request metrics (each front door has some of them)."""

    distribution: cloudfront.IDistribution | None = None
    load_balancer: elbv2.IApplicationLoadBalancer | None = None
    target_groups: Sequence[elbv2.IApplicationTargetGroup] = ()
    http_api: apigwv2.IHttpApi | None = None
    # Functions behind Lambda function URLs.
    functions: Sequence[lambda_.IFunction] = ()


@dataclass(frozen=True)
class RequestSignals:
    """One source of request metrics: its name, requests, client and server errors and latency. The
    error metrics are counts (`rate` False) or percentages of requests (`rate` True, CloudFront)."""

    source: str
    requests: Sequence[cloudwatch.IMetric]
    client_errors: Sequence[cloudwatch.IMetric]
    server_errors: Sequence[cloudwatch.IMetric]
    latency: Sequence[cloudwatch.IMetric] = ()
    region: str | None = None
    rate: bool = False
    # Metric math of the 5xx share in percent, for an alarm in the stack's region (None: not alarmable).
    error_rate: cloudwatch.IMetric | None = field(default=None)


@dataclass(frozen=True)
class WatchedData:
    """The data stores: the Aurora cluster's identifier and the ElastiCache member clusters' IDs (none for
    the cache container inside the Dify task, which publishes no metrics)."""

    database_cluster: str
    cache_clusters: Sequence[str]


def cloudfront_signals(distribution: cloudfront.IDistribution) -> RequestSignals:
    def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/CloudFront",
            metric_name=name,
            dimensions_map={"DistributionId": distribution.distribution_id, "Region": "Global"},
            statistic=statistic,
            period=FIVE_MINUTES,
            region=CLOUDFRONT_METRICS_REGION,
            label=label,
        )

    server = metric("5xxErrorRate", "Average", "CloudFront 5xx %")
    return RequestSignals(
        source="CloudFront",
        requests=[metric("Requests", "Sum", "CloudFront requests")],
        client_errors=[metric("4xxErrorRate", "Average", "CloudFront 4xx %")],
        server_errors=[server],
        region=CLOUDFRONT_METRICS_REGION,
        rate=True,
        error_rate=server,
    )


def load_balancer_signals(alb: elbv2.IApplicationLoadBalancer) -> RequestSignals:
    metrics = alb.metrics
    requests = metrics.request_count(period=FIVE_MINUTES, label="ALB requests")
    target_5xx = metrics.http_code_target(
        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MINUTES, label="target 5xx"
    )
    elb_5xx = metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=FIVE_MINUTES, label="ALB 5xx")
    return RequestSignals(
        source="Load balancer",
        requests=[requests],
        client_errors=[
            metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, period=FIVE_MINUTES),
            metrics.http_code_elb(elbv2.HttpCodeElb.ELB_4XX_COUNT, period=FIVE_MINUTES),
        ],
        server_errors=[target_5xx, elb_5xx],
        latency=[
            metrics.target_response_time(period=FIVE_MINUTES, statistic="p90", label="target p90 (s)"),
        ],
        error_rate=error_rate([requests], [target_5xx, elb_5xx]),
    )


def http_api_signals(api: apigwv2.IHttpApi) -> RequestSignals:
    requests = api.metric_count(period=FIVE_MINUTES, label="API requests")
    server = api.metric_server_error(period=FIVE_MINUTES, label="API 5xx")
    return RequestSignals(
        source="API Gateway",
        requests=[requests],
        client_errors=[api.metric_client_error(period=FIVE_MINUTES, label="API 4xx")],
        server_errors=[server],
        latency=[
            api.metric_latency(period=FIVE_MINUTES, statistic="p90", label="latency p90 (ms)"),
            api.metric_integration_latency(period=FIVE_MINUTES, statistic="p90", label="integration p90"),
        ],
        error_rate=error_rate([requests], [server]),
    )


def function_url_signals(functions: Sequence[lambda_.IFunction]) -> RequestSignals:
    def metric(function: lambda_.IFunction, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return function.metric(
            name, period=FIVE_MINUTES, statistic=statistic, label=f"{name} ${{PROP('Dim.FunctionName')}}"
        )

    requests = [metric(f, "UrlRequestCount") for f in functions]
    server = [metric(f, "Url5xxCount") for f in functions]
    return RequestSignals(
        source="Function URLs",
        requests=requests,
        client_errors=[metric(f, "Url4xxCount") for f in functions],
        server_errors=server,
        latency=[metric(f, "UrlRequestLatency", "p90") for f in functions],
        error_rate=error_rate(requests, server),
    )


def error_rate(
    requests: Sequence[cloudwatch.IMetric], errors: Sequence[cloudwatch.IMetric]
) -> cloudwatch.IMetric:
    """The 5xx share of requests in percent; 0 while there are no requests (no division by zero)."""
    names = {f"r{i}": m for i, m in enumerate(requests)} | {f"e{i}": m for i, m in enumerate(errors)}
    total = " + ".join(f"FILL(r{i}, 0)" for i in range(len(requests)))
    failed = " + ".join(f"FILL(e{i}, 0)" for i in range(len(errors)))
    return cloudwatch.MathExpression(
        expression=f"IF(({total}) > 0, 100 * ({failed}) / ({total}), 0)",
        using_metrics=names,
        period=FIVE_MINUTES,
        label="5xx % of requests",
    )


def request_signals(door: FrontDoorResources) -> list[RequestSignals]:
    """Every request source of the front door, the edge first."""
    found: list[RequestSignals] = []
    if door.distribution is not None:
        found.append(cloudfront_signals(door.distribution))
    if door.load_balancer is not None:
        found.append(load_balancer_signals(door.load_balancer))
    if door.http_api is not None:
        found.append(http_api_signals(door.http_api))
    if door.functions:
        found.append(function_url_signals(door.functions))
    return found


def service_metric(
    name: str, *, cluster: str, service: str, label: str, insights: bool = False, statistic: str = "Average"
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="ECS/ContainerInsights" if insights else "AWS/ECS",
        metric_name=name,
        dimensions_map={"ClusterName": cluster, "ServiceName": service},
        statistic=statistic,
        period=ONE_MINUTE,
        label=label,
    )


def service_signals(
    services: Mapping[str, str], *, cluster: str, insights: bool
) -> dict[str, list[cloudwatch.IMetric]]:
    """CPU and memory (standard ECS metrics) and running tasks (Container Insights only) per role;
    `services` maps a role's label to its service name."""
    signals: dict[str, list[cloudwatch.IMetric]] = {"CPU %": [], "Memory %": []}
    if insights:
        signals["Running tasks"] = []
    for label, name in services.items():
        signals["CPU %"].append(service_metric("CPUUtilization", cluster=cluster, service=name, label=label))
        signals["Memory %"].append(
            service_metric("MemoryUtilization", cluster=cluster, service=name, label=label)
        )
        if insights:
            signals["Running tasks"].append(
                service_metric("RunningTaskCount", cluster=cluster, service=name, label=label, insights=True)
            )
    return signals


def five_minute_metric(
    namespace: str, name: str, dimension: tuple[str, str], label: str
) -> cloudwatch.Metric:
    """The five-minute maximum of a metric with one dimension."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dict([dimension]),
        statistic="Maximum",
        period=FIVE_MINUTES,
        label=label,
    )


def database_metric(cluster: str, name: str) -> cloudwatch.Metric:
    return five_minute_metric("AWS/RDS", name, ("DBClusterIdentifier", cluster), name)


def cache_metric(cluster_id: str, name: str) -> cloudwatch.Metric:
    label = f"{name} ${{PROP('Dim.CacheClusterId')}}"
    return five_minute_metric("AWS/ElastiCache", name, ("CacheClusterId", cluster_id), label)


def queue_depth(instance: str) -> cloudwatch.Metric:
    """The Celery queue depth the worker's scaling publishes (operations/metrics.py)."""
    return five_minute_metric(NAMESPACE, QUEUE_DEPTH, (INSTANCE_DIMENSION, instance), "waiting Celery tasks")


def most(
    metrics: Sequence[cloudwatch.IMetric], label: str, period: cdk.Duration = FIVE_MINUTES
) -> cloudwatch.IMetric:
    """The largest of several series (one alarm over many resources); one series stays itself."""
    if len(metrics) == 1:
        return metrics[0]
    names = {f"m{i}": m for i, m in enumerate(metrics)}
    return cloudwatch.MathExpression(
        expression=f"MAX([{', '.join(names)}])", using_metrics=names, period=period, label=label
    )
