"""The diagram's rule table, assembled from one module per resource family.

Each family module (compute, functions, data, network, edge, flows, integrations) lists its `STEPS`: a
function that adds nodes or edges to the `Deriver`, the order it runs in and the resource types it draws.
Nodes are drawn first (order below 100), then the edges between them. To draw a new resource type, add a
function and a `Step` to the family module it belongs to.
"""

from __future__ import annotations

from dify_on_aws.diagram.rules import compute, data, edge, flows, functions, integrations, network
from dify_on_aws.diagram.rules.table import Step

STEPS: tuple[Step, ...] = tuple(
    sorted(
        (
            *compute.STEPS,
            *functions.STEPS,
            *data.STEPS,
            *network.STEPS,
            *edge.STEPS,
            *flows.STEPS,
            *integrations.STEPS,
        ),
        key=lambda step: step.order,
    )
)

__all__ = ["STEPS", "Step"]
