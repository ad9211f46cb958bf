"""Monthly cost against requests per month, one line per deployment (e.g. per front door), as SVG text.

Only the traffic scales along the x axis: requests and GB out (GB per request is kept from the usage
inputs); every other usage input stays as given. Lines with unknown prices are left out of the curves
and counted in the legend. Where two curves cross, the crossover is marked and listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from xml.sax.saxutils import escape

from dify_on_aws.cost.estimate import estimate, money
from dify_on_aws.cost.model import DEFAULT_REGION, HOURS_PER_MONTH, PriceBook, Template, Usage

Deployments = Mapping[str, Sequence[Template] | Mapping[str, Template]]
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT = 1040, 580
LEFT, RIGHT, TOP, BOTTOM = 80, 700, 70, 500


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]  # (requests per month, monthly USD of the known lines)
    unknown: int  # unknown prices and unpriced resources at the largest request count (not in the curve)


@dataclass(frozen=True)
class Crossover:
    first: str
    second: str
    requests: float
    monthly: float


def request_grid(low: float = 1e4, high: float = 1e8, per_decade: int = 8) -> list[float]:
    """Log-spaced request counts from `low` to `high`."""
    if not 0 < low < high:
        raise ValueError("request range must satisfy 0 < low < high")
    steps = max(1, round(math.log10(high / low) * per_decade))
    return [low * (high / low) ** (i / steps) for i in range(steps + 1)]


def scaled_usage(usage: Usage, requests: float) -> Usage:
    """The usage at another request count, with the same GB out per request."""
    gb_out = usage.gb_out * requests / usage.requests if usage.requests else usage.gb_out
    return replace(usage, requests=requests, gb_out=gb_out)


def cost_curves(
    deployments: Deployments,
    *,
    usage: Usage | None = None,
    region: str = DEFAULT_REGION,
    hours: float = HOURS_PER_MONTH,
    prices: PriceBook | None = None,
    fallback_region: str | None = None,
    grid: Sequence[float] | None = None,
) -> list[Series]:
    base = usage or Usage()
    xs = list(grid or request_grid())
    series = []
    for label, templates in deployments.items():
        points = []
        unknown = 0
        for x in xs:
            result = estimate(
                templates,
                region=region,
                usage=scaled_usage(base, x),
                hours=hours,
                prices=prices,
                fallback_region=fallback_region,
            )
            points.append((x, result.total))
            unknown = result.missing
        series.append(Series(label, points, unknown))
    return series


def crossovers(series: Sequence[Series]) -> list[Crossover]:
    """Where two curves cross (interpolated linearly in log requests between grid points)."""
    found = []
    for i, a in enumerate(series):
        for b in series[i + 1 :]:
            for (pa, pb), (qa, qb) in pairwise(zip(a.points, b.points, strict=True)):
                d0, d1 = pa[1] - pb[1], qa[1] - qb[1]
                if d0 == 0 or d0 * d1 > 0:  # no sign change (a zero at the start was counted before)
                    continue
                t = d0 / (d0 - d1)
                lx = math.log10(pa[0]) + t * (math.log10(qa[0]) - math.log10(pa[0]))
                found.append(Crossover(a.label, b.label, 10**lx, pa[1] + t * (qa[1] - pa[1])))
    return sorted(found, key=lambda c: c.requests)


def _requests_label(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _usd_tick(value: float, scale: float) -> str:
    return f"${value:,.0f}" if scale >= 10 else f"${value:,.2f}"


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * exponent:
            return float(step * exponent)
    return float(10 * exponent)


def render_plot(
    deployments: Deployments,
    *,
    usage: Usage | None = None,
    region: str = DEFAULT_REGION,
    hours: float = HOURS_PER_MONTH,
    prices: PriceBook | None = None,
    fallback_region: str | None = None,
    grid: Sequence[float] | None = None,
    title: str | None = None,
) -> str:
    """An SVG document: monthly cost (USD) against requests per month (log scale) per deployment."""
    base = usage or Usage()
    series = cost_curves(
        deployments,
        usage=base,
        region=region,
        hours=hours,
        prices=prices,
        fallback_region=fallback_region,
        grid=grid,
    )
    crosses = crossovers(series)
    xs = [x for s in series for x, _ in s.points] or [1e4, 1e8]
    x_low, x_high = math.log10(min(xs)), math.log10(max(xs))
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_high = _nice_ceiling(max([y for s in series for _, y in s.points] + [1.0]) * 1.05)

    def px(x: float) -> float:
        return LEFT + (math.log10(x) - x_low) / (x_high - x_low) * (RIGHT - LEFT)

    def py(y: float) -> float:
        return BOTTOM - y / y_high * (BOTTOM - TOP)

    heading = title or f"Monthly cost vs requests per month ({region}, {hours:g} h/month)"
    per_request_kb = base.gb_out / base.requests * 1e6 if base.requests else 0.0
    subtitle = (
        f"GB out scales with requests ({per_request_kb:.3g} kB per request); Lambda "
        f"{base.duration_ms:g} ms per request; traffic in {base.active_share:.0%} of hours; "
        "other usage inputs fixed"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(heading)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="28" font-size="16" font-weight="bold">{escape(heading)}</text>',
        f'<text x="{LEFT}" y="48" fill="#555">{escape(subtitle)}</text>',
    ]
    for i in range(6):
        y = y_high * i / 5
        out.append(
            f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{RIGHT}" y2="{py(y):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{_usd_tick(y, y_high)}</text>'
        )
    for decade in range(math.ceil(x_low - 1e-9), math.floor(x_high + 1e-9) + 1):
        x = px(10**decade)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{BOTTOM + 18}" text-anchor="middle">{_requests_label(10**decade)}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}" '
        'fill="none" stroke="#333"/>'
        f'<text x="{(LEFT + RIGHT) / 2}" y="{BOTTOM + 40}" text-anchor="middle">'
        "requests per month (log scale)</text>"
        f'<text x="20" y="{(TOP + BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 20 {(TOP + BOTTOM) / 2})">USD per month</text>'
    )
    if 10**x_low <= base.requests <= 10**x_high and base.requests > 0:
        x = px(base.requests)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" stroke="#888" stroke-dasharray="4 4"/>'
            f'<text x="{x + 4:.1f}" y="{TOP + 14}" fill="#555">'
            f"usage inputs ({_requests_label(base.requests)})</text>"
        )
    for n, s in enumerate(series):
        color = COLORS[n % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
        legend_y = TOP + 10 + n * 34
        extra = f"at least: {s.unknown} cost(s) unknown, not plotted" if s.unknown else "all lines priced"
        out.append(
            f'<line x1="{RIGHT + 20}" y1="{legend_y}" x2="{RIGHT + 44}" y2="{legend_y}" stroke="{color}" '
            f'stroke-width="3"/><text x="{RIGHT + 50}" y="{legend_y + 4}">{escape(s.label)}</text>'
            f'<text x="{RIGHT + 50}" y="{legend_y + 18}" fill="#777" font-size="10">{escape(extra)}</text>'
        )
    notes_y = TOP + 20 + len(series) * 34
    out.append(f'<text x="{RIGHT + 20}" y="{notes_y}" font-weight="bold">Crossovers</text>')
    if not crosses:
        out.append(f'<text x="{RIGHT + 20}" y="{notes_y + 16}" fill="#555">none in this range</text>')
    for n, c in enumerate(crosses):
        x, y = px(c.requests), py(c.monthly)
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="none" stroke="black" stroke-width="1.5"/>')
        text = f"{c.first} = {c.second}: {_requests_label(c.requests)} req, {money(c.monthly)}"
        out.append(
            f'<text x="{RIGHT + 20}" y="{notes_y + 16 * (n + 1)}" font-size="11">{escape(text)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
