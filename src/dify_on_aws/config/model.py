"""The typed configuration: the single source of every option.

Every field carries a description; docs/configuration.md is generated from this module and a test
keeps the two in sync. Defaults synthesize offline with no AWS account.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dify_on_aws.roles import Role
from dify_on_aws.services import dify_contract
from dify_on_aws.services.ssrf_proxy import squid_config

# Aurora PostgreSQL versions that ship pgvector >= 0.5 (HNSW) and that cfn-lint accepts for new
# clusters. Kept short on purpose: a version leaves this list when AWS deprecates it.
AURORA_POSTGRES_VERSIONS = ("16.8", "16.9", "17.4", "17.5")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
# Fargate task sizes: cpu units -> allowed memory in MiB.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}

DEFAULT_SANDBOX_REQUIREMENTS = Path(__file__).parent.parent / "services" / "sandbox-requirements.txt"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_TAG_KEY = re.compile(r"^[\w\s+=.:/@-]{1,128}$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*$")
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
_NODE_TYPE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")


_CROSS_CHECK = "__dify_cross_check__"
_Check = TypeVar("_Check", bound=Callable[..., Any])


def cross_check(method: _Check) -> _Check:
    """Mark a check across fields of a section. Every failing check is reported in one run, not only the
    first (pydantic stops at the first model validator that raises)."""
    setattr(method, _CROSS_CHECK, True)
    return method


class CrossFieldError(ValueError):
    """Several cross-field problems of one section; the loader reports one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Section(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems: list[str] = []
        for klass in reversed(type(self).__mro__):
            for attr in vars(klass).values():
                if getattr(attr, _CROSS_CHECK, False):
                    try:
                        attr(self)
                    except ValueError as exc:
                        problems.extend(exc.problems if isinstance(exc, CrossFieldError) else [str(exc)])
        if len(problems) == 1:
            raise ValueError(problems[0])
        if problems:
            raise CrossFieldError(problems)
        return self


_DEFAULT_SET = dify_contract.load(dify_contract.DEFAULT_RELEASE).images


class ImagesConfig(_Section):
    """Container images: one Dify release picks the api, web, sandbox, plugin daemon and SSRF proxy images
    that ship together (docs/dify-releases.md); single tags may be overridden within that set."""

    registry: str = Field(
        "docker.io/langgenius",
        description="Registry and namespace the images are pulled from, e.g. an ECR mirror "
        "`123456789012.dkr.ecr.us-east-1.amazonaws.com/langgenius`.",
    )
    # The version set: dify_version, the four tags and force (keep them together).
    dify_version: str = Field(
        dify_contract.DEFAULT_RELEASE,
        description=f"The Dify release to run; one of {', '.join(dify_contract.releases())}. The tags below "
        "and `ssrf_proxy.image` default to the images of that release, and the containers get the "
        "environment its code reads. Setting only `api` to a supported release selects that release.",
    )
    api: str = Field(
        _DEFAULT_SET["api"], description="Tag of `dify-api` (api, worker, worker beat, migrations)."
    )
    web: str = Field(_DEFAULT_SET["web"], description="Tag of `dify-web`.")
    sandbox: str = Field(_DEFAULT_SET["sandbox"], description="Tag of `dify-sandbox`.")
    plugin_daemon: str = Field(
        _DEFAULT_SET["plugin_daemon"], description="Tag of `dify-plugin-daemon` (a `-local` build)."
    )
    force: bool = Field(
        False,
        description="Accept tags (or a `dify_version`) that are not a known set. Nothing then checks that "
        "the images work together or read the environment they are given.",
    )

    @model_validator(mode="before")
    @classmethod
    def _version_set(cls, data: object) -> object:
        """Unset tags come from the release's set; `api` alone names the release when it is one."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        known = dify_contract.releases()
        if "dify_version" not in data and data.get("api") in known:
            data["dify_version"] = data["api"]
        version = data.get("dify_version", dify_contract.DEFAULT_RELEASE)
        if isinstance(version, str) and version in known:
            for key, tag in dify_contract.load(version).images.items():
                if key in dify_contract.IMAGE_KEYS:
                    data.setdefault(key, tag)
        return data

    def role_tags(self) -> dict[Role, str]:
        """The image tag each role runs (every dify-api role shares the api tag)."""
        return {
            Role.API: self.api, Role.WORKER: self.api, Role.BEAT: self.api, Role.MIGRATION: self.api,
            Role.WEB: self.web, Role.SANDBOX: self.sandbox, Role.PLUGIN_DAEMON: self.plugin_daemon,
        }  # fmt: skip

    def contract_release(self) -> str:
        """The release whose contract shapes the containers' environment: `dify_version`, or the default
        release for a forced version the project does not know."""
        known = self.dify_version in dify_contract.releases()
        return self.dify_version if known else dify_contract.DEFAULT_RELEASE

    @model_validator(mode="after")
    def _known_combination(self) -> ImagesConfig:
        if self.force:
            return self
        known = dify_contract.releases()
        if self.dify_version not in known:
            raise ValueError(
                f"images.dify_version = {self.dify_version!r} is not a supported release "
                f"({', '.join(known)}); pick one of them, or set images.force = true and every tag yourself"
            )
        expected = dify_contract.load(self.dify_version).images
        for key in dify_contract.IMAGE_KEYS:
            tag = getattr(self, key)
            if tag != expected[key]:
                other = "api" if key != "api" else "dify_version"
                raise ValueError(
                    f"images.{key} = {tag!r} with images.{other} = {getattr(self, other)!r} is not a known "
                    f"combination (Dify {self.dify_version} ships {key} {expected[key]!r}); use "
                    f"{expected[key]!r}, change images.dify_version, or set images.force = true"
                )
        return self

    docker_hub_secret_arn: str | None = Field(
        None,
        description='Full ARN of a Secrets Manager secret `{"username": ..., "password": ...}` (a Docker '
        "Hub user and access token) used as the ECS repository credentials of every image pulled from "
        "`docker.io`, so pulls count against that account instead of the NAT address's anonymous limit. "
        "Only the task execution roles may read it; encrypt it with the default `aws/secretsmanager` key "
        "(a customer managed key also needs `kms:Decrypt` for those roles, which is not granted). Unset: "
        "Docker Hub images are pulled anonymously (the synth summary says so).",
    )

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not _REGISTRY.fullmatch(value):
            raise ValueError("must be a registry host with an optional path, without scheme or trailing '/'")
        return value

    @field_validator("docker_hub_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_ARN.fullmatch(value):
            raise ValueError(
                "must be the full ARN of a Secrets Manager secret, e.g. "
                "'arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf' (ECS repository "
                "credentials take the complete ARN, with its 6-character suffix)"
            )
        return value

    @field_validator("api", "web", "sandbox", "plugin_daemon", "dify_version")
    @classmethod
    def _tag(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is not allowed: pin a version so upgrades are deliberate")
        if not _IMAGE_TAG.fullmatch(value):
            raise ValueError("must be a Docker image tag (letters, digits, '_', '.', '-')")
        return value


class NetworkConfig(_Section):
    """The VPC: public subnets for NAT (and internet-facing load balancers), private ones for the rest."""

    cidr: str = Field("10.0.0.0/16", description="IPv4 CIDR of the new VPC (a /16 to /22).")
    max_azs: int = Field(2, ge=2, le=3, description="Availability zones to spread subnets over.")
    nat_gateways: int = Field(
        1,
        ge=0,
        le=3,
        description="NAT gateways for egress (image pulls, model APIs); at most `max_azs`. `0`: no NAT "
        "(about $33/month less): tasks run in the public subnets with public IPs, behind security groups "
        "that admit nothing from the internet; data stores stay in isolated subnets.",
    )
    availability_zones: list[str] | None = Field(
        None,
        description="Explicit zone names of your account (`aws ec2 describe-availability-zones`); exactly "
        "`max_azs` of them; needs `region`. Without them a stack with `account` and "
        "`region` uses CDK's availability-zones lookup, recorded in cdk.context.json by the first "
        "`cdk synth` with credentials (`dify-on-aws synth` stops with exit 2 until it is recorded); "
        "names are never guessed, since `<region>b` may not exist for your account.",
    )
    flow_logs: bool = Field(False, description="Send VPC flow logs to CloudWatch Logs (costs per GB).")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"is not a valid IPv4 network in CIDR form ({exc})") from None
        if not 16 <= net.prefixlen <= 22:
            raise ValueError("prefix length must be between /16 and /22")
        if not net.is_private:
            raise ValueError("must be a private (RFC 1918) range, e.g. 10.0.0.0/16")
        return value

    @model_validator(mode="after")
    def _nat_within_azs(self) -> NetworkConfig:
        if self.nat_gateways > self.max_azs:
            raise ValueError(
                f"nat_gateways ({self.nat_gateways}) cannot exceed max_azs ({self.max_azs}); "
                "use at most one NAT gateway per zone"
            )
        if self.availability_zones is not None and len(self.availability_zones) != self.max_azs:
            raise ValueError(
                f"availability_zones lists {len(self.availability_zones)} zones but max_azs is "
                f"{self.max_azs}; list exactly max_azs zones"
            )
        return self


class DatabaseConfig(_Section):
    """Aurora PostgreSQL Serverless v2 with pgvector; databases are created at deploy time."""

    engine_version: str = Field(
        "16.8",
        description=f"Aurora PostgreSQL version; one of {', '.join(AURORA_POSTGRES_VERSIONS)}.",
    )
    min_acu: float = Field(
        0.5,
        ge=0,
        le=256,
        description="Minimum capacity in ACUs (steps of 0.5). 0 lets the cluster pause when idle "
        "(scale to zero; the first request after a pause waits ~15 s).",
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


class CacheConfig(_Section):
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


class StorageConfig(_Section):
    """The S3 bucket for uploaded files and plugin packages."""

    noncurrent_version_days: int = Field(
        30, ge=1, le=3650, description="Days an overwritten or deleted object version is kept."
    )


class TaskSize(_Section):
    """Fargate task size (a valid Fargate cpu/memory pair)."""

    cpu: int = Field(description="vCPU units: 256, 512, 1024, 2048 or 4096.")
    memory_mib: int = Field(description="Memory in MiB, within Fargate's range for the cpu value.")

    @model_validator(mode="after")
    def _fargate(self) -> TaskSize:
        problem = fargate_size_error(self.cpu, self.memory_mib)
        if problem:
            raise ValueError(problem)
        return self


class ServiceSize(TaskSize):
    """Fargate task size and how many tasks run."""

    desired_count: int = Field(1, ge=0, le=50, description="Number of tasks (0 stops the role).")
    max_count: int | None = Field(
        None,
        ge=1,
        le=50,
        description="Scale out up to this many tasks on CPU (target 60 %); unset: a fixed `desired_count`.",
    )

    @model_validator(mode="after")
    def _counts(self) -> ServiceSize:
        if self.max_count is not None and self.max_count < self.desired_count:
            raise ValueError(
                f"max_count ({self.max_count}) is below desired_count ({self.desired_count}); raise it or "
                "remove max_count"
            )
        return self


class PluginDaemonSize(ServiceSize):
    """Plugin daemon size; plugins' Python environments live on the task's ephemeral disk."""

    ephemeral_storage_gib: int = Field(40, ge=21, le=200, description="Task disk for plugin environments.")


class ServicesConfig(_Section):
    """The Dify containers on ECS Fargate, one ECS service per role (see README, Architecture)."""

    architecture: Literal["arm64", "x86_64"] = Field(
        "arm64",
        description="CPU architecture of the tasks. Every pinned image publishes arm64 (Graviton, ~20% "
        "cheaper); choose x86_64 for images you build only for amd64.",
    )
    spot: bool = Field(False, description="Run api, worker, web, sandbox and plugin daemon on Fargate Spot.")
    on_demand_base: int = Field(
        1, ge=0, le=10, description="With `spot`, tasks per service kept on regular Fargate (0 = all Spot)."
    )
    log_retention_days: int = Field(30, description="CloudWatch Logs retention for the containers.")
    bedrock: bool = Field(
        True, description="Let api and worker call Amazon Bedrock (models, inference profiles, rerank, KB)."
    )
    container_insights: bool = Field(False, description="Enable CloudWatch Container Insights (extra cost).")
    sandbox_allow_all_syscalls: bool = Field(
        False,
        description="Let sandboxed code use every system call (for libraries that fail with 'operation "
        "not permitted'). Weakens the sandbox: synth prints a warning.",
    )
    sandbox_requirements_file: str | None = Field(
        None,
        description="A requirements.txt (relative to the working directory) with the extra Python packages "
        "the sandbox installs at start. Comments and blank lines are ignored. Default: the list shipped in "
        "`src/dify_on_aws/services/sandbox-requirements.txt` (numpy, boto3).",
    )
    api: ServiceSize = Field(default_factory=lambda: ServiceSize(cpu=1024, memory_mib=2048))
    worker: ServiceSize = Field(default_factory=lambda: ServiceSize(cpu=1024, memory_mib=2048))
    beat: TaskSize = Field(default_factory=lambda: TaskSize(cpu=256, memory_mib=512))
    web: ServiceSize = Field(default_factory=lambda: ServiceSize(cpu=256, memory_mib=512))
    sandbox: ServiceSize = Field(default_factory=lambda: ServiceSize(cpu=512, memory_mib=1024))
    plugin_daemon: PluginDaemonSize = Field(
        default_factory=lambda: PluginDaemonSize(cpu=1024, memory_mib=2048)
    )
    ssrf_proxy: ServiceSize = Field(default_factory=lambda: ServiceSize(cpu=256, memory_mib=512))
    layout: Literal["per_role", "single_task"] = Field(
        "per_role",
        description="`per_role`: one ECS service per role (scales per role). `single_task`: every role as a "
        "container of one task (the low-cost profiles): one task to pay for, roles talk over localhost, "
        "but no per-role scaling, a short outage on each deployment and no network separation of the "
        "sandbox from the other roles.",
    )
    single_task: TaskSize = Field(
        default_factory=lambda: TaskSize(cpu=1024, memory_mib=4096),
        description="Size of the one task with `layout = 'single_task'`.",
    )

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"must be one of CloudWatch's periods: {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        return value

    @field_validator("sandbox_requirements_file")
    @classmethod
    def _requirements(cls, value: str | None) -> str | None:
        if value is not None:
            read_requirements(value)
        return value

    def task_sizes(self) -> dict[Role, tuple[int, int, int]]:
        """(cpu, memory MiB, desired tasks) per role; the migration task has the api's size and no service."""
        sized = {
            Role.API: self.api, Role.WORKER: self.worker, Role.WEB: self.web, Role.SANDBOX: self.sandbox,
            Role.PLUGIN_DAEMON: self.plugin_daemon, Role.SSRF_PROXY: self.ssrf_proxy,
        }  # fmt: skip
        sizes = {role: (size.cpu, size.memory_mib, size.desired_count) for role, size in sized.items()}
        sizes[Role.BEAT] = (self.beat.cpu, self.beat.memory_mib, 1)
        sizes[Role.MIGRATION] = (self.api.cpu, self.api.memory_mib, 0)
        return sizes

    def max_counts(self) -> dict[Role, int | None]:
        """The CPU-scaling ceiling per role (None: a fixed count); beat always runs once."""
        return {
            Role.API: self.api.max_count, Role.WORKER: self.worker.max_count, Role.WEB: self.web.max_count,
            Role.SANDBOX: self.sandbox.max_count, Role.PLUGIN_DAEMON: self.plugin_daemon.max_count,
            Role.SSRF_PROXY: self.ssrf_proxy.max_count,
        }  # fmt: skip

    def sandbox_packages(self) -> list[str]:
        return read_requirements(self.sandbox_requirements_file or str(DEFAULT_SANDBOX_REQUIREMENTS))


class BackupConfig(_Section):
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


class ScheduleConfig(_Section):
    """Scale the services to zero outside working hours (the database pauses on its own with min_acu 0)."""

    enabled: bool = Field(False, description="Stop every ECS service outside `working_hours`.")
    working_hours: str = Field(
        "MON-FRI 08:00-20:00",
        description="When Dify runs: days (`MON-FRI`, `MON-SUN`, `SAT,SUN`) and a start-end time, 24 h.",
    )
    timezone: str = Field("UTC", description="IANA time zone of `working_hours`, e.g. `Asia/Tokyo`.")

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = re.fullmatch(r"([A-Z]{3}(?:[-,][A-Z]{3})*) (\d{2}):(\d{2})-(\d{2}):(\d{2})", value)
        if match is None:
            raise ValueError("must look like 'MON-FRI 08:00-20:00'")
        days = re.split(r"[-,]", match.group(1))
        wrong = [d for d in days if d not in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")]
        if wrong:
            raise ValueError(f"unknown day(s) {wrong}; use MON..SUN")
        start = int(match.group(2)) * 60 + int(match.group(3))
        end = int(match.group(4)) * 60 + int(match.group(5))
        if not (0 <= start < end <= 24 * 60) or int(match.group(3)) > 59 or int(match.group(5)) > 59:
            raise ValueError("start must be before end, both within 00:00-24:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        import zoneinfo  # noqa: PLC0415

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Berlin'") from None
        return value

    def hours_per_week(self) -> float:
        """Running hours per week (the cost estimator uses it for the active share)."""
        days_part, times = self.working_hours.split(" ")
        names = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
        days = 0
        for part in days_part.split(","):
            if "-" in part:
                first, last = part.split("-")
                days += (names.index(last) - names.index(first)) % 7 + 1
            else:
                days += 1
        start, end = times.split("-")
        minutes = (int(end[:2]) * 60 + int(end[3:])) - (int(start[:2]) * 60 + int(start[3:]))
        return days * minutes / 60


class SsrfProxyConfig(_Section):
    """The SSRF proxy (Squid) that every URL a Dify user types is fetched through."""

    image: str = Field(
        _DEFAULT_SET["ssrf_proxy"],
        description="Squid image (full reference; mirror it to ECR for closed networks). Its tag must be the "
        "one of `images.dify_version`'s set unless `images.force = true`.",
    )
    allowed_domains: list[str] = Field(
        default_factory=list,
        description="Closed networks: when set, only these domains are reachable (`.example.com` includes "
        "subdomains). Empty: the whole public internet, never the VPC or metadata endpoints.",
    )
    allowed_cidrs: list[str] = Field(
        default_factory=list,
        description="Private networks Dify may reach anyway (an internal API, a corporate proxy). Metadata "
        "endpoints can never be allowed.",
    )
    port_policy: Literal["dify", "strict"] = Field(
        "dify",
        description="Destination ports plain HTTP may use. `dify`: the safe ports of Dify's own SSRF proxy "
        "(80, 443, 21, 70, 210, 280, 488, 591, 777 and 1025-65535), so HTTP-request nodes and tools reach "
        "APIs on other ports. `strict`: 80 and 443 only (plus `extra_ports`). CONNECT (TLS) goes to 443 "
        "(plus `extra_ports`) either way; private, VPC, metadata and loopback addresses stay denied on every "
        "port.",
    )
    extra_ports: list[int] = Field(
        default_factory=list,
        description="Destination ports allowed for both plain HTTP and CONNECT (TLS) on top of "
        "`port_policy` (e.g. 8443).",
    )

    @model_validator(mode="after")
    def _valid(self) -> SsrfProxyConfig:
        # Rendering the configuration validates every CIDR, domain and port with a message naming it.
        squid_config(
            denied_cidrs=["10.0.0.0/16"],
            allowed_domains=self.allowed_domains,
            allowed_cidrs=self.allowed_cidrs,
            extra_ports=self.extra_ports,
            port_policy=self.port_policy,
        )
        return self


FrontDoorType = Literal["cloudfront", "alb", "api_gateway", "lambda", "lambda_proxy"]
# Front doors whose edge is CloudFront: certificates, WAF and Lambda@Edge live in us-east-1.
CLOUDFRONT_FRONT_DOORS = ("cloudfront", "lambda", "lambda_proxy")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class FrontDoorConfig(_Section):
    """How Dify is reached from the internet. `docs/front-doors.md` compares the four types."""

    type: FrontDoorType = Field(
        "cloudfront",
        description="`cloudfront`: CloudFront (HTTPS on *.cloudfront.net) with a VPC origin to an internal "
        "ALB that the internet cannot reach. `alb`: an internet-facing (or `internal`) ALB straight to the "
        "services. `api_gateway`: API Gateway HTTP API with a VPC link to the services through Cloud Map, "
        "no load balancer (no streaming, 30 s limit). `lambda`: CloudFront in front of Lambda function URLs "
        "that run the Dify api and web images (streaming; cold starts; 1 MB request bodies). `lambda_proxy`: "
        "CloudFront in front of a function URL running nginx that forwards to the single Dify task (the lean "
        "profile: nothing billed when idle, streaming, 6 MB request bodies).",
    )
    domain: str | None = Field(
        None,
        description="Custom domain, e.g. `dify.example.com`. Needs `hosted_zone` (certificate and alias "
        "record are created) or `certificate_arn` (you create the DNS record).",
    )
    hosted_zone: str | None = Field(
        None,
        description="Route 53 public hosted zone that contains `domain`, e.g. `example.com`. Looked up at "
        "synth time (needs `account` and `region`) unless `hosted_zone_id` is given.",
    )
    hosted_zone_id: str | None = Field(None, description="ID of `hosted_zone`; skips the lookup.")
    certificate_arn: str | None = Field(
        None,
        description="Bring your own ACM certificate for `domain` instead of a Route 53 validated one. "
        "For `cloudfront` and `lambda` it must be in us-east-1; otherwise in the stack's region.",
    )
    allowed_cidrs: list[str] = Field(
        default_factory=list,
        description="IPv4/IPv6 CIDRs allowed to reach Dify (empty: everyone). Enforced by the ALB security "
        "group (`alb`, IPv4 only: the load balancer has no IPv6 address), a WAF web ACL (`cloudfront`, "
        "`lambda`) or a Lambda authorizer (`api_gateway`).",
    )
    allowed_countries: list[str] = Field(
        default_factory=list,
        description="ISO 3166 country codes allowed to reach Dify (empty: all). WAF only: `cloudfront`, "
        "`lambda`. With `allowed_cidrs` too, a caller must match both.",
    )
    internal: bool = Field(
        False, description="`alb` only: an internal load balancer, reachable only from inside the VPC."
    )
    origin_read_timeout_seconds: int = Field(
        60,
        ge=1,
        le=180,
        description="How long CloudFront waits for the first byte of a response (blocking API calls). "
        "Above 60 needs a CloudFront quota increase.",
    )
    idle_timeout_seconds: int = Field(
        600, ge=60, le=4000, description="Load balancer idle timeout (long blocking requests, uploads)."
    )
    waf_managed_rules: bool = Field(
        False,
        description="`cloudfront`, `lambda`: add AWS managed rule groups (common, known bad inputs, IP "
        "reputation) and a per-IP rate limit to the WAF web ACL, with Dify's uploads exempted from body "
        "size rules (docs/security.md).",
    )
    waf_rate_limit: int = Field(
        2000, ge=100, le=2_000_000_000, description="Requests per 5 minutes per IP before WAF blocks it."
    )
    function_memory_mib: int = Field(
        2048, ge=512, le=10240, description="`lambda` only: memory of the api function (web gets 1024)."
    )
    function_timeout_seconds: int = Field(
        300, ge=30, le=900, description="`lambda` only: longest request the functions serve."
    )
    provisioned_concurrency: int = Field(
        0,
        ge=0,
        le=100,
        description="`lambda` only: api instances kept warm (removes cold starts; billed while idle).",
    )

    @field_validator("domain", "hosted_zone")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.rstrip(".")
            if not _DOMAIN.fullmatch(value):
                raise ValueError(f"{value!r} is not a lower-case DNS name such as 'dify.example.com'")
        return value

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone_id(cls, value: str | None) -> str | None:
        if value is not None and not _ZONE_ID.fullmatch(value):
            raise ValueError("must be a Route 53 hosted zone ID such as 'Z0123456789ABCDEFGHIJ'")
        return value

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, value: str | None) -> str | None:
        if value is not None and not _CERTIFICATE_ARN.fullmatch(value):
            raise ValueError("must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)")
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            if cidr in ("0.0.0.0/0", "::/0"):
                # WAF IP sets reject /0, and "everyone" is what an empty list already means.
                raise ValueError(f"{cidr!r} allows everyone; leave allowed_cidrs empty for that")
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                hint = ""
                with contextlib.suppress(ValueError):
                    hint = f"; did you mean {ipaddress.ip_network(cidr, strict=False)}?"
                raise ValueError(f"{cidr!r} is not a network CIDR ({exc}){hint}") from None
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        wrong = [c for c in value if not _COUNTRY.fullmatch(c)]
        if wrong:
            raise ValueError(f"{wrong} are not upper-case ISO 3166 alpha-2 codes such as 'JP' or 'US'")
        return value

    @cross_check
    def _ipv6_on_alb(self) -> FrontDoorConfig:
        ipv6 = [c for c in self.allowed_cidrs if ":" in c]
        if ipv6 and self.type == "alb":
            # The ALB is IPv4-only (its VPC has no IPv6), so an IPv6 rule would admit nobody.
            raise ValueError(
                f"allowed_cidrs {ipv6} are IPv6, but the 'alb' front door's load balancer is IPv4-only and "
                "never sees IPv6 clients; remove them, or use type = 'cloudfront' (its WAF allow-list "
                "takes IPv6)"
            )
        return self

    @cross_check
    def _internal(self) -> FrontDoorConfig:
        kind = self.type
        if self.internal and kind != "alb":
            raise ValueError(
                f"internal = true needs type = 'alb' (a {kind} front door is reachable from the internet); "
                "set type = 'alb' or remove internal"
            )
        return self

    @cross_check
    def _allow_lists(self) -> FrontDoorConfig:
        kind = self.type
        if kind == "lambda_proxy" and (
            self.allowed_cidrs or self.allowed_countries or self.waf_managed_rules
        ):
            raise ValueError(
                "type = 'lambda_proxy' cannot enforce allow-lists or WAF rules: its function URL is public "
                "and bypasses CloudFront; use 'cloudfront' or 'lambda', or remove them"
            )
        if self.waf_managed_rules and kind not in CLOUDFRONT_FRONT_DOORS:
            raise ValueError(
                f"waf_managed_rules needs a CloudFront-based front door, not type = '{kind}'; use "
                "'cloudfront' or 'lambda', or remove waf_managed_rules"
            )
        if self.allowed_countries and kind not in CLOUDFRONT_FRONT_DOORS:
            raise ValueError(
                f"allowed_countries needs a WAF, which type = '{kind}' cannot use; use type = 'cloudfront' "
                "or 'lambda', or remove allowed_countries"
            )
        return self

    @cross_check
    def _domain_settings(self) -> FrontDoorConfig:
        kind = self.type
        if self.domain is None:
            for key in ("hosted_zone", "hosted_zone_id", "certificate_arn"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} is set but domain is not; set domain (e.g. 'dify.example.com')")
            return self
        if self.hosted_zone is None and self.certificate_arn is None:
            raise ValueError(
                f"domain {self.domain!r} needs hosted_zone (a Route 53 public zone, e.g. "
                f"'{self.domain.split('.', 1)[-1]}') or certificate_arn (your own ACM certificate)"
            )
        if self.hosted_zone_id is not None and self.hosted_zone is None:
            raise ValueError("hosted_zone_id needs hosted_zone (the zone's name)")
        zone = self.hosted_zone
        if zone is not None and self.domain != zone and not self.domain.endswith(f".{zone}"):
            raise ValueError(f"domain {self.domain!r} is not inside hosted_zone {zone!r}")
        if self.certificate_arn is not None and kind in CLOUDFRONT_FRONT_DOORS:
            region = _CERTIFICATE_ARN.fullmatch(self.certificate_arn)
            if region is not None and region.group(1) != "us-east-1":
                raise ValueError(
                    f"certificate_arn is in {region.group(1)}, but CloudFront only uses certificates in "
                    "us-east-1; import or request the certificate there"
                )
        return self

    def needs_edge_stack(self) -> bool:
        """Whether us-east-1 resources are needed: a CloudFront certificate, a WAF or Lambda@Edge."""
        if self.type not in CLOUDFRONT_FRONT_DOORS:
            return False
        certificate = self.domain is not None and self.certificate_arn is None
        waf = bool(self.allowed_cidrs or self.allowed_countries or self.waf_managed_rules)
        return self.type == "lambda" or certificate or waf


RemovalPolicyName = Literal["retain", "snapshot", "destroy"]


class DifyConfig(_Section):
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
        if value is not None and not _REGION.fullmatch(value):
            raise ValueError("must be an AWS region name such as 'us-east-1'")
        return value

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
            if scaled:
                raise ValueError(
                    f"services.{scaled[0]}.max_count needs services.layout = 'per_role': one shared task "
                    "cannot scale out (the worker beat must run once)"
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
    def _nat_for_rotation(self) -> DifyConfig:
        if self.network.nat_gateways == 0 and self.database.rotation_days is not None:
            raise ValueError(
                "database.rotation_days runs a rotation function in the VPC that needs NAT to reach Secrets "
                "Manager; set network.nat_gateways >= 1 or remove rotation_days"
            )
        return self

    @cross_check
    def _nat_for_lambda(self) -> DifyConfig:
        if self.network.nat_gateways == 0 and self.front_door.type == "lambda":
            raise ValueError(
                "front_door.type = 'lambda' runs the api function in the VPC, where it needs NAT to reach "
                "Secrets Manager and model APIs; set network.nat_gateways >= 1 or choose another front door"
            )
        return self

    @cross_check
    def _front_door_environment(self) -> DifyConfig:
        door = self.front_door
        missing = [key for key in ("account", "region") if getattr(self, key) is None]
        if not missing:
            if (
                door.certificate_arn is not None
                and door.type not in CLOUDFRONT_FRONT_DOORS
                and f":acm:{self.region}:" not in door.certificate_arn
            ):
                raise ValueError(
                    f"front_door.certificate_arn must be in region {self.region} for type = '{door.type}'"
                )
            return self
        needs = ", ".join(missing)
        if door.needs_edge_stack():
            reason = "Lambda@Edge" if door.type == "lambda" else "the WAF web ACL or certificate in us-east-1"
            raise ValueError(
                f"front_door.type = '{door.type}' with these settings needs {reason}, which is deployed as a "
                f"second stack with cross-region references; set {needs}"
            )
        if door.hosted_zone is not None and door.hosted_zone_id is None:
            raise ValueError(
                f"front_door.hosted_zone {door.hosted_zone!r} is looked up in Route 53, which needs {needs}; "
                "set them, or set front_door.hosted_zone_id to skip the lookup"
            )
        return self

    @cross_check
    def _zones(self) -> DifyConfig:
        zones = self.network.availability_zones
        if zones is not None:
            if self.region is None:
                raise ValueError("network.availability_zones needs region; set region or remove the zones")
            wrong = [z for z in zones if not z.startswith(self.region)]
            if wrong:
                raise ValueError(f"network.availability_zones {wrong} are not in region {self.region}")
        return self


_REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\[\],<>=!~; -]*")


def read_requirements(path: str) -> list[str]:
    """The package lines of a requirements file; raises ValueError naming the problem."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"file {path!r} not found (relative to {Path.cwd()})")
    lines = [line.split("#", 1)[0].strip() for line in file.read_text(encoding="utf-8").splitlines()]
    packages = [line for line in lines if line]
    for line in packages:
        if not _REQUIREMENT.fullmatch(line):
            raise ValueError(f"line {line!r} is not a package requirement such as 'numpy==2.1.0'")
    return packages


def fargate_size_error(cpu: int, memory_mib: int) -> str | None:
    """Return why a Fargate cpu/memory pair is invalid, or None when it is valid."""
    if cpu not in FARGATE_SIZES:
        return f"cpu must be one of {sorted(FARGATE_SIZES)}"
    if memory_mib not in FARGATE_SIZES[cpu]:
        allowed = FARGATE_SIZES[cpu]
        return (
            f"memory_mib for cpu {cpu} must be one of {allowed[0]}..{allowed[-1]} in steps of 1024"
            if len(allowed) > 3
            else f"memory_mib for cpu {cpu} must be one of {list(allowed)}"
        )
    return None
