"""`dify-on-aws validate --vpc-id VPC`: which VPC endpoints a closed deployment needs, and which of them an
existing VPC lacks (DescribeVpcEndpoints, with the caller's AWS credentials)."""

from __future__ import annotations

import sys
from typing import Any

from dify_on_aws.aws_errors import error_code, explain
from dify_on_aws.config import DifyConfig
from dify_on_aws.network.endpoints import EndpointNeed, endpoint_needs, missing_endpoints, service_name

EXIT_CONFIG = 2


def config_endpoint_needs(config: DifyConfig) -> tuple[EndpointNeed, ...]:
    """`endpoint_needs` for a configuration (what the stack creates and `validate --vpc-id` checks)."""
    return endpoint_needs(
        bedrock=config.services.bedrock,
        email=config.email.domain is not None,
        package_index=config.package_index.type != "none",
        execute_command=config.services.execute_command,
        ssm_parameters=any(setting.ssm is not None for _, _, setting in config.env.entries()),
    )


def required_endpoints(config: DifyConfig) -> list[str]:
    """The endpoint services (short names such as `ecr.api`) this configuration needs in a closed network."""
    return [need.service for need in config_endpoint_needs(config)]


def check_vpc_endpoints(config: DifyConfig, vpc_id: str, *, ec2_client: Any = None) -> int:
    """Print the endpoints `vpc_id` lacks for `config`; 0 when none is missing, 1 when some are, 2 when the
    check cannot run (no boto3, no region, no credentials, no permission)."""
    region = config.region
    if ec2_client is None:
        try:
            import boto3  # noqa: PLC0415 - optional: only this check talks to AWS
        except ImportError:
            return _fail("validate --vpc-id needs boto3: `pip install boto3`, then run it again")
        session = boto3.session.Session()
        region = region or session.region_name
        if region is None:
            return _fail("validate --vpc-id needs a region: set `region` in the config or AWS_REGION")
        ec2_client = session.client("ec2", region_name=region)
    region = region or ec2_client.meta.region_name
    needs = {need.service: need.reason for need in config_endpoint_needs(config)}
    try:
        missing = missing_endpoints(ec2_client, vpc_id=vpc_id, region=region, required=list(needs))
    except Exception as exc:  # botocore's errors, named below without importing botocore
        return _fail(_explain(exc, vpc_id))
    if not missing:
        print(f"{vpc_id}: every VPC endpoint the deployment needs is there ({', '.join(needs)})")
        return 0
    print(f"{vpc_id} lacks {len(missing)} VPC endpoint(s) the deployment needs (private DNS on):")
    for service in missing:
        print(f"  - {service_name(region, service)}: {needs[service]}")
    return 1


def _explain(exc: Exception, vpc_id: str) -> str:
    fix = explain(exc, "ec2:DescribeVpcEndpoints")
    if fix is not None:
        return f"validate --vpc-id {vpc_id} reads the VPC's endpoints with your AWS credentials: {fix}"
    kind = type(exc).__name__
    code, _ = error_code(exc)
    if code:
        return f"DescribeVpcEndpoints for {vpc_id} failed: {code}: {exc}"
    if "Endpoint" in kind or "Connect" in kind:
        return f"cannot reach the EC2 API ({exc}); check the network and the region"
    return f"DescribeVpcEndpoints for {vpc_id} failed: {kind}: {exc}"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_CONFIG
