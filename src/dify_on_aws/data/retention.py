"""What a stack delete does to each stateful resource, derived from one user-facing setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aws_cdk as cdk

RETAIN, SNAPSHOT, DESTROY = cdk.RemovalPolicy.RETAIN, cdk.RemovalPolicy.SNAPSHOT, cdk.RemovalPolicy.DESTROY


@dataclass(frozen=True)
class DataRetention:
    database: cdk.RemovalPolicy
    deletion_protection: bool
    cache: cdk.RemovalPolicy
    bucket: cdk.RemovalPolicy
    empty_bucket_on_delete: bool
    secrets: cdk.RemovalPolicy

    @classmethod
    def named(cls, name: Literal["retain", "snapshot", "destroy"]) -> DataRetention:
        if name == "retain":
            return cls(RETAIN, True, SNAPSHOT, RETAIN, False, RETAIN)
        if name == "snapshot":
            # The database secret is kept: a snapshot is useless without its credentials.
            return cls(SNAPSHOT, False, SNAPSHOT, RETAIN, False, RETAIN)
        return cls(DESTROY, False, DESTROY, DESTROY, True, DESTROY)
