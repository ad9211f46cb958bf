"""docs/front-doors.md is generated from the code, and its facts match the synthesized templates."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from dify_on_aws.app import SynthResult
from dify_on_aws.frontdoor.api_gateway import INTEGRATION_TIMEOUT_SECONDS
from dify_on_aws.frontdoor.comparison import default, facts, render_comparison
from dify_on_aws.frontdoor.lambda_urls import MAX_BODY_BYTES
from dify_on_aws.frontdoor.runtime.edge_signer.index import BODY_LIMIT_TEXT

from .conftest import ROOT
from .test_front_doors import main
from .test_services import res


def _alb_idle_timeout(template: Template) -> int:
    (alb,) = res(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    return int(attributes["idle_timeout.timeout_seconds"])


def _distribution(template: Template) -> dict[str, Any]:
    (found,) = res(template, "AWS::CloudFront::Distribution").values()
    config: dict[str, Any] = found["Properties"]["DistributionConfig"]
    return config


def test_doc_is_generated() -> None:
    current = (ROOT / "docs" / "front-doors.md").read_text(encoding="utf-8")
    assert current == render_comparison(), "docs/front-doors.md is stale: run `make docs`"


def test_every_front_door_type_is_compared() -> None:
    from typing import get_args  # noqa: PLC0415

    from dify_on_aws.config.model import FrontDoorType  # noqa: PLC0415

    assert set(facts()) == set(get_args(FrontDoorType))


def test_cloudfront_facts_match_the_template(template: Template) -> None:
    fact = facts()["cloudfront"]
    distribution = _distribution(template)
    origin = distribution["Origins"][0]
    assert origin["VpcOriginConfig"]["OriginReadTimeout"] == default("origin_read_timeout_seconds")
    assert f"{default('origin_read_timeout_seconds')} s" in fact.longest_request
    assert _alb_idle_timeout(template) == default("idle_timeout_seconds")
    assert fact.streaming is (distribution["DefaultCacheBehavior"]["Compress"] is False)


def test_alb_facts_match_the_template(example_results: dict[str, SynthResult]) -> None:
    template = main(example_results["alb.toml"])
    assert _alb_idle_timeout(template) == default("idle_timeout_seconds")
    assert f"{default('idle_timeout_seconds')} s idle" in facts()["alb"].longest_request


def test_api_gateway_facts_match_the_template(example_results: dict[str, SynthResult]) -> None:
    template = main(example_results["api-gateway.toml"])
    fact = facts()["api_gateway"]
    assert not fact.streaming and res(template, "AWS::Lambda::Url") == {}
    for integration in res(template, "AWS::ApiGatewayV2::Integration").values():
        limit = integration["Properties"].get("TimeoutInMillis", INTEGRATION_TIMEOUT_SECONDS * 1000)
        assert limit <= INTEGRATION_TIMEOUT_SECONDS * 1000
    assert fact.longest_request == f"{INTEGRATION_TIMEOUT_SECONDS} s"


def test_lambda_facts_match_the_template(example_results: dict[str, SynthResult]) -> None:
    template = main(example_results["lambda.toml"])
    fact = facts()["lambda"]
    modes = {u["Properties"]["InvokeMode"] for u in res(template, "AWS::Lambda::Url").values()}
    assert fact.streaming is ("RESPONSE_STREAM" in modes)
    timeouts = {
        f["Properties"].get("Timeout")
        for f in res(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("PackageType") == "Image"
    }
    assert timeouts == {default("function_timeout_seconds")}
    assert fact.largest_upload.startswith(BODY_LIMIT_TEXT)
    assert MAX_BODY_BYTES == 1024 * 1024 and BODY_LIMIT_TEXT == "1 MB"
