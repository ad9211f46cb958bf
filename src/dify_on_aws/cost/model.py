"""The estimate's data: usage inputs, the price book (prices.json), priced lines and the result."""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

HOURS_PER_MONTH = 730.0
DEFAULT_REGION = "us-east-1"
PRICES_FILE = Path(__file__).with_name("prices.json")
GLOBAL = "global"

Template = Mapping[str, Any]


@dataclass(frozen=True)
class Usage:
    """What a month of use looks like. The defaults describe a small team (about ten people)."""

    requests: float = field(
        default=300_000, metadata={"help": "HTTP requests per month through the front door"}
    )
    gb_out: float = field(default=10.0, metadata={"help": "GB per month sent to the internet"})
    duration_ms: float = field(
        default=500.0, metadata={"help": "average duration of a request in a Lambda function that serves it"}
    )
    active_share: float = field(
        default=0.25,
        metadata={
            "help": "share of the month's hours with traffic (8 h x 22 working days is about 0.24); "
            "an auto-pausing database runs only then"
        },
    )
    helper_duration_ms: float = field(
        default=20.0, metadata={"help": "average duration of a Lambda authorizer or Lambda@Edge invocation"}
    )
    db_storage_gb: float = field(default=10.0, metadata={"help": "database storage, GB-month per cluster"})
    db_io_millions: float = field(
        default=5.0, metadata={"help": "Aurora Standard I/O requests, millions per month per cluster"}
    )
    s3_gb: float = field(
        default=10.0, metadata={"help": "S3 Standard storage, GB-month, all buckets together"}
    )
    log_ingest_gb: float = field(
        default=5.0, metadata={"help": "CloudWatch Logs ingestion, GB per month, all log groups together"}
    )
    flow_log_gb: float = field(
        default=5.0, metadata={"help": "VPC flow log ingestion, GB per month per flow log"}
    )
    nat_gb: float = field(
        default=30.0, metadata={"help": "GB per month through NAT gateways (image pulls, model API calls)"}
    )
    cache_gb: float = field(
        default=0.5, metadata={"help": "data stored in an ElastiCache Serverless cache, GB"}
    )
    cache_ecpu_per_request: float = field(
        default=20.0, metadata={"help": "ElastiCache Serverless ECPUs per front-door request"}
    )
    package_gb: float = field(
        default=2.0, metadata={"help": "Python packages cached in the CodeArtifact package index, GB-month"}
    )
    package_requests: float = field(
        default=20_000,
        metadata={"help": "package index requests per month (plugin installs, sandbox starts)"},
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"usage {f.name} must be a number, got {value!r}")
            if value < 0:
                raise ValueError(f"usage {f.name} must not be negative, got {value!r}")
        if self.active_share > 1:
            raise ValueError(f"usage active_share must be between 0 and 1, got {self.active_share!r}")

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> description (for the CLI)."""
        return {f.name: str(f.metadata.get("help", "")) for f in fields(cls)}


@dataclass(frozen=True)
class Price:
    key: str
    price: float | None
    unit: str
    source: str
    date: str
    region: str
    note: str = ""


class PriceBook:
    """prices.json: per region (plus `global` for edge services and model constants) key -> price entry."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.as_of = str(data.get("as_of", "unknown"))
        regions = data.get("regions")
        if not isinstance(regions, Mapping):
            raise ValueError("price data needs a 'regions' mapping")
        self._regions: dict[str, dict[str, Mapping[str, Any]]] = {
            str(name): {str(k): v for k, v in entries.items()} for name, entries in regions.items()
        }

    @classmethod
    def load(cls, path: Path = PRICES_FILE) -> PriceBook:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @property
    def regions(self) -> list[str]:
        return [name for name in self._regions if name != GLOBAL]

    def entries(self) -> dict[str, dict[str, Mapping[str, Any]]]:
        return self._regions

    def get(self, key: str, region: str, *, fallback: str | None = None) -> Price:
        """The region's price, else the global one, else the fallback region's; else an unknown Price."""
        for where in (region, GLOBAL, fallback):
            if where is None:
                continue
            entry = self._regions.get(where, {}).get(key)
            if entry is not None and entry.get("price") is not None:
                return self._price(key, where, entry)
        entry = self._regions.get(region, {}).get(key)
        if entry is not None:
            return self._price(key, region, entry)
        return Price(key, None, "", "not in prices.json", "n/a", region)

    @staticmethod
    def _price(key: str, region: str, entry: Mapping[str, Any]) -> Price:
        raw = entry.get("price")
        return Price(
            key=key,
            price=None if raw is None else float(raw),
            unit=str(entry.get("unit", "")),
            source=str(entry.get("source", "")),
            date=str(entry.get("date", "")),
            region=region,
            note=str(entry.get("note", "")),
        )

    def overlay(self, data: Mapping[str, Any]) -> PriceBook:
        """This book with another's entries (e.g. the user cache of `dify-on-aws prices update`) on top."""
        regions = {name: dict(entries) for name, entries in self._regions.items()}
        for name, entries in (data.get("regions") or {}).items():
            regions[str(name)] = {**regions.get(str(name), {}), **{str(k): v for k, v in entries.items()}}
        as_of = self.as_of if "as_of" not in data else f"{self.as_of}; cache {data['as_of']}"
        return PriceBook({"as_of": as_of, "regions": regions})


def shipped_prices() -> PriceBook:
    """prices.json as shipped (the README's generated tables use only these, so they do not depend on a
    developer's cache)."""
    return PriceBook.load()


@lru_cache(maxsize=1)
def default_prices() -> PriceBook:
    """prices.json with the user cache of `dify-on-aws prices update` on top, when there is one."""
    from dify_on_aws.cost.price_update import cache_path  # noqa: PLC0415

    book = shipped_prices()
    cache = cache_path()
    if cache.is_file():
        try:
            return book.overlay(json.loads(cache.read_text(encoding="utf-8")))
        except (ValueError, AttributeError):
            print(f"warning: ignoring the unreadable price cache {cache}", file=sys.stderr)
    return book


@dataclass(frozen=True)
class Line:
    """One billed dimension of one resource: quantity x unit price = monthly USD (None: price unknown)."""

    stack: str
    resource: str
    resource_type: str
    item: str
    dimension: str
    quantity: float
    unit: str
    unit_price: float | None
    usage_driven: bool
    price_region: str | None = None
    note: str = ""
    source: str = ""
    date: str = ""

    @property
    def monthly(self) -> float | None:
        """Quantity x unit price; None when the price is unknown (zero quantity costs nothing anyway)."""
        if self.quantity == 0:
            return 0.0
        return None if self.unit_price is None else self.quantity * self.unit_price


@dataclass(frozen=True)
class FreeItem:
    stack: str
    resource: str
    resource_type: str
    reason: str
    deploy_time: bool = False


@dataclass
class Estimate:
    region: str
    hours: float
    usage: Usage
    prices_as_of: str
    fallback_region: str | None = None
    lines: list[Line] = field(default_factory=list)
    free: list[FreeItem] = field(default_factory=list)
    unpriced: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # "stack/service" -> monthly USD a working-hours schedule saves against running every hour.
    schedule_savings: dict[str, float] = field(default_factory=dict)

    def _sum(self, usage_driven: bool | None) -> float:
        return sum(
            line.monthly
            for line in self.lines
            if line.monthly is not None and (usage_driven is None or line.usage_driven == usage_driven)
        )

    @property
    def fixed_total(self) -> float:
        return self._sum(False)

    @property
    def usage_total(self) -> float:
        return self._sum(True)

    @property
    def total(self) -> float:
        return self._sum(None)

    @property
    def schedule_saving(self) -> float:
        return sum(self.schedule_savings.values())

    @property
    def unknown(self) -> list[Line]:
        return [line for line in self.lines if line.monthly is None]

    @property
    def proxied(self) -> list[Line]:
        """Lines priced from the fallback region because the region itself has no price."""
        return [
            line
            for line in self.lines
            if self.fallback_region and line.price_region == self.fallback_region != self.region
        ]

    @property
    def missing(self) -> int:
        """Lines with an unknown price plus resources of types the estimator cannot price."""
        return len(self.unknown) + sum(len(ids) for ids in self.unpriced.values())

    @property
    def partial(self) -> bool:
        """True when the total is only a lower bound (some cost is not in it)."""
        return self.missing > 0

    def total_label(self, amount: float | None = None, *, decimals: int = 2) -> str:
        """`$X` for a complete estimate, else `at least $X` (the total never looks complete when it isn't)."""
        value = f"${self.total if amount is None else amount:,.{decimals}f}"
        return f"at least {value}" if self.partial else value

    def missing_text(self) -> str:
        """Why a partial total is partial, e.g. "2 prices unknown in us-east-1, 1 resource unpriced"."""
        parts = []
        if self.unknown:
            count = len(self.unknown)
            parts.append(f"{count} price{'s' if count != 1 else ''} unknown in {self.region}")
        unpriced = self.missing - len(self.unknown)
        if unpriced:
            parts.append(f"{unpriced} resource{'s' if unpriced != 1 else ''} of unpriced types")
        return ", ".join(parts)

    def stack_totals(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for line in self.lines:
            totals[line.stack] += line.monthly or 0.0
        return dict(totals)
