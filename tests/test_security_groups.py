"""Least privilege between the parts: every security-group rule of the synthesized templates (who may open
a connection to whom, on which port, and where each group may connect out) equals the tables in
docs/security-groups.md, both ways: a rule added without its row, or a row without its rule, fails.

The rules are resolved with the same queries as tests/test_reachability.py (which checks the data stores,
sandbox, plugin daemon and SSRF proxy for every example); the doc shows every rule of two examples."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig, load_config

from .conftest import ROOT
from .template_queries import security_group_pairs

DOC = ROOT / "docs" / "security-groups.md"
DOCUMENTED = ("default.toml", "closed-network.toml")
_ROW = re.compile(
    r"^\| (?P<group>[^|]+?) \| (?P<direction>in|out) \| (?P<peer>[^|]+?) \| (?P<port>[^|]+?) \|$"
)
Pair = tuple[str, str, str, str]


def derived(synth: Callable[[DifyConfig], SynthResult], example: str) -> set[Pair]:
    (body,) = synth(load_config(ROOT / "examples" / example)).templates.values()
    return security_group_pairs(body["Resources"])


def documented(example: str) -> set[Pair]:
    """The rows of the table under the heading that names `example`."""
    section = DOC.read_text(encoding="utf-8").split(f"## `examples/{example}`", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match and match["group"] != "group":
            rows.add((match["group"], match["direction"], match["peer"].strip("`"), match["port"]))
    return rows


def render(pairs: set[Pair]) -> str:
    """The table as the doc writes it (to paste when the rules change on purpose)."""
    lines = ["| group | direction | peer | port |", "| --- | --- | --- | --- |"]
    lines += [f"| {g} | {d} | {p} | {port} |" for g, d, p, port in sorted(pairs)]
    return "\n".join(lines)


@pytest.mark.parametrize("example", DOCUMENTED)
def test_the_doc_lists_every_rule_and_nothing_else(
    synth: Callable[[DifyConfig], SynthResult], example: str
) -> None:
    found = derived(synth, example)
    table = documented(example)
    assert table == found, (
        f"docs/security-groups.md ({example}) differs from the template: only in the template "
        f"{sorted(found - table)}, only in the doc {sorted(table - found)}; the table is:\n{render(found)}"
    )


def test_groups_that_only_answer_allow_no_egress(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """The database, the cache, the VPC endpoints and the load balancer open no connections of their own
    (the load balancer only to its targets)."""
    for example in DOCUMENTED:
        pairs = derived(synth, example)
        for group in ("Dify database", "Dify Valkey", "Dify VPC endpoints"):
            outbound = {(p, port) for g, d, p, port in pairs if g == group and d == "out"}
            assert outbound <= {("nothing", "none")}, (example, group, outbound)
        alb = {p for g, d, p, _ in pairs if g == "Dify load balancer" and d == "out"}
        assert alb <= {"api", "web", "plugin-daemon"}, alb
