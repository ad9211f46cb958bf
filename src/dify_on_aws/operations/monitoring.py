"""What an operator watches: one CloudWatch dashboard per instance, alarms with a runbook line each sent to
an SNS topic (KMS-encrypted, SSL only, optional e-mail subscription), and EventBridge rules that record
abnormally stopped ECS tasks and failed migrations in a log group.

CloudWatch alarms that publish to an encrypted topic need the key policy to allow the CloudWatch service
principal (kms:Decrypt, kms:GenerateDataKey*) ("Amazon SNS: encryption at rest", "Using Amazon CloudWatch
alarms"); an alarm watches only metrics of its own region, so the 5xx alarm watches the regional origin of a
CloudFront front door, and CloudFront's own 5xx rate only when the stack runs in us-east-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from dify_on_aws.operations.dashboard import build_dashboard
from dify_on_aws.operations.monitoring_signals import (
    CLOUDFRONT_METRICS_REGION,
    FIVE_MINUTES,
    ONE_MINUTE,
    FrontDoorResources,
    RequestSignals,
    WatchedData,
    cache_metric,
    database_metric,
    most,
    queue_depth,
    request_signals,
)

# Task stops that mean something is wrong: a crashed essential container, a task that never started, a
# failed health check ("Amazon ECS task state change events", stopCode and stoppedReason).
ABNORMAL_STOP = [
    {"stopCode": ["EssentialContainerExited", "TaskFailedToStart"]},
    {"stoppedReason": [{"prefix": "Task failed"}]},
]
STOPS_PER_15_MINUTES = 3
# `startedBy` of the migration task (services/runtime/migration/index.py STARTED_BY; a test keeps them equal,
# since that module needs boto3, which only the Lambda runtime has).
MIGRATION_STARTED_BY = "dify-migration"


@dataclass(frozen=True)
class AlarmLimits:
    """Thresholds from `[monitoring]`."""

    queue_depth: int
    cache_memory_percent: int
    error_rate_percent: float


class DifyMonitoring(Construct):
    """The alarm topic, the event rules, the alarms and the dashboard of one Dify instance."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        instance: str,
        front_door: FrontDoorResources,
        cluster: ecs.ICluster,
        services: Mapping[str, ecs.FargateService],
        container_insights: bool,
        data: WatchedData,
        limits: AlarmLimits,
        email: str | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        # The key protects nothing but notifications in flight: it goes with the stack.
        self.key = kms.Key(
            self,
            "TopicKey",
            enable_key_rotation=True,
            description=f"Dify {instance} alarm topic",
            removal_policy=cdk.RemovalPolicy.DESTROY,
            pending_window=cdk.Duration.days(7),
        )
        # CloudWatch publishes alarm notifications to the encrypted topic with this key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(
            self, "Alarms", display_name=f"Dify {instance} alarms", master_key=self.key, enforce_ssl=True
        )
        if email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self._action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        self.events_log = logs.LogGroup(
            self,
            "TaskEvents",
            log_group_name=f"/aws/events/{stack.stack_name}/ecs-task-stops",
            retention=log_retention,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # One resource policy (AWS::Logs::ResourcePolicy, at most 10 per account and region) lets
        # EventBridge write to this group ("Amazon CloudWatch Logs permissions" in the EventBridge guide).
        self.events_log.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                principals=[
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                ],
                resources=[self.events_log.log_group_arn],
            )
        )
        stops = task_stop_rule(
            self,
            "TaskStops",
            cluster=cluster,
            log=self.events_log,
            description="Dify tasks of a service that stopped abnormally",
            detail={"group": [{"prefix": "service:"}], "$or": ABNORMAL_STOP},
        )
        migration = task_stop_rule(
            self,
            "MigrationFailures",
            cluster=cluster,
            log=self.events_log,
            description="Dify migration tasks that stopped with a non-zero exit code or never started",
            detail={
                "startedBy": [MIGRATION_STARTED_BY],
                "$or": [
                    {"containers": {"exitCode": [{"anything-but": 0}]}},
                    {"stopCode": ["TaskFailedToStart"]},
                ],
            },
        )
        doors = request_signals(front_door)
        self._front_door_alarms(doors, front_door, limits)
        self._operations_alarms(instance, stops, migration, data, limits)
        self.dashboard = build_dashboard(
            self,
            "Dashboard",
            instance=instance,
            doors=doors,
            alarms=self.alarms,
            cluster=cluster,
            services=services,
            container_insights=container_insights,
            data=data,
        )

    def _alarm(
        self,
        id_: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        periods: int,
        runbook: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            id_,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Runbook: {runbook}",
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm

    def _front_door_alarms(
        self, doors: Sequence[RequestSignals], door: FrontDoorResources, limits: AlarmLimits
    ) -> None:
        region = cdk.Stack.of(self).region
        for signals in doors:
            if signals.error_rate is None:
                continue
            if signals.region == CLOUDFRONT_METRICS_REGION and region != CLOUDFRONT_METRICS_REGION:
                # Alarms watch metrics of their own region only; the origin's alarm covers this stack.
                continue
            self._alarm(
                f"{signals.source.replace(' ', '')}ServerErrors",
                signals.error_rate,
                threshold=limits.error_rate_percent,
                periods=2,
                runbook=f"{signals.source} answers more than {limits.error_rate_percent}% of requests with "
                "5xx. Open the dashboard, then run the saved query 'errors by role' for the failing role; "
                "check running tasks and the migration log.",
            )
        if door.target_groups:
            self._alarm(
                "UnhealthyTargets",
                most(
                    [g.metrics.unhealthy_host_count(period=ONE_MINUTE) for g in door.target_groups],
                    "unhealthy targets",
                    ONE_MINUTE,
                ),
                threshold=0,
                periods=5,
                runbook="A load balancer target failed its health checks for 5 minutes. See the target "
                "group's health reasons in the EC2 console and the role's logs (saved query 'errors by "
                "role'); a task that never becomes healthy is replaced by ECS.",
            )

    def _operations_alarms(
        self,
        instance: str,
        stops: events.Rule,
        migration: events.Rule,
        data: WatchedData,
        limits: AlarmLimits,
    ) -> None:
        def matched(rule: events.Rule, period: cdk.Duration) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="TriggeredRules",
                dimensions_map={"RuleName": rule.rule_name},
                statistic="Sum",
                period=period,
            )

        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        self._alarm(
            "TasksStopping",
            matched(stops, cdk.Duration.minutes(15)),
            threshold=STOPS_PER_15_MINUTES,
            periods=1,
            comparison=gte,
            runbook=f"{STOPS_PER_15_MINUTES} or more Dify tasks stopped abnormally within 15 minutes "
            "(crash, failed health check, failed start). Run the saved query 'stopped tasks' for the "
            "stopped reason, then 'errors by role'.",
        )
        self._alarm(
            "MigrationFailed",
            matched(migration, FIVE_MINUTES),
            threshold=1,
            periods=1,
            comparison=gte,
            runbook="The database migration task failed; the deployment rolled back and the services kept "
            "the old image. Read the migration log stream named in the CloudFormation event, fix the "
            "cause, then deploy again (the migration resumes from the last revision).",
        )
        self._alarm(
            "QueueDepth",
            queue_depth(instance),
            threshold=limits.queue_depth,
            periods=3,
            runbook=f"More than {limits.queue_depth} Celery tasks waited for 15 minutes: workers are "
            "missing or too few. Check the worker's running tasks and CPU; raise services.worker.max_count.",
        )
        self._alarm(
            "DatabaseAtMaxCapacity",
            database_metric(data.database_cluster, "ACUUtilization"),
            threshold=95,
            periods=3,
            comparison=gte,
            runbook="Aurora ran at its maximum capacity for 15 minutes (ACUUtilization). Raise "
            "database.max_acu, or look for slow queries in the database log group.",
        )
        if data.cache_clusters:
            self._alarm(
                "CacheMemoryHigh",
                most(
                    [cache_metric(c, "DatabaseMemoryUsagePercentage") for c in data.cache_clusters],
                    "cache memory %",
                ),
                threshold=limits.cache_memory_percent,
                periods=3,
                runbook=f"Valkey uses more than {limits.cache_memory_percent}% of its memory; it evicts "
                "keys when full and Celery loses queued tasks. Choose a larger cache.node_type.",
            )


def task_stop_rule(
    scope: Construct,
    id_: str,
    *,
    cluster: ecs.ICluster,
    log: logs.ILogGroup,
    description: str,
    detail: Mapping[str, object],
) -> events.Rule:
    """An EventBridge rule on the cluster's stopped tasks matching `detail`, recorded in `log`."""
    rule = events.Rule(
        scope,
        id_,
        description=description,
        event_pattern=events.EventPattern(
            source=["aws.ecs"],
            detail_type=["ECS Task State Change"],
            detail={"clusterArn": [cluster.cluster_arn], "lastStatus": ["STOPPED"], **detail},
        ),
    )
    rule.add_target(_LogGroupTarget(log))
    return rule


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """A log group as a rule target, its write permission granted once by the group's resource policy
    (CDK's CloudWatchLogGroup target adds a custom resource and one account-wide policy per rule)."""

    def __init__(self, group: logs.ILogGroup) -> None:
        self._group = group

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        arn = cdk.Stack.of(self._group).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self._group.log_group_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        return events.RuleTargetConfig(arn=arn)
