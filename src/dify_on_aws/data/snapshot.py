"""A manual Aurora cluster snapshot before each Dify upgrade (`database.snapshot_before_upgrade`)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.runtime_support import waiter_functions, waiter_provider

RUNTIME_DIR = Path(__file__).parent / "runtime" / "pre_upgrade_snapshot"
SNAPSHOT_QUERY_INTERVAL = cdk.Duration.seconds(30)
# CloudFormation waits up to an hour for a custom resource; the snapshot must be done well before.
SNAPSHOT_TIMEOUT = cdk.Duration.minutes(50)
# Every name the handler gives contains this (`<cluster>-pre-<release>-<timestamp>`).
NAME_MARK = "-pre-"
SNAPSHOT_ACTIONS = ["rds:CreateDBClusterSnapshot", "rds:DescribeDBClusterSnapshots"]


class PreUpgradeSnapshot(Construct):
    """Takes a snapshot of `cluster` when `release` changes, and completes only once it is available.

    Make the migration depend on `resource`: CloudFormation then updates (snapshots) first. Snapshots are
    never deleted by this construct, not even when the stack is deleted.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: rds.IDatabaseCluster,
        release: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        start, wait = waiter_functions(
            self, code_dir=RUNTIME_DIR, what="the pre-upgrade Aurora snapshot", log_retention=log_retention
        )
        stack = cdk.Stack.of(self)
        # Pseudo parameters, not the stack's (possibly literal) region and account: one ARN form everywhere.
        region, account = cdk.Aws.REGION, cdk.Aws.ACCOUNT_ID
        snapshots = f"arn:{cdk.Aws.PARTITION}:rds:{region}:{account}:cluster-snapshot:*{NAME_MARK}*"
        resources = [cluster.cluster_arn, snapshots]
        start.add_to_role_policy(iam.PolicyStatement(actions=SNAPSHOT_ACTIONS, resources=resources))
        # The cluster copies its tags to its snapshots (copy_tags_to_snapshot), which the caller must be
        # allowed to do (awslabs/aurora-snapshot-tool#32: CreateDBClusterSnapshot denied on
        # rds:AddTagsToResource for the new snapshot).
        start.add_to_role_policy(
            iam.PolicyStatement(actions=["rds:AddTagsToResource"], resources=[snapshots])
        )
        start.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id])
        )
        wait.add_to_role_policy(
            iam.PolicyStatement(actions=["rds:DescribeDBClusterSnapshots"], resources=resources)
        )
        for fn in (start, wait):
            assert fn.role is not None
            acknowledge(
                fn.role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:"
                f"cluster-snapshot:*{NAME_MARK}*]",
                "Snapshot names carry a timestamp; only pre-upgrade snapshot names are allowed.",
            )
        provider = waiter_provider(
            self,
            "Provider",
            on_event=start,
            is_complete=wait,
            query_interval=SNAPSHOT_QUERY_INTERVAL,
            total_timeout=SNAPSHOT_TIMEOUT,
        )
        self.resource = cdk.CustomResource(
            self,
            "Take",
            service_token=provider.service_token,
            resource_type="Custom::DifyPreUpgradeSnapshot",
            properties={"ClusterIdentifier": cluster.cluster_identifier, "Release": release},
        )
