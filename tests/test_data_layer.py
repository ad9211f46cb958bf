"""The data layer of the default configuration: engine, encryption, TLS, retention, reachability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from aws_cdk.assertions import Match, Template

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig
from dify_on_aws.config.model import AURORA_POSTGRES_VERSIONS

from .conftest import config_of
from .template_queries import function_grants


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return cast(dict[str, dict[str, Any]], template.find_resources(kind))


def only(template: Template, kind: str) -> dict[str, Any]:
    (resource,) = resources(template, kind).values()
    return resource


def test_vpc_two_azs_public_private_and_nat(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    subnets = resources(template, "AWS::EC2::Subnet").values()
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    assert len(public) == 2 and len(subnets) == 4


def test_aurora_serverless_v2_postgres_with_data_api(template: Template) -> None:
    cluster = only(template, "AWS::RDS::DBCluster")
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    assert props["EngineVersion"] in AURORA_POSTGRES_VERSIONS
    assert props["EnableHttpEndpoint"] is True
    assert props["StorageEncrypted"] is True
    assert props["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 2}
    assert props["BackupRetentionPeriod"] >= 7
    assert props["DeletionProtection"] is True
    assert cluster["DeletionPolicy"] == "Retain" and cluster["UpdateReplacePolicy"] == "Retain"
    assert props["MasterUserPassword"]["Fn::Join"][1][0] == "{{resolve:secretsmanager:"
    instance = only(template, "AWS::RDS::DBInstance")["Properties"]
    assert instance["DBInstanceClass"] == "db.serverless"
    assert instance["AutoMinorVersionUpgrade"] is False
    assert instance["PubliclyAccessible"] is False


def test_database_forces_tls(template: Template) -> None:
    template.has_resource_properties(
        "AWS::RDS::DBClusterParameterGroup", {"Parameters": Match.object_like({"rds.force_ssl": "1"})}
    )


def test_database_init_custom_resource(template: Template) -> None:
    init = only(template, "Custom::DifyDatabaseInit")
    props = init["Properties"]
    assert props["Databases"] == ["dify", "dify_plugin", "dify_vector"]
    assert props["VectorDatabase"] == "dify_vector"
    cluster_id = next(iter(resources(template, "AWS::RDS::DBCluster")))
    writer_id = next(iter(resources(template, "AWS::RDS::DBInstance")))
    assert {cluster_id, writer_id} <= set(init["DependsOn"])
    handlers = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "index.handler"
        and "pgvector" in f["Properties"].get("Description", "")
    ]
    (handler,) = handlers
    assert handler["Runtime"].startswith("python3.")
    assert handler["Timeout"] <= 900


def test_init_function_may_use_data_api_and_read_secret(template: Template) -> None:
    """The function behind the init resource (not some other role) may run statements on this cluster with
    the secret the resource names (RDS Data API: the caller needs rds-data:ExecuteStatement on the cluster
    and secretsmanager:GetSecretValue on the secret)."""
    resources_ = template.to_json()["Resources"]
    init = only(template, "Custom::DifyDatabaseInit")["Properties"]
    framework = resources_[init["ServiceToken"]["Fn::GetAtt"][0]]["Properties"]
    function_id = framework["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]["Fn::GetAtt"][0]
    grants = function_grants(resources_, function_id)
    assert grants["rds-data:ExecuteStatement"] == [init["ClusterArn"]]
    assert grants["secretsmanager:GetSecretValue"] == [init["SecretArn"]]


def test_valkey_tls_auth_cluster_mode_disabled(template: Template) -> None:
    group = only(template, "AWS::ElastiCache::ReplicationGroup")
    props = group["Properties"]
    assert props["Engine"] == "valkey"
    assert props["TransitEncryptionEnabled"] is True
    assert props["TransitEncryptionMode"] == "required"
    assert props["AtRestEncryptionEnabled"] is True
    assert "NumNodeGroups" not in props  # cluster mode disabled: Celery needs database 1
    assert props["NumCacheClusters"] == 1 and props["MultiAZEnabled"] is False
    assert "{{resolve:secretsmanager:" in str(props["AuthToken"])
    assert group["DeletionPolicy"] == "Snapshot"


def test_cache_and_database_reachable_only_through_their_groups(template: Template) -> None:
    groups = resources(template, "AWS::EC2::SecurityGroup")
    for group in groups.values():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0", group
    cache_sg = only(template, "AWS::ElastiCache::ReplicationGroup")["Properties"]["SecurityGroupIds"]
    (cache_ref,) = cache_sg
    cache_group = groups[cache_ref["Fn::GetAtt"][0]]
    assert cache_group["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"


def test_bucket_private_tls_encrypted_versioned_retained(template: Template) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    files = [b for b in buckets.values() if "VersioningConfiguration" in b["Properties"]]
    (bucket,) = files
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert "LoggingConfiguration" in props
    assert bucket["DeletionPolicy"] == "Retain"
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        denies = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denies, "every bucket denies plain HTTP"


def test_app_secrets_are_four_distinct_generated_secrets(template: Template) -> None:
    secrets = resources(template, "AWS::SecretsManager::Secret")
    described = {str(s["Properties"].get("Description", "")): s for s in secrets.values()}
    for key in ("SECRET_KEY", "CODE_EXECUTION_API_KEY", "PLUGIN_DAEMON_KEY", "INNER_API_KEY_FOR_PLUGIN"):
        (secret,) = [s for d, s in described.items() if key in d]
        assert "GenerateSecretString" in secret["Properties"]
        assert "SecretString" not in secret["Properties"]
        assert secret["DeletionPolicy"] == "Retain"
    assert len(secrets) == 7  # + database master, Valkey AUTH token, Celery broker URL


def test_stateful_resources_survive_stack_delete(template: Template) -> None:
    for kind in ("AWS::RDS::DBCluster", "AWS::S3::Bucket", "AWS::SecretsManager::Secret"):
        for resource in resources(template, kind).values():
            assert resource["DeletionPolicy"] in ("Retain", "Snapshot"), kind


@pytest.fixture(scope="module")
def destroy_template(synth: Callable[[DifyConfig], SynthResult]) -> Template:
    result = synth(config_of(name="DifyTest", removal_policy="destroy", database={"min_acu": 0}))
    (body,) = result.templates.values()
    return Template.from_json(body)


def test_destroy_deletes_everything_when_asked(destroy_template: Template) -> None:
    for kind in ("AWS::RDS::DBCluster", "AWS::S3::Bucket", "AWS::SecretsManager::Secret"):
        for resource in resources(destroy_template, kind).values():
            assert resource["DeletionPolicy"] == "Delete", kind
    assert only(destroy_template, "AWS::RDS::DBCluster")["Properties"]["DeletionProtection"] is False
    destroy_template.resource_count_is("Custom::S3AutoDeleteObjects", 2)


def test_scale_to_zero(destroy_template: Template) -> None:
    props = only(destroy_template, "AWS::RDS::DBCluster")["Properties"]
    assert props["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0
    assert props["ServerlessV2ScalingConfiguration"]["SecondsUntilAutoPause"] == 600
    destroy_template.has_resource_properties(
        "AWS::RDS::DBClusterParameterGroup",
        {"Parameters": Match.object_like({"idle_session_timeout": "60000"})},
    )


def test_snapshot_policy(synth: Callable[[DifyConfig], SynthResult]) -> None:
    (body,) = synth(config_of(removal_policy="snapshot")).templates.values()
    template = Template.from_json(body)
    assert only(template, "AWS::RDS::DBCluster")["DeletionPolicy"] == "Snapshot"
    for resource in resources(template, "AWS::S3::Bucket").values():
        assert resource["DeletionPolicy"] == "Retain"


def test_multi_az_cache_and_readers(example_results: dict[str, SynthResult]) -> None:
    (body,) = example_results["production.toml"].templates.values()
    template = Template.from_json(body)
    props = only(template, "AWS::ElastiCache::ReplicationGroup")["Properties"]
    assert props["NumCacheClusters"] == 2
    assert props["MultiAZEnabled"] is True and props["AutomaticFailoverEnabled"] is True
    template.resource_count_is("AWS::RDS::DBInstance", 2)
    template.resource_count_is("AWS::EC2::NatGateway", 3)
    template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_explicit_env_uses_zone_names_not_lookups(example_results: dict[str, SynthResult]) -> None:
    (body,) = example_results["ecr-mirror.toml"].templates.values()
    zones = {
        s["Properties"]["AvailabilityZone"]
        for s in Template.from_json(body).find_resources("AWS::EC2::Subnet").values()
    }
    assert zones == {"eu-west-1b", "eu-west-1c"}
