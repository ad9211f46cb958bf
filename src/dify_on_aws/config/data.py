"""`[database]`, `[cache]`, `[storage]` and `[backup]`: the data layer."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dify_on_aws.config.base import Section

# Aurora PostgreSQL versions that ship pgvector >= 0.5 (HNSW) and that cfn-lint accepts for new
# clusters. Kept short on purpose: a version leaves this list when AWS deprecates it.
AURORA_POSTGRES_VERSIONS = ("16.8", "16.9", "17.4", "17.5")
_NODE_TYPE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
# "RestoreDBClusterFromSnapshot" (Amazon RDS API Reference): SnapshotIdentifier is a cluster snapshot's name
# (1-63 letters, digits or hyphens, starting with a letter, no "--", not ending in "-") or its ARN.
_SNAPSHOT = re.compile(
    r"^(arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster-snapshot:)?"
    r"[a-zA-Z](?:[a-zA-Z0-9]|-(?!-)){0,62}(?<!-)$"
)


class DatabaseConfig(Section):
    """Aurora PostgreSQL Serverless v2 with pgvector; databases are created at deploy time."""

    engine_version: str = Field(
        "16.8",
        description=f"Aurora PostgreSQL version; one of {', '.join(AURORA_POSTGRES_VERSIONS)}.",
    )
    min_acu: float = Field(
        0.5,
        ge=0,
        le=256,
        description="Minimum capacity in ACUs (steps of 0.5). 0 lets the cluster pause (scale to zero; the "
        "first request after a pause waits ~15 s), but Aurora pauses only without connections and running "
        "Dify services are always connected (connection pools, the per-minute workflow-schedule poller): "
        "it pauses while a `[schedule]` stops them, not merely when nobody uses Dify.",
    )
    max_acu: float = Field(2, ge=1, le=256, description="Maximum capacity in ACUs (steps of 0.5).")
    auto_pause_seconds: int = Field(
        600, ge=300, le=86400, description="Idle time before pausing; used only when `min_acu = 0`."
    )
    readers: int = Field(
        0, ge=0, le=15, description="Serverless v2 readers in other zones (high availability)."
    )
    backup_retention_days: int = Field(
        7, ge=1, le=35, description="Automated backup retention (point-in-time)."
    )
    rotation_days: int | None = Field(
        None,
        ge=1,
        le=365,
        description="Rotate the database password with Secrets Manager every N days; the ECS services "
        "are redeployed after each rotation so new tasks read the new password. Single-user rotation: from "
        "the moment the password changes until the redeployed tasks are healthy (the rotation event's "
        "delivery plus one rolling deployment, typically 5 to 15 minutes) connections the old tasks already "
        "hold keep working, but every new one they open (at the latest after SQLALCHEMY_POOL_RECYCLE, 300 s) "
        "is refused, so some requests fail. Off by default.",
    )
    snapshot_before_upgrade: bool = Field(
        True,
        description="When a deploy changes the Dify release (`images.api`), take a manual cluster snapshot "
        "named `<cluster>-pre-<release>-<UTC timestamp>` and wait until it is available before the migration "
        "runs; a failed snapshot fails the deploy before the schema changes. Snapshots are kept (also when "
        'the stack is deleted) and billed as backup storage: delete old ones yourself. README, "Upgrades", '
        "has the rollback runbook.",
    )

    snapshot_identifier: str | None = Field(
        None,
        description="Create the cluster from this cluster snapshot (name or ARN), e.g. a pre-upgrade "
        'snapshot to roll back an upgrade (README, "Upgrades"). Setting it on a deployed stack replaces '
        "the cluster: CloudFormation restores the snapshot into a new cluster and repoints Dify; the master "
        "secret is kept and must hold the snapshot's password (after a rotation, see the runbook). The old "
        "cluster follows `removal_policy` (kept with `retain`). Once set, keep the same value: removing or "
        "changing it replaces the cluster again (without it, with an empty one).",
    )

    @field_validator("snapshot_identifier")
    @classmethod
    def _snapshot(cls, value: str | None) -> str | None:
        if value is not None and (len(value.rsplit(":", 1)[-1]) > 63 or not _SNAPSHOT.fullmatch(value)):
            raise ValueError(
                "must be a DB cluster snapshot name (letters, digits and single hyphens, starting with a "
                "letter, at most 63 characters) or its ARN "
                "'arn:aws:rds:<region>:<account>:cluster-snapshot:<name>'"
            )
        return value

    @field_validator("engine_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in AURORA_POSTGRES_VERSIONS:
            raise ValueError(f"must be one of {', '.join(AURORA_POSTGRES_VERSIONS)}")
        return value

    @field_validator("min_acu", "max_acu")
    @classmethod
    def _half_steps(cls, value: float) -> float:
        if (value * 2) != int(value * 2):
            raise ValueError("must be a multiple of 0.5")
        return value

    @model_validator(mode="after")
    def _range(self) -> DatabaseConfig:
        if self.min_acu > self.max_acu:
            raise ValueError(f"min_acu ({self.min_acu}) must not exceed max_acu ({self.max_acu})")
        return self

    @property
    def scales_to_zero(self) -> bool:
        return self.min_acu == 0


class CacheConfig(Section):
    """ElastiCache Valkey, cluster mode disabled (Celery uses database 1), TLS and AUTH always on."""

    engine: Literal["elasticache", "container"] = Field(
        "elasticache",
        description="`elasticache`: a managed Valkey node (TLS, AUTH, snapshots). `container`: Valkey as a "
        "container of the single Dify task (`services.layout = 'single_task'`): no node cost (about "
        "$12/month less), password-protected, bound to localhost, contents lost when the task is replaced.",
    )
    node_type: str = Field("cache.t4g.micro", description="Node type, e.g. `cache.t4g.small`.")
    multi_az: bool = Field(False, description="Add a replica in another zone with automatic failover.")
    engine_version: Literal["7.2", "8.0", "8.1"] = Field("8.0", description="Valkey engine version.")

    @field_validator("node_type")
    @classmethod
    def _node_type(cls, value: str) -> str:
        if not _NODE_TYPE.fullmatch(value):
            raise ValueError("must look like 'cache.<family>.<size>', e.g. 'cache.t4g.micro'")
        return value


class StorageConfig(Section):
    """The S3 bucket for uploaded files and plugin packages."""

    noncurrent_version_days: int = Field(
        30, ge=1, le=3650, description="Days an overwritten or deleted object version is kept."
    )


class BackupConfig(Section):
    """An AWS Backup plan for the database and the files bucket, on top of Aurora's own backups."""

    enabled: bool = Field(False, description="Create a backup vault and a daily plan (extra cost).")
    retention_days: int = Field(35, ge=1, le=36500, description="How long each backup is kept.")
    schedule: str = Field(
        "cron(0 5 * * ? *)", description="When backups run (EventBridge cron expression, UTC)."
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not re.fullmatch(r"cron\((\S+ ){5}\S+\)", value):
            raise ValueError("must be a six-field cron expression such as 'cron(0 5 * * ? *)'")
        return value
