"""Amazon Bedrock knowledge bases as Dify external knowledge: a function implementing Dify's External
Knowledge API (``POST <endpoint>/retrieval``, bearer key) over Bedrock's Retrieve.

Reachability: Dify sends external-knowledge requests through its SSRF proxy (api
core/helper/ssrf_proxy.py), and ours denies every private and VPC address, so the API is a public Lambda
function URL (auth type NONE; the bearer key is checked by the function). Squid reaches it over NAT like
any public API; a closed network cannot (config validation refuses that combination).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
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


class KnowledgeApi(Construct):
    """The External Knowledge API function, its public URL and its generated bearer key."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        knowledge_base_ids: Sequence[str],
        region: str,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
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
            timeout=cdk.Duration.seconds(30),
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
        url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        # Function URLs end in '/'; Dify appends '/retrieval' to the endpoint as registered.
        self.endpoint = "https://" + cdk.Fn.select(2, cdk.Fn.split("/", url.url))
