"""`dify-on-aws status`: what is deployed and how it runs.

* the stack's status and outputs (CloudFormation DescribeStacks);
* per ECS service: its roles (container names), running/desired/pending tasks, the rollout state of its
  primary deployment, and the image of each container (DescribeServices, DescribeTaskDefinition);
* the last migration: the last forward (not rollback) CREATE/UPDATE result of the migration gate's custom
  resource in the stack's events, with its failure message (exit code, log stream) when it failed;
* the newest pre-upgrade snapshot of the cluster (DescribeDBClusterSnapshots).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from dify_on_aws.config import DifyConfig
from dify_on_aws.operations.deployed import (
    MIGRATION_TYPE,
    SNAPSHOT_TYPE,
    Aws,
    DeployedStack,
    add_config_argument,
    read_stack,
    role_services,
    run_command,
)

# Stack events read to find the last migration (newest first; a deploy writes a few hundred at most).
MAX_EVENT_PAGES = 10
_RESULTS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "CREATE_FAILED", "UPDATE_FAILED"})
SNAPSHOT_MARK = "-pre-"


@dataclass(frozen=True)
class MigrationResult:
    status: str
    when: Any
    reason: str


def last_migration(aws: Aws, stack: DeployedStack) -> MigrationResult | None:
    """The newest CREATE/UPDATE result of the migration resource outside a rollback. During a rollback the
    gate runs nothing and reports success, which says nothing about the migration."""
    gates = stack.of_type(MIGRATION_TYPE)
    if not gates:
        return None
    gate = gates[0].logical_id
    pages = aws.client("cloudformation").get_paginator("describe_stack_events").paginate(StackName=stack.name)
    events: list[dict[str, Any]] = []
    for number, page in enumerate(pages):
        events += page.get("StackEvents") or []
        if number + 1 >= MAX_EVENT_PAGES:
            break
    result: MigrationResult | None = None
    rollback = False
    # Oldest first: each stack-level status event says whether what follows belongs to a rollback.
    for event in reversed(events):
        if event.get("ResourceType") == "AWS::CloudFormation::Stack":
            rollback = "ROLLBACK" in str(event.get("ResourceStatus"))
        elif (
            event.get("LogicalResourceId") == gate
            and event.get("ResourceStatus") in _RESULTS
            and not rollback
        ):
            result = MigrationResult(
                status=str(event["ResourceStatus"]),
                when=event.get("Timestamp"),
                reason=str(event.get("ResourceStatusReason") or ""),
            )
    return result


def newest_snapshot(aws: Aws, stack: DeployedStack) -> dict[str, Any] | None:
    clusters = stack.of_type("AWS::RDS::DBCluster")
    if not clusters:
        return None
    rds = aws.client("rds")
    snapshots = [
        snapshot
        for page in rds.get_paginator("describe_db_cluster_snapshots").paginate(
            DBClusterIdentifier=clusters[0].physical_id, SnapshotType="manual"
        )
        for snapshot in page.get("DBClusterSnapshots") or []
        if SNAPSHOT_MARK in str(snapshot.get("DBClusterSnapshotIdentifier"))
    ]
    if not snapshots:
        return None
    newest: dict[str, Any] = max(snapshots, key=lambda s: str(s.get("SnapshotCreateTime", "")))
    return newest


def _tag(image: str) -> str:
    """`registry/repo:tag` -> `repo:tag` (the registry is the same for all)."""
    return image.rsplit("/", 1)[-1]


def status(aws: Aws, config: DifyConfig, args: argparse.Namespace) -> int:
    stack = read_stack(aws, config.name)
    lines = [f"Stack {stack.name} ({aws.region_name}): {stack.status}"]
    if stack.outputs:
        lines.append("Outputs:")
        width = max(len(key) for key in stack.outputs)
        lines += [f"  {key:<{width}}  {value}" for key, value in sorted(stack.outputs.items())]
    services = role_services(aws, stack)
    lines.append("Services (running/desired tasks, rollout, images):")
    for service in sorted(services, key=lambda s: s.containers):
        roles = "+".join(service.containers)
        pending = f", {service.pending} pending" if service.pending else ""
        images = ", ".join(sorted({_tag(image) for image in service.images.values()}))
        lines.append(
            f"  {roles}: {service.running}/{service.desired}{pending}, "
            f"{service.rollout.lower() or 'unknown'}, {images}"
        )
    if not services:
        lines.append("  (no ECS services in this stack)")
    migration = last_migration(aws, stack)
    if migration is None:
        lines.append("Last migration: none recorded in the stack's recent events")
    else:
        ok = migration.status.endswith("COMPLETE")
        lines.append(
            f"Last migration: {'succeeded' if ok else 'FAILED'} ({migration.status} at {migration.when})"
        )
        if migration.reason and not ok:
            lines.append(f"  {migration.reason}")
    if not stack.of_type(SNAPSHOT_TYPE):
        lines.append("Pre-upgrade snapshots: off (database.snapshot_before_upgrade = false)")
    else:
        snapshot = newest_snapshot(aws, stack)
        lines.append(
            "Newest pre-upgrade snapshot: "
            + (
                f"{snapshot['DBClusterSnapshotIdentifier']} ({snapshot.get('Status')}, "
                f"{snapshot.get('SnapshotCreateTime')})"
                if snapshot
                else "none yet (one is taken when a deploy changes the Dify release)"
            )
        )
    print("\n".join(lines))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    return run_command(args, status)


def add_status_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status", help="the deployed stack: outputs, tasks per role, images, last migration, snapshots"
    )
    add_config_argument(parser)
    parser.set_defaults(func=cmd_status)
