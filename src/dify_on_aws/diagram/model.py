"""Derive a small architecture graph of a Dify deployment from its synthesized CloudFormation templates.

The derivation is generic: it goes by resource type, by references between resources (Ref, Fn::GetAtt,
Fn::Sub), by security group rules and IAM policies, and by ECS container names (which are the Dify role
names), never by logical IDs. Fixed knowledge of how Dify's roles talk to each other is only a fallback
for nodes the templates say nothing about (no security groups, no IAM policy).

A deployment is one main stack (the VPC and everything in it) and optionally further stacks without a
VPC, such as a us-east-1 "edge" stack with Lambda@Edge functions, a CloudFront WAF or a certificate.

An ECS service whose task runs several Dify roles (the single-task layout) is a TASK node drawn as a box
around one CONTAINER node per container (a cache container is a CACHE node inside it). Facts about the
task as a whole (security groups, IAM role, network egress) attach to the task; security group rules and
routes that name a port or a container attach to the container listening there. Traffic between the
containers stays inside the task (localhost) and is not drawn.

The rules live in `rules/`, one module per resource family, each listing its steps in a table; the shared
state (nodes, edges, which resource each node stands for) is the `Deriver`, and the templates are read
only through the template model (`dify_on_aws.templates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dify_on_aws.diagram.deriver import Deriver
from dify_on_aws.diagram.graph import *  # noqa: F403 - the graph's kinds and classes, for render.py and tests
from dify_on_aws.diagram.graph import Architecture
from dify_on_aws.diagram.rules import STEPS
from dify_on_aws.diagram.rules.functions import dify_purpose

_dify_purpose = dify_purpose  # the name the tests use


def derive(
    templates: Mapping[str, Mapping[str, Any]], *, title: str = "", region: str | None = None
) -> Architecture:
    """The architecture of a deployment from its templates (stack name -> template)."""
    d = Deriver(templates, region)
    for step in STEPS:
        step.draw(d)
    return Architecture(
        title=title or " + ".join(sorted(templates)),
        nodes=dict(sorted(d.nodes.items())),
        edges=d.edges_list(),
        clusters=d.clusters(),
    )
