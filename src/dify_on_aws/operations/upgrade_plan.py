"""`dify-on-aws upgrade-plan --to RELEASE [--config PATH]`: what a deploy of another Dify release would
change, before it happens. Offline: everything comes from the configuration and the project's data.

* the image set: each image of the configured set against the target release's set (the version sets of
  the Dify contract, `services/dify_contract/<release>.json`);
* components (the roles' images) added or removed, and per component the environment variables its code
  reads, and those it needs, that appear or disappear (the contract's `reads` and `required`);
* the worker queues that appear or disappear;
* whether the migration gate runs (it runs when the api image changes) and the snapshot taken before it
  (`database.snapshot_before_upgrade`);
* the known notes for every release after the current one up to the target (`upgrade_notes.json`, each
  with its source).

An unknown release exits 2 and names the known ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.inputs import config_path, default_config
from dify_on_aws.services import dify_contract
from dify_on_aws.services.dify_contract import Contract

NOTES_FILE = Path(__file__).with_name("upgrade_notes.json")
EXIT_UNKNOWN = 2
CONTRACTS = Path(dify_contract.__file__).parent
SSRF_PROXY = "ssrf_proxy"


@dataclass(frozen=True)
class Note:
    release: str
    note: str
    source: str


@dataclass
class Plan:
    current: str
    target: str
    images: list[tuple[str, str, str]]  # (image, configured, target)
    added_components: list[str]
    removed_components: list[str]
    variables: dict[str, dict[str, list[str]]]  # component -> {"reads +": [...], ...}
    added_queues: list[str]
    removed_queues: list[str]
    migration: bool
    snapshot: bool
    downgrade: bool
    api_tag: str
    notes: list[Note] = field(default_factory=list)


def load_notes(path: Path = NOTES_FILE) -> dict[str, list[Note]]:
    data = json.loads(path.read_text(encoding="utf-8"))["releases"]
    return {
        release: [Note(release, entry["note"], entry["source"]) for entry in entries]
        for release, entries in data.items()
    }


def _configured_images(config: DifyConfig) -> dict[str, str]:
    images = {key: str(getattr(config.images, key)) for key in dify_contract.IMAGE_KEYS}
    images[SSRF_PROXY] = config.ssrf_proxy.image
    return images


def _diff(
    old: Sequence[str] | Mapping[str, Any], new: Sequence[str] | Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    return sorted(set(new) - set(old)), sorted(set(old) - set(new))


def make_plan(
    config: DifyConfig,
    target: str,
    *,
    contracts: Path = CONTRACTS,
    notes: Mapping[str, list[Note]] | None = None,
) -> Plan:
    """The plan from the configured release to `target` (KeyError naming the known releases if unknown)."""
    known = dify_contract.releases(contracts)
    if target not in known:
        raise KeyError(f"unknown Dify release {target!r}; known releases: {', '.join(known)}")
    current_name = (
        config.images.dify_version
        if config.images.dify_version in known
        else config.images.contract_release()
    )
    old: Contract = dify_contract.load(current_name, contracts)
    new: Contract = dify_contract.load(target, contracts)
    configured = _configured_images(config)
    images = [
        (key, configured.get(key, old.images.get(key, "")), new.images.get(key, "(none)"))
        for key in dict.fromkeys([*configured, *new.images])
    ]
    added, removed = _diff(old.components, new.components)
    variables: dict[str, dict[str, list[str]]] = {}
    for name in sorted(set(old.components) & set(new.components)):
        before, after = old.components[name], new.components[name]
        reads_added, reads_removed = _diff(before.reads, after.reads)
        needs_added, needs_removed = _diff(before.required, after.required)
        changes = {
            "reads, new": reads_added,
            "reads no more": reads_removed,
            "needs, new": needs_added,
            "needs no more": needs_removed,
        }
        if any(changes.values()):
            variables[name] = {label: names for label, names in changes.items() if names}
    queues_added, queues_removed = _diff(old.worker_queues(), new.worker_queues())
    migration = new.images["api"] != config.images.api
    key = dify_contract.release_key
    all_notes = load_notes() if notes is None else notes
    between = [r for r in all_notes if key(current_name) < key(r) <= key(target)]
    return Plan(
        current=current_name,
        target=target,
        images=images,
        added_components=added,
        removed_components=removed,
        variables=variables,
        added_queues=queues_added,
        removed_queues=queues_removed,
        migration=migration,
        snapshot=migration and config.database.snapshot_before_upgrade,
        downgrade=key(target) < key(current_name),
        api_tag=new.images["api"],
        notes=[note for release in sorted(between, key=key) for note in all_notes[release]],
    )


def render(plan: Plan, config_file: str) -> str:
    lines = [f"Upgrade plan: Dify {plan.current} -> {plan.target} (config: {config_file})", "", "Images:"]
    for key, configured, target in plan.images:
        change = "unchanged" if configured == target else f"{configured} -> {target}"
        lines.append(f"  {key}: {change}")
    lines += ["", "Components (roles' images):"]
    if plan.added_components or plan.removed_components:
        lines += [f"  new: {name}" for name in plan.added_components]
        lines += [f"  removed: {name}" for name in plan.removed_components]
    else:
        lines.append("  unchanged")
    lines += ["", "Environment the code reads (from the contract):"]
    if not plan.variables:
        lines.append("  unchanged")
    for component, changes in plan.variables.items():
        for label, names in changes.items():
            lines.append(f"  {component} {label}: {', '.join(names)}")
    if plan.added_queues or plan.removed_queues:
        lines += ["", "Worker queues:"]
        lines += [f"  new: {', '.join(plan.added_queues)}"] if plan.added_queues else []
        lines += [f"  removed: {', '.join(plan.removed_queues)}"] if plan.removed_queues else []
    lines += ["", "Deploy:"]
    if plan.migration:
        if plan.snapshot:
            lines.append(
                "  1. snapshot: the Aurora cluster is snapshotted first, as "
                f"<cluster>-pre-{plan.api_tag.replace('.', '-')}-<UTC time>, and the deploy waits until it "
                "is available (kept until you delete it)"
            )
        else:
            lines.append("  1. snapshot: none (database.snapshot_before_upgrade = false)")
        lines.append(
            "  2. migration: the migration task (the new dify-api image) runs `flask upgrade-db`; a failure "
            "stops the deploy and CloudFormation rolls back"
        )
        lines.append("  3. services roll one by one (deployment circuit breaker with automatic rollback)")
    else:
        lines.append("  no migration (the api image does not change); services roll if their images change")
    if plan.downgrade:
        lines += [
            "",
            f"WARNING: {plan.target} is older than {plan.current}. Migrations only go forward: the older api "
            "cannot run on the newer schema and the migration gate fails the deploy. Restore the pre-upgrade "
            'snapshot instead (README, "Upgrades").',
        ]
    lines += ["", "Known notes:"]
    lines += [f"  - [{n.release}] {n.note}\n    source: {n.source}" for n in plan.notes] or ["  none"]
    lines += [
        "",
        f'To apply: set images.dify_version = "{plan.target}" (and remove explicit image tags) in '
        f"{config_file}, then deploy.",
    ]
    return "\n".join(lines)


def cmd_upgrade_plan(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    try:
        plan = make_plan(config, args.to, contracts=args.contracts or CONTRACTS)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return EXIT_UNKNOWN
    print(render(plan, str(config_path(args.config) or "(defaults)")))
    return 0


def add_upgrade_plan_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "upgrade-plan", help="what deploying another Dify release would change (images, environment, steps)"
    )
    parser.add_argument("--to", required=True, metavar="RELEASE", help="the Dify release to upgrade to")
    parser.add_argument("--config", default=default_config())
    parser.set_defaults(func=cmd_upgrade_plan, contracts=None)
