"""Fargate choices from the configuration that several units share (the Dify services, the package proxy)."""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs


def cpu_architecture(name: str) -> ecs.CpuArchitecture:
    return ecs.CpuArchitecture.ARM64 if name == "arm64" else ecs.CpuArchitecture.X86_64


def capacity_strategy(spot: bool, on_demand_base: int) -> list[ecs.CapacityProviderStrategy]:
    """Regular Fargate, or Spot with `on_demand_base` tasks kept on regular Fargate."""
    if not spot:
        return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
    return [
        ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=on_demand_base, weight=0),
        ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1),
    ]
