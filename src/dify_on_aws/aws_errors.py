"""AWS errors a user can fix, as one line each, shared by every command that calls AWS (`mirror-images`,
`status`/`exec`/`run-task`, `validate --vpc-id`, `prices update`): missing or rejected credentials, no
region, an IAM action the identity may not call. Everything else is left to the caller."""

from __future__ import annotations

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
BAD_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    }
)
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (after `aws sso login` or `aws configure`) or the "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, then run the command again"
)
NO_REGION = "no AWS region: set `region` in the config file or AWS_REGION in the environment"


def error_code(exc: BaseException) -> tuple[str, str]:
    """(code, message) of a botocore ClientError; empty strings for anything else."""
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


def explain(exc: BaseException, action: str) -> str | None:
    """What to do about `exc`, raised by the call needing IAM `action` (e.g. `ecr:CreateRepository`), when it
    is a credential, region or permission problem; None otherwise."""
    from botocore.exceptions import (  # noqa: PLC0415 - only the AWS commands need botocore
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, NoRegionError):
        return NO_REGION
    code, message = error_code(exc)
    if code in DENIED_CODES or "not authorized" in message:
        return f"AWS denied {action} ({code}): grant {action} to the identity running this command. {message}"
    if code in BAD_CREDENTIAL_CODES:
        return (
            f"AWS rejected the credentials for {action} ({code}): renew them (`aws sso login`, or fresh "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN)"
        )
    return None
