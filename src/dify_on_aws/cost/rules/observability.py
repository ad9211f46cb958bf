"""Pricing rules for monitoring: CloudWatch dashboards and alarms (the alarm topic, saved queries and the
log groups' resource policy have no charge of their own: free.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dify_on_aws.cost.rules.common import Rule
from dify_on_aws.templates import Resource

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer


def _dashboard(p: Pricer, res: Resource) -> None:
    p.add(
        res,
        "CloudWatch dashboard",
        "cloudwatch.dashboard.month",
        1,
        "dashboard-month",
        usage=False,
        note="the first 3 dashboards of an account are free; not subtracted (the account may have others)",
    )


def _alarm(p: Pricer, res: Resource) -> None:
    """A standard-resolution alarm is billed per metric it evaluates: a metric math alarm over N metrics
    counts N alarm metrics (CloudWatch pricing, "Alarm metrics")."""
    metrics = res.props.get("Metrics")
    watched = (
        sum(1 for m in metrics if isinstance(m, dict) and "MetricStat" in m)
        if isinstance(metrics, list)
        else 1
    )
    p.add(
        res,
        "CloudWatch alarm (standard resolution)",
        "cloudwatch.alarm.standard.metric_month",
        max(watched, 1),
        "alarm metric-month",
        usage=False,
        note="metric math alarms count each metric they read",
    )


RULES: dict[str, Rule] = {
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::CloudWatch::Alarm": _alarm,
}
