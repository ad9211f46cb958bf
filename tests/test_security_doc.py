"""docs/security.md is the render of src/dify_on_aws/security.py over the examples, and every accepted
cdk-nag finding in it carries a real reason."""

from __future__ import annotations

import re

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.security import acknowledgement_groups, render_security_page
from dify_on_aws.templates import read_assembly

from .conftest import EXAMPLES, ROOT

PAGE = ROOT / "docs" / "security.md"
ACK_SECTION = "## Accepted cdk-nag and cfn-lint findings"
_ROW = re.compile(r"^\| `(?P<rule>[^`]+)` \| (?P<reason>.*?) \| (?P<where>.*) \|$")


@pytest.fixture(scope="module")
def rendered(example_results: dict[str, SynthResult]) -> str:
    return render_security_page(
        {name: read_assembly(result.outdir) for name, result in example_results.items()}
    )


def _rows(page: str) -> list[re.Match[str]]:
    section = page.split(ACK_SECTION, 1)[1]
    return [m for line in section.splitlines() if (m := _ROW.match(line))]


def test_committed_page_is_the_render(rendered: str) -> None:
    committed = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
    assert committed == rendered, "docs/security.md is stale: run `make docs`"


def test_every_acknowledgement_has_a_reason() -> None:
    rows = _rows(PAGE.read_text(encoding="utf-8"))
    assert rows, "the page lists the acknowledgements"
    for row in rows:
        assert len(row["reason"].strip()) >= 20, row.group(0)
        assert row["rule"].startswith(("AwsSolutions-", "CloudFormation-Validate::")), row.group(0)
        assert row["where"].startswith("`"), row.group(0)


def test_page_lists_every_acknowledgement_of_every_example(
    example_results: dict[str, SynthResult], rendered: str
) -> None:
    groups = acknowledgement_groups({name: read_assembly(r.outdir) for name, r in example_results.items()})
    assert len(_rows(rendered)) == len(groups) > 0
    paths = {path for group in groups for path, _ in group.paths}
    # The paths are relative to the stack: no example's stack name leads them ("Dify" is also the id of the
    # services construct in every stack, so the default example's stack name cannot be told apart).
    names = {stack.stack_name for result in example_results.values() for stack in result.stacks} - {"Dify"}
    assert not any(path.split("/", 1)[0] in names for path in paths)
    assert "Dify/Api/Task" in paths
    assert len({name for group in groups for _, examples in group.paths for name in examples}) == len(
        EXAMPLES
    )


def test_threat_model_names_the_controls(rendered: str) -> None:
    needles: tuple[str, ...] = (
        "169.254.169.254",
        "169.254.170.2",
        "ssrf-proxy",
        "rds.force_ssl",
        "Block Public Access",
    )
    needles += ("WAF", "authorizer", "security group", "Secrets Manager", "CloudTrail", "Bedrock")
    for needle in needles:
        assert needle in rendered, needle


def test_the_page_reads_the_metadata_nag_writes() -> None:
    """security.py may not import nag.py (readers read templates only), so the two name the same string."""
    from dify_on_aws import nag, security  # noqa: PLC0415

    assert security.ACKNOWLEDGEMENT == nag.ACKNOWLEDGEMENT_METADATA
