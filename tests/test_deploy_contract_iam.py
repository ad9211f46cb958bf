"""IAM coverage: every AWS API operation our Lambda handlers and custom resources call is allowed by the role
of the function that runs them, in every example's synthesized templates.

How: the handler modules under ``src/dify_on_aws/**/runtime/`` are parsed (AST) for ``boto3.client("x")``
and for calls of the client's methods (also ``get_paginator("op")`` and ``get_waiter("name")``); botocore's
service model turns a method name into its API operation name and the service's signing name into the IAM
prefix ("Actions, resources, and condition keys for AWS services", Service Authorization Reference: an
action is ``<service prefix>:<operation name>``). Each function of a template runs a handler when its code
asset holds that very module (zip: the handler's module; image: the module named by the entry point). Its
role's policies (``AWS::IAM::Policy`` attached to the role and the role's inline policies) must allow each
action, on the resource the call targets where the custom resource names it, plus what some operations
need besides their own action:

* ECS RunTask with ``propagateTags``/``tags`` also needs ``ecs:TagResource`` (AWS docs "Grant permission to
  tag resources on creation", Amazon ECS: "the ecs:CreateAction condition key ... RunTask"; the managed
  policy for scheduled RunTask grants it with ``ecs:CreateAction = RunTask``).
* ECS RunTask passes the task definition's task and execution roles: ``iam:PassRole`` on both (AWS docs
  "Amazon ECS task execution IAM role" and "Granting a user permissions to pass a role to an AWS service").
* RDS Data API ExecuteStatement reads the database secret: ``secretsmanager:GetSecretValue`` on it (AWS
  docs "Authorizing access to the Amazon RDS Data API").
* RDS CreateDBClusterSnapshot on a cluster that copies its tags to snapshots also needs
  ``rds:AddTagsToResource`` (awslabs/aurora-snapshot-tool#32).

The secret-rotation function comes from AWS's Serverless Application Repository (not ours), so it is not
covered here.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig
from dify_on_aws.templates.intrinsics import referenced_ids as _refs

from .conftest import ROOT, config_of

SRC = Path(__file__).resolve().parent.parent / "src" / "dify_on_aws"
RUNTIME_MODULES = sorted(
    path
    for path in SRC.glob("**/runtime/**/*.py")
    if path.name != "__init__.py" and "__pycache__" not in path.parts
)
# Service prefixes in IAM that differ from botocore's signing name: CloudWatch signs as "monitoring", but its
# actions are "cloudwatch:..." (Service Authorization Reference, "Actions, resources, and condition keys for
# Amazon CloudWatch": service prefix cloudwatch).
IAM_PREFIX: dict[str, str] = {"cloudwatch": "cloudwatch"}
SCRIPT = "__main__"


@dataclass(frozen=True)
class Call:
    action: str  # IAM action, e.g. "ecs:RunTask"
    keywords: frozenset[str] = frozenset()


@dataclass
class HandlerCalls:
    """A module's boto3 services, and per top-level function the calls it makes and the functions it uses."""

    module: Path
    services: set[str] = field(default_factory=set)
    calls: dict[str, set[Call]] = field(default_factory=dict)
    uses: dict[str, set[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def reachable(self, entry: str) -> set[Call]:
        """Calls made from an entry point (SCRIPT: the module run as a script, so all of them)."""
        if entry == SCRIPT:
            return set().union(*self.calls.values())
        seen: set[str] = set()
        todo = [entry]
        while todo:
            name = todo.pop()
            if name not in seen and name in self.calls:
                seen.add(name)
                todo += self.uses[name]
        return set().union(*(self.calls[name] for name in seen))


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _operations(service: str) -> dict[str, str]:
    """Client method name -> API operation name."""
    model = _session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


@cache
def _prefix(service: str) -> str:
    model = _session().get_service_model(service)
    return str(IAM_PREFIX.get(service, model.signing_name or model.endpoint_prefix))


def _waiter_operation(service: str, waiter: str) -> str | None:
    model = _session().get_waiter_model(service)
    for name in model.waiter_names:
        if xform_name(name) == waiter:
            return str(model.get_waiter(name).operation)
    return None


def _boto3_services(tree: ast.Module, found: HandlerCalls) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "client"
            and isinstance(func.value, ast.Name)
            and func.value.id == "boto3"
        ):
            argument = node.args[0] if node.args else None
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                found.problems.append(
                    f"{found.module.name}:{node.lineno}: boto3.client with a non-literal service"
                )
                continue
            found.services.add(argument.value)


def _operation_of(node: ast.Call, found: HandlerCalls) -> Call | None:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    first = node.args[0] if node.args else None
    literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    owners: list[tuple[str, str]] = []
    for service in sorted(found.services):
        if method == "get_paginator" and literal in _operations(service):
            owners.append((service, _operations(service)[literal]))
        elif method == "get_waiter" and literal is not None:
            operation = _waiter_operation(service, literal)
            if operation:
                owners.append((service, operation))
        elif method in _operations(service):
            owners.append((service, _operations(service)[method]))
    if len(owners) > 1:
        found.problems.append(
            f"{found.module.name}:{node.lineno}: {method} is an operation of several clients"
        )
    if not owners:
        return None
    service, operation = owners[0]
    return Call(f"{_prefix(service)}:{operation}", frozenset(k.arg for k in node.keywords if k.arg))


def handler_calls(module: Path) -> HandlerCalls:
    """The boto3 services a module creates clients for, and the operations each function calls on them."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    found = HandlerCalls(module)
    _boto3_services(tree, found)
    functions = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    for name, definition in functions.items():
        inner = list(ast.walk(definition))
        found.calls[name] = {
            call for node in inner if isinstance(node, ast.Call) and (call := _operation_of(node, found))
        }
        found.uses[name] = {
            node.id
            for node in inner
            if isinstance(node, ast.Name) and node.id in functions and node.id != name
        }
    return found


ANALYSED = {module: handler_calls(module) for module in RUNTIME_MODULES}
WITH_CALLS = [module for module, calls in ANALYSED.items() if calls.reachable(SCRIPT)]


# --- the template side -------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _asset_dir(result: SynthResult, code: dict[str, Any]) -> Path | None:
    key = code.get("S3Key")
    if isinstance(key, str) and key.endswith(".zip"):
        return result.outdir / f"asset.{key[: -len('.zip')]}"
    uri = code.get("ImageUri")
    text = json.dumps(uri)
    for candidate in result.outdir.glob("asset.*"):
        if candidate.name.removeprefix("asset.") in text:
            return candidate
    return None


def entry_point(result: SynthResult, properties: dict[str, Any], module: Path) -> str | None:
    """The function of this module a Lambda function runs (SCRIPT when its image starts the module as a
    script), or None when its code asset does not hold this module or its handler is elsewhere."""
    directory = _asset_dir(result, properties.get("Code", {}))
    if directory is None:
        return None
    copy = directory / module.name
    if not copy.is_file() or copy.read_bytes() != module.read_bytes():
        return None
    handler = properties.get("Handler")
    if isinstance(handler, str):
        handler_module, function = handler.rsplit(".", 1)
        return function if handler_module == module.stem else None
    image = properties.get("ImageConfig", {})
    started = [*image.get("EntryPoint", []), *image.get("Command", [])]
    return (
        SCRIPT
        if any(isinstance(part, str) and part.endswith(f"/{module.name}") for part in started)
        else None
    )


def _role_id(properties: dict[str, Any]) -> str:
    role = properties["Role"]
    assert "Fn::GetAtt" in role, f"function role is not a role of this template: {role}"
    return str(role["Fn::GetAtt"][0])


def role_statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Allow statements of the role's inline policies and of the policies attached to it."""
    statements: list[dict[str, Any]] = []
    for policy in resources[role]["Properties"].get("Policies", []):
        statements += _as_list(policy["PolicyDocument"]["Statement"])
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role} in resource["Properties"].get("Roles", []):
            statements += _as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    return [s for s in statements if s.get("Effect") == "Allow"]


def _allows(statement: dict[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement["Action"]))


def granting(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if _allows(s, action)]


def _covers(statements: list[dict[str, Any]], target: Any) -> bool:
    return any(resource in ("*", target) for s in statements for resource in _as_list(s["Resource"]))


def custom_resources_of(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Properties of the custom resources a function serves (directly or through a CDK Provider)."""
    arn = {"Fn::GetAtt": [function, "Arn"]}
    tokens = [function]
    for name, resource in resources.items():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and arn in variables.values():
            tokens.append(name)
    return [
        resource["Properties"]
        for resource in resources.values()
        if resource["Type"].startswith("Custom::")
        and resource["Properties"].get("ServiceToken", {}).get("Fn::GetAtt", [None])[0] in tokens
    ]


@dataclass(frozen=True)
class Runner:
    example: str
    function: str
    module: Path
    entry: str
    resources: dict[str, Any]
    properties: dict[str, Any]


def runners(example_results: dict[str, SynthResult]) -> Iterator[Runner]:
    for example, result in example_results.items():
        for template in result.templates.values():
            resources = template["Resources"]
            for name, resource in resources.items():
                if resource["Type"] != "AWS::Lambda::Function":
                    continue
                for module in WITH_CALLS:
                    entry = entry_point(result, resource["Properties"], module)
                    if entry is not None:
                        yield Runner(example, name, module, entry, resources, resource["Properties"])


def _run_task_needs(call: Call, statements: list[dict[str, Any]], runner: Runner) -> list[str]:
    """RunTask on the task definition the custom resource names, PassRole on its roles, TagResource when
    the call applies tags."""
    missing: list[str] = []
    for props in custom_resources_of(runner.resources, runner.function):
        definition = props["TaskDefinition"]
        if not _covers(granting(statements, call.action), definition):
            missing.append(f"ecs:RunTask on {definition}")
        task = runner.resources[definition["Ref"]]["Properties"]
        for role in (task["TaskRoleArn"], task["ExecutionRoleArn"]):
            if not _covers(granting(statements, "iam:PassRole"), role):
                missing.append(f"iam:PassRole on {role}")
    if call.keywords & {"propagateTags", "tags"}:
        conditions = [
            _as_list(s.get("Condition", {}).get("StringEquals", {}).get("ecs:CreateAction", "RunTask"))
            for s in granting(statements, "ecs:TagResource")
        ]
        if not any("RunTask" in condition for condition in conditions):
            missing.append("ecs:TagResource (RunTask applies tags)")
    return missing


def _data_api_needs(call: Call, statements: list[dict[str, Any]], runner: Runner) -> list[str]:
    """The statement on the cluster the custom resource names, and reading its secret."""
    missing: list[str] = []
    for props in custom_resources_of(runner.resources, runner.function):
        if not _covers(granting(statements, call.action), props["ClusterArn"]):
            missing.append(f"{call.action} on {props['ClusterArn']}")
        if not _covers(granting(statements, "secretsmanager:GetSecretValue"), props["SecretArn"]):
            missing.append(f"secretsmanager:GetSecretValue on {props['SecretArn']}")
    return missing


# Actions whose targets the function learns from its environment or its custom resources' properties:
# every such resource of these types must be covered by a statement allowing the action.
TARGET_TYPES = {
    "secretsmanager:GetSecretValue": {
        "AWS::SecretsManager::Secret",
        "AWS::SecretsManager::SecretTargetAttachment",
    },
    "ssm:GetParameter": {"AWS::SSM::Parameter"},
    "ecs:UpdateService": {"AWS::ECS::Service"},
    "lambda:GetFunctionConfiguration": {"AWS::Lambda::Function"},
    "lambda:UpdateFunctionConfiguration": {"AWS::Lambda::Function"},
    "rds:CreateDBClusterSnapshot": {"AWS::RDS::DBCluster"},
}


def _literals(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_literals(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_literals(v) for v in value)) if value else set()
    return set()


def _targets(runner: Runner, types: set[str]) -> set[str]:
    """Resources of these types the function is told about (by reference, or an SSM parameter by name)."""
    sources = [
        runner.properties.get("Environment", {}),
        *custom_resources_of(runner.resources, runner.function),
    ]
    named = {
        runner.resources[logical]["Properties"].get("Name"): logical
        for logical in runner.resources
        if runner.resources[logical]["Type"] == "AWS::SSM::Parameter"
    }
    found = {
        r for source in sources for r in _refs(source) if runner.resources.get(r, {}).get("Type") in types
    }
    if "AWS::SSM::Parameter" in types:
        found |= {named[text] for source in sources for text in _literals(source) if text in named}
    return found


def _covers_target(statements: list[dict[str, Any]], runner: Runner, target: str) -> bool:
    name = runner.resources[target]["Properties"].get("Name")
    for statement in statements:
        for resource in _as_list(statement["Resource"]):
            if resource == "*" or target in _refs(resource):
                return True
            if isinstance(name, str) and any(name.lstrip("/") in text for text in _literals(resource)):
                return True
    return False


def _target_needs(call: Call, statements: list[dict[str, Any]], runner: Runner) -> list[str]:
    allowed = granting(statements, call.action)
    return [
        f"{call.action} on {target}"
        for target in sorted(_targets(runner, TARGET_TYPES[call.action]))
        if not _covers_target(allowed, runner, target)
    ]


def _snapshot_needs(call: Call, statements: list[dict[str, Any]], runner: Runner) -> list[str]:
    """CreateDBClusterSnapshot on the cluster the custom resource names, and tagging the new snapshot: the
    cluster copies its tags to its snapshots (awslabs/aurora-snapshot-tool#32: CreateDBClusterSnapshot
    denied for lack of rds:AddTagsToResource on the new cluster snapshot)."""
    missing = _target_needs(call, statements, runner)
    if not granting(statements, "rds:AddTagsToResource"):
        missing.append("rds:AddTagsToResource (tags copied to the new snapshot)")
    return missing


EXTRA_NEEDS = {
    **dict.fromkeys(TARGET_TYPES, _target_needs),
    "rds:CreateDBClusterSnapshot": _snapshot_needs,
    "ecs:RunTask": _run_task_needs,
    "rds-data:ExecuteStatement": _data_api_needs,
    "rds-data:BatchExecuteStatement": _data_api_needs,
}


def missing_grants(runner: Runner) -> list[str]:
    """What the runner's role lacks for the calls its handler makes."""
    statements = role_statements(runner.resources, _role_id(runner.properties))
    missing: list[str] = []
    for call in ANALYSED[runner.module].reachable(runner.entry):
        if not granting(statements, call.action):
            missing.append(call.action)
        elif call.action in EXTRA_NEEDS:
            missing += EXTRA_NEEDS[call.action](call, statements, runner)
    return sorted(set(missing))


# Handlers that no example runs: password rotation's redeploy function (with Lambda functions to restart).
EXTRA_CONFIGS = {
    "lambda + rotation": config_of(
        **{
            **tomllib.loads((ROOT / "examples" / "lambda.toml").read_text(encoding="utf-8")),
            "database": {"rotation_days": 30},
        }
    )
}


@pytest.fixture(scope="module")
def covered(
    example_results: dict[str, SynthResult], synth: Callable[[DifyConfig], SynthResult]
) -> dict[str, SynthResult]:
    return {**example_results, **{name: synth(config) for name, config in EXTRA_CONFIGS.items()}}


# --- tests ---------------------------------------------------------------------------------------------


def test_handler_calls_are_understood() -> None:
    """Every boto3 client is created with a literal service name and no method is ambiguous, so the walk
    below sees every operation (a client created any other way would hide its calls)."""
    problems = [problem for calls in ANALYSED.values() for problem in calls.problems]
    assert problems == []
    migration = next(m for m in WITH_CALLS if m.parent.name == "migration")
    actions = {
        call.action for entry in ("on_event", "is_complete") for call in ANALYSED[migration].reachable(entry)
    }
    assert {"ecs:RunTask", "ecs:DescribeTasks"} <= actions


def test_every_calling_handler_runs_somewhere(covered: dict[str, SynthResult]) -> None:
    """Each handler module that calls AWS is found in at least one config (else it would go unchecked)."""
    seen = {runner.module for runner in runners(covered)}
    assert [m for m in WITH_CALLS if m not in seen] == []


def test_function_roles_allow_every_call(covered: dict[str, SynthResult]) -> None:
    """Every operation a handler calls is allowed by the role of each function that runs it, with the extra
    actions the operation needs (sources in the module docstring)."""
    gaps = {
        f"{runner.example}: {runner.function} ({runner.module.relative_to(SRC)})": missing
        for runner in runners(covered)
        if (missing := missing_grants(runner))
    }
    assert gaps == {}


def test_call_targets_are_found(covered: dict[str, SynthResult]) -> None:
    """The resource checks above are not vacuous: the api function of the `lambda` front door is told about
    its secrets and the public-URL parameter, and the redeploy function about the services and functions."""
    counts: dict[tuple[str, str], int] = {}
    for runner in runners(covered):
        if runner.example != "lambda + rotation":
            continue
        for action, types in TARGET_TYPES.items():
            key = (runner.module.parent.name, action)
            counts[key] = max(counts.get(key, 0), len(_targets(runner, types)))
    assert counts[("lambda_bootstrap", "secretsmanager:GetSecretValue")] >= 5
    assert counts[("lambda_bootstrap", "ssm:GetParameter")] == 1
    assert counts[("redeploy", "ecs:UpdateService")] >= 3
    assert counts[("redeploy", "lambda:UpdateFunctionConfiguration")] >= 1


# --- CDK AwsCustomResource calls (no handler of ours: the call is data in the template) -----------------

_SDK_CALL = re.compile(r'"action":"(?P<action>[A-Za-z0-9]+)","service":"(?P<service>[A-Za-z0-9-]+)"')


def _sdk_calls(properties: Mapping[str, Any]) -> set[str]:
    """IAM actions of an AwsCustomResource's Create/Update/Delete calls, e.g. ecs:UpdateService."""
    found: set[str] = set()
    for phase in ("Create", "Update", "Delete"):
        text = json.dumps(properties.get(phase, "")).replace('\\"', '"')
        for call in _SDK_CALL.finditer(text):
            action = call["action"]
            found.add(f"{call['service'].lower()}:{action[0].upper()}{action[1:]}")
    return found


def test_aws_custom_resource_policies_allow_their_calls(example_results: Mapping[str, SynthResult]) -> None:
    """CDK's AwsCustomResource ("custom_resources" module docs): the SDK call runs with the statements of the
    policy the resource depends on, so the CloudFront prefix-list lookup (ec2:DescribeManagedPrefixLists) and
    the plugin daemon's one-time redeploy (ecs:UpdateService) must each be allowed there."""
    seen = 0
    for name, result in example_results.items():
        for template in result.templates.values():
            resources = template["Resources"]
            for rid, resource in resources.items():
                if resource["Type"] != "Custom::AWS":
                    continue
                wanted = _sdk_calls(resource["Properties"])
                assert wanted, f"{name}: {rid} names no SDK call"
                allowed = {
                    action
                    for dep in _as_list(resource.get("DependsOn", []))
                    if resources.get(dep, {}).get("Type") == "AWS::IAM::Policy"
                    for statement in resources[dep]["Properties"]["PolicyDocument"]["Statement"]
                    if statement.get("Effect", "Allow") == "Allow"
                    for action in _as_list(statement["Action"])
                }
                assert wanted <= allowed, f"{name}: {rid} calls {wanted - allowed} without a grant"
                seen += 1
    assert seen > 0, "no AwsCustomResource found: the test would pass vacuously"
