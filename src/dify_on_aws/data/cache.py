"""Valkey for cache, locks and the Celery broker (database 1, so cluster mode stays disabled): ElastiCache,
or a container inside the Dify task for the low-cost layout."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.nag import acknowledge

REDIS_PORT = 6379


class Cache(Construct):
    tls = True
    """A replication group with TLS in transit, encryption at rest and an AUTH token from Secrets Manager."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        node_type: str,
        engine_version: str,
        multi_az: bool,
        removal_policy: cdk.RemovalPolicy,
        secret_removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        self.port = REDIS_PORT
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Dify Valkey", allow_all_outbound=False
        )
        self.connections = ec2.Connections(
            security_groups=[self.security_group], default_port=ec2.Port.tcp(REDIS_PORT)
        )
        # AUTH tokens allow only a few punctuation characters; alphanumerics also need no URL encoding.
        self.auth_token = sm.Secret(
            self,
            "AuthToken",
            description="Dify Valkey AUTH token",
            generate_secret_string=sm.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        self.auth_token.apply_removal_policy(secret_removal_policy)
        acknowledge(
            self.auth_token,
            "AwsSolutions-SMG4",
            "Changing an ElastiCache AUTH token needs a coordinated ROTATE/SET on the replication group; "
            "automatic rotation would break Celery and the plugin daemon until they restart.",
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description="Dify Valkey subnets",
            subnet_ids=vpc.select_subnets(
                subnet_type=subnets.subnet_type, subnet_group_name=subnets.subnet_group_name
            ).subnet_ids,
        )
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description="Dify cache and Celery broker",
            engine="valkey",
            engine_version=engine_version,
            cache_node_type=node_type,
            num_cache_clusters=2 if multi_az else 1,
            automatic_failover_enabled=multi_az,
            multi_az_enabled=multi_az,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            # A dynamic reference: CloudFormation resolves it, the template never holds the token.
            auth_token=self.auth_token.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.security_group.security_group_id],
            port=REDIS_PORT,
            snapshot_retention_limit=1,
            auto_minor_version_upgrade=True,
        )
        self.replication_group.apply_removal_policy(removal_policy)
        self.host = self.replication_group.attr_primary_end_point_address

        acknowledge(
            self.replication_group,
            "AwsSolutions-AEC5",
            "The standard port is used; only Dify's security groups can reach the cache.",
        )
        if not multi_az:
            acknowledge(
                self.replication_group,
                "AwsSolutions-AEC4",
                "Single node to keep idle cost low; set cache.multi_az = true for a replica with failover.",
            )


class ContainerCache(Construct):
    """Valkey as a container of the Dify task, for the low-cost layout: no node to pay for, bound to
    localhost (unreachable from outside the task) and still password-protected. Its contents (cache,
    Celery queue) are lost when the task is replaced; Dify rebuilds the cache and re-queues nothing."""

    tls = False

    def __init__(self, scope: Construct, id_: str, *, secret_removal_policy: cdk.RemovalPolicy) -> None:
        super().__init__(scope, id_)
        self.host = "localhost"
        self.port = REDIS_PORT
        self.auth_token = sm.Secret(
            self,
            "AuthToken",
            description="Dify cache (Valkey container) password",
            generate_secret_string=sm.SecretStringGenerator(exclude_punctuation=True, password_length=64),
        )
        self.auth_token.apply_removal_policy(secret_removal_policy)
        acknowledge(
            self.auth_token,
            "AwsSolutions-SMG4",
            "Valkey reads its password only at start; rotating it means replacing the task (redeploy).",
        )


BROKER_DESCRIPTION = (
    "Dify CELERY_BROKER_URL (Valkey database 1). Embeds the cache AUTH token as resolved when CloudFormation "
    "last wrote this secret; do not change the token by hand."
)


def broker_url_secret(
    scope: Construct, id_: str, *, cache: Cache | ContainerCache, removal_policy: cdk.RemovalPolicy
) -> sm.Secret:
    """Dify's CELERY_BROKER_URL (database 1 of the cache) as a secret of its own, since it embeds the AUTH
    token. The template holds only CloudFormation dynamic references, resolved when CloudFormation writes
    this secret, not when the token changes. The token is never rotated (no schedule); replacing its secret
    through CloudFormation changes this value's reference too, so both are rewritten in one deployment
    (docs/security.md)."""
    broker = sm.Secret(
        scope,
        id_,
        description=BROKER_DESCRIPTION,
        secret_string_value=cdk.SecretValue.unsafe_plain_text(
            f"{'rediss' if cache.tls else 'redis'}://:{cache.auth_token.secret_value.unsafe_unwrap()}"
            f"@{cache.host}:{cache.port}/1{'?ssl_cert_reqs=optional' if cache.tls else ''}"
        ),
    )
    broker.apply_removal_policy(removal_policy)
    acknowledge(broker, "AwsSolutions-SMG4", "Derived from the Valkey AUTH token; it changes with it.")
    return broker
