"""The us-east-1 stack for CloudFront-based front doors: certificate, WAF web ACL and Lambda@Edge.

CloudFront only uses certificates, web ACLs and edge functions from us-east-1; the main stack references
them through CDK's cross-region references (SSM parameters written here, read there at deploy time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from dify_on_aws.flags import apply_feature_flags
from dify_on_aws.frontdoor.base import hosted_zone
from dify_on_aws.nag import acknowledge

EDGE_REGION = "us-east-1"
SIGNER_RUNTIME = Path(__file__).parent / "runtime" / "edge_signer"
# Lambda@Edge supports neither arm64 nor the newest Python runtimes.
EDGE_PYTHON = lambda_.Runtime.PYTHON_3_13
# Rules of AWSManagedRulesCommonRuleSet that block normal Dify use: set to count, so their matches still
# show in the web ACL's metrics and sampled requests without blocking anyone. (rule, why) pairs.
COUNTED_COMMON_RULES: tuple[tuple[str, str], ...] = (
    (
        "SizeRestrictions_BODY",
        "blocks bodies over 8 KB: Dify uploads files, plugin packages (up to 50 MB) and large workflow JSON",
    ),
    (
        "CrossSiteScripting_BODY",
        "workflow definitions, prompts and templates legitimately contain HTML and JavaScript",
    ),
    (
        "GenericRFI_BODY",
        "workflow definitions, HTTP-request nodes and prompts legitimately contain URLs",
    ),
)
# Evaluated in this order after the allow-list and the rate limit; none of their rules is overridden
# except the counted ones above.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)


@dataclass(frozen=True)
class EdgeSettings:
    domain: str | None
    zone_name: str | None
    zone_id: str | None
    create_certificate: bool
    allowed_cidrs: Sequence[str]
    allowed_countries: Sequence[str]
    edge_signer: bool
    managed_rules: bool
    rate_limit: int


class EdgeStack(cdk.Stack):
    """Everything CloudFront needs from us-east-1 for one Dify instance."""

    def __init__(self, scope: Construct, id_: str, *, settings: EdgeSettings, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        apply_feature_flags(self)
        self.zone: route53.IHostedZone | None = None
        self.certificate: acm.ICertificate | None = None
        self.web_acl_arn: str | None = None
        self.signer: lambda_.IVersion | None = None
        if settings.zone_name is not None:
            self.zone = hosted_zone(self, "Zone", name=settings.zone_name, zone_id=settings.zone_id)
        if settings.create_certificate:
            assert settings.domain is not None and self.zone is not None
            self.certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=settings.domain,
                validation=acm.CertificateValidation.from_dns(self.zone),
            )
        if settings.managed_rules:
            self.web_acl_arn = self._protected_web_acl(settings).attr_arn
        elif settings.allowed_cidrs or settings.allowed_countries:
            self.web_acl_arn = self._allow_list_web_acl(
                settings.allowed_cidrs, settings.allowed_countries
            ).attr_arn
        if settings.edge_signer:
            self.signer = self._signer()

    def _allow_list(
        self, cidrs: Sequence[str], countries: Sequence[str]
    ) -> wafv2.CfnWebACL.StatementProperty | None:
        """Source IP in the allow-list and/or country in the list; None without allow-lists."""
        if not cidrs and not countries:
            return None
        conditions: list[wafv2.CfnWebACL.StatementProperty] = []
        ip_statements = []
        for version, is_v6 in (("IPV4", False), ("IPV6", True)):
            addresses = [c for c in cidrs if (":" in c) is is_v6]
            if not addresses:
                continue
            ip_set = wafv2.CfnIPSet(
                self,
                f"AllowList{version.title()}",
                scope="CLOUDFRONT",
                ip_address_version=version,
                addresses=addresses,
                description="Dify front door allow-list",
            )
            ip_statements.append(
                wafv2.CfnWebACL.StatementProperty(
                    ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(
                        arn=ip_set.attr_arn
                    )
                )
            )
        if len(ip_statements) == 1:
            conditions.append(ip_statements[0])
        elif ip_statements:
            conditions.append(
                wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=ip_statements)
                )
            )
        if countries:
            conditions.append(
                wafv2.CfnWebACL.StatementProperty(
                    geo_match_statement=wafv2.CfnWebACL.GeoMatchStatementProperty(
                        country_codes=list(countries)
                    )
                )
            )
        return (
            conditions[0]
            if len(conditions) == 1
            else wafv2.CfnWebACL.StatementProperty(
                and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=conditions)
            )
        )

    def _allow_list_web_acl(self, cidrs: Sequence[str], countries: Sequence[str]) -> wafv2.CfnWebACL:
        """Default block; one allow rule: source IP in the allow-list and/or country in the list."""
        statement = self._allow_list(cidrs, countries)
        assert statement is not None
        return wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            description="Dify allow-list: everything else is blocked",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(block={}),
            visibility_config=_visibility("dify-web-acl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="allow-list",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(allow={}),
                    statement=statement,
                    visibility_config=_visibility("dify-allow-list"),
                )
            ],
        )

    def _protected_web_acl(self, settings: EdgeSettings) -> wafv2.CfnWebACL:
        """Default allow, then in order: block callers outside the allow-lists (when set), a per-IP rate
        limit, and AWS managed rule groups with the rules that break Dify set to count."""
        rules: list[wafv2.CfnWebACL.RuleProperty] = []
        allowed = self._allow_list(settings.allowed_cidrs, settings.allowed_countries)
        if allowed is not None:
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name="outside-allow-list",
                    priority=len(rules),
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=allowed)
                    ),
                    visibility_config=_visibility("dify-outside-allow-list"),
                )
            )
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="rate-limit-per-ip",
                priority=len(rules),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=settings.rate_limit, evaluation_window_sec=300
                    )
                ),
                visibility_config=_visibility("dify-rate-limit-per-ip"),
            )
        )
        for group in MANAGED_RULE_GROUPS:
            overrides = None
            if group == "AWSManagedRulesCommonRuleSet":
                overrides = [
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule, _reason in COUNTED_COMMON_RULES
                ]
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=len(rules),
                    # The group's own actions apply (block), except the overrides.
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group, rule_action_overrides=overrides
                        )
                    ),
                    visibility_config=_visibility(f"dify-{group}"),
                )
            )
        return wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            description="Dify: allow-list, per-IP rate limit and AWS managed rules",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("dify-web-acl"),
            rules=rules,
        )

    def _signer(self) -> lambda_.IVersion:
        """Lambda@Edge origin-request function that lets OAC sign bodies for Lambda function URLs."""
        # The stack name carries the instance's region (a Lambda name has at most 64 characters).
        name = f"{self.stack_name}-signer"
        role = iam.Role(
            self,
            "SignerRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("lambda.amazonaws.com"), iam.ServicePrincipal("edgelambda.amazonaws.com")
            ),
        )
        # Replicas log to /aws/lambda/us-east-1.<name> in whichever region serves the request.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:logs:*:{cdk.Aws.ACCOUNT_ID}:log-group:/aws/lambda/"
                    f"{EDGE_REGION}.{name}:*"
                ],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:*:<AWS::AccountId>:log-group:/aws/lambda/"
            f"{EDGE_REGION}.{name}:*]",
            "Lambda@Edge replicas write to a log group named after the function in every region they run in.",
        )
        function = lambda_.Function(
            self,
            "Signer",
            function_name=name,
            runtime=EDGE_PYTHON,
            architecture=lambda_.Architecture.X86_64,
            code=lambda_.Code.from_asset(str(SIGNER_RUNTIME), exclude=["__pycache__", "*.pyc"]),
            handler="index.handler",
            description="Dify: x-amz-content-sha256 for OAC-signed POST/PUT to Lambda function URLs",
            memory_size=256,
            timeout=cdk.Duration.seconds(5),
            role=role,
            # CloudFront replicas keep running a version after the distribution moves to the next one, and
            # a replicated version cannot be deleted: each update leaves the old version in place.
            current_version_options=lambda_.VersionOptions(removal_policy=cdk.RemovalPolicy.RETAIN),
        )
        logs.LogGroup(
            self,
            "SignerLogs",
            log_group_name=f"/aws/lambda/{EDGE_REGION}.{name}",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Lambda@Edge supports Python only up to 3.13; the latest runtime Lambda@Edge accepts is used.",
        )
        return function.current_version


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
