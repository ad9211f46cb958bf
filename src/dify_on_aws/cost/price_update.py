"""`dify-on-aws prices update --region R`: refresh the price table for any region from the AWS Price List
Query API (boto3 `pricing`, GetProducts) into a user cache that the estimator then uses.

Each price key of prices.json that differs by region has one query here: the service code, a usage-type
fragment the API filters on (CONTAINS), a pattern the usage type must match exactly (the fragment alone
also matches Spot, ARM or other variants), optional attribute filters and the factor from the price list's
unit to ours (e.g. per request -> per million). The first tier (beginRange 0) of the on-demand term is taken.
Every cached entry names its source (service code, usage type, SKU and effective date) and the date of
the query. Keys without a query or without a match keep the shipped price (or stay unknown), and the
command lists them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dify_on_aws.aws_errors import error_code, explain

EXIT_USAGE = 2
CACHE_VARIABLE = "DIFY_ON_AWS_PRICE_CACHE"
# The Price List Query API answers in these regions only (it prices every region from each of them).
API_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class Query:
    service: str
    fragment: str  # usage type substring for the API filter
    pattern: str  # the whole usage type after an optional region prefix, e.g. "NatGateway-Hours"
    unit: str
    factor: float = 1.0  # price-list unit -> our unit
    attributes: Mapping[str, str] = field(default_factory=dict)

    def filters(self, region: str) -> list[dict[str, str]]:
        found = [
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "CONTAINS", "Field": "usagetype", "Value": self.fragment},
        ]
        found += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in self.attributes.items()]
        return found

    def matches(self, usagetype: str) -> bool:
        return re.fullmatch(rf"(?:[A-Z0-9]+-)?{re.escape(self.pattern)}", usagetype) is not None


def _hourly(service: str, pattern: str, unit: str, **attributes: str) -> Query:
    return Query(service, pattern, pattern, unit, attributes=attributes)


QUERIES: dict[str, Query] = {
    "alb.hour": _hourly(
        "AWSELB", "LoadBalancerUsage", "USD per ALB-hour", productFamily="Load Balancer-Application"
    ),
    "alb.lcu_hour": _hourly(
        "AWSELB", "LCUUsage", "USD per LCU-hour", productFamily="Load Balancer-Application"
    ),
    "nlb.hour": _hourly(
        "AWSELB", "LoadBalancerUsage", "USD per NLB-hour", productFamily="Load Balancer-Network"
    ),
    "nat_gateway.hour": _hourly("AmazonEC2", "NatGateway-Hours", "USD per NAT gateway-hour"),
    "nat_gateway.gb_processed": _hourly("AmazonEC2", "NatGateway-Bytes", "USD per GB processed"),
    "fargate.linux_x86.vcpu_hour": _hourly("AmazonECS", "Fargate-vCPU-Hours:perCPU", "USD per vCPU-hour"),
    "fargate.linux_x86.gb_hour": _hourly("AmazonECS", "Fargate-GB-Hours", "USD per GB-hour"),
    "fargate.linux_arm.vcpu_hour": _hourly("AmazonECS", "Fargate-ARM-vCPU-Hours:perCPU", "USD per vCPU-hour"),
    "fargate.linux_arm.gb_hour": _hourly("AmazonECS", "Fargate-ARM-GB-Hours", "USD per GB-hour"),
    "fargate.ephemeral_storage.gb_hour": _hourly(
        "AmazonECS", "Fargate-EphemeralStorage-GB-Hours", "USD per GB-hour for storage above the free 20 GB"
    ),
    "vpc.public_ipv4.hour": _hourly(
        "AmazonVPC", "PublicIPv4:InUseAddress", "USD per public IPv4 address-hour"
    ),
    "vpc_endpoint.interface.hour_per_az": _hourly(
        "AmazonVPC", "VpcEndpoint-Hours", "USD per endpoint ENI-hour"
    ),
    "vpc_endpoint.interface.gb": _hourly("AmazonVPC", "VpcEndpoint-Bytes", "USD per GB processed"),
    "secrets_manager.secret.month": _hourly(
        "AWSSecretsManager", "AWSSecretsManager-Secrets", "USD per secret-month"
    ),
    "secrets_manager.api_calls.per_10k": Query(
        "AWSSecretsManager",
        "AWSSecretsManager-APIRequest",
        "AWSSecretsManager-APIRequest",
        "USD per 10,000 API calls",
        factor=10_000,
    ),
    "lambda.x86.gb_second": _hourly("AWSLambda", "Lambda-GB-Second", "USD per GB-second"),
    "lambda.arm.gb_second": _hourly("AWSLambda", "Lambda-GB-Second-ARM", "USD per GB-second"),
    "lambda.per_million_requests": Query(
        "AWSLambda", "Request", "Request", "USD per 1M requests", factor=1_000_000
    ),
    "cloudwatch_logs.ingest.gb": _hourly("AmazonCloudWatch", "DataProcessing-Bytes", "USD per GB ingested"),
    "cloudwatch_logs.storage.gb_month": _hourly(
        "AmazonCloudWatch", "TimedStorage-ByteHrs", "USD per GB-month"
    ),
    "s3.standard.gb_month": _hourly("AmazonS3", "TimedStorage-ByteHrs", "USD per GB-month (first tier)"),
    "aurora_pg_sv2.acu_hour_standard": _hourly(
        "AmazonRDS", "Aurora:ServerlessV2Usage", "USD per ACU-hour (Aurora Standard)"
    ),
    "aurora_pg_sv2.acu_hour_io_optimized": _hourly(
        "AmazonRDS", "Aurora:ServerlessV2IOOptimizedUsage", "USD per ACU-hour (Aurora I/O-Optimized)"
    ),
    "aurora.storage_gb_month_standard": _hourly("AmazonRDS", "Aurora:StorageUsage", "USD per GB-month"),
    "aurora.io_per_million": Query(
        "AmazonRDS",
        "Aurora:StorageIOUsage",
        "Aurora:StorageIOUsage",
        "USD per 1M I/O requests",
        factor=1_000_000,
    ),
    "elasticache.valkey.cache_t4g_micro.hour": _hourly(
        "AmazonElastiCache", "NodeUsage:cache.t4g.micro", "USD per node-hour", cacheEngine="Valkey"
    ),
    "elasticache.valkey.cache_t4g_small.hour": _hourly(
        "AmazonElastiCache", "NodeUsage:cache.t4g.small", "USD per node-hour", cacheEngine="Valkey"
    ),
    "ec2.t4g_nano.hour": _hourly(
        "AmazonEC2",
        "BoxUsage:t4g.nano",
        "USD per instance-hour (Linux, on-demand)",
        operatingSystem="Linux",
        tenancy="Shared",
        preInstalledSw="NA",
        capacitystatus="Used",
    ),
    "ec2.t4g_micro.hour": _hourly(
        "AmazonEC2",
        "BoxUsage:t4g.micro",
        "USD per instance-hour (Linux, on-demand)",
        operatingSystem="Linux",
        tenancy="Shared",
        preInstalledSw="NA",
        capacitystatus="Used",
    ),
}


class PriceUpdateError(Exception):
    """A problem the user can fix (credentials, permission, region): printed as one line, exit 2."""


def cache_path() -> Path:
    """$DIFY_ON_AWS_PRICE_CACHE, else $XDG_CACHE_HOME/dify-on-aws/prices.json (~/.cache by default)."""
    given = os.environ.get(CACHE_VARIABLE)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dify-on-aws" / "prices.json"


def _products(client: Any, query: Query, region: str) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("get_products")
    for page in paginator.paginate(ServiceCode=query.service, Filters=query.filters(region)):
        for raw in page.get("PriceList", []):
            yield json.loads(raw) if isinstance(raw, str) else raw


def _first_tier(product: Mapping[str, Any]) -> tuple[float, str, str] | None:
    """(USD per price-list unit, SKU, effective date) of the on-demand term's first tier."""
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and str(dimension.get("beginRange", "0")) == "0":
                sku = str(product.get("product", {}).get("sku", ""))
                return float(usd), sku, str(term.get("effectiveDate", ""))[:10]
    return None


def fetch(client: Any, region: str, *, today: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Price-key entries for `region`, and the keys no product matched."""
    from botocore.exceptions import ClientError, NoCredentialsError  # noqa: PLC0415

    entries: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for key, query in QUERIES.items():
        try:
            found = [
                (tier, str(p["product"]["attributes"]["usagetype"]))
                for p in _products(client, query, region)
                if query.matches(str(p.get("product", {}).get("attributes", {}).get("usagetype", "")))
                and (tier := _first_tier(p)) is not None
            ]
        except (ClientError, NoCredentialsError) as exc:
            fix = explain(exc, "pricing:GetProducts")
            if fix is not None:
                raise PriceUpdateError(fix) from None
            code, _ = error_code(exc)
            raise PriceUpdateError(f"the Price List Query API failed for {key}: {code or exc}") from None
        if not found:
            missing.append(key)
            continue
        (price, sku, effective), usagetype = min(found, key=lambda item: item[0][0])
        entries[key] = {
            "price": round(price * query.factor, 10),
            "unit": query.unit,
            "source": f"AWS Price List Query API: {query.service}, usage type {usagetype}, SKU {sku}, "
            f"effective {effective or 'n/a'}",
            "date": today,
        }
    return entries, missing


def write_cache(path: Path, region: str, entries: Mapping[str, Mapping[str, Any]], *, today: str) -> None:
    """Merge `entries` for `region` into the cache file (other regions are kept)."""
    data: dict[str, Any] = {"as_of": today, "regions": {}}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("regions", {})
    data["regions"][region] = {**data["regions"].get(region, {}), **entries}
    data["as_of"] = today
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def cmd_update(args: argparse.Namespace, *, client: Any = None) -> int:
    region = str(args.region)
    if not _REGION.match(region):
        print(f"error: --region {region!r} is not a region code such as eu-west-1", file=sys.stderr)
        return EXIT_USAGE
    if client is None:
        import boto3  # noqa: PLC0415

        client = boto3.client("pricing", region_name=args.api_region)
    today = datetime.now(UTC).date().isoformat()
    try:
        entries, missing = fetch(client, region, today=today)
    except PriceUpdateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not entries:
        print(f"error: the Price List Query API has no prices for region {region!r}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.cache) if args.cache else cache_path()
    write_cache(path, region, entries, today=today)
    print(f"{len(entries)} prices for {region} written to {path} (as of {today}); the estimator uses them")
    if missing:
        print(f"  no match for {len(missing)} key(s), kept as shipped or unknown: {', '.join(missing)}")
    return 0


def add_prices_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prices = subparsers.add_parser(
        "prices", help="refresh the estimator's prices from the AWS Price List API"
    )
    actions = prices.add_subparsers(dest="prices_command", required=True)
    update = actions.add_parser(
        "update",
        help="fetch the prices of one region into the user cache",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    update.add_argument("--region", required=True, help="the region to price, e.g. eu-west-1")
    update.add_argument(
        "--api-region",
        default="us-east-1",
        choices=API_REGIONS,
        help="where to call the Price List Query API (default us-east-1)",
    )
    update.add_argument(
        "--cache", help=f"cache file (default ${CACHE_VARIABLE} or ~/.cache/dify-on-aws/prices.json)"
    )
    update.set_defaults(func=cmd_update)
