"""ElastiCache Valkey: cache, locks and the Celery broker (database 1, so cluster mode stays disabled)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.nag import acknowledge

REDIS_PORT = 6379


class Cache(Construct):
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
