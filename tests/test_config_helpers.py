"""The config model's helpers that other units rely on: requirements files, Fargate sizes, working hours,
whether a us-east-1 stack is needed (each asserted exactly, so `make mutation` can tell them apart)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_on_aws.config.model import (
    DEFAULT_SANDBOX_REQUIREMENTS,
    FrontDoorConfig,
    ScheduleConfig,
    ServicesConfig,
    fargate_size_error,
    read_requirements,
)


def test_requirements_keep_packages_and_drop_comments(tmp_path: Path) -> None:
    path = tmp_path / "req.txt"
    path.write_text("# header\nnumpy==2.1.0  # pinned\n\n  pandas>=2 \nrequests[socks]~=2.32\n")
    assert read_requirements(str(path)) == ["numpy==2.1.0", "pandas>=2", "requests[socks]~=2.32"]


def test_requirements_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ValueError, match=rf"^file '{missing}' not found \(relative to "):
        read_requirements(str(missing))


@pytest.mark.parametrize("line", ["-r other.txt", "--index-url https://x", "./local.whl"])
def test_requirements_refuse_what_is_not_a_package(tmp_path: Path, line: str) -> None:
    path = tmp_path / "req.txt"
    path.write_text(f"numpy\n{line}\n")
    with pytest.raises(ValueError, match=r"is not a package requirement such as 'numpy==2\.1\.0'") as raised:
        read_requirements(str(path))
    assert repr(line) in str(raised.value)


def test_sandbox_packages_default_and_custom(tmp_path: Path) -> None:
    assert ServicesConfig().sandbox_packages() == read_requirements(str(DEFAULT_SANDBOX_REQUIREMENTS))
    path = tmp_path / "req.txt"
    path.write_text("numpy==2.1.0\n")
    assert ServicesConfig(sandbox_requirements_file=str(path)).sandbox_packages() == ["numpy==2.1.0"]


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        (256, 512, None),
        (256, 2048, None),
        (300, 512, "cpu must be one of [256, 512, 1024, 2048, 4096]"),
        (256, 4096, "memory_mib for cpu 256 must be one of [512, 1024, 2048]"),
        (512, 512, "memory_mib for cpu 512 must be one of 1024..4096 in steps of 1024"),
    ],
)
def test_fargate_sizes(cpu: int, memory: int, expected: str | None) -> None:
    assert fargate_size_error(cpu, memory) == expected


@pytest.mark.parametrize(
    ("hours", "per_week"),
    [
        ("MON-FRI 08:00-20:00", 60.0),
        ("MON-SUN 00:00-23:30", 164.5),
        ("SAT,SUN 10:15-12:00", 3.5),
        ("FRI-MON 09:00-10:00", 4.0),
        ("WED 09:30-17:45", 8.25),
    ],
)
def test_hours_per_week(hours: str, per_week: float) -> None:
    assert ScheduleConfig(working_hours=hours).hours_per_week() == per_week


@pytest.mark.parametrize(
    ("settings", "needed"),
    [
        ({"type": "alb"}, False),
        ({"type": "alb", "allowed_cidrs": ["203.0.113.0/24"]}, False),
        ({"type": "cloudfront"}, False),
        ({"type": "cloudfront", "allowed_countries": ["JP"]}, True),
        ({"type": "cloudfront", "allowed_cidrs": ["203.0.113.0/24"]}, True),
        ({"type": "lambda_proxy"}, False),
        ({"type": "lambda"}, True),
    ],
)
def test_needs_edge_stack(settings: dict[str, object], needed: bool) -> None:
    assert FrontDoorConfig.model_validate(settings).needs_edge_stack() is needed
