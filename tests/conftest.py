"""Shared fixtures: each configuration is synthesized once per test session (jsii start-up is ~6 s,
each further synth ~0.5 s), with cdk-nag attached, and its templates reused by every test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Prices come from prices.json only: a developer's `dify-on-aws prices update` cache must not change results.
os.environ["DIFY_ON_AWS_PRICE_CACHE"] = str(Path(__file__).parent / "no-price-cache.json")

from dify_on_aws.app import SynthResult, synthesize
from dify_on_aws.config import DifyConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.skip_summary"]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="session")
def synth(synth_dir: Path) -> Iterator[Callable[[DifyConfig], SynthResult]]:
    """Synthesize a config once; later calls with an equal config return the cached result."""
    cache: dict[str, SynthResult] = {}

    def run(config: DifyConfig) -> SynthResult:
        key = config.model_dump_json()
        if key not in cache:
            context = {**recorded_zones(config), **recorded_vpc(config)}
            cache[key] = synthesize(config, synth_dir / f"c{len(cache)}", context=context)
        return cache[key]

    yield run


@pytest.fixture(scope="session")
def default_result(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(DifyConfig())


@pytest.fixture(scope="session")
def template(default_result: SynthResult) -> Template:
    (body,) = default_result.templates.values()
    return Template.from_json(body)


def zones_key(account: str, region: str) -> str:
    """The key under which `cdk synth` records an account's availability zones in cdk.context.json."""
    return f"availability-zones:account={account}:region={region}"


def recorded_zones(config: DifyConfig) -> dict[str, list[str]]:
    """The availability-zones lookup as `cdk synth` would record it for the config's account and region
    (an account without `<region>b`, as new accounts in ap-northeast-1), when the config names no zones."""
    if not (config.account and config.region) or config.network.availability_zones:
        return {}
    return {zones_key(config.account, config.region): [f"{config.region}{z}" for z in "acd"]}


def vpc_key(account: str, region: str, vpc_id: str) -> str:
    """The key under which `cdk synth` records a `Vpc.from_lookup` by ID in cdk.context.json."""
    lookup = f"account={account}:filter.vpc-id={vpc_id}:region={region}:returnAsymmetricSubnets=true"
    return f"vpc-provider:{lookup}"


def looked_up_vpc(vpc_id: str, region: str) -> dict[str, Any]:
    """A VPC as the CDK CLI's vpc-provider records it: 10.50.0.0/16 with public, private and isolated
    subnets in two zones (`subnet-0<kind><zone>...`)."""
    groups = []
    for number, kind in enumerate(("Public", "Private", "Isolated"), start=1):
        subnets = [
            {
                "subnetId": f"subnet-0{number}{zone}00000000000000",
                "cidr": f"10.50.{number * 10 + zone}.0/24",
                "availabilityZone": f"{region}{'ac'[zone]}",
                "routeTableId": f"rtb-0{number}{zone}00000000000000",
            }
            for zone in range(2)
        ]
        groups.append({"name": kind, "type": kind, "subnets": subnets})
    return {"vpcId": vpc_id, "vpcCidrBlock": "10.50.0.0/16", "availabilityZones": [], "subnetGroups": groups}


def recorded_vpc(config: DifyConfig) -> dict[str, dict[str, Any]]:
    """The VPC lookup as `cdk synth` would record it, when the config looks its VPC up (vpc_id alone)."""
    net = config.network
    if not (config.account and config.region and net.vpc_id) or net.explicit_subnets:
        return {}
    return {vpc_key(config.account, config.region, net.vpc_id): looked_up_vpc(net.vpc_id, config.region)}


def cli_synth(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    """`dify-on-aws synth` on a config file with this text, run in `tmp_path` (no cdk.context.json)."""
    config = tmp_path / "config.toml"
    config.write_text(toml, encoding="utf-8")
    command = ["synth", "--config", str(config), "--out", str(tmp_path / "o")]
    return subprocess.run(
        [sys.executable, "-m", "dify_on_aws.cli", *command],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def config_of(**data: object) -> DifyConfig:
    return parse_config(data, "<test>")


@pytest.fixture(scope="session")
def example_results(synth: Callable[[DifyConfig], SynthResult]) -> dict[str, SynthResult]:
    return {path.name: synth(load_config(path)) for path in EXAMPLES}
