"""What the pricing rules share: the rule signature and how instance types appear in price keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dify_on_aws.templates import Resource

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer

Rule = Callable[["Pricer", Resource], None]


def key_part(name: str) -> str:
    """'cache.t4g.micro' -> 'cache_t4g_micro' (how instance types appear in price keys)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def count(value: Any) -> int | None:
    """The length of a literal list (subnets, replicas); None when it is resolved at deploy time."""
    return len(value) if isinstance(value, list) else None
