"""A pytest plugin: one closing line naming the tools whose absence skipped tests, and the one command
that installs them all (the per-test reasons are easy to miss among hundreds of lines)."""

from __future__ import annotations

from collections import Counter

import pytest

INSTALL_COMMAND = "sudo bash scripts/install-test-deps.sh"
# A skip reason mentioning one of these words is about that tool.
TOOLS = {
    "PostgreSQL with pgvector": ("postgres", "psycopg", "pgvector", "initdb"),
    "Squid": ("squid",),
    "Graphviz": ("graphviz", "`dot`"),
    "Redis": ("redis-server", "redis-cli", "openssl"),
}


def summarize(reasons: list[str]) -> str | None:
    """'skipped N tests: ...' grouped by missing tool, or None when nothing was skipped for a tool."""
    counts: Counter[str] = Counter()
    for reason in reasons:
        lowered = reason.lower()
        tool = next((name for name, words in TOOLS.items() if any(w in lowered for w in words)), None)
        if tool is not None:
            counts[tool] += 1
    if not counts:
        return None
    parts = ", ".join(f"{tool} ({n})" for tool, n in counts.items())
    return (
        f"skipped {sum(counts.values())} test(s) that need a missing tool: {parts}; "
        f"install them with: {INSTALL_COMMAND}"
    )


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    line = summarize([_reason(r) for r in terminalreporter.stats.get("skipped", [])])
    if line is not None:
        terminalreporter.write_line(line, yellow=True, bold=True)
