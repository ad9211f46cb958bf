"""Amazon Bedrock knowledge bases as Dify external knowledge: a function implementing Dify's External
Knowledge API (``POST <endpoint>/retrieval``, bearer key) over Bedrock's Retrieve.

Reachability: Dify sends external-knowledge requests through its SSRF proxy (api
core/helper/ssrf_proxy.py), and ours denies every private and VPC address. With internet access the API is
a public Lambda function URL (auth type NONE; the bearer key is checked by the function), which Squid
reaches over NAT like any public API. In a closed network it is a private REST API in front of the same
function, reached through the deployment's `execute-api` interface endpoint by its Route 53 alias name,
the one name Squid lets through to a VPC address (services/ssrf_proxy.py `internal_hosts_file`). Either
way the function itself runs outside the VPC and calls Bedrock over AWS's network.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.runtime_support import python_function

RUNTIME = Path(__file__).resolve().parent / "runtime" / "knowledge"
# The handler's environment (runtime/knowledge/index.py reads these names; a test keeps them equal).
ENV_KEY_ARN = "DIFY_KNOWLEDGE_API_KEY_ARN"
ENV_KNOWLEDGE_BASES = "DIFY_KNOWLEDGE_BASES"
ENV_REGION = "DIFY_KNOWLEDGE_REGION"
# The private API's stage: the endpoint Dify is given ends in it (Dify appends "/retrieval").
STAGE = "knowledge"
# API Gateway's default (and, without a quota increase, maximum) integration timeout is 29 s ("Amazon API
# Gateway quotas"); the function stops first, so Dify gets the function's own error, not a gateway 504.
TIMEOUT = cdk.Duration.seconds(28)


# What cdk-nag asks of a public API that a private one, behind the function's own key check, does not need.
_PRIVATE_API_FINDINGS = (
    (
        ("AwsSolutions-APIG1", "AwsSolutions-APIG6"),
        "Stage logging needs the account-wide API Gateway CloudWatch Logs role (an account setting a stack "
        "should not change); the function logs every request's outcome.",
    ),
    (
        ("AwsSolutions-APIG2", "AwsSolutions-APIG4", "AwsSolutions-COG4"),
        "Private API: only the deployment's VPC endpoint may invoke it (resource policy), and the function "
        "checks Dify's bearer key and the request body itself, answering Dify's error codes.",
    ),
    (
        ("AwsSolutions-APIG3",),
        "Private API, reachable only through the deployment's VPC endpoint: no internet traffic for a WAF "
        "to filter.",
    ),
)


class KnowledgeApi(Construct):
    """The External Knowledge API function, its generated bearer key, and its front: a public function URL,
    or with `private_endpoint` (an `execute-api` interface endpoint) a private REST API only that endpoint
    may invoke. `endpoint` is the URL to register in Dify, `host` its host name."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        knowledge_base_ids: Sequence[str],
        region: str,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
        private_endpoint: ec2.IInterfaceVpcEndpoint | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.api_key = sm.Secret(
            self,
            "ApiKey",
            description="Dify External Knowledge API key (Settings > Knowledge > External Knowledge API)",
            generate_secret_string=sm.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )
        self.api_key.apply_removal_policy(removal_policy)
        acknowledge(
            self.api_key,
            "AwsSolutions-SMG4",
            "The key is typed into Dify's External Knowledge API settings; an automatic rotation would break "
            "retrieval until someone re-enters it. Rotate by updating the secret and the Dify setting.",
        )
        self.function = python_function(
            self,
            "Function",
            code_dir=RUNTIME,
            handler="index.handler",
            description="Dify External Knowledge API over Amazon Bedrock knowledge bases (Retrieve)",
            timeout=TIMEOUT,
            log_retention=log_retention,
            # The secret's ARN only: the function reads the key itself, at its first request.
            environment={
                ENV_KEY_ARN: self.api_key.secret_arn,
                ENV_KNOWLEDGE_BASES: json.dumps(list(knowledge_base_ids)),
                ENV_REGION: region,
            },
        )
        self.api_key.grant_read(self.function)
        stack = cdk.Stack.of(self)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["bedrock:Retrieve"],
                resources=[
                    f"arn:{stack.partition}:bedrock:{region}:{stack.account}:knowledge-base/{kb}"
                    for kb in knowledge_base_ids
                ],
            )
        )
        self.private = private_endpoint is not None
        if private_endpoint is None:
            url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
            # Function URLs end in '/'; Dify appends '/retrieval' to the endpoint as registered.
            self.host = cdk.Fn.select(2, cdk.Fn.split("/", url.url))
            self.endpoint = "https://" + self.host
        else:
            api = self._private_api(private_endpoint)
            # "Invoke a private API using a Route53 alias": API Gateway publishes this name for every VPC
            # endpoint associated with the API; it resolves to the endpoint's addresses, private DNS or not.
            self.host = (
                f"{api.rest_api_id}-{private_endpoint.vpc_endpoint_id}.execute-api.{stack.region}."
                f"{stack.url_suffix}"
            )
            self.endpoint = f"https://{self.host}/{STAGE}"

    def _private_api(self, endpoint: ec2.IInterfaceVpcEndpoint) -> apigw.RestApi:
        api = apigw.LambdaRestApi(
            self,
            "PrivateApi",
            handler=self.function,
            description="Dify External Knowledge API (private: the deployment's execute-api endpoint only)",
            # Every path and method goes to the function, which answers Dify's documented errors itself.
            proxy=True,
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[apigw.EndpointType.PRIVATE], vpc_endpoints=[endpoint]
            ),
            # A private API without a resource policy cannot be deployed ("Set up a resource policy for a
            # private API"); this one admits only the deployment's endpoint.
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        principals=[iam.StarPrincipal()],
                        actions=["execute-api:Invoke"],
                        resources=["execute-api:/*"],
                        conditions={"StringEquals": {"aws:SourceVpce": endpoint.vpc_endpoint_id}},
                    )
                ]
            ),
            # Stage logging needs the account-wide API Gateway CloudWatch role, which a stack should not
            # own ("Set up CloudWatch logging for REST APIs"): the function logs each request instead.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(stage_name=STAGE),
        )
        # CDK's own output names the default execute-api host, which resolves only with private DNS (off
        # here): the stack's KnowledgeApiEndpoint output is the URL to use.
        api.node.try_remove_child("Endpoint")
        for rules, reason in _PRIVATE_API_FINDINGS:
            for rule in rules:
                acknowledge(api, rule, reason)
        return api
