"""Aurora PostgreSQL Serverless v2 with pgvector, and the databases Dify needs, created at deploy time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import custom_resources as cr
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.runtime_support import acknowledge_provider, python_function

RUNTIME_DIR = Path(__file__).parent / "runtime" / "db_init"
POSTGRES_PORT = 5432
MASTER_USER = "dify_admin"
# The cluster, created empty or from a snapshot (`database.snapshot_identifier`).
AuroraCluster = rds.DatabaseCluster | rds.DatabaseClusterFromSnapshot
EXCLUDED = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"


@dataclass(frozen=True)
class DatabaseNames:
    """The databases on the cluster: Dify's own, the plugin daemon's and the vector store's."""

    main: str = "dify"
    plugin: str = "dify_plugin"
    vector: str = "dify_vector"

    @property
    def all(self) -> list[str]:
        return [self.main, self.plugin, self.vector]


class Database(Construct):
    """The cluster, its master secret, and a custom resource that creates databases and `vector`."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        engine_version: str,
        min_acu: float,
        max_acu: float,
        auto_pause_seconds: int,
        readers: int,
        backup_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
        secret_removal_policy: cdk.RemovalPolicy,
        deletion_protection: bool,
        log_retention: logs.RetentionDays,
        names: DatabaseNames,
        rotation: bool = False,
        snapshot_identifier: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.names = names
        self.port = POSTGRES_PORT
        major = engine_version.split(".", maxsplit=1)[0]
        engine = rds.DatabaseClusterEngine.aurora_postgres(
            version=rds.AuroraPostgresEngineVersion.of(engine_version, major)
        )
        scales_to_zero = min_acu == 0
        parameters = {"rds.force_ssl": "1"}
        if scales_to_zero:
            # Idle sessions would keep the cluster awake forever; Dify reconnects (pool pre-ping).
            parameters["idle_session_timeout"] = "60000"
        parameter_group = rds.ParameterGroup(self, "Parameters", engine=engine, parameters=parameters)

        def instance(name: str, *, writer: bool) -> rds.IClusterInstance:
            return rds.ClusterInstance.serverless_v2(
                name,
                scale_with_writer=not writer,
                # Minor upgrades applied by AWS make the next deploy try a downgrade; upgrade via config.
                auto_minor_version_upgrade=False,
                publicly_accessible=False,
            )

        settings: dict[str, Any] = dict(
            engine=engine,
            writer=instance("Writer", writer=True),
            readers=[instance(f"Reader{i + 1}", writer=False) for i in range(readers)],
            serverless_v2_min_capacity=min_acu,
            serverless_v2_max_capacity=max_acu,
            serverless_v2_auto_pause_duration=cdk.Duration.seconds(auto_pause_seconds)
            if scales_to_zero
            else None,
            vpc=vpc,
            vpc_subnets=subnets,
            # The cluster only answers connections: its group allows no egress (no S3 import, no Lambda).
            security_groups=[
                ec2.SecurityGroup(
                    self, "SecurityGroup", vpc=vpc, description="Dify database", allow_all_outbound=False
                )
            ],
            port=POSTGRES_PORT,
            parameter_group=parameter_group,
            enable_data_api=True,
            iam_authentication=True,
            backup=rds.BackupProps(retention=cdk.Duration.days(backup_retention_days)),
            copy_tags_to_snapshot=True,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=log_retention,
        )
        # The master secret: the same resource (same ID and settings) whether the cluster is new or restored.
        credentials = rds.Credentials.from_generated_secret(MASTER_USER, exclude_characters=EXCLUDED)
        self.cluster: AuroraCluster
        if snapshot_identifier is None:
            self.cluster = rds.DatabaseCluster(
                self,
                "Cluster",
                credentials=credentials,
                default_database_name=names.main,
                storage_encrypted=True,
                **settings,
            )
        else:
            # The same construct ID, so CloudFormation replaces the cluster in place. The snapshot brings the
            # databases, the master user, its password and the encryption. The master secret is kept as it
            # is: it holds the password the snapshot has (unless it was rotated after the snapshot). A new
            # password (`snapshot_credentials`) is not reliably applied to a restored cluster
            # (aws-cloudformation/cloudformation-coverage-roadmap#1500, aws/aws-cdk#21730).
            self.cluster = rds.DatabaseClusterFromSnapshot(
                self, "Cluster", snapshot_identifier=snapshot_identifier, credentials=credentials, **settings
            )
            cdk.Annotations.of(self.cluster).acknowledge_warning(
                "@aws-cdk/aws-rds:useSnapshotCredentials",
                "The existing master secret already holds the snapshot's password; no new one is set.",
            )
            acknowledge(
                self.cluster,
                "AwsSolutions-RDS2",
                "A restored cluster inherits the snapshot's encryption (AWS::RDS::DBCluster "
                "StorageEncrypted: not specified with SnapshotIdentifier); this project's clusters and their "
                "snapshots are encrypted.",
            )
        assert self.cluster.secret is not None
        # cluster.secret is the attachment; policies and acknowledgements belong on the secret itself.
        self.secret = self.cluster.secret
        master_secret = self.cluster.node.find_child("Secret")
        assert isinstance(master_secret, rds.DatabaseSecret)
        master_secret.apply_removal_policy(secret_removal_policy)
        self.connections = self.cluster.connections

        acknowledge(
            self.cluster,
            "AwsSolutions-RDS11",
            "The standard PostgreSQL port is used; the cluster is reachable only from Dify's security "
            "groups, so a non-standard port would add no protection.",
        )
        if not rotation:
            acknowledge(
                master_secret,
                "AwsSolutions-SMG4",
                "Rotation is opt-in (database.rotation_days): tasks read the password at start, so each "
                "rotation redeploys the services; without the option nothing rotates.",
            )
        if not deletion_protection:
            acknowledge(
                self.cluster,
                "AwsSolutions-RDS10",
                "Deletion protection is off because removal_policy is not 'retain' (set by the user).",
            )

        self.init = self._initialiser(log_retention)

    def _initialiser(self, log_retention: logs.RetentionDays) -> cdk.CustomResource:
        handler = python_function(
            self,
            "InitFunction",
            code_dir=RUNTIME_DIR,
            handler="index.handler",
            description="Creates Dify's databases and the pgvector extension (idempotent)",
            timeout=cdk.Duration.minutes(14),
            log_retention=log_retention,
        )
        self.cluster.grant_data_api_access(handler)
        provider = cr.Provider(self, "InitProvider", on_event_handler=handler)
        acknowledge_provider(provider, [handler])
        resource = cdk.CustomResource(
            self,
            "Init",
            service_token=provider.service_token,
            resource_type="Custom::DifyDatabaseInit",
            properties={
                "ClusterArn": self.cluster.cluster_arn,
                "SecretArn": self.secret.secret_arn,
                "Databases": self.names.all,
                "VectorDatabase": self.names.vector,
                "MaxWaitSeconds": "600",
            },
        )
        # The Data API answers only once the writer instance exists. Depend on the two resources, not the
        # whole cluster construct, whose security-group rules reference services that come later.
        writer = self.cluster.node.find_child("Writer").node.default_child
        assert writer is not None and self.cluster.node.default_child is not None
        resource.node.add_dependency(self.cluster.node.default_child, writer)
        return resource
