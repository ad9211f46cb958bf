"""Using dify-on-aws as a library (issue #14): a team's own CDK app adds Dify in a few lines, with the same
validation as the TOML path and the same templates as `dify-on-aws synth`; the package builds as a wheel
that carries everything synthesis reads (runtime code, Dockerfiles, the Dify contract, py.typed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dify_on_aws
from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig, load_config

from .conftest import ROOT

APP = textwrap.dedent(
    """
    import sys

    import aws_cdk as cdk

    from dify_on_aws import DifyStack, load_config

    app = cdk.App(outdir=sys.argv[2])
    DifyStack(app, "{name}", config=load_config(sys.argv[1]))
    app.synth()
    """
)


def without_metadata(template: dict[str, Any]) -> dict[str, Any]:
    """Templates compared without per-resource Metadata (construct paths, cdk-nag notes)."""
    body: dict[str, Any] = json.loads(json.dumps(template))
    for resource in body.get("Resources", {}).values():
        resource.pop("Metadata", None)
    return body


@pytest.mark.parametrize("example", ["default.toml", "lambda.toml"])
def test_an_app_of_your_own_synthesizes_the_cli_templates(
    tmp_path: Path, synth: Callable[[DifyConfig], SynthResult], example: str
) -> None:
    """`DifyStack(app, name, config=...)` in a plain CDK app, run against the installed package in another
    folder: feature flags and (for `lambda`) the us-east-1 Edge stack come along, so every template equals
    the CLI's for the same config."""
    config = load_config(ROOT / "examples" / example)
    (tmp_path / "app.py").write_text(APP.format(name=config.name), encoding="utf-8")
    out = tmp_path / "cdk.out"
    done = subprocess.run(
        [sys.executable, "app.py", str(ROOT / "examples" / example), str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = synth(config).templates
    produced = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in out.glob("*.template.json")
    }
    assert set(produced) == set(expected)
    for name, template in expected.items():
        assert without_metadata(produced[name]) == without_metadata(template), name


def test_the_public_names() -> None:
    """The documented surface: config types and loaders without jsii, DifyStack on first use."""
    assert set(dify_on_aws.__all__) == {
        "ConfigError",
        "DifyConfig",
        "DifyStack",
        "load_config",
        "parse_config",
    }
    assert dify_on_aws.DifyStack.__name__ == "DifyStack"
    with pytest.raises(dify_on_aws.ConfigError, match="removal_policy"):
        dify_on_aws.parse_config({"removal_policy": "nope"})
    with pytest.raises(AttributeError):
        _ = dify_on_aws.NoSuchThing
    checked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, dify_on_aws; dify_on_aws.DifyConfig(); print('aws_cdk' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert checked.stdout.strip() == "False"


def test_the_wheel_carries_what_synthesis_reads(tmp_path: Path) -> None:
    """`pip wheel .` builds; every tracked file under src/dify_on_aws (runtime handlers, Dockerfiles, the
    Dify contract, prices, sandbox requirements, py.typed) is inside the wheel."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("dify_on_aws-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "src/dify_on_aws"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git ls-files found nothing"
    missing = [path for path in tracked if path.removeprefix("src/") not in inside]
    assert missing == []
    assert "dify_on_aws/py.typed" in inside
