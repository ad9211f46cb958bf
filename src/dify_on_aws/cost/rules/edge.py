"""Pricing rules for the edge: CloudFront distributions and functions, API Gateway APIs and WAF web ACLs."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING

from dify_on_aws.cost.rules.common import Rule
from dify_on_aws.templates import Resource

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer

# WAF rule groups that AWS bills on top of the rule price (subscription and per-request fees).
WAF_PAID_RULE_GROUPS = (
    "AWSManagedRulesBotControlRuleSet",
    "AWSManagedRulesATPRuleSet",
    "AWSManagedRulesACFPRuleSet",
)


def _distribution(p: Pricer, res: Resource) -> None:
    share = len(p.traffic.cdns)
    config = res.props.get("DistributionConfig") or {}
    note = "North America rate; always-free tier (1 TB, 10M requests) not subtracted"
    if res.value(config.get("Enabled")) in (False, "false"):
        note = "distribution disabled; " + note
    requests, gb = p.usage.requests / share / 10_000, p.usage.gb_out / share
    add = partial(p.add, res, usage=True)
    add("CloudFront HTTPS requests", "cloudfront.https_requests_na.per_10k", requests, "10k req", note=note)
    na_rate = "North America, first 10 TB; other edge regions cost more"
    add("CloudFront data transfer out", "cloudfront.data_out_na_first_10tb.gb", gb, "GB", note=na_rate)


def _cloudfront_function(p: Pricer, res: Resource) -> None:
    p.add(
        res,
        "CloudFront Functions invocations",
        "cloudfront.functions.per_million",
        p.usage.requests / 1e6,
        "1M req",
        usage=True,
        note="assumes it runs on every request",
    )


def _api(p: Pricer, res: Resource) -> None:
    if res in p.traffic.private_apis:
        p.add(
            res,
            "API Gateway REST API requests (private)",
            "apigw.rest.per_million",
            p.usage.requests / 1e6,
            "1M req",
            usage=True,
            note="assumes one call per front-door request; no internet egress",
        )
        return
    share = p.usage.requests / len(p.traffic.apis) / 1e6 if res in p.traffic.apis else 0.0
    if res.type == "AWS::ApiGateway::RestApi":
        p.add(res, "API Gateway REST API requests", "apigw.rest.per_million", share, "1M req", usage=True)
    elif res.text("ProtocolType", "HTTP") == "WEBSOCKET":
        p.add(
            res, "API Gateway WebSocket messages", "apigw.websocket.per_million", share, "1M msg", usage=True
        )
    else:
        p.add(
            res,
            "API Gateway HTTP API requests",
            "apigw.http.per_million",
            share,
            "1M req",
            usage=True,
            note="first 300M/month tier; metered per 512 KB",
        )
    p.add_egress(res)


def _web_acl(p: Pricer, res: Resource) -> None:
    scope = res.text("Scope", "REGIONAL")
    region = "us-east-1" if scope == "CLOUDFRONT" else res.region
    rules = res.props.get("Rules") or []
    paid = sorted({name for name in WAF_PAID_RULE_GROUPS if name in json.dumps(rules)})
    acls = len(p.of_type("AWS::WAFv2::WebACL"))
    p.add(res, f"WAF web ACL ({scope})", "waf.web_acl.month", 1, "ACL-month", usage=False, region=region)
    p.add(
        res,
        "WAF rules and rule groups",
        "waf.rule.month",
        len(rules),
        "rule-month",
        usage=False,
        region=region,
        note=f"{', '.join(paid)} also bill subscription and request fees (not included)" if paid else "",
    )
    inspected = partial(p.add, res, usage=True, region=region, note="every front-door request inspected")
    inspected("WAF requests inspected", "waf.per_million_requests", p.usage.requests / acls / 1e6, "1M req")


RULES: dict[str, Rule] = {
    "AWS::CloudFront::Distribution": _distribution,
    "AWS::CloudFront::Function": _cloudfront_function,
    "AWS::ApiGatewayV2::Api": _api,
    "AWS::ApiGateway::RestApi": _api,
    "AWS::WAFv2::WebACL": _web_acl,
}
