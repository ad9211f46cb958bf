"""One explanation of fixable AWS errors for every command that calls AWS."""

from __future__ import annotations

from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from dify_on_aws.aws_errors import NO_CREDENTIALS, NO_REGION, explain


def client_error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeServices")


def test_fixable_errors_are_explained_and_others_left_to_the_caller() -> None:
    assert explain(NoCredentialsError(), "ecs:DescribeServices") == NO_CREDENTIALS
    assert explain(NoRegionError(), "ecs:DescribeServices") == NO_REGION
    denied = explain(client_error("AccessDeniedException"), "ecs:DescribeServices")
    assert denied is not None and denied.startswith("AWS denied ecs:DescribeServices (AccessDeniedException)")
    not_authorized = explain(client_error("Other", "is not authorized to perform"), "ecs:DescribeServices")
    assert not_authorized is not None and "AWS denied" in not_authorized
    expired = explain(client_error("ExpiredTokenException"), "ecr:GetAuthorizationToken")
    assert expired is not None and "rejected the credentials for ecr:GetAuthorizationToken" in expired
    assert explain(client_error("ThrottlingException"), "ecs:DescribeServices") is None
    assert explain(ValueError("x"), "ecs:DescribeServices") is None
