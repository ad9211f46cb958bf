"""Monthly cost estimate of a deployment, read from its synthesized CloudFormation templates."""

from dify_on_aws.cost.estimate import estimate, render_json, render_text, summary_line
from dify_on_aws.cost.model import HOURS_PER_MONTH, Estimate, FreeItem, Line, PriceBook, Usage

__all__ = [
    "HOURS_PER_MONTH",
    "Estimate",
    "FreeItem",
    "Line",
    "PriceBook",
    "Usage",
    "estimate",
    "render_json",
    "render_text",
    "summary_line",
]
