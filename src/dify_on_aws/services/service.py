"""One reusable construct for a Dify role on ECS Fargate, and the migration gate that runs before them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.runtime_support import logical_id, waiter_functions, waiter_provider
from dify_on_aws.services.images import ecr_repository, is_docker_hub

MIGRATION_RUNTIME = Path(__file__).parent / "runtime" / "migration"
MIGRATION_QUERY_INTERVAL = cdk.Duration.seconds(15)
# The handler's own timeout fires this many polls before the Provider framework's, so it can stop the task.
MIGRATION_TIMEOUT_MARGIN = 2

# The migration task's command. Dify's `flask upgrade-db` takes a non-blocking Redis lock and, when another
# runner holds it, prints "Database migration skipped" and exits 0; older releases also exit 0 when the
# upgrade fails. So after the upgrade the task compares the database's revision (`flask db current`) with the
# image's head (`flask db heads`) and exits non-zero unless they are equal: exit code 0 proves the schema is
# at the head of the image the services will run. The exports are those of Dify's api/docker/entrypoint.sh.
MIGRATION_ENTRY_POINT = ("/bin/bash", "-c")
MIGRATION_SCRIPT = "\n".join(
    [
        "set -euo pipefail",
        'export LANG="${LANG:-en_US.UTF-8}" LC_ALL="${LC_ALL:-en_US.UTF-8}" '
        'PYTHONIOENCODING="${PYTHONIOENCODING:-utf-8}"',
        # Revision lines only ("<rev>" or "<rev> (head)"); log lines on stdout never have this shape.
        "revisions() { flask db \"$1\" | sed -nE 's/^([0-9a-z_]+)( \\([a-z ]+\\))*$/\\1/p' | sort; }",
        "flask upgrade-db",
        'heads="$(revisions heads)"',
        'current="$(revisions current)"',
        'if [ -z "$heads" ] || [ "$current" != "$heads" ]; then',
        '  echo "Schema at revision ${current:-none}, the image expects ${heads:-unknown}: the migration was'
        ' skipped (another runner holds db_upgrade_lock) or failed" >&2',
        "  exit 3",
        "fi",
        'echo "Schema at the head of the image: $heads"',
    ]
)

_ENV_ACK = (
    "Only non-secret settings are plain environment values; every secret reaches the container as an ECS "
    "secret from Secrets Manager (tests/test_services.py checks this)."
)


@dataclass(frozen=True)
class ContainerSpec:
    """The main container of a role."""

    name: str
    image: str
    environment: Mapping[str, str]
    secrets: Mapping[str, ecs.Secret]
    port: int | None = None
    health_check: ecs.HealthCheck | None = None
    command: Sequence[str] | None = None
    entry_point: Sequence[str] | None = None
    # Repository credentials for the image when it is on Docker Hub (ignored for other registries).
    docker_hub_credentials: sm.ISecret | None = None


@dataclass(frozen=True)
class TaskSpec:
    cpu: int
    memory_mib: int
    architecture: ecs.CpuArchitecture
    ephemeral_storage_gib: int | None = None


def dify_task_definition(
    scope: Construct,
    id_: str,
    *,
    task: TaskSpec,
    container: ContainerSpec,
    log_group: logs.ILogGroup,
    sidecars: Sequence[ContainerSpec] = (),
) -> tuple[ecs.FargateTaskDefinition, ecs.ContainerDefinition]:
    """A Fargate task definition with the role's container (and, when roles share a task, the other roles
    as further essential containers) logging to CloudWatch."""
    definition = ecs.FargateTaskDefinition(
        scope,
        id_,
        cpu=task.cpu,
        memory_limit_mib=task.memory_mib,
        ephemeral_storage_gib=task.ephemeral_storage_gib,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=task.architecture, operating_system_family=ecs.OperatingSystemFamily.LINUX
        ),
    )
    main = _add_container(definition, container, log_group)
    for sidecar in sidecars:
        _add_container(definition, sidecar, log_group)
    acknowledge(definition, "AwsSolutions-ECS2", _ENV_ACK)
    return definition, main


def _add_container(
    definition: ecs.FargateTaskDefinition, container: ContainerSpec, log_group: logs.ILogGroup
) -> ecs.ContainerDefinition:
    return definition.add_container(
        container.name,
        image=pull_image(
            definition, container.image, docker_hub_credentials=container.docker_hub_credentials
        ),
        environment=dict(container.environment),
        secrets=dict(container.secrets),
        command=list(container.command) if container.command else None,
        entry_point=list(container.entry_point) if container.entry_point else None,
        health_check=container.health_check,
        logging=ecs.LogDrivers.aws_logs(stream_prefix="dify", log_group=log_group),
        port_mappings=(
            [ecs.PortMapping(container_port=container.port, name=container.name)] if container.port else None
        ),
        essential=True,
    )


ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def pull_image(
    definition: ecs.TaskDefinition, image: str, *, docker_hub_credentials: sm.ISecret | None
) -> ecs.ContainerImage:
    """An image by reference, with what pulling it needs: for a private ECR repository, the execution role
    may get an authorization token and pull from exactly that repository ("Amazon ECR task execution IAM
    role" permissions; `from_registry` grants none); for Docker Hub, the repository credentials secret if
    one is configured (CDK grants its read to the execution role only)."""
    repository = ecr_repository(image)
    if repository is not None:
        role = definition.obtain_execution_role()
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(ECR_PULL_ACTIONS),
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:ecr:{repository.region}:{repository.account}:repository/"
                    f"{repository.name}"
                ],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource ARN; pulls are limited to the image repositories.",
        )
    credentials = docker_hub_credentials if is_docker_hub(image) else None
    return ecs.ContainerImage.from_registry(image, credentials=credentials)


def dns_record(namespace: servicediscovery.INamespace, name: str) -> ecs.CloudMapOptions:
    """An A record per task in the cluster's private DNS namespace (Cloud Map service discovery)."""
    return ecs.CloudMapOptions(
        name=name,
        cloud_map_namespace=namespace,
        dns_record_type=servicediscovery.DnsRecordType.A,
        dns_ttl=cdk.Duration.seconds(10),
    )


class DifyService(Construct):
    """A Dify role as its own ECS service: task definition, container, logs, capacity, Service Connect."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ecs.ICluster,
        task: TaskSpec,
        container: ContainerSpec,
        desired_count: int,
        capacity: Sequence[ecs.CapacityProviderStrategy],
        subnets: ec2.SubnetSelection,
        public_ip: bool,
        log_group: logs.ILogGroup,
        service_connect: bool,
        single_task: bool = False,
        execute_command: bool = True,
        health_check_grace: cdk.Duration | None = None,
        allow_all_outbound: bool = True,
        sidecars: Sequence[ContainerSpec] = (),
        cloud_map: ecs.CloudMapOptions | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.role_name = container.name
        self.task_definition, self.container = dify_task_definition(
            self, "Task", task=task, container=container, log_group=log_group, sidecars=sidecars
        )
        connect = None
        if service_connect:
            # Every role joins the namespace as a client; roles with a port also serve under their name.
            services = [
                ecs.ServiceConnectService(port_mapping_name=spec.name, dns_name=spec.name)
                for spec in (container, *sidecars)
                if spec.port
            ] or None
            connect = ecs.ServiceConnectProps(
                services=services,
                log_driver=ecs.LogDrivers.aws_logs(stream_prefix="service-connect", log_group=log_group),
            )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=desired_count,
            capacity_provider_strategies=list(capacity),
            vpc_subnets=subnets,
            # Only without NAT (public subnets); the security group still admits nothing from outside.
            assign_public_ip=public_ip,
            enable_execute_command=execute_command,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # One task at a time for singletons (worker beat): the old task stops before the new starts.
            min_healthy_percent=0 if single_task else 100,
            max_healthy_percent=100 if single_task else 200,
            service_connect_configuration=connect,
            cloud_map_options=cloud_map,
            health_check_grace_period=health_check_grace,
            security_groups=(
                None
                if allow_all_outbound
                else [
                    ec2.SecurityGroup(
                        self,
                        "SecurityGroup",
                        vpc=cluster.vpc,
                        description=f"Dify {container.name} (egress restricted)",
                        allow_all_outbound=False,
                    )
                ]
            ),
        )
        self.connections = self.service.connections


class MigrationGate(Construct):
    """Runs the migration task once per change of the api image, before the services roll.

    A custom resource starts the task (RunTask) and waits for it; a non-zero exit code or a timeout fails
    the deployment, and CloudFormation rolls back with the exit code and log stream in the error. The task
    exits 0 only when the schema is at the image's head (MIGRATION_SCRIPT); an overdue task is stopped; the
    Update a rollback sends (the old image) runs nothing.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ecs.ICluster,
        task_definition: ecs.FargateTaskDefinition,
        container_name: str,
        log_group: logs.ILogGroup,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        public_ip: bool,
        trigger: str,
        timeout: cdk.Duration,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Dify migration task"
        )
        self.connections = ec2.Connections(security_groups=[self.security_group])
        tasks = (
            f"arn:{cdk.Aws.PARTITION}:ecs:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:task/{cluster.cluster_name}/*"
        )
        start, wait = waiter_functions(
            self, code_dir=MIGRATION_RUNTIME, what="the Dify migration task", log_retention=log_retention
        )
        # The start function tells a rollback from a forward update by the stack's status.
        start.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"], resources=[cdk.Stack.of(self).stack_id]
            )
        )
        # The wait function stops a task that outlived the deployment's patience.
        wait.add_to_role_policy(iam.PolicyStatement(actions=["ecs:StopTask"], resources=[tasks]))
        for fn in (start, wait):
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:DescribeTasks"],
                    resources=[tasks],
                )
            )
            assert fn.role is not None
            acknowledge(
                fn.role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/"
                f"<{logical_id(cluster)}>/*]",
                "Task IDs are not known before RunTask; the statement is limited to tasks of this cluster.",
            )
        # RunTask with propagateTags applies the task definition's tags to the new task, which needs
        # ecs:TagResource for that create action ("Grant permission to tag resources on creation", ECS).
        start.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:TagResource"],
                resources=[tasks],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
            )
        )
        task_definition.grant_run(start)
        provider = waiter_provider(
            self,
            "Provider",
            on_event=start,
            is_complete=wait,
            query_interval=MIGRATION_QUERY_INTERVAL,
            total_timeout=timeout,
        )
        selection = vpc.select_subnets(
            subnet_type=subnets.subnet_type, subnet_group_name=subnets.subnet_group_name
        )
        margin = cdk.Duration.seconds(MIGRATION_TIMEOUT_MARGIN * MIGRATION_QUERY_INTERVAL.to_seconds())
        self.resource = cdk.CustomResource(
            self,
            "Run",
            service_token=provider.service_token,
            resource_type="Custom::DifyMigration",
            properties={
                "Cluster": cluster.cluster_arn,
                "TaskDefinition": task_definition.task_definition_arn,
                "ContainerName": container_name,
                "Subnets": selection.subnet_ids,
                "SecurityGroups": [self.security_group.security_group_id],
                "LogGroup": log_group.log_group_name,
                "LogStreamPrefix": "dify",
                "CapacityProvider": "FARGATE",
                "AssignPublicIp": "true" if public_ip else "false",
                # The handler stops the task past this age, a little before the framework gives up.
                "TimeoutSeconds": str(int(timeout.to_seconds() - margin.to_seconds())),
                "Trigger": trigger,
            },
        )
