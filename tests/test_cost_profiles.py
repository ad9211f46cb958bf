"""The README's cost profiles table: generated from the synthesized examples, failing when it drifts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import load_config
from dify_on_aws.cost.model import Template
from dify_on_aws.cost.profiles import (
    END_MARKER,
    PROFILES,
    REFERENCES,
    START_MARKER,
    comparison,
    current_section,
    detect_front_door,
    existing_profiles,
    profile_rows,
    reference_rows,
    render_profiles,
    replace_section,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"


def profile_inputs(
    example_results: dict[str, SynthResult],
) -> tuple[dict[str, Mapping[str, Template]], dict[str, str]]:
    names = existing_profiles(EXAMPLES)
    results: dict[str, Mapping[str, Template]] = {n: example_results[f"{n}.toml"].templates for n in names}
    doors = {n: str(load_config(EXAMPLES / f"{n}.toml").front_door.type) for n in names}
    return results, doors


def table_names(section: str) -> list[str]:
    return re.findall(r"^\| \[`([^`]+)`\]", section, flags=re.MULTILINE)


def test_readme_cost_profiles_match_the_examples(example_results: dict[str, SynthResult]) -> None:
    results, doors = profile_inputs(example_results)
    expected = render_profiles(results, front_doors=doors)
    assert current_section(README.read_text(encoding="utf-8")) == expected, (
        "README.md cost profiles are out of date: run `python -m dify_on_aws.cost.profiles` (or `make docs`)"
    )


def test_the_table_lists_exactly_the_profiles_that_exist() -> None:
    section = current_section(README.read_text(encoding="utf-8"))
    names = table_names(section)
    assert names == [n for n in PROFILES if (EXAMPLES / f"{n}.toml").is_file()]
    assert "default" in names


def test_default_profile_row_has_idle_below_small_team(example_results: dict[str, SynthResult]) -> None:
    results, doors = profile_inputs(example_results)
    text = render_profiles({"default": results["default"]}, front_doors=doors)
    (row,) = [line for line in text.splitlines() if line.startswith("| [`default`]")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "`cloudfront`"
    idle, team = (float(c.removeprefix("$").replace(",", "")) for c in cells[2:4])
    assert 0 < idle < team
    assert "Fargate" in cells[4]


# --- rendering on hand-made templates -------------------------------------------------------------------


def tiny(kind: str, props: dict[str, Any]) -> dict[str, Template]:
    return {"Main": {"Resources": {"R": {"Type": kind, "Properties": props}}}}


def test_render_orders_profiles_and_groups_fixed_lines() -> None:
    nat = tiny("AWS::EC2::NatGateway", {})
    alb = tiny("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal", "Subnets": ["a", "b"]})
    text = render_profiles({"zeta": nat, "production": alb, "default": nat})
    assert table_names(text) == ["default", "production", "zeta"]
    assert "| [`production`](examples/production.toml) | `alb (internal)` | $16 |" in text
    assert "NAT gateway $33" in text
    assert "python -m dify_on_aws.cost.profiles" in text


def test_detect_front_door() -> None:
    assert detect_front_door(tiny("AWS::CloudFront::Distribution", {})) == "cloudfront"
    assert detect_front_door(tiny("AWS::ApiGatewayV2::Api", {})) == "api_gateway"
    assert detect_front_door(tiny("AWS::ElasticLoadBalancingV2::LoadBalancer", {})) == "alb"


def test_replace_section_keeps_the_rest_of_the_readme() -> None:
    readme = f"# T\n\nbefore\n{START_MARKER}\nold\n{END_MARKER}\nafter\n"
    updated = replace_section(readme, "| new |\n")
    assert updated == f"# T\n\nbefore\n{START_MARKER}\n| new |\n{END_MARKER}\nafter\n"
    assert current_section(updated) == "| new |\n"
    assert replace_section(updated, "| new |\n") == updated
    with pytest.raises(ValueError, match="cost-profiles"):
        replace_section("# no markers\n", "x")


# --- the cheaper default (issue #14) ------------------------------------------------------------------


def test_the_default_costs_less_at_idle_than_the_aws_samples_default(
    example_results: dict[str, SynthResult],
) -> None:
    """Issue #14: the default config costs less at idle than aws-samples' default, both priced by the same
    estimator (theirs modelled from its source; its Container Insights price is unknown, so its total is a
    lower bound and ours must be below even that), and the README sentence is computed from them."""
    results, doors = profile_inputs(example_results)
    (ours,) = [row for row in profile_rows(results, front_doors=doors) if row.name == "default"]
    ((name, _, theirs, _),) = reference_rows()
    assert not ours.idle.partial
    assert ours.idle.total < theirs.total, (ours.idle.total, theirs.total)
    assert theirs.total == pytest.approx(204, abs=3)  # the figure for the aws-samples default
    sentence = comparison(profile_rows(results, front_doors=doors), reference_rows())
    assert f"${theirs.total - ours.idle.total:,.0f} less than {name}" in sentence
    assert sentence in current_section(README.read_text(encoding="utf-8"))


def test_the_reference_model_says_where_it_comes_from() -> None:
    for path, link in REFERENCES.values():
        template = json.loads(path.read_text(encoding="utf-8"))
        assert "@" in template["Description"] and link.startswith("https://github.com/")
