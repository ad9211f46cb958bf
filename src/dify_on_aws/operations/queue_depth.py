"""The Celery queue depth as a CloudWatch metric: a small function in the VPC reads the worker's queues
from the broker (Valkey database 1) every minute and publishes `DifyOnAws/CeleryQueueDepth` for the
instance. The metric exists even while no worker runs, so the worker can scale out from zero on it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.operations import metrics
from dify_on_aws.runtime_support import https_only_group, python_function

QUEUE_DEPTH_RUNTIME = Path(__file__).parent / "runtime" / "queue_depth"
PERIOD = cdk.Duration.minutes(1)


class QueueDepthPublisher(Construct):
    """Every minute (EventBridge schedule), read the worker's Celery queues and publish their total.

    The function runs in the VPC with a security group of its own, which the cache admits on its port
    (stack/wiring.py); it reaches the Secrets Manager and CloudWatch APIs over HTTPS through NAT. The stack
    grants it read access to the broker URL secret only (`broker.grant_read(publisher)`).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        instance: str,
        queues: Sequence[str],
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.security_group = https_only_group(
            self, vpc=vpc, description="Dify queue depth function", apis="Secrets Manager and CloudWatch APIs"
        )
        self.connections = ec2.Connections(security_groups=[self.security_group])
        self.function = python_function(
            self,
            "Function",
            code_dir=QUEUE_DEPTH_RUNTIME,
            handler="index.handler",
            description="Publishes the Dify worker's Celery queue depth to CloudWatch every minute",
            timeout=cdk.Duration.seconds(30),
            log_retention=log_retention,
            environment={
                "CELERY_QUEUES": ",".join(queues),
                "METRIC_NAMESPACE": metrics.NAMESPACE,
                "METRIC_NAME": metrics.QUEUE_DEPTH,
                "METRIC_DIMENSION": metrics.INSTANCE_DIMENSION,
                "INSTANCE": instance,
            },
            vpc=vpc,
            subnets=subnets,
            security_groups=[self.security_group],
        )
        assert self.function.role is not None
        # PutMetricData has no resource ARN; the namespace condition key limits it to this project's.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}},
            )
        )
        acknowledge(
            self.function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource type; it is limited to the DifyOnAws namespace.",
        )
        # One run a minute; a late or failed run leaves a gap the scaling alarms treat as "no change".
        self.function.configure_async_invoke(retry_attempts=0, max_event_age=cdk.Duration.minutes(1))
        self.rule = events.Rule(
            self,
            "EveryMinute",
            description="Dify: publish the Celery queue depth",
            schedule=events.Schedule.rate(PERIOD),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        self.metric = cloudwatch.Metric(
            namespace=metrics.NAMESPACE,
            metric_name=metrics.QUEUE_DEPTH,
            dimensions_map={metrics.INSTANCE_DIMENSION: instance},
            period=PERIOD,
            statistic="Maximum",
            unit=cloudwatch.Unit.COUNT,
        )

    def read_broker_url(self, secret: sm.ISecret) -> None:
        """Tell the function where the broker URL is and let it read that secret (and nothing else)."""
        self.function.add_environment("BROKER_SECRET_ARN", secret.secret_arn)
        secret.grant_read(self.function)
