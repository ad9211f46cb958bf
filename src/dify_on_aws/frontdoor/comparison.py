"""The front-door comparison in docs/front-doors.md, generated from the settings the code uses.

Every number comes from a constant or a config default; tests/test_front_door_comparison.py also checks
the synthesized templates against these facts, so the table cannot drift from the code.
"""

from __future__ import annotations

from dify_on_aws.config.model import FrontDoorConfig, FrontDoorType
from dify_on_aws.frontdoor.api_gateway import INTEGRATION_TIMEOUT_SECONDS, MAX_PAYLOAD_MB
from dify_on_aws.frontdoor.base import FrontDoorFacts
from dify_on_aws.frontdoor.lambda_proxy import MAX_BODY_MB
from dify_on_aws.frontdoor.lambda_urls import MAX_BODY_BYTES

_FIELDS = FrontDoorConfig.model_fields


def default(name: str) -> int:
    value = _FIELDS[name].default
    assert isinstance(value, int)
    return value


def maximum(name: str) -> int:
    for item in _FIELDS[name].metadata:
        limit = getattr(item, "le", None)
        if isinstance(limit, int):
            return limit
    raise KeyError(name)


_NO_LIMIT = "no front-door limit (Dify's own upload limits apply)"
_ALWAYS_ON = "none: ECS tasks are always running"


def facts() -> dict[FrontDoorType, FrontDoorFacts]:
    read, idle = "origin_read_timeout_seconds", "idle_timeout_seconds"
    timeout = "function_timeout_seconds"
    return {
        "cloudfront": FrontDoorFacts(
            streaming=True,
            longest_request=f"no total limit; {default(read)} s (up to {maximum(read)}) until the first byte "
            f"or between bytes, {default(idle)} s idle at the ALB",
            largest_upload=_NO_LIMIT,
            cold_start=_ALWAYS_ON,
            fixed_cost_drivers="internal ALB (hours + LCU); CloudFront per request and GB; WAF when "
            "allow-lists are set",
        ),
        "alb": FrontDoorFacts(
            streaming=True,
            longest_request=f"no total limit; {default(idle)} s idle (up to {maximum(idle)})",
            largest_upload=_NO_LIMIT,
            cold_start=_ALWAYS_ON,
            fixed_cost_drivers="internet-facing ALB (hours + LCU) and one public IPv4 address per zone",
        ),
        "api_gateway": FrontDoorFacts(
            streaming=False,
            longest_request=f"{INTEGRATION_TIMEOUT_SECONDS} s",
            largest_upload=f"{MAX_PAYLOAD_MB} MB",
            cold_start=_ALWAYS_ON,
            fixed_cost_drivers="none: per request only (VPC link is free)",
        ),
        "lambda": FrontDoorFacts(
            streaming=True,
            longest_request=f"{default(timeout)} s (front_door.function_timeout_seconds, up to "
            f"{maximum(timeout)})",
            largest_upload=f"{MAX_BODY_BYTES // (1024 * 1024)} MB (the body Lambda@Edge may see to sign it)",
            cold_start="yes: the first request after idle waits for Dify to start (tens of seconds); "
            "front_door.provisioned_concurrency removes it at a fixed cost",
            fixed_cost_drivers="none for the functions unless provisioned concurrency; WAF when allow-lists "
            "are set; one ECS api task for plugin callbacks",
        ),
        "lambda_proxy": FrontDoorFacts(
            streaming=True,
            longest_request=f"{default(timeout)} s (front_door.function_timeout_seconds, up to "
            f"{maximum(timeout)})",
            largest_upload=f"{MAX_BODY_MB} MB (Lambda's request payload)",
            cold_start="about a second for the nginx function after idle; Dify itself runs on ECS",
            fixed_cost_drivers="none: the proxy is billed per request; needs services.layout = 'single_task'",
        ),
    }


def render_comparison() -> str:
    rows = facts()
    lines = [
        "# Front doors compared",
        "",
        "Generated from the code by `make docs` (`dify-on-aws docs`); a test fails when it drifts.",
        "Pick one with `front_door.type`; `dify-on-aws cost --plot` draws their monthly cost against",
        "traffic.",
        "",
        "| front door | response streaming | longest request | largest upload | cold start | "
        "fixed monthly cost drivers |",
        "|---|---|---|---|---|---|",
    ]
    for name, fact in rows.items():
        lines.append(
            f"| `{name}` | {'yes' if fact.streaming else 'no'} | {fact.longest_request} | "
            f"{fact.largest_upload} | {fact.cold_start} | {fact.fixed_cost_drivers} |"
        )
    lines += [
        "",
        "IP allow-lists: `alb` in its security group, `cloudfront` and `lambda` in a WAF web ACL (also",
        "country allow-lists), `api_gateway` in a Lambda authorizer. `lambda` does not expose plugin",
        "endpoints (`/e`). `lambda_proxy` offers no allow-lists: its function URL is public.",
        "",
    ]
    return "\n".join(lines)
