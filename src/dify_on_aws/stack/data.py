"""The data layer of one deployment, built from the config: application secrets, Aurora, the cache
(ElastiCache or the in-task Valkey's password) and the files bucket, each with the retention the config
names."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.cache import Cache, ContainerCache
from dify_on_aws.data.database import Database, DatabaseNames
from dify_on_aws.data.retention import DataRetention
from dify_on_aws.data.secrets import AppSecrets
from dify_on_aws.data.storage import FileStorage
from dify_on_aws.network.vpc import Network


@dataclass(frozen=True)
class DataUnits:
    secrets: AppSecrets
    database: Database
    cache: Cache | ContainerCache
    storage: FileStorage


def build_data(
    stack: cdk.Stack,
    *,
    config: DifyConfig,
    network: Network,
    retention: DataRetention,
    log_retention: logs.RetentionDays,
) -> DataUnits:
    """Every data unit in `stack` (its own scope, so logical IDs do not depend on this helper)."""
    vpc = network.vpc
    subnets = network.data_subnets
    secrets = AppSecrets(stack, "Secrets", removal_policy=retention.secrets)
    db = config.database
    database = Database(
        stack,
        "Database",
        vpc=vpc,
        subnets=subnets,
        engine_version=db.engine_version,
        min_acu=db.min_acu,
        max_acu=db.max_acu,
        auto_pause_seconds=db.auto_pause_seconds,
        readers=db.readers,
        backup_retention_days=db.backup_retention_days,
        removal_policy=retention.database,
        secret_removal_policy=retention.secrets,
        deletion_protection=retention.deletion_protection,
        log_retention=log_retention,
        names=DatabaseNames(),
        rotation=db.rotation_days is not None,
        snapshot_identifier=db.snapshot_identifier,
    )
    cache: Cache | ContainerCache
    if config.cache.engine == "container":
        cache = ContainerCache(stack, "Cache", secret_removal_policy=retention.secrets)
    else:
        cache = Cache(
            stack,
            "Cache",
            vpc=vpc,
            subnets=subnets,
            node_type=config.cache.node_type,
            engine_version=config.cache.engine_version,
            multi_az=config.cache.multi_az,
            removal_policy=retention.cache,
            secret_removal_policy=retention.secrets,
        )
    storage = FileStorage(
        stack,
        "Storage",
        removal_policy=retention.bucket,
        empty_on_delete=retention.empty_bucket_on_delete,
        noncurrent_version_days=config.storage.noncurrent_version_days,
    )
    return DataUnits(secrets, database, cache, storage)
