"""The closing line of `make test` on a machine without PostgreSQL, Squid, Graphviz or Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.skip_summary import INSTALL_COMMAND, summarize

ROOT = Path(__file__).resolve().parent.parent


def test_groups_reasons_by_tool() -> None:
    line = summarize(
        [
            "squid is not installed; run `bash scripts/install-test-squid.sh` (as root)",
            "squid is not installed; run `bash scripts/install-test-squid.sh` (as root)",
            "graphviz `dot` not installed (scripts/install-graphviz.sh)",
            "no PostgreSQL server binaries under /usr/lib/postgresql",
            "redis-server/redis-cli not found; run scripts/install-test-redis.sh as root",
            "needs a cloud account",
        ]
    )
    assert line is not None
    assert "skipped 5 test(s)" in line
    assert "Squid (2)" in line and "Graphviz (1)" in line and "PostgreSQL with pgvector (1)" in line
    assert "Redis (1)" in line
    assert line.endswith(INSTALL_COMMAND)
    assert summarize(["needs a cloud account"]) is None
    assert summarize([]) is None


def test_the_line_closes_a_real_run(tmp_path: Path) -> None:
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "def test_a():\n    pytest.skip('squid is not installed')\n\n"
        "def test_b():\n    pass\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.skip_summary",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert any(f"Squid (1); install them with: {INSTALL_COMMAND}" in line for line in lines), lines
    # pytest's own count stays the last line, which CI reads.
    assert "1 passed, 1 skipped" in lines[-1]
