"""The typed configuration: the single source of every option. One module per section (images, network,
data, services, schedule, ssrf_proxy, front_door) and this root model, which joins them and checks what
spans sections.

Every field carries a description; docs/configuration.md is generated from these models and a test
keeps the two in sync. Defaults synthesize offline with no AWS account."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from dify_on_aws.config.base import CrossFieldError, Section, cross_check, region_name
from dify_on_aws.config.checks import CROSS_SECTION_CHECKS
from dify_on_aws.config.data import (
    AURORA_POSTGRES_VERSIONS,
    BackupConfig,
    CacheConfig,
    DatabaseConfig,
    StorageConfig,
)
from dify_on_aws.config.email import EmailConfig
from dify_on_aws.config.env import EnvConfig
from dify_on_aws.config.front_door import CLOUDFRONT_FRONT_DOORS, FrontDoorConfig, FrontDoorType
from dify_on_aws.config.images import ImagesConfig
from dify_on_aws.config.knowledge import KnowledgeBasesConfig
from dify_on_aws.config.monitoring import MonitoringConfig
from dify_on_aws.config.network import NetworkConfig
from dify_on_aws.config.package_index import PackageIndexConfig
from dify_on_aws.config.schedule import ScheduleConfig
from dify_on_aws.config.services import (
    DEFAULT_SANDBOX_REQUIREMENTS,
    FARGATE_SIZES,
    LOG_RETENTION_DAYS,
    PluginDaemonSize,
    ServicesConfig,
    ServiceSize,
    TaskSize,
    fargate_size_error,
    read_requirements,
)
from dify_on_aws.config.ssrf_proxy import SsrfProxyConfig
from dify_on_aws.services import dify_contract

__all__ = [
    "AURORA_POSTGRES_VERSIONS",
    "CLOUDFRONT_FRONT_DOORS",
    "DEFAULT_SANDBOX_REQUIREMENTS",
    "FARGATE_SIZES",
    "LOG_RETENTION_DAYS",
    "BackupConfig",
    "CacheConfig",
    "CrossFieldError",
    "DatabaseConfig",
    "DifyConfig",
    "EmailConfig",
    "EnvConfig",
    "FrontDoorConfig",
    "FrontDoorType",
    "ImagesConfig",
    "KnowledgeBasesConfig",
    "MonitoringConfig",
    "NetworkConfig",
    "PackageIndexConfig",
    "PluginDaemonSize",
    "RemovalPolicyName",
    "ScheduleConfig",
    "ServiceSize",
    "ServicesConfig",
    "SsrfProxyConfig",
    "StorageConfig",
    "TaskSize",
    "fargate_size_error",
    "read_requirements",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_TAG_KEY = re.compile(r"^[\w\s+=.:/@-]{1,128}$")


RemovalPolicyName = Literal["retain", "snapshot", "destroy"]
# Front doors whose api and web services sit in target groups of an Application Load Balancer.
ALB_FRONT_DOORS = ("alb", "cloudfront")


class DifyConfig(Section):
    """A whole Dify deployment."""

    name: str = Field(
        "Dify",
        description="Stack name prefix. Use a different name per Dify instance in one account and region.",
    )
    account: str | None = Field(None, description="AWS account ID. Omit for an environment-agnostic synth.")
    region: str | None = Field(
        None, description="AWS region, e.g. `us-east-1`. Omit to use the CLI's default."
    )
    removal_policy: RemovalPolicyName = Field(
        "retain",
        description="What a stack delete does to data: `retain` keeps database (deletion protection on), "
        "bucket, cache snapshot and secrets; `snapshot` snapshots the database and cache and keeps the "
        "bucket and secrets; `destroy` deletes everything (test environments only).",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every resource.")
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    front_door: FrontDoorConfig = Field(default_factory=FrontDoorConfig)
    ssrf_proxy: SsrfProxyConfig = Field(default_factory=SsrfProxyConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    env: EnvConfig = Field(default_factory=EnvConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    package_index: PackageIndexConfig = Field(default_factory=PackageIndexConfig)
    knowledge_bases: KnowledgeBasesConfig = Field(default_factory=KnowledgeBasesConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must start with a letter and contain only letters, digits and '-' (max 32)")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.fullmatch(value):
            raise ValueError("must be a 12-digit AWS account ID")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return region_name(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if key.lower().startswith("aws:") or not _TAG_KEY.fullmatch(key):
                raise ValueError(f"tag key {key!r} is not allowed (1-128 characters, no 'aws:' prefix)")
            if len(tag) > 256:
                raise ValueError(f"tag {key!r} has a value longer than 256 characters")
            if not tag:
                # Some resources (Step Functions) reject empty tag values at deploy time.
                raise ValueError(f"tag {key!r} has an empty value; give it 1-256 characters or remove it")
        return value

    @cross_check
    def _ssrf_proxy_in_version_set(self) -> DifyConfig:
        images = self.images
        if images.force or images.dify_version not in dify_contract.releases():
            return self
        expected = dify_contract.load(images.dify_version).images["ssrf_proxy"]
        tag, wanted = self.ssrf_proxy.image.rpartition(":")[2], expected.rpartition(":")[2]
        if tag != wanted:
            raise ValueError(
                f"ssrf_proxy.image tag {tag!r} with images.api = {images.api!r} is not a known combination "
                f"(Dify {images.dify_version} goes with {expected!r}); use the tag {wanted!r} (a mirror may "
                "change the registry), or set images.force = true"
            )
        return self

    @cross_check
    def _single_task_scaling(self) -> DifyConfig:
        svc = self.services
        if svc.layout == "single_task":
            scaled = [
                name
                for name in ("api", "worker", "web", "sandbox", "plugin_daemon", "ssrf_proxy")
                if getattr(svc, name).max_count is not None
            ]
            if svc.worker.queue_scaling:
                raise ValueError(
                    "services.worker.queue_scaling needs services.layout = 'per_role' (and so the "
                    "elasticache cache engine): one shared task cannot scale, and its Valkey container is "
                    "reachable only inside the task; remove queue_scaling or set layout = 'per_role'"
                )
            if scaled:
                raise ValueError(
                    f"services.{scaled[0]}.max_count needs services.layout = 'per_role': one shared task "
                    "cannot scale out (the worker beat must run once)"
                )
        return self

    @cross_check
    def _request_scaling_needs_a_target_group(self) -> DifyConfig:
        door = self.front_door.type
        for role in ("api", "web"):
            requests = getattr(self.services, role).requests_per_target
            if requests is not None and door not in ALB_FRONT_DOORS:
                raise ValueError(
                    f"services.{role}.requests_per_target = {requests} scales on the requests an ALB target "
                    f"group counts, and front_door.type = '{door}' has no ALB; remove requests_per_target "
                    f"(CPU scaling stays) or use front_door.type = 'alb' or 'cloudfront'"
                )
        return self

    @cross_check
    def _layout(self) -> DifyConfig:
        if self.front_door.type == "lambda_proxy" and self.services.layout != "single_task":
            raise ValueError(
                "front_door.type = 'lambda_proxy' forwards to one task; set services.layout = 'single_task' "
                "(or choose another front door)"
            )
        if self.cache.engine == "container" and self.services.layout != "single_task":
            raise ValueError(
                "cache.engine = 'container' runs Valkey inside the single Dify task; set services.layout = "
                "'single_task' or use cache.engine = 'elasticache'"
            )
        return self

    @cross_check
    def _rotation_with_warm_functions(self) -> DifyConfig:
        door = self.front_door
        if self.database.rotation_days is not None and door.type == "lambda" and door.provisioned_concurrency:
            raise ValueError(
                "database.rotation_days with front_door.provisioned_concurrency: provisioned api instances "
                "would keep the old password after a rotation; remove one of the two"
            )
        return self

    @cross_check
    def _across_sections(self) -> DifyConfig:
        """The checks between sections kept in config/checks.py (network, front door, integrations)."""
        problems: list[str] = []
        for check in CROSS_SECTION_CHECKS:
            try:
                check(self)
            except ValueError as exc:
                problems.extend(exc.problems if isinstance(exc, CrossFieldError) else [str(exc)])
        if problems:
            raise CrossFieldError(problems)
        return self
