"""CDK feature flags the project relies on: set on the app by the CLI and on the stacks themselves, so a
DifyStack added to any CDK app synthesizes the same templates as `dify-on-aws synth`."""

from __future__ import annotations

from typing import Any

from constructs import Construct

FEATURE_FLAGS: dict[str, Any] = {
    # Server access logs delivered through a bucket policy instead of the legacy log-delivery ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-ec2:restrictDefaultSecurityGroup": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-rds:auroraClusterChangeScopeOfInstanceParameterGroupWithEachParameters": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/aws-ecs:arnFormatIncludesClusterName": True,
    "@aws-cdk/aws-ecs:enableImdsBlockingDeprecatedFeature": False,
    "@aws-cdk/aws-ecs:disableEcsImdsBlocking": True,
    "@aws-cdk/aws-ecs:reduceEc2FargateCloudWatchPermissions": True,
    "@aws-cdk/aws-elasticloadbalancingv2:albDualstackWithoutPublicIpv4SecurityGroupRulesDefault": True,
    "@aws-cdk/aws-cloudfront:defaultSecurityPolicyTLSv1.2_2021": True,
    "@aws-cdk/aws-lambda:useCdkManagedLogGroup": True,
}


def apply_feature_flags(scope: Construct) -> None:
    """Set the flags on a construct that has no children yet (a stack, right after its constructor)."""
    for key, value in FEATURE_FLAGS.items():
        scope.node.set_context(key, value)
