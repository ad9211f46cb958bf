"""The knowledge-base External Knowledge API when `[knowledge_bases] ids` names any, with the outputs a
user needs to register it in Dify; in a closed network behind the deployment's `execute-api` endpoint."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.retention import DataRetention
from dify_on_aws.network.endpoints import KNOWLEDGE_ENDPOINTS
from dify_on_aws.network.vpc import Network
from dify_on_aws.services.knowledge import KnowledgeApi


def build_knowledge_api(
    stack: cdk.Stack,
    *,
    config: DifyConfig,
    network: Network,
    retention: DataRetention,
    log_retention: logs.RetentionDays,
) -> KnowledgeApi | None:
    kbs = config.knowledge_bases
    if not kbs.ids:
        return None
    endpoint = _private_endpoint(network) if network.closed else None
    api = KnowledgeApi(
        stack,
        "KnowledgeApi",
        knowledge_base_ids=kbs.ids,
        region=kbs.region or stack.region,
        log_retention=log_retention,
        removal_policy=retention.secrets,
        private_endpoint=endpoint,
    )
    cdk.CfnOutput(
        stack,
        "KnowledgeApiEndpoint",
        value=api.endpoint,
        description="Dify: Settings > Knowledge > External Knowledge API > API Endpoint",
    )
    cdk.CfnOutput(
        stack,
        "KnowledgeApiKeySecretArn",
        value=api.api_key.secret_arn,
        description="Dify's API Key for the endpoint: aws secretsmanager get-secret-value --secret-id <this>",
    )
    return api


def _private_endpoint(network: Network) -> ec2.InterfaceVpcEndpoint:
    """The closed network's `execute-api` endpoint (stack/network.py creates it with the knowledge API),
    limited to this account's APIs so that it cannot carry requests to anybody else's private API."""
    (service,) = (need.service for need in KNOWLEDGE_ENDPOINTS)
    endpoint = network.endpoints.endpoints.get(service) if network.endpoints else None
    if not isinstance(endpoint, ec2.InterfaceVpcEndpoint):
        raise AssertionError("a closed network with knowledge bases has its execute-api endpoint")
    stack = cdk.Stack.of(endpoint)
    endpoint.add_to_policy(
        iam.PolicyStatement(
            principals=[iam.StarPrincipal()],
            actions=["execute-api:Invoke"],
            resources=[f"arn:{stack.partition}:execute-api:{stack.region}:{stack.account}:*"],
        )
    )
    return endpoint
