"""The Dify stack: builds each unit from the config and wires them together (grants, connections)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.backup import DifyBackup
from dify_on_aws.data.cache import Cache, ContainerCache, broker_url_secret
from dify_on_aws.data.database import Database, DatabaseNames
from dify_on_aws.data.retention import DataRetention, log_retention
from dify_on_aws.data.secrets import AppSecrets
from dify_on_aws.data.storage import FileStorage
from dify_on_aws.frontdoor.base import Backends
from dify_on_aws.frontdoor.edge import EdgeStack
from dify_on_aws.frontdoor.factory import build_front_door
from dify_on_aws.nag import acknowledge, acknowledge_cdk_singletons
from dify_on_aws.network.vpc import Network
from dify_on_aws.operations.rotation import DatabaseRotation
from dify_on_aws.operations.scaling import scale_services
from dify_on_aws.roles import PORTS, Role
from dify_on_aws.runtime_support import logical_id
from dify_on_aws.services.dify import SERVICE_ROLES, DifyServices, PackedTask
from dify_on_aws.services.environment import (
    PLUGIN_DAEMON_PREFIXES,
    AppKeys,
    ContainerSettings,
    DataEndpoints,
    container_settings,
)
from dify_on_aws.services.service import DifyService
from dify_on_aws.services.ssrf_proxy import squid_config
from dify_on_aws.services.valkey import valkey_container

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
MIGRATION_TIMEOUT = cdk.Duration.minutes(30)
BEDROCK_ACTIONS = [
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
    "bedrock:ListFoundationModels",
    "bedrock:GetFoundationModel",
    "bedrock:ListInferenceProfiles",
    "bedrock:GetInferenceProfile",
    "bedrock:Rerank",
    "bedrock:Retrieve",
    "bedrock:RetrieveAndGenerate",
]


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
        super().__init__(scope, id_, **kwargs)
        self.config = config
        self.edge = edge
        retention = DataRetention.named(config.removal_policy)
        # With an account and region, zones are the configured ones or CDK's availability-zones lookup
        # (recorded in cdk.context.json); names are never guessed, since `<region>b` may not exist for
        # the account. Without both, the template stays environment-agnostic (Fn::GetAZs).
        # Configured zones apply whenever the region is known (validation requires the region for them).
        env_specific = bool(config.account and config.region)
        self._zones = config.network.availability_zones if config.region else None

        self.network = Network(
            self,
            "Network",
            cidr=config.network.cidr,
            max_azs=config.network.max_azs,
            nat_gateways=config.network.nat_gateways,
            availability_zones=self._zones,
            named_zones=env_specific or self._zones is not None,
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
            rotation=db.rotation_days is not None,
        )
        self.cache: Cache | ContainerCache
        if config.cache.engine == "container":
            self.cache = ContainerCache(self, "Cache", secret_removal_policy=retention.secrets)
        else:
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

        self._services(config, retention.secrets)
        self._operations(config, retention)

        cdk.CfnOutput(self, "FilesBucket", value=self.storage.bucket.bucket_name)
        cdk.CfnOutput(self, "DatabaseEndpoint", value=self.database.cluster.cluster_endpoint.hostname)
        cdk.CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        cdk.CfnOutput(self, "CacheEndpoint", value=self.cache.host)
        cdk.CfnOutput(
            self, "DifyUrl", value=self.front_door.url, description="Open /install to create the admin"
        )
        api = self.dify.service(Role.API)
        region = cdk.Aws.REGION
        cluster = self.dify.cluster.cluster_name
        cdk.CfnOutput(
            self,
            "ApiExecCommand",
            description="Shell in the api container (ECS Exec; needs the Session Manager plugin)",
            value=(
                f"aws ecs execute-command --region {region} --cluster {cluster} --container api "
                "--interactive "
                f"--command /bin/bash --task $(aws ecs list-tasks --region {region} --cluster {cluster} "
                f"--service-name {api.service_name} --query 'taskArns[0]' --output text)"
            ),
        )
        acknowledge_cdk_singletons(self)

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
            vpc_cidr=config.network.cidr,
            arm64=svc.architecture == "arm64",
            dns_namespace=self._dns_namespace,
            api_image=f"{images.registry}/dify-api:{images.api}",
            web_image=f"{images.registry}/dify-web:{images.web}",
            web_settings=container_settings(Role.WEB, data=data, keys=keys, public_url=""),
            log_retention=LOG_RETENTION,
        )
        sizes = svc.task_sizes()
        self.dify = DifyServices(
            self,
            "Dify",
            vpc=vpc,
            subnets=self.network.task_subnets,
            public_ip=not self.network.nat,
            namespace=self._dns_namespace,
            registry=images.registry,
            tags=images.role_tags(),
            sizes=sizes,
            plugin_storage_gib=svc.plugin_daemon.ephemeral_storage_gib,
            architecture=ecs.CpuArchitecture.ARM64
            if svc.architecture == "arm64"
            else ecs.CpuArchitecture.X86_64,
            capacity=_capacity(svc.spot, svc.on_demand_base),
            container_insights=svc.container_insights,
            data=data,
            keys=keys,
            public_url=self.front_door.url,
            sandbox_allow_all_syscalls=svc.sandbox_allow_all_syscalls,
            sandbox_packages=svc.sandbox_packages(),
            ssrf_proxy_image=config.ssrf_proxy.image,
            squid_conf=squid_config(
                denied_cidrs=[config.network.cidr],
                allowed_domains=config.ssrf_proxy.allowed_domains,
                allowed_cidrs=config.ssrf_proxy.allowed_cidrs,
                extra_ports=config.ssrf_proxy.extra_ports,
                port_policy=config.ssrf_proxy.port_policy,
            ),
            log_retention=log_retention(svc.log_retention_days),
            migration_timeout=MIGRATION_TIMEOUT,
            release=images.contract_release(),
            roles=[r for r in SERVICE_ROLES if r not in self.front_door.replaces],
            packed=self._packed(config),
            docker_hub_credentials=(
                sm.Secret.from_secret_complete_arn(self, "DockerHubCredentials", images.docker_hub_secret_arn)
                if images.docker_hub_secret_arn
                else None
            ),
            dns_roles=sorted(self.front_door.reaches),
        )
        schedule = config.schedule
        scale_services(
            self.dify.services,
            desired={role: size[2] for role, size in sizes.items()},
            maximum=svc.max_counts(),
            single_task=svc.layout == "single_task",
            working_hours=schedule.working_hours if schedule.enabled else None,
            timezone=schedule.timezone,
        )
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
        self._wire(config)

    def _operations(self, config: DifyConfig, retention: DataRetention) -> None:
        """Password rotation (with redeploys so tasks pick up the new password) and AWS Backup."""
        if config.database.rotation_days is not None:
            readers = (Role.API, Role.WORKER, Role.BEAT, Role.PLUGIN_DAEMON)
            services = _unique([self.dify.services[r].service for r in readers if r in self.dify.services])
            DatabaseRotation(
                self,
                "DatabaseRotation",
                cluster=self.database.cluster,
                days=config.database.rotation_days,
                services=services,
                functions=[g for g in self.front_door.clients.grantees if isinstance(g, lambda_.Function)],
                vpc=self.network.vpc,
                subnets=self.network.private_subnets,
                log_retention=LOG_RETENTION,
            )
        if config.backup.enabled:
            DifyBackup(
                self,
                "Backup",
                cluster=self.database.cluster,
                bucket=self.storage.bucket,
                retention_days=config.backup.retention_days,
                schedule=config.backup.schedule,
                # A vault is kept or deleted; it has no snapshot of its own.
                removal_policy=retention.bucket,
            )

    @property
    def _dns_namespace(self) -> str:
        return f"{self.stack_name.lower()}.dify.internal"

    def _packed(self, config: DifyConfig) -> PackedTask | None:
        svc = config.services
        if svc.layout != "single_task":
            return None
        door = config.front_door.type
        return PackedTask(
            cpu=svc.single_task.cpu,
            memory_mib=svc.single_task.memory_mib,
            cache=valkey_container(self.cache) if isinstance(self.cache, ContainerCache) else None,
            service_connect=door == "api_gateway",
            register_dns=door == "lambda_proxy" or bool(self.front_door.reaches),
        )

    def _settings(self, role: Role, data: DataEndpoints, keys: AppKeys) -> ContainerSettings:
        # Front-door compute (Lambda) reaches the roles by their private DNS names, not Service Connect's.
        return container_settings(
            role,
            data=data,
            keys=keys,
            public_url=self.front_door.url,
            hosts=self.dify.dns_hosts,
            release=self.config.images.contract_release(),
        )

    def _wire(self, config: DifyConfig) -> None:
        """Who may reach whom, and what each task role may do."""
        dify = self.dify
        gate = dify.migration
        api, worker, beat, daemon, sandbox = (
            dify.services[r] for r in (Role.API, Role.WORKER, Role.BEAT, Role.PLUGIN_DAEMON, Role.SANDBOX)
        )
        gate.resource.node.add_dependency(self.database.init)
        managed_cache = self.cache if isinstance(self.cache, Cache) else None
        if managed_cache is not None:
            gate.resource.node.add_dependency(managed_cache.replication_group)
        extra_api = self.front_door.clients.api
        # With every role in one task, the roles are one service: rules between them would be self-references.
        packed = config.services.layout == "single_task"
        for client in _unique([api, worker, beat, daemon, *extra_api]):
            self.database.connections.allow_default_port_from(client.connections)
            if managed_cache is not None:
                managed_cache.connections.allow_default_port_from(client.connections)
        self.database.connections.allow_default_port_from(gate.connections)
        if managed_cache is not None:
            managed_cache.connections.allow_default_port_from(gate.connections)
        proxy = dify.services[Role.SSRF_PROXY]
        for extra in extra_api:
            daemon.connections.allow_from(extra.connections, ec2.Port.tcp(PORTS[Role.PLUGIN_DAEMON]))
            sandbox.connections.allow_from(extra.connections, ec2.Port.tcp(PORTS[Role.SANDBOX]))
            proxy.connections.allow_from(extra.connections, ec2.Port.tcp(PORTS[Role.SSRF_PROXY]))
        if not packed:
            # Service Connect: api <-> plugin daemon, api/worker -> sandbox and plugin daemon.
            api.connections.allow_from(daemon.connections, ec2.Port.tcp(PORTS[Role.API]))
            # Everything that fetches user-supplied URLs goes through the SSRF proxy.
            for client in (api, worker, sandbox, daemon):
                proxy.connections.allow_from(client.connections, ec2.Port.tcp(PORTS[Role.SSRF_PROXY]))
            # Fargate pulls the image, reads secrets and ships logs through the task's own network interface;
            # the browser, not the web server, calls the api, so web needs nothing else.
            for restricted in (sandbox, dify.services.get(Role.WEB)):
                if restricted is not None:
                    restricted.connections.security_groups[0].add_egress_rule(
                        ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "Fargate: image pull, secrets, logs (HTTPS)"
                    )
            for caller in (api, worker):
                daemon.connections.allow_from(caller.connections, ec2.Port.tcp(PORTS[Role.PLUGIN_DAEMON]))
                sandbox.connections.allow_from(caller.connections, ec2.Port.tcp(PORTS[Role.SANDBOX]))

        self._grant(config, api, worker, daemon)

    def _grant(self, config: DifyConfig, api: DifyService, worker: DifyService, daemon: DifyService) -> None:
        """What each task role (and the front door's own compute) may do."""
        dify = self.dify
        bucket = self.storage.bucket
        # api and worker name objects at run time all over the bucket (uploads, tool files, keys); the
        # plugin daemon only under its own prefixes, unless every role shares one task role.
        scoped = daemon is not api
        grantees: list[tuple[iam.IGrantable, Construct, tuple[str, ...]]] = [
            (service.task_definition.task_role, service.task_definition, ("*",))
            for service in _unique([api, worker])
        ]
        if scoped:
            prefixes = tuple(f"{prefix}/*" for prefix in PLUGIN_DAEMON_PREFIXES)
            grantees.append((daemon.task_definition.task_role, daemon.task_definition, prefixes))
        for extra_grantee in self.front_door.clients.grantees:
            principal = extra_grantee.grant_principal
            assert isinstance(principal, Construct)
            grantees.append((extra_grantee, principal, ("*",)))
        for grantee, owner, patterns in grantees:
            for pattern in patterns:
                bucket.grant_read_write(grantee, pattern)
                acknowledge(
                    owner,
                    f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{pattern}]",
                    "Dify names objects at run time (uploads, plugins); access is limited to this bucket "
                    "(the plugin daemon: to its own prefixes).",
                )
            for action in ("Action::s3:Abort*", "Action::s3:DeleteObject*", "Action::s3:GetBucket*",
                           "Action::s3:GetObject*", "Action::s3:List*"):  # fmt: skip
                acknowledge(
                    owner,
                    f"AwsSolutions-IAM5[{action}]",
                    "CDK's grant_read_write action groups, on the Dify bucket only.",
                )
        for role_service in _unique(list(dify.services.values())):
            acknowledge(
                role_service.task_definition,
                "AwsSolutions-IAM5[Resource::*]",
                "ECS Exec needs ssmmessages channels, which have no resource ARNs; Bedrock model listing and "
                "rerank have none either.",
            )
        if config.services.bedrock:
            # Model providers run as plugins inside the plugin daemon, so only its task role calls Bedrock.
            daemon.task_definition.add_to_task_role_policy(
                iam.PolicyStatement(actions=BEDROCK_ACTIONS, resources=["*"])
            )


def _unique(services: list[Any]) -> list[Any]:
    """Each object once (with one task for every role, all roles are the same service)."""
    return list({id(service): service for service in services}.values())


def _capacity(spot: bool, on_demand_base: int) -> list[ecs.CapacityProviderStrategy]:
    if not spot:
        return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
    return [
        ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=on_demand_base, weight=0),
        ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1),
    ]
