"""CloudFormation intrinsic functions: the one place that reads Ref, Fn::GetAtt, Fn::Sub, Fn::Join,
Fn::Select, Fn::If and parameters (the template model in `model.py` builds on these).

Values that depend on deploy time (resource attributes, pseudo parameters, imports) stay unresolved:
`literal` returns None for them, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PSEUDO_PREFIX = "AWS::"
# ${LogicalId} or ${LogicalId.Attribute} inside Fn::Sub text (${!Literal} is an escaped dollar sign).
_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def number(value: Any) -> float | None:
    """A literal as a number (CloudFormation often writes numbers as strings); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def direct_target(value: Any) -> str | None:
    """The logical ID that a value names directly: a lone Ref or Fn::GetAtt (in either form)."""
    if isinstance(value, Mapping) and len(value) == 1:
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and att and isinstance(att[0], str):
            return att[0]
        if isinstance(att, str):
            return att.split(".", 1)[0]
    return None


def referenced_ids(value: Any) -> set[str]:
    """Every logical ID referenced anywhere inside a value through Ref, Fn::GetAtt or Fn::Sub
    (pseudo parameters such as AWS::Region left out; parameters and unknown IDs kept)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for name, inner in value.items():
            if name == "Ref" and isinstance(inner, str) and not inner.startswith(PSEUDO_PREFIX):
                found.add(inner)
            elif name == "Fn::GetAtt":
                target = direct_target({name: inner})
                if target:
                    found.add(target)
            elif name == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(text, str):
                    found.update(m for m in _SUB_VARIABLE.findall(text) if not m.startswith("AWS"))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= referenced_ids(inner[1])
            else:
                found |= referenced_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= referenced_ids(inner)
    return found


def lone_attribute(value: Any) -> tuple[str, str] | None:
    """(logical ID, attribute) of a value that is a list-form Fn::GetAtt and nothing else."""
    att = value.get("Fn::GetAtt") if isinstance(value, Mapping) and len(value) == 1 else None
    if isinstance(att, list) and len(att) == 2 and all(isinstance(a, str) for a in att):
        return (att[0], att[1])
    return None


def imported_name(value: Any) -> str | None:
    """The export name of a value that is a Fn::ImportValue of a literal name."""
    name = value.get("Fn::ImportValue") if isinstance(value, Mapping) and len(value) == 1 else None
    return name if isinstance(name, str) else None


def attributes(value: Any) -> list[tuple[str, str]]:
    """(logical ID, attribute) of every list-form Fn::GetAtt inside a value."""
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for name, inner in value.items():
            if name == "Fn::GetAtt" and isinstance(inner, list) and len(inner) == 2:
                found.append((str(inner[0]), str(inner[1])))
            else:
                found += attributes(inner)
    elif isinstance(value, list):
        for item in value:
            found += attributes(item)
    return found


def parameter_default(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A literal as it is; a lone Ref to a parameter with a Default, that default; else None."""
    if isinstance(value, Mapping):
        ref = value.get("Ref") if len(value) == 1 else None
        param = parameters.get(ref) if isinstance(ref, str) else None
        if isinstance(param, Mapping) and "Default" in param:
            return param["Default"]
        return None
    return value


class _UnresolvedError(Exception):
    """A value that is known only at deploy time."""


def resolve(value: Any, parameters: Mapping[str, Any], conditions: Mapping[str, Any]) -> Any:
    """A value with Ref to parameters (their Default), Fn::Join, Fn::Split, Fn::Select, Fn::Sub and
    Fn::If (on conditions over parameters) worked out; None when any part is known only at deploy time.
    A list comes back as it is, its items unresolved."""
    try:
        return _resolve(value, parameters, conditions)
    except _UnresolvedError:
        return None


def _resolve(value: Any, parameters: Mapping[str, Any], conditions: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one return per function
    if not isinstance(value, Mapping):
        return value
    if len(value) != 1:
        raise _UnresolvedError
    ((name, arg),) = value.items()

    def inner(item: Any) -> Any:
        return _resolve(item, parameters, conditions)

    def text(item: Any) -> str:
        resolved = inner(item)
        if isinstance(resolved, bool) or not isinstance(resolved, str | int | float):
            raise _UnresolvedError
        return str(resolved)

    if name == "Ref":
        found = parameter_default(value, parameters)
        if found is None:
            raise _UnresolvedError
        return found
    if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
        return text(arg[0]).join(text(part) for part in arg[1])
    if name == "Fn::Split" and isinstance(arg, list) and len(arg) == 2:
        return text(arg[1]).split(text(arg[0]))
    if name == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
        items = inner(arg[1])
        index = number(inner(arg[0]))
        if isinstance(items, list) and index is not None and 0 <= int(index) < len(items):
            return inner(items[int(index)])
    if name == "Fn::Sub":
        body, names = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if isinstance(body, str) and isinstance(names, Mapping):

            def variable(found: re.Match[str]) -> str:
                key = found.group(1)
                return text(names[key]) if key in names else text({"Ref": key})

            return re.sub(r"\$\{([^!}][^}]*)\}", variable, body).replace("${!", "${")
    if name == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
        return inner(arg[1] if _condition(str(arg[0]), parameters, conditions, 0) else arg[2])
    raise _UnresolvedError


def _condition(name: str, parameters: Mapping[str, Any], conditions: Mapping[str, Any], depth: int) -> bool:
    """A named condition worked out from parameter defaults (Fn::Equals, Fn::Not, Fn::And, Fn::Or)."""
    if name not in conditions or depth > 10:
        raise _UnresolvedError
    return _truth(conditions[name], parameters, conditions, depth + 1)


def _truth(value: Any, parameters: Mapping[str, Any], conditions: Mapping[str, Any], depth: int) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise _UnresolvedError
    ((name, arg),) = value.items()
    if name == "Condition":
        return _condition(str(arg), parameters, conditions, depth)
    if name == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
        return bool(_resolve(arg[0], parameters, conditions) == _resolve(arg[1], parameters, conditions))
    parts = [_truth(a, parameters, conditions, depth) for a in arg] if isinstance(arg, list) else []
    if name == "Fn::Not" and len(parts) == 1:
        return not parts[0]
    if name == "Fn::And" and parts:
        return all(parts)
    if name == "Fn::Or" and parts:
        return any(parts)
    raise _UnresolvedError
