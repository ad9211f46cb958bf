"""`[services]`: the Dify containers on ECS Fargate, their sizes and counts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dify_on_aws.config.base import Section
from dify_on_aws.roles import Role

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


class TaskSize(Section):
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


class RoutedServiceSize(ServiceSize):
    """A role behind the front door's load balancer (api, web): CPU and, optionally, request scaling."""

    requests_per_target: int | None = Field(
        None,
        ge=1,
        le=100000,
        description="Also scale on load-balancer requests per task per minute (target tracking on "
        "ALBRequestCountPerTarget, beside CPU) between `desired_count` and `max_count`. Needs a front door "
        "with an ALB target group: `alb` or `cloudfront`.",
    )

    @model_validator(mode="after")
    def _requests_need_a_ceiling(self) -> RoutedServiceSize:
        if self.requests_per_target is not None and self.max_count is None:
            raise ValueError(
                f"requests_per_target = {self.requests_per_target} needs max_count (the most tasks to "
                "scale out to); set max_count above desired_count or remove requests_per_target"
            )
        return self


class WorkerSize(ServiceSize):
    """The Celery worker: CPU scaling, or scaling on the depth of its Celery queues."""

    queue_scaling: bool = Field(
        False,
        description="Scale on the Celery queue depth (metric DifyOnAws/CeleryQueueDepth, published every "
        "minute by a small function that reads the broker) instead of CPU, between `desired_count` (0 "
        "allowed: no worker while nothing is queued) and `max_count`: one to four tasks more while "
        "messages wait, one task less after `queue_idle_minutes` of empty queues. Needs NAT (or an imported "
        "VPC's egress); not in a closed network, which has no CloudWatch endpoint for the function.",
    )
    queue_idle_minutes: int = Field(
        15,
        ge=1,
        le=60,
        description="With `queue_scaling`, minutes the queues must stay empty before a worker task is "
        "removed (tasks still running then get the stop timeout to finish).",
    )

    @model_validator(mode="after")
    def _queue_scaling_needs_a_ceiling(self) -> WorkerSize:
        if self.queue_scaling and (self.max_count is None or self.max_count <= self.desired_count):
            raise ValueError(
                f"queue_scaling = true needs max_count above desired_count ({self.desired_count}); set "
                "max_count (e.g. 4) or remove queue_scaling"
            )
        return self


class PluginDaemonSize(ServiceSize):
    """Plugin daemon size; plugins' Python environments live on the task's ephemeral disk. One task: the
    community daemon keeps each installed plugin's runtime on the disk of the task that installed it and
    routes calls between tasks by their own IPs (README, Scaling)."""

    ephemeral_storage_gib: int = Field(40, ge=21, le=200, description="Task disk for plugin environments.")

    @model_validator(mode="after")
    def _one_task(self) -> PluginDaemonSize:
        for key in ("desired_count", "max_count"):
            value = getattr(self, key)
            if value is not None and value > 1:
                raise ValueError(
                    f"{key} = {value}: the plugin daemon runs as one task (several daemons each install "
                    "plugins on their own disk and forward calls to each other by task IP, which "
                    "dify-plugin-daemon does not support in the community edition); set it to 1 (or 0) "
                    "and give the task more cpu and memory_mib instead"
                )
        return self


# Default Fargate size of each role; a partial `[services.<role>]` section keeps the keys it does not name.
# api and worker run one gevent process each (SERVER_WORKER_AMOUNT=1, the entrypoint's CELERY_WORKER_AMOUNT
# default of 1), so they use at most one core: half a vCPU with 2 GB each, scaling out on CPU instead
# (`max_count`: no cost while idle, one task runs until the load needs more). The plugin daemon's installs
# run slower on half a vCPU; PYTHON_ENV_INIT_TIMEOUT is raised to match (services/variables.py). The
# sandbox runs short scripts under WORKER_TIMEOUT.
DEFAULT_SIZES: dict[str, dict[str, int]] = {  # cpu units, MiB, and the CPU scaling ceiling
    "api": {"cpu": 512, "memory_mib": 2048, "max_count": 4},
    "worker": {"cpu": 512, "memory_mib": 2048, "max_count": 4},
    "beat": {"cpu": 256, "memory_mib": 512},
    "web": {"cpu": 256, "memory_mib": 512, "max_count": 4},
    "sandbox": {"cpu": 256, "memory_mib": 512},
    "plugin_daemon": {"cpu": 512, "memory_mib": 2048},
    "ssrf_proxy": {"cpu": 256, "memory_mib": 512},
    "single_task": {"cpu": 1024, "memory_mib": 4096},
}


class ServicesConfig(Section):
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
    execute_command: bool = Field(
        True,
        description="ECS Exec into running tasks (`dify-on-aws exec`, the `ApiExecCommand` output): every "
        "service enables execute command and its task role may open the Session Manager channels "
        "(ssmmessages). `false` removes both; nobody can then open a shell in a container.",
    )
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
    api: RoutedServiceSize = Field(default_factory=lambda: RoutedServiceSize(**DEFAULT_SIZES["api"]))
    worker: WorkerSize = Field(default_factory=lambda: WorkerSize(**DEFAULT_SIZES["worker"]))
    beat: TaskSize = Field(default_factory=lambda: TaskSize(**DEFAULT_SIZES["beat"]))
    web: RoutedServiceSize = Field(default_factory=lambda: RoutedServiceSize(**DEFAULT_SIZES["web"]))
    sandbox: ServiceSize = Field(default_factory=lambda: ServiceSize(**DEFAULT_SIZES["sandbox"]))
    plugin_daemon: PluginDaemonSize = Field(
        default_factory=lambda: PluginDaemonSize(**DEFAULT_SIZES["plugin_daemon"])
    )
    ssrf_proxy: ServiceSize = Field(default_factory=lambda: ServiceSize(**DEFAULT_SIZES["ssrf_proxy"]))
    layout: Literal["per_role", "single_task"] = Field(
        "per_role",
        description="`per_role`: one ECS service per role (scales per role). `single_task`: every role as a "
        "container of one task (the low-cost profiles): one task to pay for, roles talk over localhost, "
        "but no per-role scaling, a short outage on each deployment and no network separation of the "
        "sandbox from the other roles.",
    )
    single_task: TaskSize = Field(
        default_factory=lambda: TaskSize(**DEFAULT_SIZES["single_task"]),
        description="Size of the one task with `layout = 'single_task'`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _partial_sizes(cls, data: object) -> object:
        """A size section changes only the keys it names: `[services.sandbox]` with just
        `desired_count = 0` keeps the sandbox's default cpu and memory."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for role, sizes in DEFAULT_SIZES.items():
            given = merged.get(role, {})
            if not isinstance(given, dict):
                continue  # pydantic reports the wrong type
            defaults = dict(sizes)
            if merged.get("layout") == "single_task":
                defaults.pop("max_count", None)  # one shared task does not scale out
            merged[role] = {**defaults, **given}
            # A larger desired_count raises the default ceiling with it rather than failing on it.
            desired = given.get("desired_count")
            if "max_count" not in given and "max_count" in defaults and isinstance(desired, int):
                merged[role]["max_count"] = max(defaults["max_count"], desired)
        return merged

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

    def requests_per_target(self) -> dict[Role, int]:
        """Request-count targets of the roles behind the load balancer that scale on them."""
        routed = {Role.API: self.api, Role.WEB: self.web}
        return {role: size.requests_per_target for role, size in routed.items() if size.requests_per_target}

    def sandbox_packages(self) -> list[str]:
        return read_requirements(self.sandbox_requirements_file or str(DEFAULT_SANDBOX_REQUIREMENTS))


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
