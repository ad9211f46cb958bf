"""Unit tests for the HTTP API IP allow-list authorizer."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from dify_on_aws.frontdoor.runtime.ip_authorizer import index


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    index.reset_cache()
    yield
    index.reset_cache()


def _event(source_ip: object = "203.0.113.10") -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:abcdef/$default/POST/v1/chat-messages",
        "headers": {"authorization": "Bearer app-secret-token", "user-agent": "curl/8"},
        "requestContext": {"http": {"method": "POST", "path": "/v1/chat-messages", "sourceIp": source_ip}},
    }


def _authorize(monkeypatch: pytest.MonkeyPatch, cidrs: str | None, event: dict[str, Any]) -> bool:
    if cidrs is None:
        monkeypatch.delenv(index.ENV_ALLOWED, raising=False)
    else:
        monkeypatch.setenv(index.ENV_ALLOWED, cidrs)
    result = index.handler(event, None)
    assert set(result) == {"isAuthorized"}
    return result["isAuthorized"]


def test_env_name() -> None:
    assert index.ENV_ALLOWED == "ALLOWED_CIDRS"


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("192.0.2.0", True),  # first address of the /24
        ("192.0.2.255", True),  # last address
        ("192.0.2.128", True),
        ("192.0.3.0", False),  # one past the end
        ("192.0.1.255", False),  # one before the start
    ],
)
def test_slash_24_boundaries(monkeypatch: pytest.MonkeyPatch, source: str, allowed: bool) -> None:
    assert _authorize(monkeypatch, "192.0.2.0/24", _event(source)) is allowed


@pytest.mark.parametrize(
    ("cidrs", "source", "allowed"),
    [
        ("203.0.113.10/32", "203.0.113.10", True),
        ("203.0.113.10/32", "203.0.113.11", False),
        ("203.0.113.10", "203.0.113.10", True),  # a bare address is a /32
        ("203.0.113.10", "203.0.113.11", False),
        ("2001:db8::1/128", "2001:db8::1", True),
        ("2001:db8::1/128", "2001:db8::2", False),
        ("2001:db8::1", "2001:db8::1", True),  # a bare address is a /128
        ("2001:db8::1", "2001:db8::2", False),
        ("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", True),
        ("2001:db8::/32", "2001:db9::", False),
        ("2001:DB8::/32", "2001:db8::abcd", True),  # case-insensitive
    ],
)
def test_hosts_and_ipv6(monkeypatch: pytest.MonkeyPatch, cidrs: str, source: str, allowed: bool) -> None:
    assert _authorize(monkeypatch, cidrs, _event(source)) is allowed


@pytest.mark.parametrize(
    ("cidrs", "source", "allowed"),
    [
        ("0.0.0.0/0", "198.51.100.7", True),
        ("0.0.0.0/0", "255.255.255.255", True),
        # Mismatched versions never match, even for /0: `in` alone would say yes here.
        ("0.0.0.0/0", "2001:db8::1", False),
        ("0.0.0.0/0", "::", False),
        ("::/0", "2001:db8::1", True),
        ("::/0", "198.51.100.7", False),
        ("::/0", "0.0.0.1", False),
        ("0.0.0.0/0, ::/0", "2001:db8::1", True),
        ("0.0.0.0/0, ::/0", "198.51.100.7", True),
    ],
)
def test_slash_zero_respects_ip_version(
    monkeypatch: pytest.MonkeyPatch, cidrs: str, source: str, allowed: bool
) -> None:
    assert _authorize(monkeypatch, cidrs, _event(source)) is allowed


def test_ipv6_source_against_ipv4_only_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _authorize(monkeypatch, "10.0.0.0/8,192.0.2.0/24", _event("2001:db8::10")) is False


@pytest.mark.parametrize(
    ("cidrs", "source", "allowed"),
    [
        ("192.0.2.0/24", "::ffff:192.0.2.10", True),
        ("192.0.2.0/24", "::ffff:c000:20a", True),  # the same address in hex notation
        ("192.0.2.0/24", "::ffff:192.0.3.10", False),
        ("192.0.2.10", "::FFFF:192.0.2.10", True),
        # Mapped entries in the list are compared as IPv4, so they match plain IPv4 sources too.
        ("::ffff:192.0.2.0/120", "192.0.2.77", True),
        ("::ffff:192.0.2.0/120", "192.0.3.77", False),
        ("::ffff:192.0.2.10", "192.0.2.10", True),
        ("::ffff:192.0.2.10", "::ffff:192.0.2.10", True),
        # Mapped addresses are not IPv6 for the list's purposes.
        ("::/0", "::ffff:192.0.2.10", False),
    ],
)
def test_ipv4_mapped_ipv6(monkeypatch: pytest.MonkeyPatch, cidrs: str, source: str, allowed: bool) -> None:
    assert _authorize(monkeypatch, cidrs, _event(source)) is allowed


def test_non_strict_network_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert index.parse_networks("10.0.0.1/8") == (ipaddress.IPv4Network("10.0.0.0/8"),)
    assert _authorize(monkeypatch, "10.0.0.1/8", _event("10.255.255.255")) is True
    assert _authorize(monkeypatch, "10.0.0.1/8", _event("11.0.0.0")) is False
    assert _authorize(monkeypatch, "2001:db8::1/32", _event("2001:db8:1::1")) is True


def test_whitespace_and_empty_items_are_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    cidrs = "  10.0.0.0/8 ,\t192.0.2.0/24,\n2001:db8::/32 ,, "
    assert len(index.parse_networks(cidrs)) == 3
    for source in ("10.1.2.3", "192.0.2.1", "2001:db8::5"):
        assert _authorize(monkeypatch, cidrs, _event(source)) is True
    assert _authorize(monkeypatch, cidrs, _event("198.51.100.1")) is False


@pytest.mark.parametrize("cidrs", [None, "", "   ", ",", " , ,"])
def test_empty_list_denies_everything(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cidrs: str | None
) -> None:
    with caplog.at_level(logging.INFO, logger="dify_ip_authorizer"):
        assert _authorize(monkeypatch, cidrs, _event("192.0.2.1")) is False
    assert any("is empty" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "bad",
    ["10.0.0.0/33", "not-an-ip", "192.0.2.0/24/8", "2001:db8::/129", "010.0.0.1", "1.2.3", "10.0.0.0/-1"],
)
def test_invalid_entry_fails_closed_and_names_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    cidrs = f"0.0.0.0/0, ::/0, {bad}"
    with pytest.raises(index.ConfigError) as excinfo:
        index.parse_networks(cidrs)
    assert str(excinfo.value) == bad

    with caplog.at_level(logging.INFO, logger="dify_ip_authorizer"):
        # Even sources inside the valid /0 entries are denied: the whole list is distrusted.
        assert _authorize(monkeypatch, cidrs, _event("192.0.2.1")) is False
        assert _authorize(monkeypatch, cidrs, _event("2001:db8::1")) is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # parsed, and reported, once per container
    assert repr(bad) in errors[0]
    assert "ALLOWED_CIDRS" in errors[0]


def test_networks_are_parsed_once_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = index.parse_networks

    def counting(value: str) -> tuple[index.Network, ...]:
        calls.append(value)
        return original(value)

    monkeypatch.setattr(index, "parse_networks", counting)
    for _ in range(3):
        assert _authorize(monkeypatch, "192.0.2.0/24", _event("192.0.2.1")) is True
    assert calls == ["192.0.2.0/24"]
    # A different value (only in tests: the env is fixed per container) is parsed afresh.
    assert _authorize(monkeypatch, "198.51.100.0/24", _event("192.0.2.1")) is False
    assert calls == ["192.0.2.0/24", "198.51.100.0/24"]


@pytest.mark.parametrize(
    "source",
    ["", "   ", "not-an-ip", "192.0.2.256", "192.0.2.1/32", " 192.0.2.1", "192.0.2", None, 3221225985, ["x"]],
)
def test_malformed_source_ip_denies(monkeypatch: pytest.MonkeyPatch, source: object) -> None:
    # 3221225985 is 192.0.2.1 as an integer, which ipaddress would accept if it were not rejected first.
    assert _authorize(monkeypatch, "0.0.0.0/0, ::/0", _event(source)) is False


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"requestContext": None},
        {"requestContext": {}},
        {"requestContext": "192.0.2.1"},
        {"requestContext": {"http": None}},
        {"requestContext": {"http": {}}},
        {"requestContext": {"http": {"method": "GET"}}},
        {"requestContext": {"identity": {"sourceIp": "192.0.2.1"}}},  # the REST API (v1) shape
    ],
)
def test_missing_request_context_keys_deny(monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]) -> None:
    assert _authorize(monkeypatch, "0.0.0.0/0, ::/0", event) is False


def test_logs_only_the_source_ip(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="dify_ip_authorizer"):
        assert _authorize(monkeypatch, "192.0.2.0/24", _event("198.51.100.9")) is False
        assert _authorize(monkeypatch, "192.0.2.0/24", _event("192.0.2.9")) is True
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "198.51.100.9" in text
    assert "app-secret-token" not in text
    assert "/v1/chat-messages" not in text
    assert "curl" not in text


def test_logged_source_is_escaped_and_capped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dify_ip_authorizer"):
        assert _authorize(monkeypatch, "0.0.0.0/0", _event("1.2.3.4\nFAKE LOG LINE" + "x" * 500)) is False
    (message,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in message
    assert len(message) < 120
