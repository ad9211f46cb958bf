"""Pre-upgrade snapshot: a manual Aurora cluster snapshot taken when the Dify release changes, before the
migration gate runs (the migration resource depends on this one, so CloudFormation updates it first).

Entry points for an AWS CDK ``custom_resources.Provider`` in the asynchronous "waiter" pattern:

* ``on_event``: on an Update whose ``Release`` property differs from the old one, CreateDBClusterSnapshot
  named ``<cluster>-pre-<release>-<UTC timestamp>``. Nothing on Create (a new cluster holds no data yet),
  nothing on an Update that keeps the release, nothing on the Update a rollback sends (the stack's status is
  ``UPDATE_ROLLBACK_IN_PROGRESS``), and nothing on Delete: snapshots are kept; this project never deletes
  them (delete them yourself when no longer needed, they are billed as backup storage).
* ``is_complete``: DescribeDBClusterSnapshots until the snapshot is ``available``; any other final status
  fails the resource, and so the deployment, before the migration touches the schema. The Provider
  framework's ``total_timeout`` bounds the wait.

ResourceProperties: ``ClusterIdentifier``, ``Release`` (the api image tag; a change means a migration) and
optional ``Region``. Only the Lambda runtime's boto3 is used; the module is shipped as an asset.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

LOG = logging.getLogger("dify_pre_upgrade_snapshot")
LOG.setLevel(logging.INFO)

PHYSICAL_ID_PREFIX = "dify-pre-upgrade-snapshot-"
ROLLBACK_STATUS = "UPDATE_ROLLBACK_IN_PROGRESS"
# "CreateDBClusterSnapshot", Amazon RDS API Reference: DBClusterSnapshotIdentifier must contain from 1 to 63
# letters, numbers, or hyphens; the first character must be a letter; it can't end with a hyphen or contain
# two consecutive hyphens.
MAX_IDENTIFIER = 63
IDENTIFIER = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-))*(?<!-)$")
AVAILABLE = "available"
PENDING = frozenset({"creating", "copying"})

_clients: dict[tuple[str, str | None], Any] = {}


class SnapshotError(RuntimeError):
    """Raised to make the Provider framework fail the custom resource (and the deployment)."""


def _cached(service: str, region: str | None, make: Callable[[], Any]) -> Any:
    key = (service, region)
    if key not in _clients:
        _clients[key] = make()
    return _clients[key]


# Literal service names at each boto3.client call: the IAM-coverage test reads them from this file.
def _rds(region: str | None = None) -> Any:
    """Return a cached RDS client; created lazily so tests can stub it."""
    return _cached("rds", region, lambda: boto3.client("rds", region_name=region))


def _cloudformation(region: str | None = None) -> Any:
    """Return a cached CloudFormation client; created lazily so tests can stub it."""
    return _cached("cloudformation", region, lambda: boto3.client("cloudformation", region_name=region))


def _slug(text: str) -> str:
    """Lower-case letters, digits and single hyphens only."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def snapshot_identifier(cluster: str, release: str, now: datetime) -> str:
    """`<cluster>-pre-<release>-<YYYYmmddHHMMSS>` within RDS's rules: the cluster part is shortened to fit
    63 characters, and the name starts with a letter whatever the cluster is called."""
    suffix = f"pre-{_slug(release) or 'release'}-{now.astimezone(UTC):%Y%m%d%H%M%S}"
    suffix = suffix[: MAX_IDENTIFIER - 2]
    head = _slug(cluster)
    if not head or not head[0].isalpha():
        head = f"dify-{head}".rstrip("-")
    room = MAX_IDENTIFIER - len(suffix) - 1
    head = head[:room].rstrip("-")
    name = f"{head}-{suffix}" if head else f"s-{suffix}"
    assert IDENTIFIER.fullmatch(name) and len(name) <= MAX_IDENTIFIER, name
    return name


def _props(event: Mapping[str, Any], key: str = "ResourceProperties") -> Mapping[str, Any]:
    props = event.get(key)
    return props if isinstance(props, Mapping) else {}


def _required(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise SnapshotError(f"ResourceProperties.{key} is required and must be a non-empty string")
    return value


def _region(props: Mapping[str, Any]) -> str | None:
    region = props.get("Region")
    return region if isinstance(region, str) and region else None


def _rolling_back(event: Mapping[str, Any]) -> bool:
    """Whether the stack that sent `event` is rolling back a failed update."""
    stack_id = event.get("StackId")
    if not isinstance(stack_id, str) or not stack_id:
        raise SnapshotError("Update without StackId: cannot tell a rollback from a forward update")
    parts = stack_id.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else None
    stacks = _cloudformation(region).describe_stacks(StackName=stack_id).get("Stacks") or []
    status = stacks[0].get("StackStatus") if stacks else None
    LOG.info("Stack %s status=%s", stack_id, status)
    return status == ROLLBACK_STATUS


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Start a snapshot when the release changes (see the module docstring for when it does nothing)."""
    request_type = event.get("RequestType")
    if request_type == "Delete":
        LOG.info("Delete: snapshots are kept (%s)", event.get("PhysicalResourceId"))
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request_type not in {"Create", "Update"}:
        raise SnapshotError(f"Unsupported RequestType: {request_type!r}")
    props = _props(event)
    cluster = _required(props, "ClusterIdentifier")
    release = _required(props, "Release")
    physical_id = (
        event["PhysicalResourceId"] if request_type == "Update" else PHYSICAL_ID_PREFIX + _slug(cluster)
    )
    skipped = {"PhysicalResourceId": physical_id, "Data": {"SnapshotIdentifier": ""}}
    if request_type == "Create":
        LOG.info("Create: a new cluster has nothing to keep; no snapshot")
        return skipped
    old_release = _props(event, "OldResourceProperties").get("Release")
    if old_release == release:
        LOG.info("Release unchanged (%s): no snapshot", release)
        return skipped
    if _rolling_back(event):
        LOG.warning("Rollback to %s: no snapshot (the one taken before the failed update is kept)", release)
        return skipped
    name = snapshot_identifier(cluster, release, datetime.now(UTC))
    _rds(_region(props)).create_db_cluster_snapshot(
        DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=name
    )
    LOG.info("Creating snapshot %s of %s before the upgrade %s -> %s", name, cluster, old_release, release)
    return {"PhysicalResourceId": physical_id, "Data": {"SnapshotIdentifier": name}}


def is_complete(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Complete once the snapshot is available; fail when it ends in any other status."""
    data = event.get("Data")
    name = data.get("SnapshotIdentifier") if isinstance(data, Mapping) else None
    if event.get("RequestType") == "Delete" or not name:
        return {"IsComplete": True}
    props = _props(event)
    response = _rds(_region(props)).describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)
    snapshots = response.get("DBClusterSnapshots") or []
    status = snapshots[0].get("Status") if snapshots else None
    LOG.info(
        "Snapshot %s status=%s (%s%%)", name, status, snapshots[0].get("PercentProgress") if snapshots else 0
    )
    if status == AVAILABLE:
        return {"IsComplete": True, "Data": {"SnapshotIdentifier": name}}
    if status in PENDING:
        return {"IsComplete": False}
    raise SnapshotError(
        f"The pre-upgrade snapshot {name} of cluster {props.get('ClusterIdentifier')} ended in status "
        f"{status or 'unknown (not returned by DescribeDBClusterSnapshots)'}; the migration did not run and "
        "the schema is unchanged. Check the RDS events of the cluster, then deploy again, or set "
        "database.snapshot_before_upgrade = false to upgrade without a snapshot."
    )
