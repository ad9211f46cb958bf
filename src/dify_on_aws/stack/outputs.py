"""The stack's outputs: where Dify answers, the data endpoints, and a shell into the api container."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk

from dify_on_aws.roles import Role

if TYPE_CHECKING:
    from dify_on_aws.stack.dify_stack import DifyStack


def add_outputs(stack: DifyStack) -> None:
    cdk.CfnOutput(stack, "FilesBucket", value=stack.storage.bucket.bucket_name)
    cdk.CfnOutput(stack, "DatabaseEndpoint", value=stack.database.cluster.cluster_endpoint.hostname)
    cdk.CfnOutput(stack, "DatabaseSecretArn", value=stack.database.secret.secret_arn)
    cdk.CfnOutput(stack, "CacheEndpoint", value=stack.cache.host)
    cdk.CfnOutput(
        stack, "DifyUrl", value=stack.front_door.url, description="Open /install to create the admin"
    )
    if stack.config.services.execute_command:
        _exec_output(stack)


def _exec_output(stack: DifyStack) -> None:
    api = stack.dify.service(Role.API)
    region = cdk.Aws.REGION
    cluster = stack.dify.cluster.cluster_name
    cdk.CfnOutput(
        stack,
        "ApiExecCommand",
        description="Shell in the api container (ECS Exec; needs the Session Manager plugin)",
        value=(
            f"aws ecs execute-command --region {region} --cluster {cluster} --container api "
            "--interactive "
            f"--command /bin/bash --task $(aws ecs list-tasks --region {region} --cluster {cluster} "
            f"--service-name {api.service_name} --query 'taskArns[0]' --output text)"
        ),
    )
