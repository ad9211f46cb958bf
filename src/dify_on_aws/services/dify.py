"""All Dify roles on one ECS cluster: one service per role, reached over ECS Service Connect.

Why one service per role: api, worker and web scale on different signals (requests, queue depth), the
worker beat must stay a single task, the sandbox runs untrusted code and is best kept in its own task with
its own security group, and the plugin daemon needs a large disk. Service Connect gives each role a stable
name (`http://api:5001`, `http://sandbox:8194`, `http://plugin-daemon:5002`) that follows task replacements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.roles import PORTS, Role
from dify_on_aws.services.environment import (
    AppKeys,
    ContainerSettings,
    DataEndpoints,
    MailSettings,
    container_settings,
    image_uri,
)
from dify_on_aws.services.sandbox import add_sandbox_requirements
from dify_on_aws.services.service import (
    MIGRATION_ENTRY_POINT,
    MIGRATION_SCRIPT,
    ContainerSpec,
    DifyService,
    MigrationGate,
    TaskSpec,
    dify_task_definition,
    dns_record,
)
from dify_on_aws.services.ssrf_proxy import squid_container
from dify_on_aws.services.start_order import providers_first, service_resource

# Every long-running role; a front door may run some of them itself (see FrontDoor.replaces).
SERVICE_ROLES = (
    Role.API, Role.WORKER, Role.BEAT, Role.WEB, Role.SANDBOX, Role.PLUGIN_DAEMON, Role.SSRF_PROXY,
)  # fmt: skip
# Roles that need no network beyond the SSRF proxy and what Fargate itself fetches (image, secrets, logs).
EGRESS_RESTRICTED = (Role.SANDBOX, Role.WEB)
REPOSITORIES = {
    Role.API: "dify-api",
    Role.WORKER: "dify-api",
    Role.BEAT: "dify-api",
    Role.MIGRATION: "dify-api",
    Role.WEB: "dify-web",
    Role.SANDBOX: "dify-sandbox",
    Role.PLUGIN_DAEMON: "dify-plugin-daemon",
}


def _http_check(command: str, start_seconds: int) -> ecs.HealthCheck:
    return ecs.HealthCheck(
        command=["CMD-SHELL", f"{command} || exit 1"],
        interval=cdk.Duration.seconds(30),
        timeout=cdk.Duration.seconds(10),
        retries=5,
        start_period=cdk.Duration.seconds(start_seconds),
    )


HEALTH_CHECKS = {
    Role.API: _http_check(f"curl -fsS http://localhost:{PORTS[Role.API]}/health", 120),
    Role.WEB: _http_check(f"wget -q --spider http://127.0.0.1:{PORTS[Role.WEB]}/", 60),
    Role.SANDBOX: _http_check(f"curl -fsS http://localhost:{PORTS[Role.SANDBOX]}/health", 60),
    Role.PLUGIN_DAEMON: _http_check(
        f"curl -fsS http://localhost:{PORTS[Role.PLUGIN_DAEMON]}/health/check", 120
    ),
    Role.SSRF_PROXY: _http_check(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{PORTS[Role.SSRF_PROXY]}'", 30),
}


@dataclass(frozen=True)
class PackedTask:
    """All roles in one task (the low-cost layout)."""

    cpu: int
    memory_mib: int
    # The cache as a container of the task (ContainerCache.spec), or None for ElastiCache.
    cache: ContainerSpec | None
    # Service Connect names for front doors that find the roles in Cloud Map (API Gateway).
    service_connect: bool
    # Register the task as `dify.<cluster namespace>` in private DNS (Lambda front doors find it there).
    register_dns: bool


# Suffix of the private DNS names (Cloud Map A records) of roles reached from outside Service Connect;
# Service Connect already owns the plain role names in the namespace, and one Cloud Map service cannot
# serve both (AWS Copilot runs both on one ECS service the same way, with distinct names).
DNS_SUFFIX = "-vpc"


class DifyServices(Construct):
    """The cluster, the long-running roles (all six unless the front door runs one itself) and the
    migration gate that runs before them. Without `internet` (a closed network) the plugin marketplace is
    off and every image comes from the configured registry."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        public_ip: bool,
        namespace: str,
        registry: str,
        tags: dict[Role, str],
        sizes: dict[Role, tuple[int, int, int]],
        plugin_storage_gib: int,
        architecture: ecs.CpuArchitecture,
        capacity: Sequence[ecs.CapacityProviderStrategy],
        container_insights: bool,
        data: DataEndpoints,
        keys: AppKeys,
        public_url: str,
        sandbox_allow_all_syscalls: bool,
        sandbox_packages: Sequence[str],
        ssrf_proxy_image: str,
        squid_conf: str,
        log_retention: logs.RetentionDays,
        migration_timeout: cdk.Duration,
        release: str,
        roles: Sequence[Role] = SERVICE_ROLES,
        packed: PackedTask | None = None,
        docker_hub_credentials: sm.ISecret | None = None,
        dns_roles: Sequence[Role] = (),
        mail: MailSettings | None = None,
        extra: Mapping[Role, ContainerSettings] | None = None,
        internet: bool = True,
        execute_command: bool = True,
        package_index: str | None = None,
        squid_hosts: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id_)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            enable_fargate_capacity_providers=True,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED if container_insights else ecs.ContainerInsights.DISABLED
            ),
        )
        self.namespace = self.cluster.add_default_cloud_map_namespace(
            name=namespace, use_for_service_connect=True
        )
        if not container_insights:
            acknowledge(
                self.cluster,
                "AwsSolutions-ECS4",
                "Container Insights costs per metric; set services.container_insights = true to enable it.",
            )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.image_uris = {role: image_uri(registry, REPOSITORIES[role], tags[role]) for role in REPOSITORIES}
        self.image_uris[Role.SSRF_PROXY] = ssrf_proxy_image
        squid = squid_container(squid_conf)

        def spec(role: Role) -> ContainerSpec:
            settings = container_settings(
                role,
                data=data,
                keys=keys,
                public_url=public_url,
                sandbox_allow_all_syscalls=sandbox_allow_all_syscalls,
                squid_conf=squid_conf,
                squid_hosts=squid_hosts,
                packed=packed is not None,
                release=release,
                mail=mail,
                extra=extra,
                internet=internet,
                package_index=package_index,
            )
            entry_point, command = (
                (squid.entry_point, squid.command)
                if role is Role.SSRF_PROXY
                else (MIGRATION_ENTRY_POINT, [MIGRATION_SCRIPT])
                if role is Role.MIGRATION
                else (None, None)
            )
            return ContainerSpec(
                name=role.value,
                image=self.image_uris[role],
                environment=settings.environment,
                secrets=settings.secrets,
                port=PORTS.get(role),
                health_check=HEALTH_CHECKS.get(role),
                entry_point=entry_point,
                command=command,
                docker_hub_credentials=docker_hub_credentials,
            )

        def task(role: Role) -> TaskSpec:
            cpu, memory, _ = sizes[role]
            storage = plugin_storage_gib if role is Role.PLUGIN_DAEMON else None
            return TaskSpec(cpu, memory, architecture, storage)

        on_demand = [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
        self.services: dict[Role, DifyService] = {}
        # Private DNS names (resolvable anywhere in the VPC) of the roles in `dns_roles`, for callers
        # outside Service Connect (a Lambda function cannot resolve Service Connect names).
        self.dns_hosts: dict[Role, str] = {}
        if packed is None:
            specs = {role: spec(role) for role in roles}
            for role in roles:
                beat = role is Role.BEAT
                self.services[role] = DifyService(
                    self,
                    role.name.title().replace("_", ""),
                    cluster=self.cluster,
                    task=task(role),
                    container=specs[role],
                    # Exactly one beat, on regular Fargate: two would schedule every periodic task twice.
                    desired_count=1 if beat else sizes[role][2],
                    capacity=on_demand if beat else capacity,
                    subnets=subnets,
                    public_ip=public_ip,
                    log_group=self.log_group,
                    service_connect=True,
                    single_task=beat,
                    health_check_grace=cdk.Duration.seconds(180) if role in PORTS else None,
                    allow_all_outbound=role not in EGRESS_RESTRICTED,
                    cloud_map=dns_record(self.namespace, f"{role.value}{DNS_SUFFIX}")
                    if role in dns_roles
                    else None,
                    execute_command=execute_command,
                )
                if role in dns_roles:
                    self.dns_hosts[role] = f"{role.value}{DNS_SUFFIX}.{namespace}"
            providers_first(self, cluster=self.cluster, services=self.services, specs=specs)
        else:
            _one_task(
                self,
                packed=packed,
                roles=roles,
                execute_command=execute_command,
                spec=spec,
                architecture=architecture,
                capacity=capacity,
                subnets=subnets,
                public_ip=public_ip,
                plugin_storage_gib=plugin_storage_gib,
            )
        sandbox = self.services[Role.SANDBOX]
        sandbox_container = sandbox.task_definition.find_container(Role.SANDBOX.value)
        assert sandbox_container is not None
        add_sandbox_requirements(
            sandbox.task_definition, sandbox_container, sandbox_packages, self.log_group, registry=registry
        )

        migration_definition, _ = dify_task_definition(
            self,
            "MigrationTask",
            task=task(Role.MIGRATION),
            container=spec(Role.MIGRATION),
            log_group=self.log_group,
            # A cache inside the task is reachable only from that task; the migration brings its own.
            sidecars=[packed.cache] if packed is not None and packed.cache is not None else (),
        )
        self.migration = MigrationGate(
            self,
            "Migration",
            cluster=self.cluster,
            task_definition=migration_definition,
            container_name=Role.MIGRATION.value,
            log_group=self.log_group,
            vpc=vpc,
            subnets=subnets,
            public_ip=public_ip,
            trigger=self.image_uris[Role.MIGRATION],
            timeout=migration_timeout,
            log_retention=log_retention,
        )
        self.migration_task_definition = migration_definition
        # RunTask names the FARGATE capacity provider, which must be associated with the cluster first (the
        # association is a child of the cluster that CDK adds at synthesis).
        self.migration.resource.node.add_dependency(self.cluster)
        # The services roll only after the schema matches the image they run.
        gate = self.migration.resource.node.default_child
        assert isinstance(gate, cdk.CfnResource)
        for service in {id(s): s for s in self.services.values()}.values():
            service_resource(service).add_resource_dependency(gate)

    def service(self, role: Role) -> ecs.FargateService:
        return self.services[role].service


def _one_task(
    owner: DifyServices,
    *,
    packed: PackedTask,
    roles: Sequence[Role],
    spec: Callable[[Role], ContainerSpec],
    architecture: ecs.CpuArchitecture,
    capacity: Sequence[ecs.CapacityProviderStrategy],
    subnets: ec2.SubnetSelection,
    public_ip: bool,
    plugin_storage_gib: int,
    execute_command: bool,
) -> None:
    """Every role as a container of one task: they talk over localhost. One task only, because the
    worker beat must never run twice; a deployment stops the old task before starting the new one."""
    main, *others = [spec(role) for role in roles]
    sidecars = [*others, *([packed.cache] if packed.cache is not None else [])]
    cloud_map = dns_record(owner.namespace, "dify") if packed.register_dns else None
    service = DifyService(
        owner,
        "Dify",
        cluster=owner.cluster,
        task=TaskSpec(packed.cpu, packed.memory_mib, architecture, plugin_storage_gib),
        container=main,
        sidecars=sidecars,
        desired_count=1,
        capacity=capacity,
        subnets=subnets,
        public_ip=public_ip,
        log_group=owner.log_group,
        service_connect=packed.service_connect,
        single_task=True,
        health_check_grace=cdk.Duration.seconds(240),
        cloud_map=cloud_map,
        execute_command=execute_command,
    )
    owner.services = dict.fromkeys(roles, service)
    if packed.register_dns:
        owner.dns_hosts = {role: f"dify.{owner.namespace.namespace_name}" for role in roles}
