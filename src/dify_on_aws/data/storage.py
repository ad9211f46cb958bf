"""S3 for Dify's uploaded files and the plugin daemon's packages."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dify_on_aws.nag import acknowledge


class FileStorage(Construct):
    """A private, TLS-only, encrypted, versioned bucket with server access logs in a second bucket."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        removal_policy: cdk.RemovalPolicy,
        empty_on_delete: bool,
        noncurrent_version_days: int,
    ) -> None:
        super().__init__(scope, id_)
        common: dict[str, object] = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": removal_policy,
            "auto_delete_objects": empty_on_delete,
        }
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
            **common,  # type: ignore[arg-type]
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket receives the file bucket's server access logs; logging it again would recurse.",
        )
        self.bucket = s3.Bucket(
            self,
            "Files",
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="files/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=cdk.Duration.days(noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
            **common,  # type: ignore[arg-type]
        )
