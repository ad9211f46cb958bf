"""What a stack delete does to each stateful resource, derived from one user-facing setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

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


_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs retention for a number of days the config allows (config.model.LOG_RETENTION_DAYS)."""
    return logs.RetentionDays[_RETENTION_NAMES[days]]
