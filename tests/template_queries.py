"""Queries over a synthesized template that follow references instead of searching text: which role a
function runs as, what that role may do, which security groups admit which. References are read with the
template model's intrinsics (dify_on_aws.templates), like every other reader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dify_on_aws.templates.intrinsics import direct_target, referenced_ids

Resources = Mapping[str, Mapping[str, Any]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def of_type(resources: Resources, kind: str) -> dict[str, Mapping[str, Any]]:
    return {rid: r for rid, r in resources.items() if r["Type"] == kind}


def function_role(resources: Resources, function_id: str) -> str:
    """The logical ID of the IAM role a Lambda function runs as."""
    role = resources[function_id]["Properties"]["Role"]
    target = direct_target(role)
    assert target is not None, f"{function_id} runs as a role outside this template: {role}"
    return target


def role_statements(resources: Resources, role_id: str) -> list[Mapping[str, Any]]:
    """Every Allow statement of the policies attached to `role_id` (inline or AWS::IAM::Policy)."""
    statements: list[Mapping[str, Any]] = []
    role = resources[role_id]["Properties"]
    for policy in role.get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if role_id in referenced_ids(policy["Properties"].get("Roles", [])):
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


# --- security groups ---------------------------------------------------------------------------------------


def _group(value: Any) -> str:
    """The logical ID of a security group named by Ref or Fn::GetAtt [id, GroupId], else the value as text."""
    return direct_target(value) or text(value)


def ecs_service_role(resources: Resources, service: Mapping[str, Any]) -> str:
    """A service's role: its one essential container, or "single-task" when every role shares the task."""
    task = resources[str(direct_target(service["Properties"]["TaskDefinition"]))]["Properties"]
    essential = [c["Name"] for c in task["ContainerDefinitions"] if c.get("Essential", True)]
    return essential[0] if len(essential) == 1 else "single-task"


def group_owners(resources: Resources) -> dict[str, str]:
    """security group logical ID -> who it belongs to: the role of an ECS service, "migration" for the
    migration task, otherwise the group's description (e.g. "Dify load balancer", "Dify api function")."""
    owners = {
        gid: str(group["Properties"].get("GroupDescription", gid))
        for gid, group in of_type(resources, "AWS::EC2::SecurityGroup").items()
    }
    for service in of_type(resources, "AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        for group in network.get("SecurityGroups", []):
            owners[_group(group)] = ecs_service_role(resources, service)
    for gate in of_type(resources, "Custom::DifyMigration").values():
        for group in gate["Properties"]["SecurityGroups"]:
            owners[_group(group)] = "migration"
    return owners


def ingress_rules(resources: Resources) -> list[tuple[str, Mapping[str, Any]]]:
    """(target group logical ID, rule) for inline SecurityGroupIngress and AWS::EC2::SecurityGroupIngress."""
    return group_rules(resources, "Ingress")


def group_rules(resources: Resources, direction: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(group logical ID, rule) for the inline rules of `direction` ("Ingress" or "Egress") and the
    standalone AWS::EC2::SecurityGroup<direction> resources."""
    rules: list[tuple[str, Mapping[str, Any]]] = [
        (gid, rule)
        for gid, group in of_type(resources, "AWS::EC2::SecurityGroup").items()
        for rule in group["Properties"].get(f"SecurityGroup{direction}", [])
    ]
    rules += [
        (_group(rule["Properties"]["GroupId"]), rule["Properties"])
        for rule in of_type(resources, f"AWS::EC2::SecurityGroup{direction}").values()
    ]
    return rules


def _covers(rule: Mapping[str, Any], port: Any) -> bool:
    if str(rule.get("IpProtocol")) == "-1":
        return True
    low, high = rule.get("FromPort"), rule.get("ToPort", rule.get("FromPort"))
    if isinstance(port, int) and isinstance(low, int) and isinstance(high, int):
        return low <= port <= high
    return bool(low == port == high)  # a port given by reference, e.g. the cluster's Endpoint.Port


def sources(resources: Resources, groups: list[Any], port: Any) -> set[str]:
    """Who the ingress rules of `groups` admit on `port`: owners of source groups, CIDRs, prefix lists."""
    owners = group_owners(resources)
    targets = {_group(group) for group in groups}
    found: set[str] = set()
    for target, rule in ingress_rules(resources):
        if target not in targets or not _covers(rule, port):
            continue
        if "SourceSecurityGroupId" in rule:
            source = _group(rule["SourceSecurityGroupId"])
            found.add(owners.get(source, f"group {source}"))
        elif "SourcePrefixListId" in rule:
            found.add(f"prefix list {text(rule['SourcePrefixListId'])}")
        else:
            found.add(f"cidr {text(rule.get('CidrIp', rule.get('CidrIpv6')))}")
    return found


def database_sources(resources: Resources, port: int = 5432) -> set[str]:
    """Who may connect to the Aurora cluster, on its port given as a number or by Endpoint.Port."""
    found: set[str] = set()
    for cid, cluster in of_type(resources, "AWS::RDS::DBCluster").items():
        groups = cluster["Properties"]["VpcSecurityGroupIds"]
        found |= sources(resources, groups, port)
        found |= sources(resources, groups, {"Fn::GetAtt": [cid, "Endpoint.Port"]})
    return found


def _peer(resources: Resources, rule: Mapping[str, Any], owners: Mapping[str, str], *keys: str) -> str:
    """A rule's other side: the owner of a group, `VPC CIDR`, a CIDR, a prefix list or `nothing` (the rule CDK
    adds to a group that allows no egress: ICMP 252-86 to 255.255.255.255/32 matches no traffic)."""
    for key in keys:
        if key in rule:
            value = rule[key]
            if key.endswith("SecurityGroupId"):
                return owners.get(_group(value), f"group {_group(value)}")
            if key.endswith("PrefixListId"):
                return f"prefix list {_prefix_list_name(resources, value)}"
            target = direct_target(value)
            if target is not None and of_type(resources, "AWS::EC2::VPC").get(target) is not None:
                return "VPC CIDR"
            return "nothing" if value == "255.255.255.255/32" else str(value)
    return text(rule)


def _prefix_list_name(resources: Resources, value: Any) -> str:
    """The name a prefix list ID is looked up by (the DescribeManagedPrefixLists filter of an
    AwsCustomResource)."""
    target = direct_target(value)
    if target is not None and "Create" in resources[target].get("Properties", {}):
        call = json.loads(str(resources[target]["Properties"]["Create"]))
        for query in call.get("parameters", {}).get("Filters", []):
            if query.get("Name") == "prefix-list-name":
                return str(query["Values"][0])
    return text(value)


def _port(rule: Mapping[str, Any]) -> str:
    if str(rule.get("IpProtocol")) == "-1":
        return "all"
    if rule.get("IpProtocol") == "icmp":
        return "none"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if isinstance(low, Mapping):  # the cluster's port by reference (Fn::GetAtt Endpoint.Port)
        return "database port"
    return f"{low}" if low == high else f"{low}-{high}"


def security_group_pairs(resources: Resources) -> set[tuple[str, str, str, str]]:
    """Every rule of every security group as (group owner, "in"/"out", peer, port)."""
    owners = group_owners(resources)
    source_keys = ("SourceSecurityGroupId", "SourcePrefixListId", "CidrIp", "CidrIpv6")
    dest_keys = ("DestinationSecurityGroupId", "DestinationPrefixListId", "CidrIp", "CidrIpv6")
    pairs = {
        (owners.get(target, target), "in", _peer(resources, rule, owners, *source_keys), _port(rule))
        for target, rule in ingress_rules(resources)
    }
    pairs |= {
        (owners.get(gid, gid), "out", _peer(resources, rule, owners, *dest_keys), _port(rule))
        for gid, rule in group_rules(resources, "Egress")
    }
    return pairs
