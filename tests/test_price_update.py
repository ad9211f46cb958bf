"""`dify-on-aws prices update`: Price List Query API responses (botocore Stubber, in the API's documented
shape: PriceList entries are JSON strings with product attributes and on-demand terms) become a user
cache that the estimator uses, with source and date per price (issue #14)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.cli import main
from dify_on_aws.cost import model
from dify_on_aws.cost.estimate import estimate
from dify_on_aws.cost.model import PriceBook, Usage, default_prices, shipped_prices
from dify_on_aws.cost.price_update import QUERIES, cmd_update, fetch, write_cache

REGION = "sa-east-1"  # a region prices.json does not ship
PREFIX = "SAE1"
# Usage type -> USD per price-list unit, for this fake region.
PRICES = {
    "NatGateway-Hours": 0.048,
    "NatGateway-Bytes": 0.048,
    "Fargate-vCPU-Hours:perCPU": 0.04456,
    "Fargate-ARM-vCPU-Hours:perCPU": 0.03565,
    "Request": 0.0000002,
}


def product(usagetype: str, usd: float, *, sku: str = "SKU1", begin: str = "0") -> str:
    return json.dumps(
        {
            "product": {"sku": sku, "attributes": {"usagetype": usagetype, "regionCode": REGION}},
            "serviceCode": "X",
            "terms": {
                "OnDemand": {
                    f"{sku}.T": {
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "priceDimensions": {
                            f"{sku}.T.R": {
                                "beginRange": begin,
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": f"{usd:.10f}"},
                            }
                        },
                    }
                }
            },
        }
    )


def responses() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """One stubbed GetProducts per query, in QUERIES order: the region's product, plus look-alikes that must
    not be taken (Spot, another region's prefix variant, a higher tier); nothing for the ARM Lambda key."""
    for key, query in QUERIES.items():
        items: list[str] = []
        if key != "lambda.arm.gb_second":
            usd = PRICES.get(query.pattern, 0.01)
            items.append(product(f"{PREFIX}-{query.pattern}", usd, sku=f"S{len(key)}"))
            items.append(product(f"{PREFIX}-SpotUsage:{query.pattern}", usd / 3, sku="SPOT"))
            items.append(product(f"{PREFIX}-{query.pattern}", usd / 10, sku="TIER2", begin="10000"))
        yield (
            "get_products",
            {"PriceList": items, "FormatVersion": "aws_v1"},
            {"ServiceCode": query.service, "Filters": query.filters(REGION)},
        )


@pytest.fixture
def client() -> Iterator[Any]:
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(pricing) as stub:
        for operation, response, params in responses():
            stub.add_response(operation, response, params)
        yield pricing
        stub.assert_no_pending_responses()


def args(tmp_path: Path, region: str = REGION) -> argparse.Namespace:
    return argparse.Namespace(region=region, api_region="us-east-1", cache=str(tmp_path / "prices.json"))


def test_fetch_takes_the_region_on_demand_first_tier_and_converts_units(client: Any) -> None:
    entries, missing = fetch(client, REGION, today="2026-11-30")
    assert missing == ["lambda.arm.gb_second"]
    nat = entries["nat_gateway.hour"]
    assert nat["price"] == pytest.approx(0.048) and nat["date"] == "2026-11-30"
    assert "AWS Price List Query API: AmazonEC2, usage type SAE1-NatGateway-Hours" in nat["source"]
    assert "effective 2026-11-01" in nat["source"]
    # Not the Spot look-alike, not the ARM variant, not the second tier.
    assert entries["fargate.linux_x86.vcpu_hour"]["price"] == pytest.approx(0.04456)
    assert entries["fargate.linux_arm.vcpu_hour"]["price"] == pytest.approx(0.03565)
    # Per request in the price list, per million in prices.json.
    assert entries["lambda.per_million_requests"]["price"] == pytest.approx(0.2)


def test_update_writes_the_cache_and_the_estimator_uses_it(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "prices.json"
    write_cache(cache, "ap-south-2", {"nat_gateway.hour": {"price": 1.0, "unit": "u"}}, today="2026-01-01")
    assert cmd_update(args(tmp_path), client=client) == 0
    out = capsys.readouterr().out
    assert f"prices for {REGION} written to {cache}" in out and "lambda.arm.gb_second" in out
    data = json.loads(cache.read_text(encoding="utf-8"))
    assert set(data["regions"]) == {"ap-south-2", REGION}  # other regions kept

    nat = {"Resources": {"Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}}}}
    idle = Usage(requests=0, gb_out=0, active_share=0, nat_gb=0)
    assert estimate(nat, region=REGION, usage=idle, prices=shipped_prices()).partial  # not shipped
    monkeypatch.setenv("DIFY_ON_AWS_PRICE_CACHE", str(cache))
    model.default_prices.cache_clear()
    try:
        result = estimate(nat, region=REGION, usage=idle)
        (line,) = result.lines[:1]
        assert not result.partial and line.unit_price == pytest.approx(0.048)
        assert "Price List Query API" in line.source and line.date
        assert "cache" in default_prices().as_of
    finally:
        monkeypatch.undo()
        model.default_prices.cache_clear()


def test_overlay_replaces_only_the_keys_it_has() -> None:
    book = PriceBook({"as_of": "a", "regions": {"r": {"x": {"price": 1}, "y": {"price": 2}}}})
    merged = book.overlay({"as_of": "b", "regions": {"r": {"x": {"price": 5}}}})
    assert merged.get("x", "r").price == 5 and merged.get("y", "r").price == 2


def test_access_denied_names_the_permission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(pricing) as stub:
        stub.add_client_error(
            "get_products", service_error_code="AccessDeniedException", http_status_code=400
        )
        assert cmd_update(args(tmp_path), client=pricing) == 2
    assert "pricing:GetProducts" in capsys.readouterr().err
    assert not (tmp_path / "prices.json").exists()


def test_no_credentials_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DIFY_ON_AWS_PRICE_CACHE", str(tmp_path / "prices.json"))
    assert main(["prices", "update", "--region", REGION]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_a_region_without_prices_and_a_malformed_region_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_update(args(tmp_path, region="Europe"), client=object()) == 2
    assert "not a region code" in capsys.readouterr().err
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(pricing) as stub:
        for _ in QUERIES:
            stub.add_response("get_products", {"PriceList": []})
        assert cmd_update(args(tmp_path, region="xx-nowhere-9"), client=pricing) == 2
    assert "no prices for region 'xx-nowhere-9'" in capsys.readouterr().err
