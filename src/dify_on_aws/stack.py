"""The Dify stack: builds each unit from the config and wires them together (grants, connections)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.cache import Cache
from dify_on_aws.data.database import Database, DatabaseNames
from dify_on_aws.data.retention import DataRetention
from dify_on_aws.data.secrets import AppSecrets
from dify_on_aws.data.storage import FileStorage
from dify_on_aws.nag import acknowledge
from dify_on_aws.network.vpc import Network
from dify_on_aws.runtime_support import BASIC_EXECUTION_ROLE

LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class DifyStack(cdk.Stack):
    """One Dify deployment in one region."""

    def __init__(self, scope: Construct, id_: str, *, config: DifyConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = config
        retention = DataRetention.named(config.removal_policy)
        zones = config.network.availability_zones
        if zones is None and config.region is not None:
            zones = [f"{config.region}{suffix}" for suffix in "abc"[: config.network.max_azs]]

        self.network = Network(
            self,
            "Network",
            cidr=config.network.cidr,
            max_azs=config.network.max_azs,
            nat_gateways=config.network.nat_gateways,
            availability_zones=zones if config.account and config.region else None,
            flow_logs=config.network.flow_logs,
            log_retention=LOG_RETENTION,
        )
        vpc = self.network.vpc
        private = self.network.private_subnets

        self.secrets = AppSecrets(self, "Secrets", removal_policy=retention.secrets)
        db = config.database
        self.database = Database(
            self,
            "Database",
            vpc=vpc,
            subnets=private,
            engine_version=db.engine_version,
            min_acu=db.min_acu,
            max_acu=db.max_acu,
            auto_pause_seconds=db.auto_pause_seconds,
            readers=db.readers,
            backup_retention_days=db.backup_retention_days,
            removal_policy=retention.database,
            secret_removal_policy=retention.secrets,
            deletion_protection=retention.deletion_protection,
            log_retention=LOG_RETENTION,
            names=DatabaseNames(),
        )
        self.cache = Cache(
            self,
            "Cache",
            vpc=vpc,
            subnets=private,
            node_type=config.cache.node_type,
            engine_version=config.cache.engine_version,
            multi_az=config.cache.multi_az,
            removal_policy=retention.cache,
            secret_removal_policy=retention.secrets,
        )
        self.storage = FileStorage(
            self,
            "Storage",
            removal_policy=retention.bucket,
            empty_on_delete=retention.empty_bucket_on_delete,
            noncurrent_version_days=config.storage.noncurrent_version_days,
        )

        cdk.CfnOutput(self, "FilesBucket", value=self.storage.bucket.bucket_name)
        cdk.CfnOutput(self, "DatabaseEndpoint", value=self.database.cluster.cluster_endpoint.hostname)
        cdk.CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        cdk.CfnOutput(self, "CacheEndpoint", value=self.cache.host)
        acknowledge_cdk_singletons(self)


def acknowledge_cdk_singletons(stack: cdk.Stack) -> None:
    """Functions CDK adds once per stack (log retention, default-SG restriction) are CDK's own design."""
    for child in stack.node.children:
        if child.node.id.startswith("LogRetention"):
            acknowledge(child, BASIC_EXECUTION_ROLE, "CDK's log-retention function logs with the basic role.")
            acknowledge(
                child,
                "AwsSolutions-IAM5[Resource::*]",
                "CDK's log-retention function sets retention on log groups it learns at deploy time.",
            )
