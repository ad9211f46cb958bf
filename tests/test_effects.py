"""Options without effect: synth and validate warn, naming the key and what would give it an effect
(issue #14, friendlier configuration)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.cli import main
from dify_on_aws.config.effects import ineffective_options

from .conftest import EXAMPLES, config_of


def codes(**data: object) -> list[str]:
    return [code for code, _ in ineffective_options(config_of(**data))]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        # Every service runs at most its on-demand base: nothing ever lands on Spot.
        ({"services": {"spot": True, "on_demand_base": 4}}, "spot-unused"),
        ({"services": {"layout": "single_task", "spot": True, "on_demand_base": 1},
          "cache": {"engine": "container"}}, "spot-unused"),
        ({"services": {"on_demand_base": 2}}, "on-demand-base-unused"),
        ({"services": {"layout": "single_task", "sandbox": {"cpu": 1024, "memory_mib": 2048}}},
         "role-size-unused"),
        ({"services": {"sandbox": {"desired_count": 0, "max_count": 3}}}, "max-count-unused"),
        ({"schedule": {"timezone": "Asia/Tokyo"}}, "schedule-unused"),
        ({"database": {"min_acu": 0.5, "auto_pause_seconds": 600}}, "auto-pause-unused"),
        ({"services": {"layout": "single_task"}, "cache": {"engine": "container", "multi_az": True}},
         "cache-options-unused"),
        ({"backup": {"retention_days": 7}}, "backup-unused"),
    ],
)  # fmt: skip
def test_an_option_without_effect_is_named(data: dict[str, object], code: str) -> None:
    assert code in codes(**data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"services": {"spot": True}},  # api/worker/web scale to 4 > the base of 1
        {"services": {"spot": True, "on_demand_base": 0}},
        {"schedule": {"enabled": True, "timezone": "Asia/Tokyo"}},
        {"database": {"min_acu": 0, "auto_pause_seconds": 600}},
        {"backup": {"enabled": True, "retention_days": 7}},
        {"services": {"sandbox": {"desired_count": 0}}},
        # Queue depth starts workers from zero (the metric comes from a function, not from the tasks).
        {"services": {"worker": {"desired_count": 0, "max_count": 3, "queue_scaling": True}}},
    ],
)
def test_options_with_an_effect_are_not_flagged(data: dict[str, object]) -> None:
    assert codes(**data) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_example_sets_an_option_without_effect(path: Path) -> None:
    from dify_on_aws.config import load_config  # noqa: PLC0415

    assert ineffective_options(load_config(path)) == []


def test_synth_reports_the_warning(synth: Callable[..., SynthResult]) -> None:
    result = synth(config_of(services={"on_demand_base": 2}))
    assert any("services.on_demand_base has no effect" in w for w in result.warnings), result.warnings


def test_validate_prints_the_warning_and_still_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dify.toml"
    config.write_text("[schedule]\nworking_hours = 'MON-FRI 09:00-18:00'\n", encoding="utf-8")
    assert main(["validate", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "warning: schedule.working_hours/timezone have no effect while schedule.enabled = false" in err
