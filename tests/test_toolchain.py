"""The Node.js check: jsii's end-of-life banner is silenced, so `synth` must say it once instead."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dify_on_aws.toolchain import SUPPORTED_NODE_MAJORS, installed_node_version, node_warning

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("version", ["v22.23.3", "v24.1.0"])
def test_supported_node_is_quiet(version: str) -> None:
    assert node_warning(version) is None


@pytest.mark.parametrize("version", ["v20.20.2", "v18.19.0", "v23.0.0", "v26.0.0"])
def test_unsupported_node_is_named_with_the_fix(version: str) -> None:
    message = node_warning(version)
    assert message is not None
    assert version in message and "22" in message and "make" in message


def test_missing_or_odd_node() -> None:
    assert "not found" in str(node_warning(None))
    assert "cannot tell" in str(node_warning("nonsense"))


def fake_node(tmp_path: Path, version: str) -> Path:
    node = tmp_path / "node"
    node.write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")
    node.chmod(node.stat().st_mode | stat.S_IEXEC)
    return node


def test_reads_the_node_jsii_will_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """jsii runs $JSII_NODE when set, else `node` on PATH."""
    monkeypatch.setenv("JSII_NODE", str(fake_node(tmp_path, "v20.1.0")))
    assert installed_node_version() == "v20.1.0"
    monkeypatch.delenv("JSII_NODE")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert installed_node_version() == "v20.1.0"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert installed_node_version() is None


def test_package_json_pins_a_supported_node() -> None:
    """`make` puts node_modules/.bin first on PATH, so the pinned Node.js is what jsii and the CDK CLI use."""
    import json  # noqa: PLC0415

    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    pinned = package["devDependencies"]["node"]
    assert int(pinned.split(".")[0]) in SUPPORTED_NODE_MAJORS
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "export PATH := $(CURDIR)/node_modules/.bin:$(PATH)" in makefile


def test_synth_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dify_on_aws import cli  # noqa: PLC0415

    monkeypatch.setattr(cli, "installed_node_version", lambda: "v20.20.2")
    bad = tmp_path / "bad.toml"
    bad.write_text('removal_policy = "nope"\n', encoding="utf-8")
    assert cli.main(["synth", "--config", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("Node.js v20.20.2 is not supported") == 1
