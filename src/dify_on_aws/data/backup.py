"""AWS Backup for the database and the files bucket, on top of Aurora's own automated backups."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dify_on_aws.nag import acknowledge

# AWS Backup's own managed policies: backing up and restoring Aurora and S3 needs dozens of service
# actions that AWS maintains as the services change.
BACKUP_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)


class DifyBackup(Construct):
    """A vault, one scheduled rule and a selection holding the Aurora cluster and the files bucket.

    S3 backups need versioning on the bucket (the files bucket is versioned). Recovery points are
    encrypted: S3 ones with the vault's key (AWS managed `aws/backup`), Aurora ones keep the cluster's key.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: rds.IDatabaseCluster,
        bucket: s3.IBucket,
        retention_days: int,
        schedule: str,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        # CloudFormation cannot delete a vault that still holds recovery points, whatever the policy says.
        self.vault = backup.BackupVault(self, "Vault", removal_policy=removal_policy)
        self.plan = backup.BackupPlan(self, "Plan", backup_vault=self.vault)
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="Scheduled",
                schedule_expression=events.Schedule.expression(schedule),
                delete_after=cdk.Duration.days(retention_days),
            )
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description="AWS Backup: back up and restore Dify's database and files bucket",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in BACKUP_POLICIES
            ],
        )
        self.selection = self.plan.add_selection(
            "Selection",
            resources=[
                backup.BackupResource.from_rds_database_cluster(cluster),
                backup.BackupResource.from_arn(bucket.bucket_arn),
            ],
            role=self.role,
            disable_default_backup_policy=True,
        )
        for name in BACKUP_POLICIES:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
                "AWS Backup's managed service-role policy: the actions to back up and restore Aurora and S3 "
                "are maintained by AWS; only AWS Backup can assume this role, for this plan's selection.",
            )
