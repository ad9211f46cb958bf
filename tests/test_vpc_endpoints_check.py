"""`dify-on-aws validate --vpc-id`: the endpoints an existing VPC lacks, read with DescribeVpcEndpoints
(every page), against botocore's Stubber; without credentials a clear error and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.stub import Stubber

from dify_on_aws.network.endpoints import missing_endpoints, service_name
from dify_on_aws.operations.vpc_endpoints import check_vpc_endpoints, required_endpoints

from .conftest import config_of

REGION = "eu-central-1"
VPC = "vpc-0123456789abcdef0"


def _client() -> Any:
    session = get_session()
    return session.create_client(
        "ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _endpoint(service: str, *, kind: str = "Interface", dns: bool = True, state: str = "available") -> Any:
    endpoint: dict[str, Any] = {
        "VpcEndpointId": f"vpce-{abs(hash(service)) % 10**8:08d}",
        "VpcEndpointType": kind,
        "VpcId": VPC,
        "ServiceName": service_name(REGION, service),
        "State": state,
    }
    if kind == "Interface":
        endpoint["PrivateDnsEnabled"] = dns
    return endpoint


def _expect(
    stubber: Any, endpoints: list[Any], token: str | None = None, next_token: str | None = None
) -> None:
    params: dict[str, Any] = {"Filters": [{"Name": "vpc-id", "Values": [VPC]}]}
    if token:
        params["NextToken"] = token
    response: dict[str, Any] = {"VpcEndpoints": endpoints}
    if next_token:
        response["NextToken"] = next_token
    stubber.add_response("describe_vpc_endpoints", response, params)


def test_missing_endpoints_reads_every_page_and_skips_unusable_ones() -> None:
    """Interface endpoints count only with private DNS on (the SDKs' default names must resolve to them)
    and in a usable state; the second page is read too."""
    client = _client()
    with Stubber(client) as stubber:
        _expect(
            stubber,
            [_endpoint("ecr.api"), _endpoint("logs", dns=False), _endpoint("s3", kind="Gateway")],
            next_token="page2",
        )
        _expect(stubber, [_endpoint("ecr.dkr"), _endpoint("ssmmessages", state="deleted")], token="page2")
        missing = missing_endpoints(
            client,
            vpc_id=VPC,
            region=REGION,
            required=["ecr.api", "ecr.dkr", "s3", "logs", "secretsmanager", "ssmmessages"],
        )
        stubber.assert_no_pending_responses()
    assert missing == ["logs", "secretsmanager", "ssmmessages"]


def test_check_prints_each_missing_endpoint_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    config = config_of(
        region=REGION,
        network={"closed": True},
        images={"registry": "111111111111.dkr.ecr.eu-central-1.amazonaws.com/langgenius"},
        ssrf_proxy={"image": "111111111111.dkr.ecr.eu-central-1.amazonaws.com/ubuntu/squid:6.6-24.04_beta"},
        front_door={"type": "alb", "internal": True},
        services={"bedrock": False},
    )
    client = _client()
    present = [s for s in required_endpoints(config) if s != "secretsmanager"]
    with Stubber(client) as stubber:
        _expect(stubber, [_endpoint(s, kind="Gateway" if s == "s3" else "Interface") for s in present])
        assert check_vpc_endpoints(config, VPC, ec2_client=client) == 1
    out = capsys.readouterr().out
    assert f"{service_name(REGION, 'secretsmanager')}: container secrets" in out
    assert "ecr.api" not in out.split("lacks", 1)[1]
    with Stubber(client) as stubber:
        _expect(
            stubber,
            [
                _endpoint(s, kind="Gateway" if s == "s3" else "Interface")
                for s in [*present, "secretsmanager"]
            ],
        )
        assert check_vpc_endpoints(config, VPC, ec2_client=client) == 0


def test_access_denied_names_the_permission(capsys: pytest.CaptureFixture[str]) -> None:
    client = _client()
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_vpc_endpoints", service_error_code="UnauthorizedOperation")
        assert check_vpc_endpoints(config_of(region=REGION), VPC, ec2_client=client) == 2
    assert "ec2:DescribeVpcEndpoints" in capsys.readouterr().err


def test_validate_without_credentials_exits_2(tmp_path: Path) -> None:
    """No credentials anywhere: a one-line error that says what to do, exit 2, no traceback."""
    config = tmp_path / "dify.toml"
    config.write_text(f'region = "{REGION}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    run = subprocess.run(
        [sys.executable, "-m", "dify_on_aws.cli", "validate", "--config", str(config), "--vpc-id", VPC],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "credentials" in run.stderr
    assert "Traceback" not in run.stderr
