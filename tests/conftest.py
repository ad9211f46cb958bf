"""Shared fixtures: each configuration is synthesized once per test session (jsii start-up is ~6 s,
each further synth ~0.5 s), with cdk-nag attached, and its templates reused by every test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

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
            cache[key] = synthesize(config, synth_dir / f"c{len(cache)}")
        return cache[key]

    yield run


@pytest.fixture(scope="session")
def default_result(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(DifyConfig())


@pytest.fixture(scope="session")
def template(default_result: SynthResult) -> Template:
    (body,) = default_result.templates.values()
    return Template.from_json(body)


def config_of(**data: object) -> DifyConfig:
    return parse_config(data, "<test>")


@pytest.fixture(scope="session")
def example_results(synth: Callable[[DifyConfig], SynthResult]) -> dict[str, SynthResult]:
    return {path.name: synth(load_config(path)) for path in EXAMPLES}
