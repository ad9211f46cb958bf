"""The security page, docs/security.md: a written threat model and the cdk-nag acknowledgements.

The threat model, the table of controls and the list of what the user must still do are written by hand
(threat_model.py); the acknowledgements are generated from the synthesized cloud assembly of every example
configuration (each `dify_on_aws.nag.acknowledge` call leaves its rule and reason as construct metadata,
which the assembly keeps per stack and the template model reads), so the page lists exactly what the code
accepts. A test keeps the committed page equal to the render.

Regenerate with `python -m dify_on_aws.security > docs/security.md`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dify_on_aws.templates import Assembly, read_assembly
from dify_on_aws.threat_model import (
    AWS_FIXED_LIMITS,
    CONTROLS,
    HEADER,
    REACH,
    TRUST,
    USER_DUTIES,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EDGE_SUFFIX = "-Edge"
# The construct metadata type `dify_on_aws.nag.acknowledge` writes: {"rule": ..., "reason": ...}.
ACKNOWLEDGEMENT = "dify:nag-acknowledgement"


def _counted_rules_section() -> str:
    """The AWS managed rules `waf_managed_rules` counts instead of blocking, and why (from the edge stack)."""
    from dify_on_aws.frontdoor import edge  # noqa: PLC0415

    counted: Sequence[tuple[str, str]] = getattr(edge, "COUNTED_COMMON_RULES", ())
    groups: Sequence[str] = getattr(edge, "MANAGED_RULE_GROUPS", ())
    if not counted and not groups:
        return ""
    lines = [
        "### WAF managed rules (`front_door.waf_managed_rules`)",
        "",
        "Rule groups, evaluated after the allow-list and the rate limit: "
        f"{', '.join(f'`{g}`' for g in groups)}. "
        "They block what they match, except these rules of `AWSManagedRulesCommonRuleSet`, which only count "
        "(their matches show in the web ACL's metrics and sampled requests) because they block normal Dify "
        "use:",
        "",
        "| rule | why it only counts |",
        "|---|---|",
        *(f"| `{_cell(rule)}` | {_cell(reason)} |" for rule, reason in counted),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AcknowledgementGroup:
    """One accepted finding (rule and reason): each construct path it applies to, with the examples (file
    names) where that path carries it."""

    rule: str
    reason: str
    paths: tuple[tuple[str, tuple[str, ...]], ...]


def _path(stack_name: str, path: str) -> str:
    """A construct path without the stack name, marked when it is in the us-east-1 edge stack."""
    path = path.lstrip("/")
    local = path.split("/", 1)[1] if "/" in path else path
    return f"{local} (edge stack)" if stack_name.endswith(EDGE_SUFFIX) else local


def acknowledgement_groups(results: Mapping[str, Assembly]) -> list[AcknowledgementGroup]:
    """Acknowledgements of all stacks by rule and reason, paths deduplicated across examples and sorted."""
    found: dict[tuple[str, str], dict[str, set[str]]] = {}
    for example, assembly in results.items():
        for stack_name, entries in assembly.metadata.items():
            for entry in entries:
                if entry.type != ACKNOWLEDGEMENT or not isinstance(entry.data, Mapping):
                    continue
                paths = found.setdefault((str(entry.data["rule"]), str(entry.data["reason"])), {})
                paths.setdefault(_path(stack_name, entry.path), set()).add(example)
    return [
        AcknowledgementGroup(
            rule, reason, tuple((path, tuple(sorted(examples))) for path, examples in sorted(paths.items()))
        )
        for (rule, reason), paths in sorted(found.items())
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(title: str, head: tuple[str, str, str], rows: tuple[tuple[str, str, str], ...]) -> str:
    lines = [
        title,
        "",
        "| " + " | ".join(head) + " |",
        "|---|---|---|",
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def _acknowledgements_section(results: Mapping[str, Assembly]) -> str:
    groups = acknowledgement_groups(results)
    everywhere = tuple(sorted(results))
    lines = [
        "## Accepted cdk-nag and cfn-lint findings",
        "",
        "Generated from the construct tree of every configuration in `examples/` "
        f"({', '.join(f'`{name}`' for name in everywhere)}). Each row is one rule accepted for one reason, "
        "on the construct paths listed (without the stack name); a path followed by example names carries it "
        "only in those examples. Other configurations may add rows of the same kinds.",
        "",
        "| rule | reason | where |",
        "|---|---|---|",
    ]
    for group in groups:
        where = "<br>".join(
            f"`{_cell(path)}`"
            + ("" if examples == everywhere else f" ({', '.join(e.removesuffix('.toml') for e in examples)})")
            for path, examples in group.paths
        )
        lines.append(f"| `{_cell(group.rule)}` | {_cell(group.reason)} | {where} |")
    lines += ["", f"{len(groups)} acknowledgements."]
    return "\n".join(lines) + "\n"


def render_security_page(results: Mapping[str, Assembly]) -> str:
    """docs/security.md for the stacks of each example (example file name -> its cloud assembly)."""
    return "\n".join(
        [
            HEADER,
            "## Threat model\n",
            _table("### Who can reach what", ("from", "can reach", "enforced by"), REACH),
            TRUST,
            _table("## What each control stops", ("control", "stops", "does not stop"), CONTROLS),
            _counted_rules_section(),
            USER_DUTIES,
            AWS_FIXED_LIMITS,
            _acknowledgements_section(results),
        ]
    )


def example_assemblies(directory: Path = EXAMPLES_DIR) -> dict[str, Assembly]:
    """The synthesized stacks of every example (acknowledgements are construct metadata they keep)."""
    from dify_on_aws.app import synthesize  # noqa: PLC0415 - jsii starts only when the page is built
    from dify_on_aws.config import load_config  # noqa: PLC0415

    found: dict[str, Assembly] = {}
    with tempfile.TemporaryDirectory(prefix="dify-security-") as scratch:
        for path in sorted(directory.glob("*.toml")):
            outdir = Path(scratch) / path.stem
            synthesize(load_config(path), outdir, nag=False)
            found[path.name] = read_assembly(outdir)
    return found


def main() -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    sys.stdout.write(render_security_page(example_assemblies()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
