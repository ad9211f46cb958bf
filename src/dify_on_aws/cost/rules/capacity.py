"""What the ECS rules share: the running tasks and weekly schedule of a service, the Fargate Spot price,
the split of tasks over capacity providers and the extras of a task size (storage, public IPs)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dify_on_aws.cost.model import Price
from dify_on_aws.cost.schedule import WeeklySchedule, weekly_schedule
from dify_on_aws.templates import Resource, number

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer

FARGATE_FREE_EPHEMERAL_GIB = 20


def service_schedule(p: Pricer, res: Resource) -> WeeklySchedule | None:
    """The weekly schedule of the scalable target that scales this service, if it has one."""
    name = res.text("ServiceName")
    for target in p.of_type("AWS::ApplicationAutoScaling::ScalableTarget"):
        if target.stack != res.stack or target.text("ScalableDimension") != "ecs:service:DesiredCount":
            continue
        resource_id = target.value(target.props.get("ResourceId"))
        named = bool(name) and isinstance(resource_id, str) and resource_id.endswith(f"/{name}")
        if res.key in p.t.refs(target.stack, target.props.get("ResourceId")) or named:
            return weekly_schedule(target.props.get("ScheduledActions") or [])
    return None


def connected_share(p: Pricer) -> float:
    """The share of the hours during which some ECS service runs a task: Dify's services hold database
    connections whenever they run (connection pools, and beat's per-minute workflow-schedule poller)."""
    share = 0.0
    for service in p.of_type("AWS::ECS::Service"):
        count, schedule, _ = running_tasks(p, service)
        if count > 0:
            share = max(share, schedule.share if schedule is not None else 1.0)
    return share


def running_tasks(p: Pricer, res: Resource) -> tuple[float, WeeklySchedule | None, str]:
    """Tasks while the service runs, its weekly schedule (None: every hour) and a note on the count."""
    parsed = res.num("DesiredCount")
    if parsed is not None:
        count, note = parsed, ""
    elif "DesiredCount" not in res.props:
        count, note = 1.0, "DesiredCount not set: CloudFormation starts 1 task"
    else:
        count, note = 1.0, "DesiredCount is resolved at deploy time: 1 task assumed"
    schedule = service_schedule(p, res)
    if schedule is not None and schedule.tasks and schedule.tasks != count:
        # After the first stop and start, the start action's minimum is what runs.
        count, note = schedule.tasks, f"{schedule.tasks:g} task(s) while running (the schedule's MinCapacity)"
    return count, schedule, note


@dataclass
class ScheduledLines:
    """Adds a service's fixed lines for its running share of the hours and sums what the schedule saves."""

    p: Pricer
    res: Resource
    schedule: WeeklySchedule | None
    saved: float = 0.0

    @property
    def share(self) -> float:
        return self.schedule.share if self.schedule is not None else 1.0

    @property
    def note(self) -> str:
        return f"scheduled: {self.schedule.hours_per_week:g} h/week" if self.schedule is not None else ""

    def add(self, item: str, price: Price, always: float, unit: str, *notes: str) -> None:
        """A line for the running share of `always` (the quantity when running every hour)."""
        note = "; ".join(n for n in (*notes, self.note) if n)
        self.p.add(self.res, item, price, always * self.share, unit, usage=False, note=note)
        if price.price is not None:
            self.saved += price.price * always * (1 - self.share)

    def record(self) -> None:
        if self.schedule is not None:
            self.p.result.schedule_savings[f"{self.res.stack}/{self.res.id}"] = self.saved


def task_extras(out: ScheduledLines, task: Resource, tasks: float) -> None:
    """Ephemeral storage above the free 20 GiB and the public IPv4 address of each running task."""
    p, res = out.p, out.res
    storage = number(task.value((task.props.get("EphemeralStorage") or {}).get("SizeInGiB"))) or 0.0
    if storage > FARGATE_FREE_EPHEMERAL_GIB:
        extra = storage - FARGATE_FREE_EPHEMERAL_GIB
        out.add(
            f"Fargate ephemeral storage above {FARGATE_FREE_EPHEMERAL_GIB} GiB",
            p.price("fargate.ephemeral_storage.gb_hour", res.region),
            tasks * extra * p.hours,
            "GB-h",
            f"{tasks:g} task(s) x {extra:g} GB; on-demand rate assumed for Spot tasks too",
        )
    awsvpc = (res.props.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
    if res.value(awsvpc.get("AssignPublicIp")) == "ENABLED":
        # Each running task holds its own public IPv4 address, billed per hour like any other.
        out.add(
            "public IPv4 address per task",
            p.price("vpc.public_ipv4.hour", res.region),
            tasks * p.hours,
            "IP-h",
            f"{tasks:g} running task(s), AssignPublicIp ENABLED",
        )


def spot_price(p: Pricer, key: str, region: str) -> Price:
    base = p.price(key, region)
    discount = p.price("fargate_spot.discount_fraction", region)
    spot_key = key.replace("fargate.", "fargate_spot.", 1)
    if base.price is None or discount.price is None:
        return Price(spot_key, None, base.unit, base.source, base.date, region, base.note or discount.note)
    return Price(
        spot_key,
        base.price * (1 - discount.price),
        base.unit,
        f"{base.key} {base.price:g} x (1 - fargate_spot.discount_fraction {discount.price:g}); {base.source}",
        base.date,
        base.region,
    )


def capacity_split(p: Pricer, res: Resource, task: Resource, count: float) -> tuple[dict[str, float], str]:
    """Tasks per capacity provider: bases first, the rest by weight (as ECS places them)."""
    strategy = res.props.get("CapacityProviderStrategy")
    note = ""
    if not strategy:
        launch = res.text("LaunchType")
        if launch:
            return {launch: count}, ""
        cluster = p.get(res, res.props.get("Cluster"))
        for assoc in p.of_type("AWS::ECS::ClusterCapacityProviderAssociations"):
            if assoc.stack == res.stack and p.get(assoc, assoc.props.get("Cluster")) == cluster:
                strategy = assoc.props.get("DefaultCapacityProviderStrategy") or None
        if not strategy:
            compat = task.props.get("RequiresCompatibilities") or []
            if "FARGATE" in compat:
                return {"FARGATE": count}, "no launch type or capacity provider: FARGATE assumed"
            return {"EC2": count}, ""
        note = "cluster default capacity provider strategy"
    items: list[tuple[str, float, float]] = []
    for item in strategy:
        provider = res.value(item.get("CapacityProvider"))
        name = str(provider) if isinstance(provider, str) else "EC2"
        items.append(
            (
                name,
                number(res.value(item.get("Base"))) or 0.0,
                number(res.value(item.get("Weight"))) or 0.0,
            )
        )
    split: dict[str, float] = defaultdict(float)
    remaining = count
    for name, base, _ in items:
        take = min(base, remaining)
        split[name] += take
        remaining -= take
    weight = sum(w for _, _, w in items)
    if remaining > 0 and items:
        for name, _, w in items:
            share = w / weight if weight else (1.0 if name == items[0][0] else 0.0)
            split[name] += remaining * share
    return {k: v for k, v in split.items() if v > 0} or {items[0][0] if items else "FARGATE": 0.0}, note
