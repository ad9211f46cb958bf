"""The pricer: runs the pricing rules (`rules/`, one module per resource family) over a deployment.

Each resource is handled by its type: a rule turns it into lines (what is billed, how much, at which unit
price), a known free type becomes a free or deploy-time item, and every other type is listed as unpriced,
so nothing is silently zero. A price missing from prices.json for the region makes an *unknown* line.

Traffic model (the usage-driven lines): every request enters through the front door (CloudFront when the
deployment has a distribution, else the API Gateway APIs, internet-facing load balancers and Lambda
function URLs), passes every load balancer, and is served by one of the Lambda functions that serve
requests (those behind a function URL or an API Gateway integration), split evenly between them.
Authorizers and Lambda@Edge functions run on every request. Internet egress (`gb_out`) is billed at the
front door: CloudFront's rate with a distribution, else regional data transfer out.

Capacity model (the fixed lines): an ECS service runs its DesiredCount every hour, even when a scalable
target allows scaling (scaling policies react to load the estimate does not model). When the scalable
target has scheduled actions that start (MinCapacity > 0) and stop (MaxCapacity 0) the service, only the
scheduled share of the week is priced, at the start action's MinCapacity; see `schedule.py`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from dify_on_aws.cost.model import Estimate, FreeItem, Line, Price, PriceBook, Template, Usage
from dify_on_aws.cost.rules import CUSTOM_RESOURCE_REASON, FREE_TYPES, OMITTED_TYPES, RULES
from dify_on_aws.cost.traffic import Traffic
from dify_on_aws.templates import Resource, Templates


class Pricer:
    def __init__(
        self,
        templates: Mapping[str, Template],
        *,
        region: str,
        usage: Usage,
        hours: float,
        prices: PriceBook,
        fallback_region: str | None,
        stack_regions: Mapping[str, str],
    ) -> None:
        self.usage = usage
        self.hours = hours
        self.prices = prices
        self.fallback = fallback_region
        self.result = Estimate(region, hours, usage, prices.as_of, fallback_region)
        self.t = Templates(templates, regions={s: stack_regions.get(s, region) for s in templates})
        self.resources = list(self.t)
        self.traffic = Traffic(self.t, usage)

    # --- helpers ---

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def get(self, res: Resource, value: Any) -> Resource | None:
        """The resource a property value of `res` names directly (a lone Ref or Fn::GetAtt)."""
        return self.t.target(res.stack, value)

    def price(self, key: str, region: str) -> Price:
        return self.prices.get(key, region, fallback=self.fallback)

    def add(
        self,
        res: Resource,
        item: str,
        price: Price | str,
        quantity: float,
        unit: str,
        *,
        usage: bool,
        note: str = "",
        region: str | None = None,
        resource: str | None = None,
    ) -> None:
        if isinstance(price, str):
            price = self.price(price, region or res.region)
        notes = [n for n in (note, price.note if price.price is None else "") if n]
        self.result.lines.append(
            Line(
                stack=res.stack,
                resource=resource or res.id,
                resource_type=res.type,
                item=item,
                dimension=price.key,
                quantity=quantity,
                unit=unit,
                unit_price=price.price,
                usage_driven=usage,
                price_region=price.region if price.price is not None else None,
                note="; ".join(notes),
                source=price.source,
                date=price.date,
            )
        )

    def free(self, res: Resource, reason: str, *, deploy_time: bool = False) -> None:
        self.result.free.append(FreeItem(res.stack, res.id, res.type, reason, deploy_time))

    def add_egress(self, res: Resource) -> None:
        if res in self.traffic.egress and res.type != "AWS::CloudFront::Distribution":
            self.add(
                res,
                "data transfer out to the internet",
                "data_transfer.out_internet_first_10tb.gb",
                self.traffic.egress_share(res),
                "GB",
                usage=True,
                note="first-10-TB tier; the 100 GB/month free allowance is not subtracted",
            )

    # --- driver ---

    def run(self) -> Estimate:
        buckets: dict[str, list[Resource]] = defaultdict(list)
        log_groups: dict[str, list[Resource]] = defaultdict(list)
        for res in self.resources:
            if res.type in OMITTED_TYPES:
                continue
            if res.type == "AWS::S3::Bucket":
                buckets[res.stack].append(res)
            elif res.type == "AWS::Logs::LogGroup":
                log_groups[res.stack].append(res)
            elif res.type in RULES:
                RULES[res.type](self, res)
            elif res.type.startswith("Custom::") or res.type == "AWS::CloudFormation::CustomResource":
                self.free(res, CUSTOM_RESOURCE_REASON, deploy_time=True)
            elif res.type in FREE_TYPES:
                self.free(res, FREE_TYPES[res.type])
            else:
                self.result.unpriced.setdefault(res.type, []).append(f"{res.stack}/{res.id}")
        self._shared(
            buckets, "s3.standard.gb_month", "S3 Standard storage", total=self.usage.s3_gb, unit="GB-month"
        )
        self._shared(
            log_groups,
            "cloudwatch_logs.ingest.gb",
            "CloudWatch Logs ingestion",
            total=self.usage.log_ingest_gb,
            unit="GB",
            note="archived-log storage (GB-month after ingestion) is not included",
        )
        self.result.notes.extend(self._notes())
        return self.result

    def _shared(
        self,
        groups: Mapping[str, list[Resource]],
        key: str,
        item: str,
        *,
        total: float,
        unit: str,
        note: str = "",
    ) -> None:
        """One usage line per stack for resources that share a deployment-wide usage input."""
        count = sum(len(v) for v in groups.values())
        for members in groups.values():
            first = members[0]
            label = first.id if len(members) == 1 else f"{first.id} +{len(members) - 1} more"
            self.add(
                first,
                f"{item} ({len(members)} of {count})" if count > 1 else item,
                key,
                total * len(members) / count,
                unit,
                usage=True,
                note=note,
                resource=label,
            )

    def _notes(self) -> list[str]:
        u = self.usage
        notes = [
            f"{self.hours:g} hours per month; on-demand USD prices from prices.json (as of "
            f"{self.prices.as_of}). Taxes, support plans, savings plans and free tiers are not included.",
            f"Usage: {u.requests:,.0f} requests/month, {u.gb_out:g} GB out, traffic in {u.active_share:.0%} "
            "of the hours; usage-driven lines follow these inputs (see `dify-on-aws cost --help`).",
        ]
        if self.fallback:
            notes.append(
                f"Prices missing for {self.result.region} are taken from {self.fallback} (marked ~): "
                "a proxy, not a sourced price for the region."
            )
        if any(line.dimension.startswith("fargate_spot.") for line in self.result.lines):
            notes.append(
                "Fargate Spot is priced at on-demand x (1 - fargate_spot.discount_fraction); the real "
                "discount floats and tasks can be interrupted."
            )
        return notes
