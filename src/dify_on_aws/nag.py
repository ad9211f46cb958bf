"""cdk-nag (v3 validation plugin) helpers: every acknowledgement is per resource and carries a reason."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import custom_resources as cr
from constructs import IConstruct

_MIN_REASON = 20
# Construct metadata type of an acknowledgement; security.py reads the same string from the cloud assembly.
ACKNOWLEDGEMENT_METADATA = "dify:nag-acknowledgement"
# The rule for Lambda functions that log with AWSLambdaBasicExecutionRole (as CDK's own functions do).
BASIC_EXECUTION_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)
# The rule for Lambda functions in a VPC with Lambda's managed policy for their network interfaces.
VPC_ACCESS_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaVPCAccessExecutionRole]"
)


@dataclass(frozen=True)
class Acknowledged:
    path: str
    rule: str
    reason: str


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept one cdk-nag finding on `scope` (and its children) with a written reason.

    The reason is also stored as node metadata so the security docs can list every acknowledgement.
    """
    if len(reason) < _MIN_REASON:
        raise ValueError(f"cdk-nag acknowledgement of {rule} on {scope.node.path} needs a real reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
    scope.node.add_metadata(ACKNOWLEDGEMENT_METADATA, {"rule": rule, "reason": reason})


def acknowledgements(root: IConstruct) -> list[Acknowledged]:
    """All acknowledgements under `root`, in construct-tree order."""
    found: list[Acknowledged] = []
    for node in root.node.find_all():
        for entry in node.node.metadata:
            if entry.type == ACKNOWLEDGEMENT_METADATA:
                data = entry.data
                found.append(Acknowledged(node.node.path, str(data["rule"]), str(data["reason"])))
    return found


def acknowledge_cdk_singletons(stack: cdk.Stack) -> None:
    """Functions CDK adds once per stack (log retention, default-SG restriction) are CDK's own design."""
    for child in stack.node.children:
        if child.node.id == f"AWS{cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace('-', '')}":
            acknowledge(
                child, BASIC_EXECUTION_ROLE, "CDK's AwsCustomResource function logs with the basic role."
            )
        if child.node.id.startswith("LogRetention"):
            acknowledge(child, BASIC_EXECUTION_ROLE, "CDK's log-retention function logs with the basic role.")
            acknowledge(
                child,
                "AwsSolutions-IAM5[Resource::*]",
                "CDK's log-retention function sets retention on log groups it learns at deploy time.",
            )
