"""The stack's wiring, kept apart from building the units: who may reach whom (security groups), what the
migration gate waits for (the database, the cache, the pre-upgrade snapshot), and what each task role may do
(grants)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.cache import Cache
from dify_on_aws.data.snapshot import PreUpgradeSnapshot
from dify_on_aws.nag import acknowledge
from dify_on_aws.roles import PORTS, Role
from dify_on_aws.runtime_support import logical_id
from dify_on_aws.services.package_index import PORT as PACKAGE_INDEX_PORT
from dify_on_aws.services.package_index import PackageIndex
from dify_on_aws.services.service import DifyService
from dify_on_aws.services.start_order import service_resource
from dify_on_aws.services.variables import PLUGIN_DAEMON_PREFIXES

if TYPE_CHECKING:
    from dify_on_aws.stack.dify_stack import DifyStack

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


def wire(stack: DifyStack, config: DifyConfig) -> None:
    """Who may reach whom, and what each task role may do."""
    dify = stack.dify
    api, worker, beat, daemon, sandbox = (
        dify.services[r] for r in (Role.API, Role.WORKER, Role.BEAT, Role.PLUGIN_DAEMON, Role.SANDBOX)
    )
    extra_api = stack.front_door.clients.api
    # With every role in one task, the roles are one service: rules between them would be self-references.
    packed = config.services.layout == "single_task"
    _data_clients(stack, unique([api, worker, beat, daemon, *extra_api]))
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

    if stack.package_index is not None:
        _package_index(stack.package_index, [daemon, sandbox])

    grant(stack, config, api, worker, daemon)


def _data_clients(stack: DifyStack, clients: list[DifyService]) -> None:
    """The roles that read the database and the cache, the migration gate (which waits for both) and the
    queue-depth function (the broker's lists: the cache's port and the broker URL secret only)."""
    gate = stack.dify.migration
    gate.resource.node.add_dependency(stack.database.init)
    managed_cache = stack.cache if isinstance(stack.cache, Cache) else None
    if managed_cache is not None:
        gate.resource.node.add_dependency(managed_cache.replication_group)
    for connections in [*(c.connections for c in clients), gate.connections]:
        stack.database.connections.allow_default_port_from(connections)
        if managed_cache is not None:
            managed_cache.connections.allow_default_port_from(connections)
    if stack.queue_depth is not None:
        if managed_cache is not None:
            managed_cache.connections.allow_default_port_from(stack.queue_depth.connections)
        stack.queue_depth.read_broker_url(stack.broker)


def snapshot_before_upgrade(
    stack: DifyStack, config: DifyConfig, log_retention: logs.RetentionDays
) -> PreUpgradeSnapshot | None:
    """With `database.snapshot_before_upgrade`: a cluster snapshot, taken when the release changes, that the
    migration waits for (and that waits for the cluster's writer, through the database initialiser)."""
    if not config.database.snapshot_before_upgrade:
        return None
    snapshot = PreUpgradeSnapshot(
        stack,
        "PreUpgradeSnapshot",
        cluster=stack.database.cluster,
        release=config.images.api,
        log_retention=log_retention,
    )
    snapshot.resource.node.add_dependency(stack.database.init)
    stack.dify.migration.resource.node.add_dependency(snapshot.resource)
    return snapshot


def _package_index(index: PackageIndex, clients: list[DifyService]) -> None:
    """Only the plugin daemon and the sandbox install packages: only they reach the package proxy, and
    their services start after it (both install at start)."""
    for client in unique(clients):
        index.connections.allow_from(client.connections, ec2.Port.tcp(PACKAGE_INDEX_PORT))
        service_resource(client).add_resource_dependency(service_resource(index.service))


def grant(
    stack: DifyStack, config: DifyConfig, api: DifyService, worker: DifyService, daemon: DifyService
) -> None:
    """What each task role (and the front door's own compute) may do."""
    dify = stack.dify
    bucket = stack.storage.bucket
    # api and worker name objects at run time all over the bucket (uploads, tool files, keys); the
    # plugin daemon only under its own prefixes, unless every role shares one task role.
    scoped = daemon is not api
    grantees: list[tuple[iam.IGrantable, Construct, tuple[str, ...]]] = [
        (service.task_definition.task_role, service.task_definition, ("*",))
        for service in unique([api, worker])
    ]
    if scoped:
        prefixes = tuple(f"{prefix}/*" for prefix in PLUGIN_DAEMON_PREFIXES)
        grantees.append((daemon.task_definition.task_role, daemon.task_definition, prefixes))
    for extra_grantee in stack.front_door.clients.grantees:
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
    for role_service in unique(list(dify.services.values())):
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


def unique(services: list[Any]) -> list[Any]:
    """Each object once (with one task for every role, all roles are the same service)."""
    return list({id(service): service for service in services}.values())
