"""The migration gate as deployed: how long CloudFormation waits, what the handlers may do, and what the
migration task's command does when Dify skips or fails the upgrade (run against a stand-in `flask`)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from .template_queries import function_grants, functions_by_handler, of_type

# The deployment waits this long for the migration (README: "waits for it (up to 30 minutes)"). Held here,
# not imported, so that changing the code's value fails this test.
MIGRATION_MINUTES = 30


@pytest.fixture(scope="module")
def resources(template: Template) -> dict[str, Any]:
    return dict(template.to_json()["Resources"])


def _gate(resources: Mapping[str, Any]) -> Mapping[str, Any]:
    (gate,) = of_type(resources, "Custom::DifyMigration").values()
    return gate


def _waiter_retry(resources: Mapping[str, Any]) -> Mapping[str, Any]:
    """The Retry of the waiter state machine behind the gate's service token (Provider framework)."""
    framework_id = _gate(resources)["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    variables = resources[framework_id]["Properties"]["Environment"]["Variables"]
    machine = resources[variables["WAITER_STATE_MACHINE_ARN"]["Ref"]]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "ARN" for p in parts))
    (state,) = [s for s in definition["States"].values() if "Retry" in s]
    (retry,) = state["Retry"]
    return dict(retry)


def test_migration_waiter_gives_up_after_30_minutes(resources: dict[str, Any]) -> None:
    """The Provider framework polls is_complete every IntervalSeconds, MaxAttempts times, then fails the
    resource (aws-cdk-lib custom_resources.Provider: totalTimeout / queryInterval)."""
    retry = _waiter_retry(resources)
    assert retry["BackoffRate"] == 1, "a constant interval, so attempts x interval is the whole wait"
    assert retry["IntervalSeconds"] * retry["MaxAttempts"] == MIGRATION_MINUTES * 60


def test_handler_stops_the_task_before_the_framework_gives_up(resources: dict[str, Any]) -> None:
    """The handler's own limit comes a little earlier, while is_complete is still called, so it can stop the
    task (a task left running would hold Dify's migration lock and make the next migration skip)."""
    retry = _waiter_retry(resources)
    limit = int(_gate(resources)["Properties"]["TimeoutSeconds"])
    assert limit == MIGRATION_MINUTES * 60 - 2 * retry["IntervalSeconds"]


def test_handlers_may_read_the_stack_and_stop_only_this_clusters_tasks(resources: dict[str, Any]) -> None:
    handlers = functions_by_handler(resources, "Dify migration task")
    start = function_grants(resources, handlers["index.on_event"])
    wait = function_grants(resources, handlers["index.is_complete"])
    assert start["cloudformation:DescribeStacks"] == [{"Ref": "AWS::StackId"}], "its own stack only"
    assert "ecs:StopTask" not in start
    (tasks,) = wait["ecs:StopTask"]
    assert wait["ecs:DescribeTasks"] == [tasks]
    joined = tasks["Fn::Join"][1]
    assert joined[-1] == "/*" and joined[-2]["Ref"] in of_type(resources, "AWS::ECS::Cluster")
    assert "cloudformation:DescribeStacks" not in wait


# --- the migration task's command, run against a stand-in flask --------------------------------------------

FAKE_FLASK = """#!/bin/bash
# Stand-in for Dify's flask CLI: the schema revision lives in $STATE/current.
set -eu
echo "2026-11-30 03:00:00.000 INFO [MainThread] [ext_logging.py:1] - app created"
case "$*" in
  upgrade-db)
    echo "Preparing database migration..."
    case "$UPGRADE" in
      ok) echo "$HEAD" > "$STATE/current"; echo "Database migration successful!" ;;
      skipped) echo "Database migration skipped" ;;
      swallowed) echo "Failed to execute database migration" >&2 ;;
      fails) echo "Database migration failed" >&2; exit 1 ;;
    esac ;;
  "db heads") echo "$HEAD (head)" ;;
  "db current")
    current="$(cat "$STATE/current")"
    if [ "$current" = unknown ]; then
      echo "Can't locate revision identified by 'ffff0000ffff'" >&2; exit 1
    fi
    if [ "$current" = "$HEAD" ]; then echo "$current (head)"
    elif [ -n "$current" ]; then echo "$current"; fi ;;
  *) echo "unexpected: flask $*" >&2; exit 64 ;;
esac
"""


@pytest.fixture(scope="module")
def migration_command(resources: dict[str, Any]) -> list[str]:
    (container,) = [
        c
        for task in of_type(resources, "AWS::ECS::TaskDefinition").values()
        for c in task["Properties"]["ContainerDefinitions"]
        if {"Name": "MODE", "Value": "migration"} in c.get("Environment", [])
    ]
    assert container["EntryPoint"][0] == "/bin/bash", "Dify's api image runs its entrypoint with bash"
    return [*container["EntryPoint"], *container["Command"]]


def _run(
    command: list[str], tmp_path: Path, *, upgrade: str, before: str
) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    flask = bin_dir / "flask"
    flask.write_text(FAKE_FLASK)
    flask.chmod(flask.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "current").write_text(before)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(tmp_path),
        "UPGRADE": upgrade,
        "HEAD": "4f2b1c9d8e7a",
    }
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_migration_to_the_head_succeeds(migration_command: list[str], tmp_path: Path) -> None:
    result = _run(migration_command, tmp_path, upgrade="ok", before="0a1b2c3d4e5f")
    assert result.returncode == 0, result.stderr
    assert "Schema at the head of the image: 4f2b1c9d8e7a" in result.stdout


@pytest.mark.parametrize(
    ("upgrade", "before"),
    [
        # Dify's upgrade-db when another runner holds db_upgrade_lock: "Database migration skipped", exit 0
        # (langgenius/dify api/commands.py, upgrade_db).
        ("skipped", "0a1b2c3d4e5f"),
        ("skipped", ""),
        # Older releases log the exception and exit 0.
        ("swallowed", "0a1b2c3d4e5f"),
        ("fails", "0a1b2c3d4e5f"),
    ],
)
def test_migration_that_did_not_reach_the_head_fails(
    migration_command: list[str], tmp_path: Path, upgrade: str, before: str
) -> None:
    result = _run(migration_command, tmp_path, upgrade=upgrade, before=before)
    assert result.returncode != 0
    if upgrade != "fails":
        expected = r"Schema at revision (0a1b2c3d4e5f|none), the image expects 4f2b1c9d8e7a"
        assert re.search(expected, result.stderr)


def test_database_ahead_of_the_image_fails(migration_command: list[str], tmp_path: Path) -> None:
    """An older image against a newer schema: Alembic cannot locate the revision; never report success."""
    result = _run(migration_command, tmp_path, upgrade="skipped", before="unknown")
    assert result.returncode != 0
    assert "Can't locate revision" in result.stderr


# --- the snapshot before an upgrade (database.snapshot_before_upgrade) -----------------------------------


def _snapshot(resources: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    ((rid, snapshot),) = of_type(resources, "Custom::DifyPreUpgradeSnapshot").items()
    return rid, snapshot


def _depends_on(resource: Mapping[str, Any]) -> list[str]:
    depends = resource.get("DependsOn", [])
    return [depends] if isinstance(depends, str) else list(depends)


def test_snapshot_then_migration_then_services(resources: dict[str, Any]) -> None:
    """CloudFormation creates or updates a resource only after every resource in its DependsOn ("DependsOn
    attribute", AWS CloudFormation User Guide): the snapshot completes before the migration starts, and the
    migration before any service rolls. Each service rolls with the deployment circuit breaker and
    automatic rollback ("How the Amazon ECS deployment circuit breaker detects failures")."""
    snapshot_id, snapshot = _snapshot(resources)
    (gate_id,) = of_type(resources, "Custom::DifyMigration")
    assert snapshot_id in _depends_on(resources[gate_id])
    services = of_type(resources, "AWS::ECS::Service")
    assert services
    for service in services.values():
        assert gate_id in _depends_on(service)
        breaker = service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
        assert breaker == {"Enable": True, "Rollback": True}
    # The snapshot waits for the cluster's writer (through the database initialiser).
    (init_id,) = of_type(resources, "Custom::DifyDatabaseInit")
    assert init_id in _depends_on(snapshot)


def test_snapshot_follows_the_api_release_of_the_migration(resources: dict[str, Any]) -> None:
    """The snapshot resource changes (and so runs) exactly when the api tag does; the migration's trigger is
    the api image, whose tag is the snapshot's release."""
    _, snapshot = _snapshot(resources)
    (gate,) = of_type(resources, "Custom::DifyMigration").values()
    props = snapshot["Properties"]
    assert gate["Properties"]["Trigger"].endswith(":" + props["Release"])
    (cluster_id,) = of_type(resources, "AWS::RDS::DBCluster")
    assert props["ClusterIdentifier"] == {"Ref": cluster_id}


def test_snapshot_handlers_may_snapshot_only_this_cluster_under_pre_upgrade_names(
    resources: dict[str, Any],
) -> None:
    handlers = functions_by_handler(resources, "pre-upgrade Aurora snapshot")
    start = function_grants(resources, handlers["index.on_event"])
    wait = function_grants(resources, handlers["index.is_complete"])
    (cluster_id,) = of_type(resources, "AWS::RDS::DBCluster")
    granted = start["rds:CreateDBClusterSnapshot"]
    (cluster,) = [r for r in granted if cluster_id in json.dumps(r)]
    (snapshots,) = [r for r in granted if r is not cluster]
    assert json.dumps(snapshots).endswith(':cluster-snapshot:*-pre-*"]]}')
    assert start["rds:AddTagsToResource"] == [snapshots]
    assert start["cloudformation:DescribeStacks"] == [{"Ref": "AWS::StackId"}]
    assert sorted(map(json.dumps, wait["rds:DescribeDBClusterSnapshots"])) == sorted(map(json.dumps, granted))
    assert "rds:CreateDBClusterSnapshot" not in wait


def test_snapshot_can_be_turned_off(synth: Any) -> None:
    from .conftest import config_of  # noqa: PLC0415

    result = synth(config_of(database={"snapshot_before_upgrade": False}))
    (template,) = [t for name, t in result.templates.items() if "Resources" in t and name]
    resources = template["Resources"]
    assert of_type(resources, "Custom::DifyPreUpgradeSnapshot") == {}
    (gate,) = of_type(resources, "Custom::DifyMigration").values()
    assert all(resources[dep]["Type"] != "Custom::DifyPreUpgradeSnapshot" for dep in _depends_on(gate))


SNAPSHOT = "dify-databasecluster5b53a178-k2x-pre-1-14-0-20261130060000"


def test_restoring_a_snapshot_replaces_the_cluster_in_place(synth: Any, resources: dict[str, Any]) -> None:
    """`database.snapshot_identifier`: the same logical ID, so CloudFormation replaces the cluster ("Update
    requires: Replacement" for SnapshotIdentifier, AWS::RDS::DBCluster) instead of adding a second one. A
    restored cluster takes no DatabaseName, MasterUsername or StorageEncrypted (they come from the snapshot,
    "AWS::RDS::DBCluster" property notes). The master secret stays the very same resource: it holds the
    password the snapshot has, and a new password is not reliably applied to a restored cluster
    (aws-cloudformation/cloudformation-coverage-roadmap#1500)."""
    from .conftest import config_of  # noqa: PLC0415

    result = synth(config_of(database={"snapshot_identifier": SNAPSHOT}))
    restored_resources = result.templates[next(iter(result.templates))]["Resources"]
    ((old_id, _),) = of_type(resources, "AWS::RDS::DBCluster").items()
    ((new_id, restored),) = of_type(restored_resources, "AWS::RDS::DBCluster").items()
    assert new_id == old_id
    props = restored["Properties"]
    assert props["SnapshotIdentifier"] == SNAPSHOT
    assert not {"DatabaseName", "MasterUsername", "StorageEncrypted"} & set(props)
    assert "MasterUserPassword" not in props
    secrets = of_type(resources, "AWS::SecretsManager::Secret")
    (master,) = [s for s in secrets if s in json.dumps(of_type(resources, "AWS::RDS::DBCluster"))]
    assert restored_resources[master] == resources[master]
    assert len(of_type(restored_resources, "AWS::SecretsManager::Secret")) == len(secrets)
    assert (
        props["ServerlessV2ScalingConfiguration"]
        == of_type(resources, "AWS::RDS::DBCluster")[old_id]["Properties"]["ServerlessV2ScalingConfiguration"]
    )
    # The writer is an instance of the restored cluster (RestoreDBClusterFromSnapshot restores no instance).
    writers = [
        i for i in of_type(restored_resources, "AWS::RDS::DBInstance").values()
        if i["Properties"]["DBClusterIdentifier"] == {"Ref": new_id}
    ]  # fmt: skip
    assert writers and all(w["Properties"]["DBInstanceClass"] == "db.serverless" for w in writers)
    assert result.violations == []


@pytest.mark.parametrize(
    "value", ["9abc", "a--b", "a-", "x" * 64, "arn:aws:rds:eu-west-1:1234:cluster-snapshot:a", "has space"]
)
def test_snapshot_identifier_is_checked(value: str) -> None:
    """RestoreDBClusterFromSnapshot's SnapshotIdentifier: a cluster snapshot name (1-63 letters, digits or
    hyphens, starting with a letter, no two consecutive hyphens, not ending with one) or its ARN."""
    from dify_on_aws.config import ConfigError  # noqa: PLC0415

    from .conftest import config_of  # noqa: PLC0415

    with pytest.raises(ConfigError, match=r"database\.snapshot_identifier"):
        config_of(database={"snapshot_identifier": value})


def test_snapshot_identifier_accepts_a_name_or_an_arn() -> None:
    from .conftest import config_of  # noqa: PLC0415

    for value in (SNAPSHOT, f"arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:{SNAPSHOT}"):
        assert config_of(database={"snapshot_identifier": value}).database.snapshot_identifier == value
