"""Least privilege and transport security across every example: execution roles read only their own task's
secrets, and every listener, distribution and origin uses a current TLS policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.templates import Key, Templates

from .conftest import EXAMPLES

CURRENT_ALB_POLICIES = {"ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"}


def _resources(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {k: v for body in result.templates.values() for k, v in body["Resources"].items()}


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_execution_roles_read_only_their_own_secrets(
    example_results: dict[str, SynthResult], name: str
) -> None:
    t = Templates(example_results[name].templates)
    secrets = set(t.keys_of("AWS::SecretsManager::Secret"))
    attachments = {
        a.key: set(t.refs(a.stack, a.props["SecretId"]))
        for a in t.of("AWS::SecretsManager::SecretTargetAttachment")
    }
    checked = 0
    for task in t.of("AWS::ECS::TaskDefinition"):
        props = task.props
        used = set(t.refs(task.stack, [c.get("Secrets", []) for c in props["ContainerDefinitions"]]))
        used |= {s for a in used & set(attachments) for s in attachments[a]}
        role = t.refs(task.stack, props["ExecutionRoleArn"])[0]
        granted: set[Key] = set()
        for policy in t.of("AWS::IAM::Policy"):
            if role not in t.refs(policy.stack, policy.props.get("Roles", [])):
                continue
            for statement in policy.props["PolicyDocument"]["Statement"]:
                if "secretsmanager:GetSecretValue" in json.dumps(statement["Action"]):
                    granted |= set(t.refs(policy.stack, statement["Resource"])) & (secrets | set(attachments))
        names = [c["Name"] for c in props["ContainerDefinitions"]]
        assert granted <= used, f"{names}: execution role may read secrets it does not use: {granted - used}"
        checked += bool(granted)
    assert checked, "the check must have seen secret grants"


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_current_tls_everywhere(example_results: dict[str, SynthResult], name: str) -> None:
    resources = _resources(example_results[name])
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::Listener" and props.get("Protocol") == "HTTPS":
            assert props["SslPolicy"] in CURRENT_ALB_POLICIES
        if resource["Type"] == "AWS::CloudFront::Distribution":
            config = props["DistributionConfig"]
            certificate = config.get("ViewerCertificate", {})
            if config.get("Aliases"):
                assert certificate["MinimumProtocolVersion"] == "TLSv1.2_2021"
            for origin in config["Origins"]:
                custom = origin.get("CustomOriginConfig")
                if custom and custom.get("OriginProtocolPolicy") == "https-only":
                    assert custom["OriginSSLProtocols"] == ["TLSv1.2"]
            assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
        if resource["Type"] == "AWS::ElastiCache::ReplicationGroup":
            assert props["TransitEncryptionEnabled"] is True
