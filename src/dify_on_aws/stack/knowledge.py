"""The knowledge-base External Knowledge API when `[knowledge_bases] ids` names any, with the outputs a
user needs to register it in Dify."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from dify_on_aws.config import DifyConfig
from dify_on_aws.data.retention import DataRetention
from dify_on_aws.services.knowledge import KnowledgeApi


def build_knowledge_api(
    stack: cdk.Stack, *, config: DifyConfig, retention: DataRetention, log_retention: logs.RetentionDays
) -> KnowledgeApi | None:
    kbs = config.knowledge_bases
    if not kbs.ids:
        return None
    api = KnowledgeApi(
        stack,
        "KnowledgeApi",
        knowledge_base_ids=kbs.ids,
        region=kbs.region or stack.region,
        log_retention=log_retention,
        removal_policy=retention.secrets,
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
