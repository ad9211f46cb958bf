"""cdk-nag AwsSolutions and cfn-lint over every example configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_s3 as s3

from dify_on_aws.app import SynthResult, _violations
from dify_on_aws.nag import acknowledgements

from .conftest import EXAMPLES, ROOT


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_no_unacknowledged_cdk_nag_findings(example_results: dict[str, SynthResult], name: str) -> None:
    result = example_results[name]
    assert result.violations == [], "\n".join(f"{v.rule} {v.path}" for v in result.violations)


def test_every_acknowledgement_has_a_reason(example_results: dict[str, SynthResult]) -> None:
    for result in example_results.values():
        found = [ack for stack in result.stacks for ack in acknowledgements(stack)]
        assert found, "acknowledgements are recorded"
        for ack in found:
            assert len(ack.reason) >= 20 and ack.rule.startswith(
                ("AwsSolutions-", "CloudFormation-Validate::")
            ), ack


def test_nag_plugin_reports_findings(tmp_path: Path) -> None:
    """The harness must be able to fail: an unprotected bucket yields findings through the same path."""
    app = cdk.App(outdir=str(tmp_path))
    s3.Bucket(cdk.Stack(app, "Bare"), "Open")
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= {v.rule for v in _violations(tmp_path)}


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_cfn_lint_clean(example_results: dict[str, SynthResult], name: str) -> None:
    result = example_results[name]
    paths = [str(result.template_path(s.artifact_id)) for s in result.stacks]
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(ROOT / ".cfnlintrc.yaml"),
            *paths,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
