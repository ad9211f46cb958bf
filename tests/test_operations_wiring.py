"""database.rotation_days and backup.enabled wired into the whole stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from dify_on_aws.config import ConfigError

from .conftest import config_of
from .test_front_doors import main, one
from .test_services import res


@pytest.fixture(scope="module")
def operated(synth: Any) -> Template:
    result = synth(config_of(name="Operated", database={"rotation_days": 30}, backup={"enabled": True}))
    assert result.violations == []
    return main(result)


def test_rotation_schedule_and_redeploy_of_every_database_client(operated: Template) -> None:
    schedule = one(operated, "AWS::SecretsManager::RotationSchedule")
    assert schedule["RotationRules"]["ScheduleExpression"] == "rate(30 days)" or (
        schedule["RotationRules"].get("AutomaticallyAfterDays") == 30
    )
    (rule,) = [
        r["Properties"]
        for r in res(operated, "AWS::Events::Rule").values()
        if "aws.secretsmanager" in json.dumps(r["Properties"].get("EventPattern", {}))
    ]
    assert "RotationSucceeded" in json.dumps(rule["EventPattern"])
    policies = json.dumps(res(operated, "AWS::IAM::Policy"))
    assert "ecs:UpdateService" in policies
    services = res(operated, "AWS::ECS::Service")
    redeployed = [
        sid for sid in services if sid in policies
    ]  # each service the redeploy function may update is referenced by its logical ID
    assert len(redeployed) >= 4


def test_backup_plan_covers_database_and_bucket(operated: Template) -> None:
    plan = one(operated, "AWS::Backup::BackupPlan")["BackupPlan"]
    (rule,) = plan["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 5 * * ? *)"
    assert rule["Lifecycle"]["DeleteAfterDays"] == 35
    selection = json.dumps(one(operated, "AWS::Backup::BackupSelection"))
    assert "DatabaseCluster" in selection and "StorageFiles" in selection
    vault = res(operated, "AWS::Backup::BackupVault")
    assert {v.get("DeletionPolicy") for v in vault.values()} == {"Retain"}


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
