"""The template model: every resource of a deployment's synthesized templates, with its references
resolved once, within a stack and across stacks.

A deployment is one or more stacks (stack name -> template). A reference is a Ref, Fn::GetAtt or Fn::Sub
variable naming a resource of the same stack, or a value another stack hands over: an output exported
under a name (Fn::ImportValue) or the AWS CDK's cross-region reference (a `Custom::CrossRegionExportReader`
attribute named after an SSM parameter that a `Custom::CrossRegionExportWriter` of the other stack
writes). `refs` answers what a value references, `references` and `referenced_by` what a resource
references and what references it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dify_on_aws.templates import intrinsics

Key = tuple[str, str]  # (stack name, logical ID)
Template = Mapping[str, Any]
EXPORT_READER = "Custom::CrossRegionExportReader"
EXPORT_WRITER = "Custom::CrossRegionExportWriter"
# The functions that name a logical ID (Fn::Sub through its variables).
REFERENCING = ("Ref", "Fn::GetAtt", "Fn::Sub")


@dataclass(frozen=True)
class Resource:
    """One resource of one stack; `region` is the stack's region when the deployment knows it."""

    stack: str
    id: str
    type: str
    props: Mapping[str, Any]
    region: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)
    conditions: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def key(self) -> Key:
        return (self.stack, self.id)

    def value(self, item: Any) -> Any:
        """A value of this resource's stack with parameters, joins, selects, subs and conditions worked
        out; None when it is known only at deploy time."""
        return intrinsics.resolve(item, self.parameters, self.conditions)

    def literal(self, name: str) -> Any:
        """A property's value as `value` works it out."""
        return self.value(self.props.get(name))

    def num(self, name: str) -> float | None:
        return intrinsics.number(self.literal(name))

    def text(self, name: str, default: str = "") -> str:
        value = self.literal(name)
        return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else default


class Templates:
    """The resources of a deployment (stack name -> template), in template order, and their references."""

    def __init__(
        self, templates: Mapping[str, Template], *, regions: Mapping[str, str] | None = None
    ) -> None:
        self.stacks = list(templates)
        self.resources: dict[Key, Resource] = {}
        self._by_type: dict[str, list[Key]] = defaultdict(list)
        self._exports: dict[str, tuple[str, Any]] = {}  # export or SSM parameter name -> (stack, value)
        for stack, template in templates.items():
            parameters = template.get("Parameters") or {}
            conditions = template.get("Conditions") or {}
            for lid, body in (template.get("Resources") or {}).items():
                if not isinstance(body, Mapping) or not isinstance(body.get("Type", ""), str):
                    continue
                res = Resource(
                    stack,
                    str(lid),
                    str(body.get("Type", "")),
                    body.get("Properties") or {},
                    (regions or {}).get(stack, ""),
                    parameters,
                    conditions,
                )
                self.resources[res.key] = res
                self._by_type[res.type].append(res.key)
                if res.type == EXPORT_WRITER:
                    exports = (res.props.get("WriterProps") or {}).get("exports") or {}
                    self._exports.update({str(n): (stack, v) for n, v in exports.items()})
            for output in (template.get("Outputs") or {}).values():
                name = (output.get("Export") or {}).get("Name") if isinstance(output, Mapping) else None
                if isinstance(name, str):
                    self._exports[name] = (stack, output.get("Value"))
        self._referenced_by: dict[Key, list[Key]] | None = None

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources.values())

    def get(self, key: Key) -> Resource | None:
        return self.resources.get(key)

    def of(self, *types: str) -> list[Resource]:
        """Resources of these types in template order."""
        return [r for r in self.resources.values() if r.type in types]

    def keys_of(self, *types: str) -> list[Key]:
        """Keys of the resources of these types, sorted."""
        return sorted(k for t in types for k in self._by_type.get(t, []))

    def type(self, key: Key) -> str:
        res = self.resources.get(key)
        return res.type if res else ""

    def props(self, key: Key) -> Mapping[str, Any]:
        res = self.resources.get(key)
        return res.props if res and isinstance(res.props, Mapping) else {}

    # references --------------------------------------------------------------------------------------

    def target(self, stack: str, value: Any) -> Resource | None:
        """The resource a value names directly (a lone Ref or Fn::GetAtt), following a cross-stack value."""
        handed = self._handed_over(stack, value)
        if handed is not None:
            return self.target(*handed)
        lid = intrinsics.direct_target(value)
        return self.resources.get((stack, lid)) if lid else None

    def refs(self, stack: str, value: Any) -> list[Key]:
        """Resources a value of `stack` references (parameters and unknown IDs dropped), sorted; a value
        handed over from another stack leads to the resources it references there (not to the import or
        the reader that carries it)."""
        return sorted(self._refs(stack, value))

    def _refs(self, stack: str, value: Any) -> set[Key]:
        found: set[Key] = set()
        if isinstance(value, Mapping):
            handed = self._handed_over(stack, value)
            if handed is not None:
                return self._refs(*handed)
            for name, inner in value.items():
                if name in REFERENCING:
                    ids = intrinsics.referenced_ids({name: inner})
                    found.update((stack, lid) for lid in ids if (stack, lid) in self.resources)
                else:
                    found |= self._refs(stack, inner)
        elif isinstance(value, list):
            for inner in value:
                found |= self._refs(stack, inner)
        return found

    def references(self, key: Key) -> list[Key]:
        """What a resource references in its properties."""
        return [k for k in self.refs(key[0], self.props(key)) if k != key]

    def referenced_by(self, key: Key) -> list[Key]:
        """The resources that reference this one in their properties."""
        if self._referenced_by is None:
            index: dict[Key, list[Key]] = defaultdict(list)
            for source in self.resources:
                for target in self.references(source):
                    index[target].append(source)
            self._referenced_by = index
        return list(self._referenced_by.get(key, []))

    def referencing(self, type_: str, prop: str, target: Key) -> list[Key]:
        """Resources of `type_` whose property `prop` references `target`, sorted."""
        return [k for k in self.keys_of(type_) if target in self.refs(k[0], self.props(k).get(prop))]

    # cross-stack values -------------------------------------------------------------------------------

    def _handed_over(self, stack: str, value: Any) -> tuple[str, Any] | None:
        """(stack, value) that a lone import or cross-region reference stands for."""
        imported = intrinsics.imported_name(value)
        if imported is not None:
            return self._exports.get(imported)
        attribute = intrinsics.lone_attribute(value)
        if attribute is not None and self.type((stack, attribute[0])) == EXPORT_READER:
            return self._exports.get(attribute[1])
        return None
