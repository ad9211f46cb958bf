"""`dify-on-aws upgrade-plan --to RELEASE`: the plan from the data (contracts and notes), and exit 2 for an
unknown release. A second, made-up release (`1.14.0`, written to a temporary folder beside a copy of the
shipped 1.13.3 contract, never shipped) shows every kind of change."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from dify_on_aws import cli
from dify_on_aws.operations import upgrade_plan
from dify_on_aws.services import dify_contract

from .conftest import config_of

SHIPPED = Path(dify_contract.__file__).parent


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    """1.13.3 as shipped, and a 1.14.0 that changes images, variables, a component and a queue."""
    folder = tmp_path / "contracts"
    folder.mkdir()
    shutil.copy(SHIPPED / "1.13.3.json", folder)
    data: dict[str, Any] = json.loads((SHIPPED / "1.13.3.json").read_text(encoding="utf-8"))
    newer = copy.deepcopy(data)
    newer["release"] = "1.14.0"
    newer["images"]["api"]["value"] = "1.14.0"
    newer["images"]["web"]["value"] = "1.14.0"
    newer["images"]["plugin_daemon"]["value"] = "0.6.0-local"
    api = newer["components"]["api"]
    api["reads"]["NEW_SETTING"] = "feature_config"
    del api["reads"]["APP_MAX_EXECUTION_TIME"]
    api["required"]["NEW_KEY"] = {"value": "", "source": "feature_config"}
    newer["components"]["collaboration"] = {"image": "api", "reads": {}, "required": {}, "defaults": {}}
    del newer["components"]["ssrf_proxy"]
    newer["queues"]["worker_default"]["value"] = [*data["queues"]["worker_default"]["value"], "new_queue"]
    (folder / "1.14.0.json").write_text(json.dumps(newer), encoding="utf-8")
    return folder


NOTES = {
    "1.13.3": [upgrade_plan.Note("1.13.3", "old note", "src a")],
    "1.14.0": [upgrade_plan.Note("1.14.0", "breaking thing", "langgenius/dify#1")],
}


def test_plan_lists_every_change(contracts: Path) -> None:
    plan = upgrade_plan.make_plan(config_of(), "1.14.0", contracts=contracts, notes=NOTES)
    images = {key: (old, new) for key, old, new in plan.images}
    assert images["api"] == ("1.13.3", "1.14.0")
    assert images["plugin_daemon"] == ("0.5.3-local", "0.6.0-local")
    assert images["sandbox"][0] == images["sandbox"][1]
    assert plan.added_components == ["collaboration"]
    assert plan.removed_components == ["ssrf_proxy"]
    assert plan.variables["api"] == {
        "reads, new": ["NEW_SETTING"],
        "reads no more": ["APP_MAX_EXECUTION_TIME"],
        "needs, new": ["NEW_KEY"],
    }
    assert plan.added_queues == ["new_queue"]
    assert plan.migration and plan.snapshot and not plan.downgrade
    # Only the notes after the current release, up to the target.
    assert [n.note for n in plan.notes] == ["breaking thing"]
    text = upgrade_plan.render(plan, "dify.toml")
    assert "api: 1.13.3 -> 1.14.0" in text
    assert "api reads no more: APP_MAX_EXECUTION_TIME" in text
    assert "1. snapshot: the Aurora cluster is snapshotted first, as <cluster>-pre-1-14-0-<UTC time>" in text
    assert "2. migration:" in text and "circuit breaker with automatic rollback" in text
    assert "[1.14.0] breaking thing\n    source: langgenius/dify#1" in text


def test_without_the_snapshot_option_the_plan_says_so(contracts: Path) -> None:
    config = config_of(database={"snapshot_before_upgrade": False})
    plan = upgrade_plan.make_plan(config, "1.14.0", contracts=contracts, notes=NOTES)
    assert plan.migration and not plan.snapshot
    assert "1. snapshot: none (database.snapshot_before_upgrade = false)" in upgrade_plan.render(plan, "x")


def test_the_same_release_runs_no_migration(contracts: Path) -> None:
    plan = upgrade_plan.make_plan(config_of(), "1.13.3", contracts=contracts, notes=NOTES)
    assert not plan.migration and not plan.snapshot and plan.notes == []
    assert plan.variables == {} and plan.added_components == [] and plan.removed_components == []
    assert "no migration (the api image does not change)" in upgrade_plan.render(plan, "x")


def test_a_downgrade_is_flagged(contracts: Path) -> None:
    config = config_of(images={"dify_version": "1.14.0", "force": True})
    plan = upgrade_plan.make_plan(config, "1.13.3", contracts=contracts, notes=NOTES)
    assert plan.downgrade
    assert "WARNING: 1.13.3 is older than 1.14.0" in upgrade_plan.render(plan, "x")


def test_unknown_release_exits_2_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["upgrade-plan", "--to", "9.9.9"]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"error: unknown Dify release '9.9.9'; known releases: {', '.join(dify_contract.releases())}\n"
    )


def test_the_shipped_release_plans_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["upgrade-plan", "--to", dify_contract.DEFAULT_RELEASE]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"Upgrade plan: Dify {dify_contract.DEFAULT_RELEASE} -> {dify_contract.DEFAULT_RELEASE}"
    )


def test_every_note_names_a_known_release_and_a_source() -> None:
    notes = upgrade_plan.load_notes()
    assert set(notes) <= set(dify_contract.releases())
    assert all(note.note and note.source for entries in notes.values() for note in entries)
