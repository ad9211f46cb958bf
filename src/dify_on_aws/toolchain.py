"""The Node.js that the CDK's jsii runtime will start, and whether it is still supported.

jsii prints a large end-of-life banner in every Python process on an unsupported Node.js; the CLI
silences that banner and says it once, in one line, with the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

# Node.js majors that jsii supports, per its own start-up banner (2026-11: ^22 until 2027-04-30,
# ^24 until 2028-04-30). The Makefile installs Node.js 22 locally (package.json), so `make` targets
# use a supported one whatever the system has.
SUPPORTED_NODE_MAJORS = (22, 24)
RECOMMENDED_NODE = "22 (installed into node_modules/ by `make`) or 24"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def node_command() -> str | None:
    """What jsii runs: $JSII_NODE if set, else `node` on PATH."""
    given = os.environ.get("JSII_NODE")
    return given if given else shutil.which("node")


def installed_node_version() -> str | None:
    """`node --version` of the Node.js jsii will use, or None when there is none."""
    node = node_command()
    if node is None:
        return None
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    except OSError:
        return None
    return done.stdout.strip() or None


def node_warning(version: str | None) -> str | None:
    """One line for an unsupported or missing Node.js, None when it is supported."""
    if version is None:
        return (
            "Node.js was not found; the CDK needs it. Run `make synth` (installs Node.js 22 locally) or "
            f"install Node.js {RECOMMENDED_NODE}."
        )
    match = _VERSION.match(version)
    if match is None:
        return (
            f"cannot tell the Node.js version from {version!r}; the CDK supports Node.js {RECOMMENDED_NODE}."
        )
    if int(match.group(1)) in SUPPORTED_NODE_MAJORS:
        return None
    return (
        f"Node.js {version} is not supported by the CDK's jsii runtime (supported: "
        + ", ".join(f"{m}.x" for m in SUPPORTED_NODE_MAJORS)
        + f"); synthesis may break without notice. Use Node.js {RECOMMENDED_NODE}: `make` targets "
        "put node_modules/.bin first on PATH."
    )
