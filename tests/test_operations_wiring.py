"""database.rotation_days and backup.enabled wired into the whole stack."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.config import ConfigError

from .conftest import config_of
from .template_queries import database_sources, ecs_service_role, function_grants, of_type
from .test_front_doors import main, one
from .test_services import res


@pytest.fixture(scope="module")
def operated(synth: Any) -> Template:
    result = synth(config_of(name="Operated", database={"rotation_days": 30}, backup={"enabled": True}))
    assert result.violations == []
    return main(result)


def test_rotation_schedule_and_redeploy_of_every_database_client(operated: Template) -> None:
    """Every ECS service that may connect to the database reads the password at start, so the function
    the rotation event invokes may force a new deployment of each of them, and of nothing else."""
    resources = operated.to_json()["Resources"]
    schedule = one(operated, "AWS::SecretsManager::RotationSchedule")
    assert schedule["RotationRules"]["ScheduleExpression"] == "rate(30 days)" or (
        schedule["RotationRules"].get("AutomaticallyAfterDays") == 30
    )
    (rule,) = [
        r["Properties"]
        for r in res(operated, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.secretsmanager"]
    ]
    assert rule["EventPattern"]["detail"]["eventName"] == ["RotationSucceeded"]
    (target,) = rule["Targets"]
    redeploy = target["Arn"]["Fn::GetAtt"][0]
    updated = function_grants(resources, redeploy)["ecs:UpdateService"]
    clients = database_sources(resources)
    database_services = {
        sid
        for sid, service in of_type(resources, "AWS::ECS::Service").items()
        if ecs_service_role(resources, service) in clients
    }
    assert len(database_services) == 4, "api, worker, beat, plugin-daemon"
    assert sorted(u["Ref"] for u in updated) == sorted(database_services)


def test_backup_plan_covers_database_and_bucket(operated: Template) -> None:
    resources = operated.to_json()["Resources"]
    plan = one(operated, "AWS::Backup::BackupPlan")["BackupPlan"]
    (rule,) = plan["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 5 * * ? *)"
    assert rule["Lifecycle"]["DeleteAfterDays"] == 35
    selected = one(operated, "AWS::Backup::BackupSelection")["BackupSelection"]["Resources"]
    referenced = {resources[ref]["Type"] for item in selected for ref in _refs(item) if ref in resources}
    assert referenced == {"AWS::RDS::DBCluster", "AWS::S3::Bucket"}
    (api,) = [
        c
        for task in of_type(resources, "AWS::ECS::TaskDefinition").values()
        for c in task["Properties"]["ContainerDefinitions"]
        if c["Name"] == "api"
    ]
    files = {e["Name"]: e["Value"] for e in api["Environment"]}["S3_BUCKET_NAME"]
    assert _refs(files) <= {ref for item in selected for ref in _refs(item)}, (
        "the bucket Dify stores files in"
    )
    vault = res(operated, "AWS::Backup::BackupVault")
    assert {v.get("DeletionPolicy") for v in vault.values()} == {"Retain"}


def _refs(value: Any) -> set[str]:
    """Logical IDs named by Ref or Fn::GetAtt anywhere inside `value`."""
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def test_rotation_needs_nat() -> None:
    with pytest.raises(ConfigError, match="rotation_days"):
        config_of(database={"rotation_days": 30}, network={"nat_gateways": 0})


def test_rotation_refuses_provisioned_lambda_instances() -> None:
    with pytest.raises(ConfigError, match="provisioned api instances"):
        config_of(
            account="111111111111",
            region="us-west-2",
            database={"rotation_days": 30},
            front_door={"type": "lambda", "provisioned_concurrency": 1},
        )
