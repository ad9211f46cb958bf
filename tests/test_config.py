"""Bad input gets one clear message per problem (key, value, what is allowed) and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dify_on_aws.cli import main
from dify_on_aws.config import ConfigError, DifyConfig, load_config, parse_config
from dify_on_aws.config.model import fargate_size_error
from dify_on_aws.config.reference import render_reference
from dify_on_aws.config.services import DEFAULT_SIZES

from .conftest import EXAMPLES, ROOT


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "test.toml")
    return info.value.problems


def test_defaults_are_valid_and_offline() -> None:
    config = DifyConfig()
    assert config.account is None and config.region is None
    assert config.removal_policy == "retain"
    assert (config.images.api, config.images.web) == ("1.13.3", "1.13.3")
    assert config.images.sandbox == "0.2.14"
    assert config.images.plugin_daemon == "0.5.3-local"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    load_config(path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"nmae": "x"}, ["nmae: unknown key (value 'x')"]),
        ({"database": {"max_acu": "lots"}}, ["database.max_acu = 'lots': Input should be a valid number"]),
        (
            {"database": {"min_acu": 4, "max_acu": 2}},
            ["database: min_acu (4.0) must not exceed max_acu (2.0)"],
        ),
        ({"database": {"min_acu": 0.7}}, ["database.min_acu = 0.7: must be a multiple of 0.5"]),
        ({"database": {"engine_version": "15.4"}}, ["database.engine_version = '15.4': must be one of"]),
        ({"network": {"cidr": "10.0.0.0/33"}}, ["network.cidr = '10.0.0.0/33': is not a valid IPv4 network"]),
        ({"network": {"cidr": "8.8.0.0/16"}}, ["network.cidr = '8.8.0.0/16': must be a private"]),
        ({"network": {"cidr": "10.0.0.1/16"}}, ["network.cidr = '10.0.0.1/16': is not a valid IPv4 network"]),
        ({"network": {"nat_gateways": 3}}, ["network: nat_gateways (3) cannot exceed max_azs (2)"]),
        (
            {"removal_policy": "delete"},
            ["removal_policy = 'delete': not allowed; use one of 'retain', 'snapshot'"],
        ),
        ({"name": "1dify"}, ["name = '1dify': must start with a letter"]),
        ({"region": "mars-1"}, ["region = 'mars-1': must be an AWS region name"]),
        ({"account": "12345"}, ["account = '12345': must be a 12-digit AWS account ID"]),
        ({"images": {"api": "latest"}}, ["images.api = 'latest': 'latest' is not allowed"]),
        ({"images": {"registry": "https://example.com/"}}, ["images.registry = 'https://example.com/'"]),
        ({"cache": {"node_type": "t4g.micro"}}, ["cache.node_type = 't4g.micro': must look like"]),
        ({"tags": {"aws:owner": "me"}}, ["tags: tag key 'aws:owner' is not allowed"]),
        (
            {"network": {"availability_zones": ["us-east-1a", "us-east-1b"]}},
            ["network.availability_zones needs region"],
        ),
    ],
)
def test_bad_values_name_key_value_and_fix(data: dict[str, object], expected: list[str]) -> None:
    found = problems(data)
    assert len(found) == len(expected), found
    for message, prefix in zip(found, expected, strict=True):
        assert prefix in message, (message, prefix)


def test_every_problem_is_reported_at_once() -> None:
    found = problems({"name": "", "database": {"max_acu": 0}, "cache": {"multi_az": "maybe"}, "x": 1})
    keys = sorted(m.split(" ", 1)[0].rstrip(":") for m in found)
    assert keys == ["cache.multi_az", "database.max_acu", "name", "x"]


def test_every_cross_field_problem_is_reported_at_once() -> None:
    """A user fixing one cross-field problem must not meet the next only on the following run."""
    found = problems({"front_door": {"type": "lambda"}, "network": {"nat_gateways": 0}})
    assert len(found) == 2, found
    assert any("needs NAT" in line for line in found)
    assert any("needs Lambda@Edge" in line and "set account, region" in line for line in found)
    found = problems({"front_door": {"type": "cloudfront", "internal": True, "hosted_zone": "example.com"}})
    assert [line.split(":", 1)[0] for line in found] == ["front_door", "front_door"]
    assert "internal = true needs type = 'alb'" in found[0]
    assert "hosted_zone is set but domain is not" in found[1]


def test_cli_lists_every_cross_field_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[front_door]\ntype = "lambda"\n[network]\nnat_gateways = 0\n')
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n  - ") == 2, err
    assert "needs NAT" in err and "needs Lambda@Edge" in err


def test_a_partial_size_section_keeps_the_other_defaults() -> None:
    """Issue #14: `[services.sandbox]` with only `desired_count = 0` must not make cpu and memory required."""
    config = parse_config({"services": {"sandbox": {"desired_count": 0}, "plugin_daemon": {"max_count": 1}}})
    sandbox, daemon = config.services.sandbox, config.services.plugin_daemon
    sandbox_default, daemon_default = DEFAULT_SIZES["sandbox"], DEFAULT_SIZES["plugin_daemon"]
    assert (sandbox.cpu, sandbox.memory_mib, sandbox.desired_count) == (
        sandbox_default["cpu"],
        sandbox_default["memory_mib"],
        0,
    )
    assert (daemon.cpu, daemon.memory_mib, daemon.ephemeral_storage_gib, daemon.max_count) == (
        daemon_default["cpu"],
        daemon_default["memory_mib"],
        40,
        1,
    )
    assert parse_config({"services": {"single_task": {"cpu": 2048}}}).services.single_task.memory_mib == 4096
    # A partial section still gets every check: 4096 cpu with the default 2048 MiB is no Fargate size.
    found = problems({"services": {"api": {"cpu": 4096}}})
    assert len(found) == 1 and found[0].startswith("services.api") and "memory_mib for cpu 4096" in found[0]


def test_api_worker_and_web_scale_out_on_cpu_by_default_except_in_one_shared_task() -> None:
    """Issue #14 (a cheaper default): half-vCPU api and worker tasks scale out instead of being sized for
    the peak; a larger desired_count raises the default ceiling; one shared task never scales."""
    svc = parse_config({}).services
    assert (svc.api.max_count, svc.worker.max_count, svc.web.max_count) == (4, 4, 4)
    assert svc.sandbox.max_count is None and svc.plugin_daemon.max_count is None
    assert parse_config({"services": {"api": {"desired_count": 6}}}).services.api.max_count == 6
    assert parse_config({"services": {"api": {"max_count": 2}}}).services.api.max_count == 2
    shared = parse_config({"services": {"layout": "single_task"}}).services
    assert (shared.api.max_count, shared.worker.max_count, shared.web.max_count) == (None, None, None)


def test_fargate_sizes() -> None:
    assert fargate_size_error(256, 512) is None
    assert fargate_size_error(1024, 8192) is None
    assert "cpu must be one of" in str(fargate_size_error(300, 512))
    assert "memory_mib for cpu 256" in str(fargate_size_error(256, 4096))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_exits_2_with_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, 'removal_policy = "nope"\n[database]\nmax_acu = -1\n')
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "removal_policy = 'nope'" in err and "database.max_acu = -1" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [("name = [", "not valid TOML"), (None, "file not found")],
)
def test_cli_file_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, expected: str
) -> None:
    path = write(tmp_path, text) if text is not None else tmp_path / "missing.toml"
    assert main(["synth", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    assert expected in capsys.readouterr().err


def test_cli_subprocess_has_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "[network]\nmax_azs = 9\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dify_on_aws.cli", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "network.max_azs = 9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reference_doc_is_in_sync() -> None:
    current = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == render_reference(), "docs/configuration.md is stale: run `make docs`"


def test_reference_doc_mentions_every_key() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section in ("images", "network", "database", "cache", "storage"):
        model = type(getattr(DifyConfig(), section))
        assert f"`[{section}]`" in text
        for key in model.model_fields:
            assert f"| `{key}` |" in text
