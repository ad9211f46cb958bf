"""Day-two operations built from the config: password rotation (with redeploys so tasks pick up the new
password) and AWS Backup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.backup import DifyBackup
from dify_on_aws.data.retention import DataRetention
from dify_on_aws.operations.rotation import DatabaseRotation
from dify_on_aws.roles import Role
from dify_on_aws.stack.wiring import unique

if TYPE_CHECKING:
    from dify_on_aws.stack.dify_stack import DifyStack


def build_operations(
    stack: DifyStack, config: DifyConfig, retention: DataRetention, log_retention: logs.RetentionDays
) -> None:
    """Password rotation (with redeploys so tasks pick up the new password) and AWS Backup."""
    if config.database.rotation_days is not None:
        readers = (Role.API, Role.WORKER, Role.BEAT, Role.PLUGIN_DAEMON)
        services = unique([stack.dify.services[r].service for r in readers if r in stack.dify.services])
        DatabaseRotation(
            stack,
            "DatabaseRotation",
            cluster=stack.database.cluster,
            days=config.database.rotation_days,
            services=services,
            functions=[g for g in stack.front_door.clients.grantees if isinstance(g, lambda_.Function)],
            vpc=stack.network.vpc,
            subnets=stack.network.private_subnets,
            log_retention=log_retention,
        )
    if config.backup.enabled:
        DifyBackup(
            stack,
            "Backup",
            cluster=stack.database.cluster,
            bucket=stack.storage.bucket,
            retention_days=config.backup.retention_days,
            schedule=config.backup.schedule,
            # A vault is kept or deleted; it has no snapshot of its own.
            removal_policy=retention.bucket,
        )
