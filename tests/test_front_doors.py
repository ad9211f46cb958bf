"""The four front doors: each example's key resources, the edge stack, lookups and invalid combinations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk.assertions import Match, Template

from dify_on_aws.app import SynthResult, synthesize
from dify_on_aws.config import ConfigError, DifyConfig
from dify_on_aws.frontdoor.edge import COUNTED_COMMON_RULES, MANAGED_RULE_GROUPS
from dify_on_aws.frontdoor.routing import API_PREFIXES, PLUGIN_PREFIXES
from dify_on_aws.frontdoor.runtime.edge_signer.index import PRESERVED_AUTHORIZATION_HEADER

from .conftest import ROOT, cli_synth, config_of, recorded_zones
from .template_queries import as_list
from .test_services import containers, res, services

ZONE_ID = "Z0123456789ABCDEFGHIJ"
LOOKUP_KEY = "hosted-zone:account=111111111111:domainName=example.com:privateZone=false:region=us-west-2"
RECORDED_ZONE = {"Id": "/hostedzone/ZRECORDED1234", "Name": "example.com."}


def stacks(result: SynthResult) -> dict[str, Template]:
    return {name: Template.from_json(body) for name, body in result.templates.items()}


def main(result: SynthResult) -> Template:
    (name,) = [n for n in result.templates if not n.endswith("-Edge")]
    return Template.from_json(result.templates[name])


def edge(result: SynthResult) -> Template:
    (name,) = [n for n in result.templates if n.endswith("-Edge")]
    return Template.from_json(result.templates[name])


def one(template: Template, kind: str) -> dict[str, Any]:
    (found,) = res(template, kind).values()
    return cast(dict[str, Any], found["Properties"])


def ingress(template: Template) -> set[tuple[str, int]]:
    """(source CIDR, port) of every load balancer security group rule with a CIDR source."""
    found = set()
    for rule in res(template, "AWS::EC2::SecurityGroup").values():
        if "load balancer" not in rule["Properties"].get("GroupDescription", ""):
            continue
        for entry in rule["Properties"].get("SecurityGroupIngress", []):
            cidr = entry.get("CidrIp") or entry.get("CidrIpv6")
            if isinstance(cidr, str):
                found.add((cidr, entry["FromPort"]))
    return found


@pytest.fixture(scope="module")
def alb(example_results: dict[str, SynthResult]) -> Template:
    return main(example_results["alb.toml"])


@pytest.fixture(scope="module")
def api_gateway(example_results: dict[str, SynthResult]) -> Template:
    return main(example_results["api-gateway.toml"])


@pytest.fixture(scope="module")
def lambda_result(example_results: dict[str, SynthResult]) -> SynthResult:
    return example_results["lambda.toml"]


# --- alb ---------------------------------------------------------------------------------------------


def test_alb_tls_listener_redirect_and_certificate(alb: Template) -> None:
    assert one(alb, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == "internet-facing"
    listeners = {
        p["Properties"]["Port"]: p["Properties"]
        for p in res(alb, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert set(listeners) == {80, 443}
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert (
        listeners[443]["Certificates"] == [{"CertificateArn": {"Ref": Match.any_value()}}]
        or listeners[443]["Certificates"][0]["CertificateArn"]
    )
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert (
        redirect["RedirectConfig"]["Port"] == "443" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    )
    certificate = one(alb, "AWS::CertificateManager::Certificate")
    assert certificate["DomainName"] == "dify.example.com"
    assert certificate["ValidationMethod"] == "DNS"
    assert certificate["DomainValidationOptions"][0]["HostedZoneId"] == ZONE_ID
    record = one(alb, "AWS::Route53::RecordSet")
    assert (
        record["Name"] == "dify.example.com." and record["Type"] == "A" and record["HostedZoneId"] == ZONE_ID
    )
    assert alb.to_json()["Outputs"]["DifyUrl"]["Value"] == "https://dify.example.com"


def test_alb_allow_list_is_the_security_group(alb: Template) -> None:
    assert ingress(alb) == {("203.0.113.0/24", 80), ("203.0.113.0/24", 443)}


def test_internal_alb_with_own_certificate(example_results: dict[str, SynthResult]) -> None:
    template = main(example_results["alb-internal.toml"])
    assert one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == "internal"
    https = [
        p["Properties"]
        for p in res(template, "AWS::ElasticLoadBalancingV2::Listener").values()
        if p["Properties"]["Port"] == 443
    ]
    arn = "arn:aws:acm:eu-central-1:111111111111:certificate/0b2c6f1e-1d3c-4d5e-9f00-123456789abc"
    assert https[0]["Certificates"] == [{"CertificateArn": arn}]
    assert res(template, "AWS::CertificateManager::Certificate") == {}
    assert res(template, "AWS::Route53::RecordSet") == {}
    assert ingress(template) == {("10.0.0.0/8", 80), ("10.0.0.0/8", 443)}


@pytest.fixture(scope="module")
def plain_alb(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(config_of(name="Plain", front_door={"type": "alb"}))


def test_alb_without_domain_is_http_with_a_warning(plain_alb: SynthResult) -> None:
    template = main(plain_alb)
    (listener,) = res(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert listener["Properties"]["Port"] == 80 and listener["Properties"]["Protocol"] == "HTTP"
    assert ingress(template) == {("0.0.0.0/0", 80)}
    assert any("plain HTTP" in w for w in plain_alb.warnings)
    assert plain_alb.violations == []


def test_alb_routes_match_the_routing_table(alb: Template) -> None:
    patterns = {
        value
        for rule in res(alb, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        for condition in rule["Properties"]["Conditions"]
        for value in condition["PathPatternConfig"]["Values"]
    }
    for prefix in (*API_PREFIXES, *PLUGIN_PREFIXES):
        assert {prefix, f"{prefix}/*"} <= patterns


def test_hosted_zone_lookup_uses_recorded_context(tmp_path: Path) -> None:
    config = config_of(
        name="Lookup",
        account="111111111111",
        region="us-west-2",
        front_door={"type": "alb", "domain": "dify.example.com", "hosted_zone": "example.com"},
    )
    zones = recorded_zones(config)
    missing = synthesize(config, tmp_path / "missing", nag=False, context=zones)
    assert missing.missing_context == [LOOKUP_KEY]
    recorded = synthesize(
        config, tmp_path / "recorded", nag=False, context={LOOKUP_KEY: RECORDED_ZONE, **zones}
    )
    assert recorded.missing_context == []
    record = one(main(recorded), "AWS::Route53::RecordSet")
    assert record["HostedZoneId"] == "ZRECORDED1234"


def test_cli_refuses_to_synthesize_with_a_missing_lookup(tmp_path: Path) -> None:
    proc = cli_synth(
        tmp_path,
        'account = "111111111111"\nregion = "us-west-2"\n[front_door]\ntype = "alb"\n'
        'domain = "dify.example.com"\nhosted_zone = "example.com"\n',
    )
    assert proc.returncode == 2, proc.stderr
    assert "hosted-zone:" in proc.stderr and "hosted_zone_id" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- api_gateway --------------------------------------------------------------------------------------


def test_api_gateway_http_api_vpc_link_and_cloud_map(api_gateway: Template) -> None:
    assert one(api_gateway, "AWS::ApiGatewayV2::Api")["ProtocolType"] == "HTTP"
    assert one(api_gateway, "AWS::ApiGatewayV2::VpcLink")["SubnetIds"]
    assert res(api_gateway, "AWS::ElasticLoadBalancingV2::LoadBalancer") == {}
    integrations = res(api_gateway, "AWS::ApiGatewayV2::Integration")
    assert len(integrations) == 3
    for integration in integrations.values():
        props = integration["Properties"]
        assert props["IntegrationType"] == "HTTP_PROXY"
        assert props["ConnectionType"] == "VPC_LINK"
        assert "Fn::GetAtt" in props["IntegrationUri"]
    lookup = one(api_gateway, "Custom::DifyCloudMapServices")
    assert lookup["Names"] == ["api", "plugin-daemon", "web"]
    stage = one(api_gateway, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert "sourceIp" in stage["AccessLogSettings"]["Format"]


def test_api_gateway_routes_equal_the_alb(api_gateway: Template) -> None:
    keys = {r["Properties"]["RouteKey"] for r in res(api_gateway, "AWS::ApiGatewayV2::Route").values()}
    expected = {"$default"}
    for prefix in (*API_PREFIXES, *PLUGIN_PREFIXES):
        expected |= {f"ANY {prefix}", f"ANY {prefix}/{{proxy+}}"}
    assert keys == expected


def test_api_gateway_ip_authorizer_on_every_route(api_gateway: Template) -> None:
    authorizer = one(api_gateway, "AWS::ApiGatewayV2::Authorizer")
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0
    assert not authorizer.get("IdentitySource")
    for route in res(api_gateway, "AWS::ApiGatewayV2::Route").values():
        assert route["Properties"]["AuthorizationType"] == "CUSTOM"
    functions = [
        f["Properties"]
        for f in res(api_gateway, "AWS::Lambda::Function").values()
        if "ALLOWED_CIDRS" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    (function,) = functions
    assert function["Environment"]["Variables"]["ALLOWED_CIDRS"] == "198.51.100.0/24,2001:db8:1234::/48"
    assert function["Handler"] == "index.handler"


def test_api_gateway_reaches_services_from_the_vpc_link(api_gateway: Template) -> None:
    link_sg = next(
        sid
        for sid, sg in res(api_gateway, "AWS::EC2::SecurityGroup").items()
        if sg["Properties"]["GroupDescription"] == "Dify API Gateway VPC link"
    )
    ports = {
        rule["Properties"]["FromPort"]
        for rule in res(api_gateway, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"].get("SourceSecurityGroupId") == {"Fn::GetAtt": [link_sg, "GroupId"]}
    }
    assert ports == {5001, 5002, 3000}


def test_api_gateway_warns_about_its_limits(example_results: dict[str, SynthResult]) -> None:
    (warning,) = example_results["api-gateway.toml"].warnings
    assert "30 s" in warning and "streaming" in warning and "10 MB" in warning


def test_api_gateway_without_allow_list_has_no_authorizer(synth: Callable[[DifyConfig], SynthResult]) -> None:
    result = synth(config_of(name="OpenApi", front_door={"type": "api_gateway"}))
    template = main(result)
    assert res(template, "AWS::ApiGatewayV2::Authorizer") == {}
    assert result.violations == []


# --- lambda -------------------------------------------------------------------------------------------


def test_lambda_edge_stack_in_us_east_1(lambda_result: SynthResult) -> None:
    edge_stack = next(s for s in lambda_result.stacks if s.stack_name.endswith("-Edge"))
    assert edge_stack.region == "us-east-1"
    template = edge(lambda_result)
    (signer,) = [
        f["Properties"]
        for f in res(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "index.handler"
    ]
    assert signer["Runtime"].startswith("python3.") and signer["Handler"] == "index.handler"
    assert signer.get("Architectures", ["x86_64"]) == ["x86_64"]
    assert "Environment" not in signer, "Lambda@Edge functions cannot have environment variables"
    # Lambda@Edge: the execution role must trust both service principals (CloudFront Developer Guide,
    # "Setting IAM permissions and roles for Lambda@Edge").
    role = res(template, "AWS::IAM::Role")[signer["Role"]["Fn::GetAtt"][0]]["Properties"]
    principals = {
        service
        for statement in role["AssumeRolePolicyDocument"]["Statement"]
        if statement["Action"] == "sts:AssumeRole"
        for service in as_list(statement["Principal"]["Service"])
    }
    assert principals == {"edgelambda.amazonaws.com", "lambda.amazonaws.com"}
    acl = one(template, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "CLOUDFRONT" and acl["DefaultAction"] == {"Block": {}}
    (rule,) = acl["Rules"]
    assert rule["Statement"]["GeoMatchStatement"]["CountryCodes"] == ["JP"]


def test_lambda_function_urls_oac_and_edge_signer(lambda_result: SynthResult) -> None:
    template = main(lambda_result)
    modes = sorted(u["Properties"]["InvokeMode"] for u in res(template, "AWS::Lambda::Url").values())
    assert modes == ["BUFFERED", "RESPONSE_STREAM"]
    assert {u["Properties"]["AuthType"] for u in res(template, "AWS::Lambda::Url").values()} == {"AWS_IAM"}
    for oac in res(template, "AWS::CloudFront::OriginAccessControl").values():
        config = oac["Properties"]["OriginAccessControlConfig"]
        assert config["OriginAccessControlOriginType"] == "lambda" and config["SigningBehavior"] == "always"
    distribution = one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert "WebACLId" in distribution
    assert all("OriginAccessControlId" in origin for origin in distribution["Origins"])
    behaviors = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]
    for behavior in behaviors:
        (association,) = behavior["LambdaFunctionAssociations"]
        assert association["EventType"] == "origin-request" and association["IncludeBody"] is True
    patterns = {b["PathPattern"] for b in distribution["CacheBehaviors"]}
    for prefix in API_PREFIXES:
        assert {prefix, f"{prefix}/*"} <= patterns
    permissions = {p["Properties"]["Action"] for p in res(template, "AWS::Lambda::Permission").values()}
    assert {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"} <= permissions


def _function(template: Template, description: str) -> dict[str, Any]:
    (found,) = [
        f["Properties"]
        for f in res(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Description", "").startswith(description)
    ]
    return cast(dict[str, Any], found)


def test_lambda_api_function_settings(lambda_result: SynthResult) -> None:
    template = main(lambda_result)
    api = _function(template, "Dify api")
    variables = api["Environment"]["Variables"]
    assert api["PackageType"] == "Image" and api["ImageConfig"]["EntryPoint"][1].endswith("bootstrap.py")
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert variables["AWS_LWA_ASYNC_INIT"] == "true"
    assert variables["AWS_LWA_AUTHORIZATION_SOURCE"] == PRESERVED_AUTHORIZATION_HEADER
    assert variables["CONSOLE_API_URL"] == "" and variables["FILES_URL"] == ""
    assert variables["DIFY_PUBLIC_URL_PARAMETER"] == "/dify/DifyLambda/public-url"
    assert "VpcConfig" in api
    secrets = json.dumps(variables["DIFY_SECRET_ARNS"])
    for name in ("SECRET_KEY", "DB_PASSWORD", "REDIS_PASSWORD", "CELERY_BROKER_URL"):
        assert name in secrets
    for name, value in variables.items():
        assert "resolve:secretsmanager" not in json.dumps(value), name
    web = _function(template, "Dify web")
    assert web["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "buffered"
    assert "VpcConfig" not in web
    parameter = one(template, "AWS::SSM::Parameter")
    assert parameter["Name"] == "/dify/DifyLambda/public-url" and parameter["Type"] == "String"


def test_lambda_web_is_not_on_ecs_but_the_rest_is(lambda_result: SynthResult) -> None:
    template = main(lambda_result)
    assert set(services(template)) == {"api", "worker", "beat", "sandbox", "plugin-daemon", "ssrf-proxy"}
    assert "web" not in containers(template)


def test_lambda_warns_about_cold_starts_and_body_limit(lambda_result: SynthResult) -> None:
    (warning,) = lambda_result.warnings
    assert "cold start" in warning and "1 MB" in warning


# --- cloudfront with a domain and WAF -------------------------------------------------------------------


def test_cloudfront_domain_certificate_and_waf_in_us_east_1(example_results: dict[str, SynthResult]) -> None:
    result = example_results["cloudfront-domain.toml"]
    template = edge(result)
    certificate = one(template, "AWS::CertificateManager::Certificate")
    assert certificate["DomainName"] == "dify.example.com"
    assert certificate["DomainValidationOptions"][0]["HostedZoneId"] == ZONE_ID
    ip_sets = {
        s["Properties"]["IPAddressVersion"]: s["Properties"]
        for s in res(template, "AWS::WAFv2::IPSet").values()
    }
    assert ip_sets["IPV4"]["Addresses"] == ["192.0.2.0/24"] and ip_sets["IPV4"]["Scope"] == "CLOUDFRONT"
    assert ip_sets["IPV6"]["Addresses"] == ["2001:db8:abcd::/48"]
    acl = one(template, "AWS::WAFv2::WebACL")
    assert acl["DefaultAction"] == {"Block": {}}, "without managed rules the allow-list is the whole ACL"
    (rule,) = acl["Rules"]
    both = rule["Statement"]["AndStatement"]["Statements"]
    assert len(both[0]["OrStatement"]["Statements"]) == 2
    assert both[1]["GeoMatchStatement"]["CountryCodes"] == ["JP", "US"]
    assert rule["Action"] == {"Allow": {}}

    main_template = main(result)
    distribution = one(main_template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert distribution["Aliases"] == ["dify.example.com"]
    assert distribution["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert distribution["ViewerCertificate"]["SslSupportMethod"] == "sni-only"
    assert "WebACLId" in distribution
    # The domain's aliases (the example's SES records share the zone: tests/test_integrations.py).
    records = {
        r["Properties"]["Type"]
        for r in res(main_template, "AWS::Route53::RecordSet").values()
        if "AliasTarget" in r["Properties"]
    }
    assert records == {"A", "AAAA"}
    assert main_template.to_json()["Outputs"]["DifyUrl"]["Value"] == "https://dify.example.com"


def test_default_has_no_edge_stack_and_no_waf(default_result: SynthResult) -> None:
    assert len(default_result.templates) == 1
    assert res(main(default_result), "AWS::WAFv2::WebACL") == {}


def test_instances_do_not_clash(example_results: dict[str, SynthResult]) -> None:
    """Names that must be unique per account come from the instance name."""
    names: list[str] = []
    for result in example_results.values():
        for body in result.templates.values():
            for resource in body["Resources"].values():
                props = resource.get("Properties", {})
                for key in ("FunctionName", "Name"):
                    if resource["Type"] in ("AWS::Lambda::Function", "AWS::SSM::Parameter") and isinstance(
                        props.get(key), str
                    ):
                        names.append(props[key])
    assert len(names) == len(set(names))


# --- invalid combinations -------------------------------------------------------------------------------


ENV = {"account": "111111111111", "region": "us-west-2"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"front_door": {"internal": True}}, "internal = true needs type = 'alb'"),
        ({"front_door": {"type": "alb", "allowed_countries": ["JP"]}}, "allowed_countries needs a WAF"),
        (
            {"front_door": {"type": "api_gateway", "allowed_countries": ["JP"]}},
            "allowed_countries needs a WAF",
        ),
        ({"front_door": {"type": "alb", "domain": "dify.example.com"}}, "needs hosted_zone"),
        ({"front_door": {"type": "alb", "hosted_zone": "example.com"}}, "set domain"),
        (
            {"front_door": {"type": "alb", "domain": "dify.other.org", "hosted_zone": "example.com"}},
            "is not inside hosted_zone",
        ),
        ({"front_door": {"allowed_cidrs": ["10.0.0.1/8"]}}, "did you mean 10.0.0.0/8"),
        ({"front_door": {"allowed_cidrs": ["not-an-ip"]}}, "'not-an-ip' is not a network CIDR"),
        ({"front_door": {"allowed_countries": ["jp"]}}, "ISO 3166"),
        ({"front_door": {"type": "lambda"}}, "needs Lambda@Edge"),
        ({"front_door": {"allowed_cidrs": ["192.0.2.0/24"]}}, "set account, region"),
        (
            {"front_door": {"type": "alb", "domain": "dify.example.com", "hosted_zone": "example.com"}},
            "looked up in Route 53",
        ),
        (
            {
                **ENV,
                "front_door": {
                    "domain": "dify.example.com",
                    "certificate_arn": "arn:aws:acm:eu-west-1:111111111111:certificate/"
                    "0b2c6f1e-1d3c-4d5e-9f00-123456789abc",
                },
            },
            "only uses certificates in us-east-1",
        ),
        (
            {
                **ENV,
                "front_door": {
                    "type": "alb",
                    "domain": "dify.example.com",
                    "certificate_arn": "arn:aws:acm:us-east-1:111111111111:certificate/"
                    "0b2c6f1e-1d3c-4d5e-9f00-123456789abc",
                },
            },
            "must be in region us-west-2",
        ),
        ({"front_door": {"type": "nginx"}}, "use one of"),
        ({"front_door": {"hosted_zone_id": "nope"}}, "hosted zone ID"),
    ],
)
def test_invalid_front_door_combinations(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_of(**data)
    assert message in str(info.value), str(info.value)
    assert "front_door" in str(info.value)


def test_invalid_front_door_exits_2_from_the_cli(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[front_door]\ntype = "api_gateway"\nallowed_countries = ["JP"]\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "dify_on_aws.cli", "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "allowed_countries" in proc.stderr and "Traceback" not in proc.stderr


def test_every_front_door_has_an_example() -> None:
    kinds = set()
    for path in (ROOT / "examples").glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        for kind in ("alb", "api_gateway", "lambda", "cloudfront"):
            if f'type = "{kind}"' in text:
                kinds.add(kind)
    assert kinds == {"alb", "api_gateway", "lambda", "cloudfront"}


# --- WAF managed rules ----------------------------------------------------------------------------------


WAF_ENV = {"account": "111111111111", "region": "eu-west-1"}


@pytest.fixture(scope="module")
def managed_waf(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(
        config_of(
            **WAF_ENV,
            front_door={
                "type": "cloudfront",
                "waf_managed_rules": True,
                "waf_rate_limit": 500,
                "allowed_cidrs": ["192.0.2.0/24", "2001:db8::/32"],
            },
        )
    )


@pytest.fixture(scope="module")
def managed_waf_open(synth: Callable[[DifyConfig], SynthResult]) -> SynthResult:
    return synth(config_of(**WAF_ENV, front_door={"type": "lambda", "waf_managed_rules": True}))


def _managed_groups(acl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]: r
        for r in acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }


def test_managed_waf_allows_by_default_and_blocks_outside_the_allow_list_first(
    managed_waf: SynthResult,
) -> None:
    acl = one(edge(managed_waf), "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "CLOUDFRONT" and acl["DefaultAction"] == {"Allow": {}}
    first = min(acl["Rules"], key=lambda r: r["Priority"])
    assert first["Name"] == "outside-allow-list" and first["Action"] == {"Block": {}}
    ip_sets = first["Statement"]["NotStatement"]["Statement"]["OrStatement"]["Statements"]
    assert len(ip_sets) == 2 and all("IPSetReferenceStatement" in s for s in ip_sets)
    addresses = sorted(
        s["Properties"]["Addresses"][0] for s in res(edge(managed_waf), "AWS::WAFv2::IPSet").values()
    )
    assert addresses == ["192.0.2.0/24", "2001:db8::/32"]
    assert "WebACLId" in one(main(managed_waf), "AWS::CloudFront::Distribution")["DistributionConfig"]


def test_managed_waf_rule_order_rate_limit_and_groups(managed_waf: SynthResult) -> None:
    acl = one(edge(managed_waf), "AWS::WAFv2::WebACL")
    rules = sorted(acl["Rules"], key=lambda r: r["Priority"])
    assert [r["Name"] for r in rules] == ["outside-allow-list", "rate-limit-per-ip", *MANAGED_RULE_GROUPS]
    assert [r["Priority"] for r in rules] == list(range(len(rules)))
    rate = rules[1]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": 500,
        "EvaluationWindowSec": 300,
    }
    groups = _managed_groups(acl)
    assert set(groups) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    for group in groups.values():
        assert group["OverrideAction"] == {"None": {}} and "Action" not in group
        assert group["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
    metrics = [acl["VisibilityConfig"]["MetricName"]] + [r["VisibilityConfig"]["MetricName"] for r in rules]
    assert len(set(metrics)) == len(metrics)
    assert all(r["VisibilityConfig"]["SampledRequestsEnabled"] for r in rules)


def test_managed_waf_counts_the_common_rules_that_break_dify(managed_waf: SynthResult) -> None:
    groups = _managed_groups(one(edge(managed_waf), "AWS::WAFv2::WebACL"))
    common = groups["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    overrides = {o["Name"]: o["ActionToUse"] for o in common["RuleActionOverrides"]}
    assert overrides == {
        "SizeRestrictions_BODY": {"Count": {}},
        "CrossSiteScripting_BODY": {"Count": {}},
        "GenericRFI_BODY": {"Count": {}},
    }
    assert [name for name, _ in COUNTED_COMMON_RULES] == list(overrides)
    assert all(len(reason) > 20 for _, reason in COUNTED_COMMON_RULES)
    for name in ("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"):
        assert "RuleActionOverrides" not in groups[name]["Statement"]["ManagedRuleGroupStatement"]


def test_managed_waf_without_allow_lists_has_no_allow_list_rule(managed_waf_open: SynthResult) -> None:
    template = edge(managed_waf_open)
    acl = one(template, "AWS::WAFv2::WebACL")
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = sorted(acl["Rules"], key=lambda r: r["Priority"])
    assert [r["Name"] for r in rules] == ["rate-limit-per-ip", *MANAGED_RULE_GROUPS]
    assert rules[0]["Priority"] == 0
    assert rules[0]["Statement"]["RateBasedStatement"]["Limit"] == 2000, "the configured default"
    assert res(template, "AWS::WAFv2::IPSet") == {}
    assert "WebACLId" in one(main(managed_waf_open), "AWS::CloudFront::Distribution")["DistributionConfig"]


def test_managed_waf_configs_pass_cdk_nag(managed_waf: SynthResult, managed_waf_open: SynthResult) -> None:
    for result in (managed_waf, managed_waf_open):
        assert result.violations == [], "\n".join(f"{v.rule} {v.path}" for v in result.violations)
