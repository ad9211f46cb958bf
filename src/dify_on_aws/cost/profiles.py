"""The cost profiles table in README.md: each example profile priced at idle and at small-team usage.

`python -m dify_on_aws.cost.profiles` synthesizes every profile in examples/ (offline, without cdk-nag),
prices it in us-east-1 and rewrites the README text between the cost-profiles markers; `--check` only
reports drift (exit status 1). tests/test_cost_profiles.py fails when the README is out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dify_on_aws.cost.estimate import estimate
from dify_on_aws.cost.model import Estimate, Template, Usage, shipped_prices

PROFILES = ("lean", "budget", "default", "production")
# Other projects' default deployments, modelled as templates from their source (each file's Description says
# from which files and commits), priced by the same estimator for the comparison under the table.
REFERENCE_DIR = Path(__file__).with_name("reference")
REFERENCES = {
    "aws-samples default": (
        REFERENCE_DIR / "aws_samples_default.json",
        "https://github.com/aws-samples/dify-self-hosted-on-aws",
    ),
}
REGION = "us-east-1"
START_MARKER = "<!-- cost-profiles:start -->"
END_MARKER = "<!-- cost-profiles:end -->"
REGENERATE = "python -m dify_on_aws.cost.profiles"
# Idle: nobody uses Dify (no requests, no data out; the database pauses only while no service runs);
# stored data, logs and NAT traffic keep their defaults, since they do not stop with the users.
IDLE = Usage(requests=0, gb_out=0, active_share=0)
SMALL_TEAM = Usage()
BIGGEST = 3
# Price-key prefix -> what the table calls it.
CATEGORIES = {
    "fargate": "Fargate",
    "fargate_spot": "Fargate Spot",
    "nat_gateway": "NAT gateway",
    "vpc": "public IPv4",
    "alb": "ALB",
    "nlb": "NLB",
    "aurora_pg_sv2": "Aurora",
    "aurora": "Aurora",
    "rds_pg": "RDS",
    "elasticache": "ElastiCache",
    "elasticache_serverless": "ElastiCache Serverless",
    "secrets_manager": "Secrets Manager",
    "kms": "KMS",
    "route53": "Route 53",
    "waf": "WAF",
    "vpc_endpoint": "VPC endpoints",
    "cloudwatch": "Container Insights",
    "ec2": "EC2",
    "lambda": "Lambda",
}


@dataclass(frozen=True)
class ProfileRow:
    name: str
    front_door: str
    idle: Estimate
    small_team: Estimate

    def biggest_fixed(self, count: int = BIGGEST) -> list[tuple[str, float]]:
        """The largest fixed costs at idle, lines of one kind (all Fargate tasks, ...) added together."""
        return _biggest(self.idle, count)


def _biggest(result: Estimate, count: int = BIGGEST) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for line in result.lines:
        if not line.usage_driven and line.monthly:
            prefix = line.dimension.split(".", 1)[0]
            totals[CATEGORIES.get(prefix, prefix)] += line.monthly
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:count]


def detect_front_door(templates: Mapping[str, Template]) -> str:
    """The front door a deployment has, from its resources (when the configuration is not at hand)."""
    types: set[str] = set()
    internal = False
    for template in templates.values():
        for body in (template.get("Resources") or {}).values():
            kind = str(body.get("Type", ""))
            types.add(kind)
            if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
                internal |= (body.get("Properties") or {}).get("Scheme") == "internal"
    if "AWS::Lambda::Url" in types:
        return "lambda"
    if "AWS::CloudFront::Distribution" in types:
        return "cloudfront"
    if "AWS::ApiGatewayV2::Api" in types:
        return "api_gateway"
    if "AWS::ElasticLoadBalancingV2::LoadBalancer" in types:
        return "alb (internal)" if internal else "alb"
    return "none"


def profile_rows(
    results: Mapping[str, Mapping[str, Template]], *, front_doors: Mapping[str, str] | None = None
) -> list[ProfileRow]:
    """Rows in PROFILES order (other names after them, sorted); every stack priced in us-east-1."""
    names = [n for n in PROFILES if n in results] + sorted(set(results) - set(PROFILES))
    rows = []
    for name in names:
        templates = results[name]
        door = (front_doors or {}).get(name) or detect_front_door(templates)
        rows.append(
            ProfileRow(
                name=name,
                front_door=door,
                idle=estimate(templates, region=REGION, usage=IDLE, prices=shipped_prices()),
                small_team=estimate(templates, region=REGION, usage=SMALL_TEAM, prices=shipped_prices()),
            )
        )
    return rows


def _usd(result: Estimate | float) -> str:
    """Whole dollars; a partial estimate reads "at least $X (N unknown)"."""
    if not isinstance(result, Estimate):
        return f"${result:,.0f}"
    label = result.total_label(decimals=0)
    return f"{label} ({result.missing} unknown)" if result.partial else label


def reference_rows() -> list[tuple[str, str, Estimate, Estimate]]:
    """(name, link, idle, small team) for each modelled reference deployment."""
    rows = []
    for name, (path, link) in REFERENCES.items():
        template = json.loads(path.read_text(encoding="utf-8"))
        rows.append(
            (
                name,
                link,
                estimate({name: template}, region=REGION, usage=IDLE, prices=shipped_prices()),
                estimate({name: template}, region=REGION, usage=SMALL_TEAM, prices=shipped_prices()),
            )
        )
    return rows


def comparison(rows: Sequence[ProfileRow], references: Sequence[tuple[str, str, Estimate, Estimate]]) -> str:
    """One computed sentence: our default at idle against each reference's default."""
    ours = next((row for row in rows if row.name == "default"), None)
    if ours is None or not references:
        return ""
    parts = []
    for name, _, idle, _ in references:
        difference = idle.total - ours.idle.total
        word = "less" if difference > 0 else "more"
        bound = " (at least; its total is a lower bound)" if idle.partial else ""
        parts.append(f"{_usd(abs(difference))} {word} than {name}{bound}")
    return f"At idle the `default` profile costs {_usd(ours.idle)} a month: " + "; ".join(parts) + "."


def render_profiles(
    results: Mapping[str, Mapping[str, Template]], *, front_doors: Mapping[str, str] | None = None
) -> str:
    """The Markdown table (and its legend) for profile name -> {stack name: template}, then the modelled
    reference deployments and the computed comparison with the default."""
    out = [
        "| profile | front door | idle, USD/month | small team, USD/month | biggest fixed costs |",
        "|---|---|---:|---:|---|",
    ]
    flagged = False
    rows = profile_rows(results, front_doors=front_doors)
    for row in rows:
        biggest = ", ".join(f"{what} {_usd(value)}" for what, value in row.biggest_fixed())
        if row.idle.schedule_saving:
            biggest += f"; schedule saves {_usd(row.idle.schedule_saving)}"
        flagged |= row.idle.partial or row.small_team.partial
        link = f"[`{row.name}`](examples/{row.name}.toml)"
        out.append(f"| {link} | `{row.front_door}` | {_usd(row.idle)} | {_usd(row.small_team)} | {biggest} |")
    references = reference_rows()
    for name, link, idle, small_team in references:
        flagged |= idle.partial or small_team.partial
        model = f"src/dify_on_aws/cost/reference/{REFERENCES[name][0].name}"
        out.append(
            f"| [{name}]({link}) (modelled: [template]({model})) | `cloudfront` | {_usd(idle)} "
            f"| {_usd(small_team)} | {', '.join(f'{w} {_usd(v)}' for w, v in _biggest(idle))} |"
        )
    u = SMALL_TEAM
    out += [
        "",
        "Idle: no requests, no data out; an auto-pausing database (`min_acu = 0`) is awake while any Dify "
        "service runs (they hold connections; Aurora pauses only without any), so it pauses only outside a "
        "working-hours `[schedule]` "
        "(`--requests 0 --gb-out 0 --active-share 0`); stored data, logs and NAT traffic at their defaults. "
        "Small team: the default usage "
        f"({u.requests:,.0f} requests and {u.gb_out:g} GB out a month, traffic in {u.active_share:.0%} of "
        "the hours). Services with a working-hours `[schedule]` are priced for their scheduled hours; "
        "without one, every service runs its desired count all month. Regenerate with "
        f"`{REGENERATE}` (`make docs`).",
    ]
    if flagged:
        out[-1] += (
            ' "at least": some prices are not sourced yet (or a resource type is not priced) and are '
            "not in the total, which is then a lower bound (`dify-on-aws cost` lists them)."
        )
    sentence = comparison(rows, references)
    if sentence:
        out += ["", sentence]
    return "\n".join(out) + "\n"


def _markers(readme: str) -> tuple[int, int]:
    start, end = readme.find(START_MARKER), readme.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START_MARKER} ... {END_MARKER} section")
    return start + len(START_MARKER), end


def current_section(readme: str) -> str:
    """The text between the markers, without the newline after the start marker."""
    start, end = _markers(readme)
    return readme[start:end].removeprefix("\n")


def replace_section(readme: str, section: str) -> str:
    start, end = _markers(readme)
    return readme[:start] + "\n" + section + readme[end:]


def existing_profiles(examples: Path) -> list[str]:
    """Profiles whose examples/<name>.toml exists (new profiles are added to the table when created)."""
    return [name for name in PROFILES if (examples / f"{name}.toml").is_file()]


def synthesize_profiles(
    examples: Path, outdir: Path
) -> tuple[dict[str, dict[str, Template]], dict[str, str]]:
    """Profile name -> templates, and profile name -> front door type, synthesized offline."""
    from dify_on_aws.app import synthesize  # noqa: PLC0415 - jsii start-up only when synthesizing
    from dify_on_aws.config import load_config  # noqa: PLC0415

    results: dict[str, dict[str, Template]] = {}
    doors: dict[str, str] = {}
    for name in existing_profiles(examples):
        config = load_config(examples / f"{name}.toml")
        results[name] = dict(synthesize(config, outdir / name, nag=False).templates)
        doors[name] = config.front_door.type
    return results, doors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__)
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--examples", type=Path, default=Path("examples"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="dify-profiles-") as scratch:
        results, doors = synthesize_profiles(args.examples, Path(scratch))
    updated = replace_section(readme, render_profiles(results, front_doors=doors))
    if updated == readme:
        print(f"{args.readme}: cost profiles up to date ({', '.join(results)})")
        return 0
    if args.check:
        print(f"{args.readme}: cost profiles out of date; run `{REGENERATE}`", file=sys.stderr)
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    print(f"{args.readme}: cost profiles rewritten ({', '.join(results)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
