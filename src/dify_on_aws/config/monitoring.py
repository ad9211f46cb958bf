"""`[monitoring]`: a CloudWatch dashboard, alarms to an SNS topic and saved Logs Insights queries."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from dify_on_aws.config.base import Section

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MonitoringConfig(Section):
    """What an operator watches: one dashboard per instance, alarms with a runbook line each, and saved
    queries for the common questions (README, "Monitoring")."""

    enabled: bool = Field(
        False,
        description="Add a CloudWatch dashboard, alarms (sent to an SNS topic encrypted with KMS) and saved "
        "Logs Insights queries. About $2-5/month: the key, alarm metrics, and the dashboard beyond three "
        "per account.",
    )
    email: str | None = Field(
        None,
        description="Subscribe this address to the alarm topic (AWS sends a confirmation mail first). "
        "Without it, subscribe yourself (chat, paging) to the topic named in the stack outputs.",
    )
    queue_depth_threshold: int = Field(
        100,
        ge=1,
        description="Alarm when the Celery queue stays above this many waiting tasks for 15 minutes.",
    )
    cache_memory_percent: int = Field(
        80, ge=1, le=100, description="Alarm when the cache uses more than this share of its memory."
    )
    error_rate_percent: float = Field(
        5.0,
        gt=0,
        le=100,
        description="Alarm when more than this share of requests end in a 5xx for 10 minutes.",
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an e-mail address such as 'ops@example.com'")
        return value
