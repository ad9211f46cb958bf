"""Unit tests for the Cloud Map lookup custom resource (no AWS access)."""

from __future__ import annotations

from typing import Any

import pytest

from dify_on_aws.frontdoor.runtime.cloudmap_lookup import index

NAMESPACE = "ns-abc123"


class FakePaginator:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        return self.pages


class FakeClient:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.paginator = FakePaginator(pages)

    def get_paginator(self, name: str) -> FakePaginator:
        assert name == "list_services"
        return self.paginator


def _service(name: str) -> dict[str, str]:
    return {
        "Name": name,
        "Id": f"srv-{name}",
        "Arn": f"arn:aws:servicediscovery:us-east-1:1:service/srv-{name}",
    }


def test_finds_services_across_pages_and_filters_by_namespace() -> None:
    client = FakeClient([{"Services": [_service("api"), _service("other")]}, {"Services": [_service("web")]}])
    data = index.find_services(client, NAMESPACE, ["api", "web"])
    assert data == {
        "apiArn": _service("api")["Arn"],
        "apiId": "srv-api",
        "webArn": _service("web")["Arn"],
        "webId": "srv-web",
    }
    (call,) = client.paginator.calls
    assert call["Filters"] == [{"Name": "NAMESPACE_ID", "Values": [NAMESPACE], "Condition": "EQ"}]


def test_missing_service_fails_with_its_name() -> None:
    client = FakeClient([{"Services": [_service("api")]}])
    with pytest.raises(index.ServiceNotFoundError, match="plugin-daemon"):
        index.find_services(client, NAMESPACE, ["api", "plugin-daemon"])


def test_on_event_create_and_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient([{"Services": [_service("api")]}])
    monkeypatch.setattr(index, "_servicediscovery", lambda: client)
    props = {"NamespaceId": NAMESPACE, "Names": ["api"]}
    created = index.on_event({"RequestType": "Create", "ResourceProperties": props})
    assert created["PhysicalResourceId"] == f"cloudmap-{NAMESPACE}"
    assert created["Data"]["apiId"] == "srv-api"
    deleted = index.on_event(
        {"RequestType": "Delete", "ResourceProperties": props, "PhysicalResourceId": "keep-me"}
    )
    assert deleted == {"PhysicalResourceId": "keep-me"}
    assert len(client.paginator.calls) == 1
