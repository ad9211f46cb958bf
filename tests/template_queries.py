"""Queries over a synthesized template that follow references instead of searching text: which role a
function runs as, what that role may do, which security groups admit which."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Resources = Mapping[str, Mapping[str, Any]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def of_type(resources: Resources, kind: str) -> dict[str, Mapping[str, Any]]:
    return {rid: r for rid, r in resources.items() if r["Type"] == kind}


def function_role(resources: Resources, function_id: str) -> str:
    """The logical ID of the IAM role a Lambda function runs as."""
    role = resources[function_id]["Properties"]["Role"]
    assert "Fn::GetAtt" in role, f"{function_id} runs as a role outside this template: {role}"
    return str(role["Fn::GetAtt"][0])


def role_statements(resources: Resources, role_id: str) -> list[Mapping[str, Any]]:
    """Every Allow statement of the policies attached to `role_id` (inline or AWS::IAM::Policy)."""
    statements: list[Mapping[str, Any]] = []
    role = resources[role_id]["Properties"]
    for policy in role.get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return [s for s in statements if s.get("Effect", "Allow") == "Allow"]


def role_grants(resources: Resources, role_id: str) -> dict[str, list[Any]]:
    """action -> the resources the role may use it on (as template values)."""
    grants: dict[str, list[Any]] = {}
    for statement in role_statements(resources, role_id):
        for action in as_list(statement["Action"]):
            grants.setdefault(action, []).extend(as_list(statement["Resource"]))
    return grants


def function_grants(resources: Resources, function_id: str) -> dict[str, list[Any]]:
    return role_grants(resources, function_role(resources, function_id))


def functions_by_handler(resources: Resources, description_part: str) -> dict[str, str]:
    """handler -> function logical ID, among functions whose description contains `description_part`."""
    return {
        f["Properties"]["Handler"]: fid
        for fid, f in of_type(resources, "AWS::Lambda::Function").items()
        if description_part in str(f["Properties"].get("Description", ""))
    }


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
