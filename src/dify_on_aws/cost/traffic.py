"""The traffic model of the estimate: where requests enter, where internet egress is billed, and which
Lambda functions each request runs (see the module docstring of `pricer.py`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from dify_on_aws.cost.model import Usage
from dify_on_aws.templates import Key, Resource, Templates

# Where a reference to a function means it runs: (resource type, property) -> the function's role.
INVOKERS: tuple[tuple[str, str, str], ...] = (
    ("AWS::ApiGatewayV2::Authorizer", "AuthorizerUri", "authorizer"),
    ("AWS::ApiGateway::Authorizer", "AuthorizerUri", "authorizer"),
    ("AWS::Lambda::Url", "TargetFunctionArn", "backend"),
    ("AWS::ApiGatewayV2::Integration", "IntegrationUri", "backend"),
    ("AWS::ApiGateway::Method", "Integration", "backend"),
    ("AWS::Events::Rule", "Targets", "event"),
    ("AWS::Lambda::EventSourceMapping", "FunctionName", "event"),
    ("AWS::SNS::Subscription", "Endpoint", "event"),
    ("AWS::Scheduler::Schedule", "Target", "event"),
    ("AWS::S3::Bucket", "NotificationConfiguration", "event"),
)
_HTTP_OR_WEBSOCKET = ("HTTP", "WEBSOCKET")


class Traffic:
    """Front doors, egress points and the role of each function that requests (or events) invoke."""

    def __init__(self, t: Templates, usage: Usage) -> None:
        self.t = t
        self.usage = usage
        self.cdns = t.of("AWS::CloudFront::Distribution")
        # A private REST API (the knowledge API in a closed network) is called from inside the VPC: no
        # front door, no internet egress.
        self.private_apis = [r for r in t.of("AWS::ApiGateway::RestApi") if _private(r)]
        self.apis = [
            r
            for r in t.of("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")
            if r not in self.private_apis
            and (r.type == "AWS::ApiGateway::RestApi" or r.text("ProtocolType", "HTTP") in _HTTP_OR_WEBSOCKET)
        ]
        self.urls = t.of("AWS::Lambda::Url")
        public_lbs = [
            r
            for r in t.of("AWS::ElasticLoadBalancingV2::LoadBalancer")
            if r.text("Scheme", "internet-facing") == "internet-facing"
        ]
        # Where internet egress is billed.
        self.egress: list[Resource] = self.cdns or [*self.apis, *public_lbs, *self.urls]
        self.function_kinds: dict[Key, str] = {}
        for fn in t.of("AWS::Lambda::Function"):
            role = t.target(fn.stack, fn.props.get("Role"))
            if role is not None and "edgelambda.amazonaws.com" in json.dumps(role.props):
                self.function_kinds[fn.key] = "edge"
        for cdn in self.cdns:
            config = cdn.props.get("DistributionConfig", {})
            self._mark(cdn, config.get("CacheBehaviors", []), "edge")
            self._mark(cdn, config.get("DefaultCacheBehavior", {}), "edge")
        for kind, prop, role_name in INVOKERS:
            for res in t.of(kind):
                self._mark(res, res.props.get(prop), role_name)
        self.kind_counts = Counter(self.function_kinds.values())

    def _mark(self, res: Resource, value: Any, kind: str) -> None:
        for key in self.t.refs(res.stack, value):
            fn = self.function_of(key)
            if fn is not None:
                self.function_kinds.setdefault(fn, kind)

    def function_of(self, key: Key, depth: int = 0) -> Key | None:
        """The function a function, alias or version stands for."""
        res = self.t.get(key)
        if res is None or depth > 3:
            return None
        if res.type == "AWS::Lambda::Function":
            return key
        if res.type in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            target = self.t.target(res.stack, res.props.get("FunctionName"))
            return self.function_of(target.key, depth + 1) if target else None
        return None

    def egress_share(self, res: Resource) -> float:
        return self.usage.gb_out / len(self.egress) if res in self.egress else 0.0


def _private(res: Resource) -> bool:
    types = (res.props.get("EndpointConfiguration") or {}).get("Types") or []
    return "PRIVATE" in types
