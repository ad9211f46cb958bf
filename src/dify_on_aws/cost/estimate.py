"""Monthly cost of a deployment, priced line by line from its CloudFormation templates.

`estimate` prices one deployment (one or more stacks) with the rules in `rules.py` and the unit prices in
prices.json (a source and a date per entry); `render_text` and `render_json` present the result and
`summary_line` gives the one-line total for the synth summary.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from dify_on_aws.cost.model import (
    DEFAULT_REGION,
    HOURS_PER_MONTH,
    Estimate,
    Line,
    PriceBook,
    Template,
    Usage,
    default_prices,
)
from dify_on_aws.cost.pricer import Pricer


def as_stacks(templates: Mapping[str, Template] | Sequence[Template]) -> dict[str, Template]:
    """Templates keyed by stack name; a single template or a plain list gets names stack1, stack2, ..."""
    if isinstance(templates, Mapping) and isinstance(templates.get("Resources"), Mapping):
        return {"stack1": templates}
    if isinstance(templates, Mapping):
        return {str(k): v for k, v in templates.items()}
    return {f"stack{i}": t for i, t in enumerate(templates, 1)}


def estimate(
    templates: Mapping[str, Template] | Sequence[Template],
    *,
    region: str = DEFAULT_REGION,
    usage: Usage | None = None,
    hours: float = HOURS_PER_MONTH,
    prices: PriceBook | None = None,
    fallback_region: str | None = None,
    stack_regions: Mapping[str, str] | None = None,
) -> Estimate:
    """Price one deployment: all its templates together (a deployment may be several stacks).

    `stack_regions` overrides the region for single stacks (e.g. a us-east-1 stack for edge resources).
    `fallback_region` fills prices missing for the region from another region, marked as proxies.
    """
    if hours <= 0:
        raise ValueError(f"hours per month must be positive, got {hours!r}")
    return Pricer(
        as_stacks(templates),
        region=region,
        usage=usage or Usage(),
        hours=hours,
        prices=prices or default_prices(),
        fallback_region=fallback_region,
        stack_regions=stack_regions or {},
    ).run()


def money(value: float) -> str:
    return f"${value:,.2f}"


def totals_text(result: Estimate) -> str:
    """The total with its split; a partial total reads "at least $X ...; N prices unknown in REGION"."""
    text = (
        f"{result.total_label()}/month "
        f"({money(result.fixed_total)} fixed + {money(result.usage_total)} usage-driven)"
    )
    if result.partial:
        text += f"; {result.missing_text()}"
    return text


def summary_line(
    templates: Mapping[str, Template], region: str, *, stack_regions: Mapping[str, str] | None = None
) -> str:
    """One line for the synth summary: the monthly total with the default (small-team) usage."""
    result = estimate(templates, region=region, stack_regions=stack_regions)
    return (
        f"  cost estimate ({region}, {result.hours:g} h, small-team usage): {totals_text(result)}; "
        "details: dify-on-aws cost"
    )


def _quantity(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _unit_price(line: Line, proxy: bool) -> str:
    if line.unit_price is None:
        return "unknown"
    return ("~" if proxy else "") + f"${line.unit_price:.6g}"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(result: Estimate) -> str:
    """A table per group (fixed, usage-driven), the totals, then what is unknown, free or unpriced."""
    stacks = {line.stack for line in result.lines}
    show_stack = len(stacks) > 1
    proxied = set(map(id, result.proxied))
    out = [
        f"Monthly cost estimate for {result.region} "
        f"({result.hours:g} h/month, prices as of {result.prices_as_of})"
    ]
    for title, usage_driven in (("Fixed (billed every hour)", False), ("Usage-driven", True)):
        group = [line for line in result.lines if line.usage_driven == usage_driven]
        if not group:
            continue
        rows = [
            (
                _shorten((f"{line.stack}/" if show_stack else "") + line.resource, 44),
                _shorten(line.item, 44),
                f"{_quantity(line.quantity)} {line.unit}".strip(),
                _unit_price(line, id(line) in proxied),
                "unknown" if line.monthly is None else money(line.monthly),
            )
            for line in group
        ]
        header = ("Resource", "Priced item", "Quantity", "Unit price", "Monthly")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        out.append("")
        out.append(title)
        fmt = "  {:<{w0}}  {:<{w1}}  {:>{w2}}  {:>{w3}}  {:>{w4}}"
        w = {f"w{i}": widths[i] for i in range(5)}
        out.append(fmt.format(*header, **w))
        out.extend(fmt.format(*row, **w) for row in rows)
        subtotal = sum(line.monthly or 0.0 for line in group)
        out.append(fmt.format("", "", "", "subtotal", money(subtotal), **w))
    out.append("")
    out.append(f"Total: {totals_text(result)}")
    if result.schedule_savings:
        count = len(result.schedule_savings)
        out.append(
            f"  working-hours schedule saves {money(result.schedule_saving)}/month against running always "
            f"({count} scheduled service{'s' if count != 1 else ''})"
        )
    if show_stack:
        out.append(
            "  by stack: " + ", ".join(f"{s} {money(v)}" for s, v in sorted(result.stack_totals().items()))
        )
    if result.unknown:
        out.append("")
        out.append("Unknown prices (not in the total; add them to prices.json with a source):")
        for line in result.unknown:
            reason = f": {line.note}" if line.note else ""
            out.append(
                f"  {line.resource}: {line.dimension} x {_quantity(line.quantity)} {line.unit}{reason}"
            )
    if result.proxied:
        out.append(f"  {len(result.proxied)} line(s) use {result.fallback_region} prices as a proxy (~).")
    for title, deploy_time in (("Free (no monthly charge)", False), ("Deploy-time only (~0)", True)):
        kinds = Counter(item.resource_type for item in result.free if item.deploy_time == deploy_time)
        if kinds:
            listed = ", ".join(f"{k.removeprefix('AWS::')} x{n}" for k, n in sorted(kinds.items()))
            out.append("")
            out.append(f"{title}: {listed}")
    out.append("")
    if result.unpriced:
        out.append("Unpriced resource types (unknown to the estimator; their cost is NOT included):")
        for kind, ids in sorted(result.unpriced.items()):
            out.append(f"  {kind} x{len(ids)}: {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}")
    else:
        out.append("Unpriced resource types: none")
    out.append("")
    out.append("Notes:")
    out.extend(f"  - {note}" for note in result.notes)
    return "\n".join(out) + "\n"


def to_dict(result: Estimate) -> dict[str, Any]:
    free: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
    for item in result.free:
        free[(item.resource_type, item.reason, item.deploy_time)].append(f"{item.stack}/{item.resource}")
    return {
        "region": result.region,
        "hours_per_month": result.hours,
        "currency": "USD",
        "prices_as_of": result.prices_as_of,
        "fallback_region": result.fallback_region,
        "usage": asdict(result.usage),
        "totals": {
            "fixed": round(result.fixed_total, 4),
            "usage_driven": round(result.usage_total, 4),
            "total": round(result.total, 4),
            # A partial total is a lower bound: some prices or resource types are not in it.
            "partial": result.partial,
            "total_label": f"{result.total_label()}/month",
            "unknown_lines": len(result.unknown),
            "proxied_lines": len(result.proxied),
            "unpriced_resources": sum(len(v) for v in result.unpriced.values()),
            "by_stack": {k: round(v, 4) for k, v in result.stack_totals().items()},
            "schedule_saving": round(result.schedule_saving, 4),
        },
        "schedule_savings": {k: round(v, 4) for k, v in result.schedule_savings.items()},
        "lines": [
            {
                **asdict(line),
                "monthly": None if line.monthly is None else round(line.monthly, 6),
            }
            for line in result.lines
        ],
        "free": [
            {"type": kind, "reason": reason, "deploy_time": deploy, "resources": ids}
            for (kind, reason, deploy), ids in free.items()
        ],
        "unpriced_types": result.unpriced,
        "notes": result.notes,
    }


def render_json(result: Estimate) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
