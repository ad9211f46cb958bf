"""Rotate the database password with Secrets Manager and redeploy whatever read the old one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.data.database import AuroraCluster
from dify_on_aws.runtime_support import https_only_group, python_function

REDEPLOY_RUNTIME = Path(__file__).parent / "runtime" / "redeploy"
# The characters the Database construct keeps out of the generated password: Dify puts the password into
# a database URL, where these would need escaping. The rotated password must follow the same rule.
URL_UNSAFE_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"


class DatabaseRotation(Construct):
    """Single-user rotation of the cluster's master secret every `days` days, then a redeploy.

    Rotation uses CDK's hosted rotation: the Secrets Manager PostgreSQL single-user rotation function,
    deployed from the Serverless Application Repository into the VPC. ECS tasks and Lambda environments
    read the secret only when they start, so an EventBridge rule on the rotation's success invokes a
    function that forces new ECS deployments and fresh Lambda environments.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: AuroraCluster,
        days: int,
        services: Sequence[ecs.FargateService],
        functions: Sequence[lambda_.IFunction],
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        if cluster.secret is None:
            raise ValueError("DatabaseRotation needs a cluster with a generated secret")
        self.secret = cluster.secret
        # The rotation function talks to the Secrets Manager API (HTTPS, through NAT) and to the database;
        # CDK opens the database port from this group on the cluster's group itself.
        self.security_group = https_only_group(
            self, vpc=vpc, description="Dify database password rotation function", apis="Secrets Manager API"
        )
        self.connections = ec2.Connections(security_groups=[self.security_group])
        self.rotation = cluster.add_rotation_single_user(
            automatically_after=cdk.Duration.days(days),
            exclude_characters=URL_UNSAFE_CHARACTERS,
            vpc_subnets=subnets,
            security_group=self.security_group,
            # The first rotation comes `days` after enabling, not in the middle of the deployment that
            # enables it, while CloudFormation is still updating the services this would redeploy.
            rotate_immediately_on_update=False,
        )

        stack = cdk.Stack.of(self)
        self.function = python_function(
            self,
            "Redeploy",
            code_dir=REDEPLOY_RUNTIME,
            handler="index.handler",
            description="Redeploys Dify's services after the database password rotated",
            # Room for a few waits on functions that are being updated at the same time.
            timeout=cdk.Duration.minutes(5),
            log_retention=log_retention,
            environment={
                "DIFY_ECS_SERVICES": stack.to_json_string(
                    [{"cluster": s.cluster.cluster_name, "service": s.service_name} for s in services]
                ),
                "DIFY_FUNCTIONS": stack.to_json_string([f.function_name for f in functions]),
            },
        )
        # A retry would force every service to deploy again; a failure is logged and raised instead.
        self.function.configure_async_invoke(retry_attempts=0)
        if services:
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:UpdateService"], resources=[s.service_arn for s in services]
                )
            )
        if functions:
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:GetFunctionConfiguration", "lambda:UpdateFunctionConfiguration"],
                    resources=[f.function_arn for f in functions],
                )
            )

        # Matched: Secrets Manager's RotationSucceeded, which CloudTrail records as a service event
        # (eventType AwsServiceEvent, not an API call) and EventBridge delivers from source
        # aws.secretsmanager with detail-type "AWS Service Event via CloudTrail"; the rotated secret's ARN
        # is in detail.additionalEventData.SecretId. The API-call detail type is listed too in case the
        # event is ever reported as one; the event name and secret ARN keep the match exact.
        self.rule = events.Rule(
            self,
            "RotationSucceeded",
            description="Dify: redeploy after the database password rotated",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"],
                detail_type=["AWS Service Event via CloudTrail", "AWS API Call via CloudTrail"],
                detail={
                    "eventSource": ["secretsmanager.amazonaws.com"],
                    "eventName": ["RotationSucceeded"],
                    "additionalEventData": {"SecretId": [self.secret.secret_arn]},
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        # No rotation (scheduled or "rotate now") before the rule, its target and the services exist.
        schedule = self.secret.node.find_child("RotationSchedule")
        schedule.node.add_dependency(self.rule, self.function, *services, *functions)
