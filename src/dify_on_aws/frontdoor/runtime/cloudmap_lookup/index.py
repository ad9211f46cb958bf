"""Custom resource: the Cloud Map services that ECS Service Connect created, by name.

Service Connect creates its Cloud Map services itself, so CloudFormation cannot reference them; API
Gateway's private integration needs their ARNs. ResourceProperties: ``NamespaceId``, ``Names`` (list).
Returns ``Data`` with ``<name>Arn`` and ``<name>Id`` for each name; a missing name fails the deployment.
Delete does nothing (ECS owns the services).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3

_client: Any = None


class ServiceNotFoundError(RuntimeError):
    """Fails the custom resource with a message naming what is missing."""


def _servicediscovery() -> Any:
    global _client  # noqa: PLW0603 - one client per warm container
    if _client is None:
        _client = boto3.client("servicediscovery")
    return _client


def find_services(client: Any, namespace_id: str, names: list[str]) -> dict[str, str]:
    found: dict[str, dict[str, str]] = {}
    paginator = client.get_paginator("list_services")
    filters = [{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}]
    for page in paginator.paginate(Filters=filters):
        for service in page.get("Services", []):
            if service.get("Name") in names:
                found[service["Name"]] = service
    missing = [name for name in names if name not in found]
    if missing:
        raise ServiceNotFoundError(
            f"Cloud Map namespace {namespace_id} has no service named {', '.join(missing)}; "
            "is ECS Service Connect enabled for it?"
        )
    data: dict[str, str] = {}
    for name in names:
        data[f"{name}Arn"] = found[name]["Arn"]
        data[f"{name}Id"] = found[name]["Id"]
    return data


def on_event(event: Mapping[str, Any], _context: object = None) -> dict[str, Any]:
    props = event["ResourceProperties"]
    physical_id = f"cloudmap-{props['NamespaceId']}"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    data = find_services(_servicediscovery(), props["NamespaceId"], list(props["Names"]))
    return {"PhysicalResourceId": physical_id, "Data": data}
