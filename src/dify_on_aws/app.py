"""Build and synthesize the CDK app for a config: used by the CLI, the CDK CLI entry and the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag

from dify_on_aws.config import DifyConfig
from dify_on_aws.flags import FEATURE_FLAGS
from dify_on_aws.stack import DifyStack

CONTEXT_FILE = Path("cdk.context.json")


@dataclass(frozen=True)
class NagViolation:
    rule: str
    description: str
    path: str


@dataclass
class SynthResult:
    outdir: Path
    stacks: list[cdk.Stack]
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[NagViolation] = field(default_factory=list)
    # Context lookups the CDK could not answer offline (e.g. "hosted-zone:account=...:domainName=...").
    missing_context: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def template_path(self, stack_name: str) -> Path:
        return self.outdir / f"{stack_name}.template.json"


def recorded_context(path: Path = CONTEXT_FILE) -> dict[str, Any]:
    """Lookup results recorded by the CDK CLI (cdk.context.json), so `dify-on-aws synth` stays offline."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def build_app(
    config: DifyConfig,
    *,
    outdir: str | None = None,
    nag: bool = True,
    context: dict[str, Any] | None = None,
) -> tuple[cdk.App, list[cdk.Stack]]:
    """Create the app and its stacks. With `nag`, cdk-nag AwsSolutions runs as a validation plugin.
    `context` carries recorded lookups (hosted zones, availability zones); without them a lookup yields
    a placeholder and `SynthResult.missing_context` says which lookup is missing."""
    app = cdk.App(outdir=outdir, analytics_reporting=False, context={**(context or {}), **FEATURE_FLAGS})
    stack = DifyStack(app, config.name, config=config)
    stacks: list[cdk.Stack] = [stack.edge, stack] if stack.edge is not None else [stack]
    if nag:
        cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    return app, stacks


def _violations(outdir: Path) -> list[NagViolation]:
    report = outdir / "validation-report.json"
    if not report.is_file():
        return []
    data = json.loads(report.read_text(encoding="utf-8"))
    found: list[NagViolation] = []
    for plugin in data.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                found.append(
                    NagViolation(
                        violation["ruleName"], violation.get("description", ""), construct["constructPath"]
                    )
                )
    return found


def _manifest(outdir: Path) -> tuple[list[str], list[str]]:
    """Missing context keys and `dify:` warnings from the cloud assembly."""
    path = outdir / "manifest.json"
    if not path.is_file():
        return [], []
    manifest = json.loads(path.read_text(encoding="utf-8"))
    missing = [str(item.get("key")) for item in manifest.get("missing", [])]
    warnings: set[str] = set()
    for artifact in manifest.get("artifacts", {}).values():
        metadata = dict(artifact.get("metadata", {}))
        extra = artifact.get("additionalMetadataFile")
        if extra and (outdir / extra).is_file():
            metadata |= json.loads((outdir / extra).read_text(encoding="utf-8"))
        for entries in metadata.values():
            for entry in entries:
                data = entry.get("data")
                if entry.get("type") == "aws:cdk:warning" and isinstance(data, str) and "[ack: dify:" in data:
                    warnings.add(data.split(" [ack:", 1)[0])
    return missing, sorted(warnings)


def synthesize(
    config: DifyConfig,
    outdir: str | Path,
    *,
    nag: bool = True,
    context: dict[str, Any] | None = None,
) -> SynthResult:
    """Synthesize into `outdir`; cdk-nag findings are collected instead of raised."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    stale = out / "validation-report.json"
    stale.unlink(missing_ok=True)
    app, stacks = build_app(config, outdir=str(out), nag=nag, context=context)
    try:
        app.synth()
    except RuntimeError as exc:
        # cdk-nag v3 fails synthesis on findings after writing the templates and the report.
        if "ValidationFailed" not in str(exc):
            raise
    missing, warnings = _manifest(out)
    result = SynthResult(
        outdir=out, stacks=stacks, violations=_violations(out), missing_context=missing, warnings=warnings
    )
    for stack in stacks:
        path = result.template_path(stack.artifact_id)
        result.templates[stack.stack_name] = json.loads(path.read_text(encoding="utf-8"))
    return result
