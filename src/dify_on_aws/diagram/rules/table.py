"""A diagram rule: one step of the derivation, the resource types it draws, and where it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver


@dataclass(frozen=True)
class Step:
    """`draw` runs at `order` (nodes below 100, edges from 100 on, since edges join drawn nodes);
    `types` are the resource types it draws (documentation, and the test of the table)."""

    order: int
    draw: Callable[[Deriver], None]
    types: tuple[str, ...] = ()
