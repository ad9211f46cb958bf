"""The Dify stack: builds each unit from the config and wires them together (grants, connections)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.config import DifyConfig
from dify_on_aws.config.effects import ineffective_options
from dify_on_aws.data.cache import ContainerCache, broker_url_secret
from dify_on_aws.data.retention import DataRetention, log_retention
from dify_on_aws.flags import apply_feature_flags
from dify_on_aws.frontdoor.base import Backends, warn
from dify_on_aws.frontdoor.edge import EdgeStack
from dify_on_aws.frontdoor.factory import build_edge_stack, build_front_door
from dify_on_aws.nag import acknowledge_cdk_singletons
from dify_on_aws.roles import Role
from dify_on_aws.services.dify import SERVICE_ROLES, DifyServices, PackedTask
from dify_on_aws.services.environment import (
    AppKeys,
    ContainerSettings,
    DataEndpoints,
    container_settings,
)
from dify_on_aws.services.package_index import index_url
from dify_on_aws.services.ssrf_proxy import INTERNAL_HOSTS_PATH, squid_config
from dify_on_aws.services.valkey import valkey_container
from dify_on_aws.stack.data import build_data
from dify_on_aws.stack.fargate import capacity_strategy, cpu_architecture
from dify_on_aws.stack.integrations import build_integrations
from dify_on_aws.stack.knowledge import build_knowledge_api
from dify_on_aws.stack.monitoring import build_monitoring
from dify_on_aws.stack.network import build_network
from dify_on_aws.stack.operations import build_operations
from dify_on_aws.stack.outputs import add_outputs
from dify_on_aws.stack.packages import build_package_index
from dify_on_aws.stack.scaling import build_scaling
from dify_on_aws.stack.wiring import snapshot_before_upgrade, wire

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
MIGRATION_TIMEOUT = cdk.Duration.minutes(30)


class DifyStack(cdk.Stack):
    """One Dify deployment in one region."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: DifyConfig,
        edge: EdgeStack | None = None,
        **kwargs: Any,
    ) -> None:
        """Add Dify to `scope` (an App or Stage). The config's account and region become the stack's
        environment unless `env` is given; CloudFront options that need us-east-1 get their Edge stack
        beside this one unless `edge` is given; the project's feature flags and tags apply either way, so
        the templates equal those of `dify-on-aws synth` for the same config."""
        if edge is None and config.front_door.needs_edge_stack():
            edge = build_edge_stack(
                scope,
                instance=config.name,
                account=config.account,
                region=config.region,
                door=config.front_door,
            )
        super().__init__(scope, id_, **_stack_options(config, edge, kwargs))
        apply_feature_flags(self)
        self.config = config
        self.edge = edge
        _tag_instance(config, [self, *([edge] if edge is not None else [])])
        retention = DataRetention.named(config.removal_policy)
        # With an account and region, zones are the configured ones or CDK's availability-zones lookup
        # (recorded in cdk.context.json); names are never guessed, since `<region>b` may not exist for
        # the account. Without both, the template stays environment-agnostic (Fn::GetAZs).
        # Configured zones apply whenever the region is known (validation requires the region for them).
        env_specific = bool(config.account and config.region)
        self._zones = config.network.availability_zones if config.region else None

        self.network = build_network(
            self,
            config=config,
            zones=self._zones,
            named_zones=env_specific or self._zones is not None,
            log_retention=LOG_RETENTION,
        )
        units = build_data(
            self, config=config, network=self.network, retention=retention, log_retention=LOG_RETENTION
        )
        self.secrets, self.database, self.cache = units.secrets, units.database, units.cache
        self.storage = units.storage

        self.knowledge_api = build_knowledge_api(
            self, config=config, network=self.network, retention=retention, log_retention=LOG_RETENTION
        )
        self._services(config, retention.secrets)
        self.pre_upgrade_snapshot = snapshot_before_upgrade(self, config, LOG_RETENTION)
        build_operations(self, config, retention, LOG_RETENTION)
        self.monitoring = build_monitoring(self, config)

        add_outputs(self)
        acknowledge_cdk_singletons(self)
        for code, message in ineffective_options(config):
            warn(self, code, message)

    @property
    def availability_zones(self) -> list[str]:
        """Configured zones, else CDK's own: the recorded context lookup (account and region) or
        Fn::GetAZs (environment-agnostic)."""
        return list(self._zones) if self._zones else list(super().availability_zones)

    def _services(self, config: DifyConfig, secret_removal: cdk.RemovalPolicy) -> None:
        """Data endpoints, then the front door (its URL goes into the containers), then the roles."""
        svc = config.services
        vpc = self.network.vpc
        cache = self.cache
        broker = broker_url_secret(self, "CeleryBrokerUrl", cache=cache, removal_policy=secret_removal)
        data = DataEndpoints(
            region=cdk.Aws.REGION,
            db_host=self.database.cluster.cluster_endpoint.hostname,
            db_port=self.database.port,
            db_secret=self.database.secret,
            db_names=self.database.names,
            redis_host=cache.host,
            redis_port=cache.port,
            redis_tls=cache.tls,
            redis_token=cache.auth_token,
            broker_url=broker,
            bucket_name=self.storage.bucket.bucket_name,
        )
        keys = AppKeys(
            self.secrets.secret_key,
            self.secrets.sandbox_api_key,
            self.secrets.plugin_daemon_key,
            self.secrets.inner_api_key,
        )
        images = config.images
        self.front_door = build_front_door(
            self,
            door=config.front_door,
            edge=self.edge,
            vpc=vpc,
            subnets=self.network.private_subnets,
            vpc_cidr=self.network.cidr,
            arm64=svc.architecture == "arm64",
            dns_namespace=self._dns_namespace,
            api_image=f"{images.registry}/dify-api:{images.api}",
            web_image=f"{images.registry}/dify-web:{images.web}",
            web_settings=container_settings(Role.WEB, data=data, keys=keys, public_url=""),
            log_retention=LOG_RETENTION,
        )
        self.integrations = build_integrations(
            self,
            config=config,
            edge=self.edge,
            knowledge=self.knowledge_api,
            secret_removal=secret_removal,
            log_retention=LOG_RETENTION,
        )
        sizes = svc.task_sizes()
        self.dify = DifyServices(
            self,
            "Dify",
            vpc=vpc,
            subnets=self.network.task_subnets,
            public_ip=self.network.public_ip,
            namespace=self._dns_namespace,
            registry=images.registry,
            tags=images.role_tags(),
            sizes=sizes,
            plugin_storage_gib=svc.plugin_daemon.ephemeral_storage_gib,
            architecture=cpu_architecture(svc.architecture),
            capacity=capacity_strategy(svc.spot, svc.on_demand_base),
            container_insights=svc.container_insights,
            data=data,
            keys=keys,
            public_url=self.front_door.url,
            sandbox_allow_all_syscalls=svc.sandbox_allow_all_syscalls,
            sandbox_packages=svc.sandbox_packages(),
            ssrf_proxy_image=config.ssrf_proxy.image,
            squid_conf=squid_config(
                denied_cidrs=[self.network.cidr],
                allowed_domains=config.ssrf_proxy.allowed_domains,
                allowed_cidrs=config.ssrf_proxy.allowed_cidrs,
                extra_ports=config.ssrf_proxy.extra_ports,
                port_policy=config.ssrf_proxy.port_policy,
                internal_hosts_file=INTERNAL_HOSTS_PATH if self.integrations.internal_hosts else None,
            ),
            log_retention=log_retention(svc.log_retention_days),
            migration_timeout=MIGRATION_TIMEOUT,
            release=images.contract_release(),
            roles=[r for r in SERVICE_ROLES if r not in self.front_door.replaces],
            packed=_packed(self, config),
            docker_hub_credentials=(
                sm.Secret.from_secret_complete_arn(self, "DockerHubCredentials", images.docker_hub_secret_arn)
                if images.docker_hub_secret_arn
                else None
            ),
            dns_roles=sorted(self.front_door.reaches),
            mail=self.integrations.mail_settings,
            extra=self.integrations.extra,
            internet=not config.network.closed,
            execute_command=svc.execute_command,
            package_index=index_url(self._dns_namespace) if config.package_index.type != "none" else None,
            squid_hosts=self.integrations.internal_hosts,
        )
        self.integrations.wait_for_mail({r: s.service for r, s in self.dify.services.items()})
        self.package_index = build_package_index(self, config)
        if svc.sandbox_allow_all_syscalls:
            cdk.Annotations.of(self.dify.services[Role.SANDBOX]).add_warning_v2(
                "dify:sandbox-all-syscalls",
                "services.sandbox_allow_all_syscalls is on: sandboxed code may use every system call.",
            )
        self.front_door.connect(
            Backends(
                services={role: service.service for role, service in self.dify.services.items()},
                namespace=self.dify.namespace,
                settings=lambda role: self._settings(role, data, keys),
            )
        )
        self.broker = broker
        self.queue_depth = build_scaling(
            self,
            config=config,
            services=self.dify.services,
            desired={role: size[2] for role, size in sizes.items()},
            front_door=self.front_door,
            network=self.network,
            log_retention=LOG_RETENTION,
        )
        wire(self, config)

    @property
    def _dns_namespace(self) -> str:
        return f"{self.stack_name.lower()}.dify.internal"

    def _settings(self, role: Role, data: DataEndpoints, keys: AppKeys) -> ContainerSettings:
        # Front-door compute (Lambda) reaches the roles by their private DNS names, not Service Connect's.
        return container_settings(
            role,
            data=data,
            keys=keys,
            public_url=self.front_door.url,
            hosts=self.dify.dns_hosts,
            release=self.config.images.contract_release(),
            mail=self.integrations.mail_settings,
            extra=self.integrations.extra,
            internet=not self.config.network.closed,
        )


def _packed(stack: DifyStack, config: DifyConfig) -> PackedTask | None:
    svc = config.services
    if svc.layout != "single_task":
        return None
    door = config.front_door.type
    return PackedTask(
        cpu=svc.single_task.cpu,
        memory_mib=svc.single_task.memory_mib,
        cache=(
            valkey_container(stack.cache, registry=config.images.registry)
            if isinstance(stack.cache, ContainerCache)
            else None
        ),
        service_connect=door == "api_gateway",
        register_dns=door == "lambda_proxy" or bool(stack.front_door.reaches),
    )


def _stack_options(config: DifyConfig, edge: EdgeStack | None, given: dict[str, Any]) -> dict[str, Any]:
    """The config's account and region as the environment, cross-region references with an Edge stack and
    the description, unless the caller passed its own."""
    options = dict(given)
    if config.account or config.region:
        options.setdefault("env", cdk.Environment(account=config.account, region=config.region))
    options.setdefault("cross_region_references", edge is not None)
    options.setdefault("description", f"Dify {config.images.api} on AWS (dify-on-aws)")
    return options


def _tag_instance(config: DifyConfig, stacks: list[cdk.Stack]) -> None:
    tags = {"project": "dify-on-aws", "dify:instance": config.name, **config.tags}
    for stack in stacks:
        for key, value in tags.items():
            cdk.Tags.of(stack).add(key, value)
