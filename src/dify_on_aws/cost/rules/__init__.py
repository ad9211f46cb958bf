"""The rule table: resource type -> pricing rule, assembled from one module per resource family.

A rule is a function `(pricer, resource) -> None` that adds priced lines (`pricer.add`) or a free item
(`pricer.free`). To price a new resource type, write its rule in the family module it belongs to
(compute, data, network, edge, observability) and add it to that module's `RULES`; a type with no charge
of its own goes into `FREE_TYPES` in `free.py` instead. Types in neither table are listed as unpriced.
"""

from __future__ import annotations

from dify_on_aws.cost.rules import compute, data, edge, network, observability
from dify_on_aws.cost.rules.common import Rule
from dify_on_aws.cost.rules.free import CUSTOM_RESOURCE_REASON, FREE_TYPES, OMITTED_TYPES

RULES: dict[str, Rule] = {
    **compute.RULES,
    **data.RULES,
    **network.RULES,
    **edge.RULES,
    **observability.RULES,
}

__all__ = ["CUSTOM_RESOURCE_REASON", "FREE_TYPES", "OMITTED_TYPES", "RULES", "Rule"]
