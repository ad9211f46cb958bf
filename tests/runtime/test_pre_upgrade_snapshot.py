"""The pre-upgrade snapshot handler against botocore's Stubber (each request is validated against the RDS
and CloudFormation service models; no AWS access)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.data.runtime.pre_upgrade_snapshot import index

REGION = "eu-west-1"
CLUSTER = "dify-databasecluster5b53a178-k2xq9a7zq1fz"
STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/dify/0f0e0d0c-0b0a-0908-0706-050403020100"
PHYSICAL = index.PHYSICAL_ID_PREFIX + CLUSTER
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, Stubber]]:
    rds = boto3.client("rds", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(index, "_rds", lambda region=None: rds)
    monkeypatch.setattr(index, "_cloudformation", lambda region=None: cfn)
    with Stubber(rds) as rds_stub, Stubber(cfn) as cfn_stub:
        yield rds_stub, cfn_stub
        rds_stub.assert_no_pending_responses()
        cfn_stub.assert_no_pending_responses()


def _event(request: str, release: str = "1.14.0", old: str | None = "1.13.3", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request,
        "StackId": STACK_ID,
        "ResourceProperties": {"ClusterIdentifier": CLUSTER, "Release": release},
        **extra,
    }
    if request != "Create":
        event["PhysicalResourceId"] = PHYSICAL
    if request == "Update" and old is not None:
        event["OldResourceProperties"] = {"ClusterIdentifier": CLUSTER, "Release": old}
    return event


def _stack_status(cfn_stub: Stubber, status: str) -> None:
    cfn_stub.add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "dify", "StackId": STACK_ID, "CreationTime": NOW, "StackStatus": status}]},
        {"StackName": STACK_ID},
    )


def test_a_release_change_takes_a_snapshot_named_after_cluster_and_release(
    stubs: tuple[Stubber, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    rds_stub, cfn_stub = stubs
    monkeypatch.setattr(index, "datetime", type("Clock", (), {"now": staticmethod(lambda tz=None: NOW)}))
    _stack_status(cfn_stub, "UPDATE_IN_PROGRESS")
    # The generated cluster identifier is shortened so that the name fits RDS's 63 characters.
    name = "dify-databasecluster5b53a178-k2xq9a7z-pre-1-14-0-20261130060000"
    assert len(name) == 63
    rds_stub.add_response(
        "create_db_cluster_snapshot",
        {"DBClusterSnapshot": {"DBClusterSnapshotIdentifier": name, "Status": "creating"}},
        {"DBClusterIdentifier": CLUSTER, "DBClusterSnapshotIdentifier": name},
    )
    result = index.on_event(_event("Update"), None)
    assert result == {"PhysicalResourceId": PHYSICAL, "Data": {"SnapshotIdentifier": name}}


@pytest.mark.parametrize(
    ("request_type", "old"),
    [("Create", None), ("Update", "1.14.0"), ("Delete", None)],
    ids=["create: no data yet", "same release", "delete: snapshots are kept"],
)
def test_no_snapshot_without_a_release_change(
    stubs: tuple[Stubber, Stubber], request_type: str, old: str | None
) -> None:
    """Nothing is called at all (the Stubber fails on any call it was not given)."""
    result = index.on_event(_event(request_type, old=old), None)
    assert result.get("Data", {}).get("SnapshotIdentifier", "") == ""
    assert result["PhysicalResourceId"] == PHYSICAL
    assert index.is_complete({**_event(request_type, old=old), **result}, None)["IsComplete"] is True


def test_the_rollback_update_takes_no_snapshot(stubs: tuple[Stubber, Stubber]) -> None:
    """During UPDATE_ROLLBACK_IN_PROGRESS CloudFormation sends the old release back: no snapshot."""
    _, cfn_stub = stubs
    _stack_status(cfn_stub, "UPDATE_ROLLBACK_IN_PROGRESS")
    result = index.on_event(_event("Update", release="1.13.3", old="1.14.0"), None)
    assert result["Data"] == {"SnapshotIdentifier": ""}


@pytest.mark.parametrize(
    ("status", "complete"), [("creating", False), ("available", True)], ids=["creating", "available"]
)
def test_waits_until_the_snapshot_is_available(
    stubs: tuple[Stubber, Stubber], status: str, complete: bool
) -> None:
    rds_stub, _ = stubs
    name = f"{CLUSTER}-pre-1-14-0-20261130060000"
    rds_stub.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": name, "Status": status}]},
        {"DBClusterSnapshotIdentifier": name},
    )
    event = {**_event("Update"), "Data": {"SnapshotIdentifier": name}}
    assert index.is_complete(event, None)["IsComplete"] is complete


def test_a_failed_snapshot_fails_the_deployment_before_the_migration(stubs: tuple[Stubber, Stubber]) -> None:
    rds_stub, _ = stubs
    name = f"{CLUSTER}-pre-1-14-0-20261130060000"
    rds_stub.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": name, "Status": "failed"}]},
        {"DBClusterSnapshotIdentifier": name},
    )
    with pytest.raises(index.SnapshotError, match=r"ended in status failed.*migration did not run"):
        index.is_complete({**_event("Update"), "Data": {"SnapshotIdentifier": name}}, None)


@pytest.mark.parametrize(
    ("cluster", "release"),
    [
        (CLUSTER, "1.14.0"),
        ("x" * 80, "1.14.0"),
        ("Dify--Cluster-", "1.14.0-rc.1"),
        ("9dify", "v1_2"),
        ("a", "-" * 70),
    ],
    ids=["generated", "long cluster", "hyphens", "digit first", "release of hyphens"],
)
def test_snapshot_names_follow_the_rds_rules(cluster: str, release: str) -> None:
    """ "CreateDBClusterSnapshot" (Amazon RDS API Reference): DBClusterSnapshotIdentifier must contain from 1
    to 63 letters, numbers, or hyphens; the first character must be a letter; it can't end with a hyphen or
    contain two consecutive hyphens."""
    name = index.snapshot_identifier(cluster, release, NOW)
    assert 1 <= len(name) <= 63
    assert name[0].isalpha() and not name.endswith("-") and "--" not in name
    assert all(c.isalnum() or c == "-" for c in name)
    assert name.endswith("-20261130060000") and "-pre-" in name


def test_the_name_keeps_the_cluster_and_release_when_they_fit() -> None:
    assert index.snapshot_identifier("dify-db", "1.13.3", NOW) == "dify-db-pre-1-13-3-20261130060000"
