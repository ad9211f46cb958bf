"""Pricing rules: how each CloudFormation resource type turns into priced lines.

Each resource is handled by its type: a rule turns it into lines (what is billed, how much, at which unit
price), a known free type becomes a free or deploy-time item, and every other type is listed as unpriced,
so nothing is silently zero. A price missing from prices.json for the region makes an *unknown* line.

Traffic model (the usage-driven lines): every request enters through the front door (CloudFront when the
deployment has a distribution, else the API Gateway APIs, internet-facing load balancers and Lambda
function URLs), passes every load balancer, and is served by one of the Lambda functions that serve
requests (those behind a function URL or an API Gateway integration), split evenly between them.
Authorizers and Lambda@Edge functions run on every request. Internet egress (`gb_out`) is billed at the
front door: CloudFront's rate with a distribution, else regional data transfer out.

Capacity model (the fixed lines): an ECS service runs its DesiredCount every hour, even when a scalable
target allows scaling (scaling policies react to load the estimate does not model). When the scalable
target has scheduled actions that start (MinCapacity > 0) and stop (MaxCapacity 0) the service, only the
scheduled share of the week is priced, at the start action's MinCapacity; see `schedule.py`.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dify_on_aws.cost.model import GLOBAL, Estimate, FreeItem, Line, Price, PriceBook, Template, Usage
from dify_on_aws.cost.schedule import WeeklySchedule, weekly_schedule
from dify_on_aws.inputs import number

# An Aurora Serverless v2 instance with MinCapacity 0 pauses when idle; awake, it runs at least this.
AURORA_AWAKE_MIN_ACU = 0.5
FARGATE_FREE_EPHEMERAL_GIB = 20
# ALB: one LCU covers 1 GB processed per hour or 25 new connections per second (other dimensions are
# assumed lower for a web app). Spread evenly, LCU-hours = max(GB, new connections / (25 x 3600)).
ALB_CONNECTIONS_PER_LCU_HOUR = 25 * 3600
NLB_FLOWS_PER_NLCU_HOUR = 800 * 3600
# WAF rule groups that AWS bills on top of the rule price (subscription and per-request fees).
WAF_PAID_RULE_GROUPS = (
    "AWSManagedRulesBotControlRuleSet",
    "AWSManagedRulesATPRuleSet",
    "AWSManagedRulesACFPRuleSet",
)


# --- reading templates --------------------------------------------------------------------------------


def _literal(value: Any, params: Mapping[str, Any]) -> Any:
    """A literal, or a parameter's default for a Ref to it; None for anything resolved at deploy time."""
    if isinstance(value, Mapping):
        ref = value.get("Ref") if len(value) == 1 else None
        param = params.get(ref) if isinstance(ref, str) else None
        if isinstance(param, Mapping) and "Default" in param:
            return param["Default"]
        return None
    return value


def _number(value: Any, params: Mapping[str, Any]) -> float | None:
    return number(_literal(value, params))


def _target(value: Any) -> str | None:
    """The logical id named by a direct Ref or Fn::GetAtt."""
    if isinstance(value, Mapping) and len(value) == 1:
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and att and isinstance(att[0], str):
            return att[0]
        if isinstance(att, str):
            return att.split(".", 1)[0]
    return None


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _refs(value: Any) -> set[str]:
    """Every logical id referenced anywhere inside `value` (Ref, Fn::GetAtt, Fn::Sub variables)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = _target({key: inner})
                if target:
                    found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(text, str):
                    found.update(m.split(".", 1)[0] for m in _SUB_VARIABLE.findall(text))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= _refs(inner[1])
            else:
                found |= _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs(inner)
    return found


def _key_part(name: str) -> str:
    """'cache.t4g.micro' -> 'cache_t4g_micro' (how instance types appear in price keys)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _count(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


@dataclass(frozen=True)
class _Res:
    stack: str
    id: str
    type: str
    props: Mapping[str, Any]
    region: str
    params: Mapping[str, Any]

    def num(self, name: str) -> float | None:
        return _number(self.props.get(name), self.params)

    def text(self, name: str, default: str = "") -> str:
        value = _literal(self.props.get(name), self.params)
        return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else default


# Types with no monthly charge of their own (their cost, if any, is priced on another resource).
FREE_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::InstanceProfile",
            "AWS::IAM::ServiceLinkedRole",
        ),
        "IAM: no charge",
    ),
    **dict.fromkeys(
        (
            "AWS::EC2::VPC",
            "AWS::EC2::Subnet",
            "AWS::EC2::RouteTable",
            "AWS::EC2::Route",
            "AWS::EC2::SubnetRouteTableAssociation",
            "AWS::EC2::InternetGateway",
            "AWS::EC2::VPCGatewayAttachment",
            "AWS::EC2::EgressOnlyInternetGateway",
            "AWS::EC2::VPCCidrBlock",
            "AWS::EC2::SubnetCidrBlock",
            "AWS::EC2::NetworkAcl",
            "AWS::EC2::NetworkAclEntry",
            "AWS::EC2::SubnetNetworkAclAssociation",
            "AWS::EC2::SecurityGroup",
            "AWS::EC2::SecurityGroupIngress",
            "AWS::EC2::SecurityGroupEgress",
            "AWS::EC2::EIPAssociation",
            "AWS::EC2::LaunchTemplate",
        ),
        "VPC building block: no charge (addresses, gateways and endpoints are priced separately)",
    ),
    "AWS::ECS::ClusterCapacityProviderAssociations": "no charge",
    "AWS::ECS::CapacityProvider": "no charge (the instances it launches are priced separately)",
    **dict.fromkeys(
        (
            "AWS::ElastiCache::SubnetGroup",
            "AWS::ElastiCache::ParameterGroup",
            "AWS::ElastiCache::User",
            "AWS::ElastiCache::UserGroup",
            "AWS::RDS::DBSubnetGroup",
            "AWS::RDS::DBClusterParameterGroup",
            "AWS::RDS::DBParameterGroup",
            "AWS::RDS::OptionGroup",
        ),
        "configuration: no charge",
    ),
    **dict.fromkeys(
        (
            "AWS::SecretsManager::SecretTargetAttachment",
            "AWS::SecretsManager::ResourcePolicy",
            "AWS::SecretsManager::RotationSchedule",
        ),
        "no charge of its own (the secret is priced)",
    ),
    "AWS::S3::BucketPolicy": "no charge",
    **dict.fromkeys(
        (
            "AWS::ElasticLoadBalancingV2::Listener",
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            "AWS::ElasticLoadBalancingV2::ListenerCertificate",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
        ),
        "priced through the load balancer (hours and LCUs)",
    ),
    **dict.fromkeys(
        (
            "AWS::CloudFront::CachePolicy",
            "AWS::CloudFront::OriginRequestPolicy",
            "AWS::CloudFront::ResponseHeadersPolicy",
            "AWS::CloudFront::OriginAccessControl",
            "AWS::CloudFront::CloudFrontOriginAccessIdentity",
        ),
        "CloudFront configuration: no charge",
    ),
    "AWS::CloudFront::VpcOrigin": "no separate price in the sources; traffic is billed as CloudFront "
    "requests and transfer, and origin-to-CloudFront transfer is not charged",
    **dict.fromkeys(
        (
            "AWS::Lambda::Permission",
            "AWS::Lambda::LayerVersion",
            "AWS::Lambda::LayerVersionPermission",
            "AWS::Lambda::EventInvokeConfig",
        ),
        "no charge (invocations are priced on the function)",
    ),
    **dict.fromkeys(
        (
            "AWS::ApiGatewayV2::Stage",
            "AWS::ApiGatewayV2::Route",
            "AWS::ApiGatewayV2::RouteResponse",
            "AWS::ApiGatewayV2::Integration",
            "AWS::ApiGatewayV2::IntegrationResponse",
            "AWS::ApiGatewayV2::Authorizer",
            "AWS::ApiGatewayV2::Deployment",
            "AWS::ApiGatewayV2::ApiMapping",
            "AWS::ApiGatewayV2::DomainName",
            "AWS::ApiGateway::Deployment",
            "AWS::ApiGateway::Stage",
            "AWS::ApiGateway::Resource",
            "AWS::ApiGateway::Method",
            "AWS::ApiGateway::Authorizer",
            "AWS::ApiGateway::Account",
        ),
        "priced through the API's requests",
    ),
    "AWS::ApiGatewayV2::VpcLink": "no charge: HTTP APIs bill only API calls and data out "
    "(API Gateway pricing page)",
    **dict.fromkeys(
        (
            "AWS::WAFv2::IPSet",
            "AWS::WAFv2::RegexPatternSet",
            "AWS::WAFv2::WebACLAssociation",
            "AWS::WAFv2::RuleGroup",
        ),
        "priced through the web ACL (a rule group counts as one rule there)",
    ),
    "AWS::ServiceDiscovery::Service": "no charge for the service; instances ECS registers at runtime are not "
    "in the template and not priced",
    "AWS::ServiceDiscovery::HttpNamespace": "API-only namespace: no hosted zone",
    **dict.fromkeys(
        ("AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"),
        "no charge; scheduled start/stop actions scale the ECS service's hours (priced on the service), "
        "tasks above the desired count are not modelled",
    ),
    "AWS::CertificateManager::Certificate": "public ACM certificates: no charge",
    **dict.fromkeys(
        ("AWS::Route53::RecordSet", "AWS::Route53::RecordSetGroup"),
        "no monthly charge (alias queries to AWS resources are free; other DNS queries are not modelled)",
    ),
    "AWS::KMS::Alias": "no charge",
    **dict.fromkeys(
        ("AWS::Backup::BackupVault", "AWS::Backup::BackupSelection"),
        "priced through the backup plan's storage",
    ),
    "AWS::Events::Rule": "no charge for rules on AWS service events or schedules (targets are priced)",
    "AWS::Logs::SubscriptionFilter": "no charge of its own",
    "AWS::Lambda::EventSourceMapping": "no charge of its own (the function and the source are priced)",
}
OMITTED_TYPES = frozenset({"AWS::CDK::Metadata", "AWS::CloudFormation::WaitConditionHandle"})
CUSTOM_RESOURCE_REASON = "custom resource: runs once per deployment (its handler is deploy-time only)"


class _Pricer:
    def __init__(
        self,
        templates: Mapping[str, Template],
        *,
        region: str,
        usage: Usage,
        hours: float,
        prices: PriceBook,
        fallback_region: str | None,
        stack_regions: Mapping[str, str],
    ) -> None:
        self.usage = usage
        self.hours = hours
        self.prices = prices
        self.fallback = fallback_region
        self.result = Estimate(region, hours, usage, prices.as_of, fallback_region)
        self.resources: list[_Res] = []
        for stack, template in templates.items():
            params = template.get("Parameters") or {}
            for lid, body in (template.get("Resources") or {}).items():
                if isinstance(body, Mapping):
                    self.resources.append(
                        _Res(
                            stack=stack,
                            id=str(lid),
                            type=str(body.get("Type", "")),
                            props=body.get("Properties") or {},
                            region=stack_regions.get(stack, region),
                            params=params,
                        )
                    )
        self.index = {(r.stack, r.id): r for r in self.resources}
        self._traffic_model()

    # --- helpers ---

    def of_type(self, *types: str) -> list[_Res]:
        return [r for r in self.resources if r.type in types]

    def get(self, res: _Res, value: Any) -> _Res | None:
        target = _target(value)
        return self.index.get((res.stack, target)) if target else None

    def price(self, key: str, region: str) -> Price:
        return self.prices.get(key, region, fallback=self.fallback)

    def add(
        self,
        res: _Res,
        item: str,
        price: Price | str,
        quantity: float,
        unit: str,
        *,
        usage: bool,
        note: str = "",
        region: str | None = None,
        resource: str | None = None,
    ) -> None:
        if isinstance(price, str):
            price = self.price(price, region or res.region)
        notes = [n for n in (note, price.note if price.price is None else "") if n]
        self.result.lines.append(
            Line(
                stack=res.stack,
                resource=resource or res.id,
                resource_type=res.type,
                item=item,
                dimension=price.key,
                quantity=quantity,
                unit=unit,
                unit_price=price.price,
                usage_driven=usage,
                price_region=price.region if price.price is not None else None,
                note="; ".join(notes),
                source=price.source,
                date=price.date,
            )
        )

    def free(self, res: _Res, reason: str, *, deploy_time: bool = False) -> None:
        self.result.free.append(FreeItem(res.stack, res.id, res.type, reason, deploy_time))

    # --- traffic ---

    def _traffic_model(self) -> None:
        self.cdns = self.of_type("AWS::CloudFront::Distribution")
        self.apis = [
            r
            for r in self.of_type("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")
            if r.type == "AWS::ApiGateway::RestApi" or r.text("ProtocolType", "HTTP") in ("HTTP", "WEBSOCKET")
        ]
        self.urls = self.of_type("AWS::Lambda::Url")
        public_lbs = [
            r
            for r in self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
            if r.text("Scheme", "internet-facing") == "internet-facing"
        ]
        # Where internet egress is billed.
        self.egress: list[_Res] = self.cdns or [*self.apis, *public_lbs, *self.urls]
        kinds: dict[tuple[str, str], str] = {}

        def mark(res: _Res, ids: set[str], kind: str) -> None:
            for lid in ids:
                fn = self.function_of(res.stack, lid)
                if fn is not None:
                    kinds.setdefault((res.stack, fn), kind)

        for fn in self.of_type("AWS::Lambda::Function"):
            role = self.get(fn, fn.props.get("Role"))
            if role is not None and "edgelambda.amazonaws.com" in json.dumps(role.props):
                kinds[(fn.stack, fn.id)] = "edge"
        for cdn in self.cdns:
            mark(cdn, _refs(cdn.props.get("DistributionConfig", {}).get("CacheBehaviors", [])), "edge")
            mark(cdn, _refs(cdn.props.get("DistributionConfig", {}).get("DefaultCacheBehavior", {})), "edge")
        for auth in self.of_type("AWS::ApiGatewayV2::Authorizer", "AWS::ApiGateway::Authorizer"):
            mark(auth, _refs(auth.props.get("AuthorizerUri")), "authorizer")
        for url in self.urls:
            mark(url, _refs(url.props.get("TargetFunctionArn")), "backend")
        for integ in self.of_type("AWS::ApiGatewayV2::Integration"):
            mark(integ, _refs(integ.props.get("IntegrationUri")), "backend")
        for method in self.of_type("AWS::ApiGateway::Method"):
            mark(method, _refs(method.props.get("Integration")), "backend")
        for src, prop in (
            ("AWS::Events::Rule", "Targets"),
            ("AWS::Lambda::EventSourceMapping", "FunctionName"),
            ("AWS::SNS::Subscription", "Endpoint"),
            ("AWS::Scheduler::Schedule", "Target"),
            ("AWS::S3::Bucket", "NotificationConfiguration"),
        ):
            for res in self.of_type(src):
                mark(res, _refs(res.props.get(prop)), "event")
        self.function_kinds = kinds
        self.kind_counts = Counter(kinds.values())

    def function_of(self, stack: str, lid: str, depth: int = 0) -> str | None:
        res = self.index.get((stack, lid))
        if res is None or depth > 3:
            return None
        if res.type == "AWS::Lambda::Function":
            return lid
        if res.type in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            target = _target(res.props.get("FunctionName"))
            return self.function_of(stack, target, depth + 1) if target else None
        return None

    def egress_share(self, res: _Res) -> float:
        return self.usage.gb_out / len(self.egress) if res in self.egress else 0.0

    def add_egress(self, res: _Res) -> None:
        if res in self.egress and res.type != "AWS::CloudFront::Distribution":
            self.add(
                res,
                "data transfer out to the internet",
                "data_transfer.out_internet_first_10tb.gb",
                self.egress_share(res),
                "GB",
                usage=True,
                note="first-10-TB tier; the 100 GB/month free allowance is not subtracted",
            )

    # --- driver ---

    def run(self) -> Estimate:
        buckets: dict[str, list[_Res]] = defaultdict(list)
        log_groups: dict[str, list[_Res]] = defaultdict(list)
        for res in self.resources:
            if res.type in OMITTED_TYPES:
                continue
            if res.type == "AWS::S3::Bucket":
                buckets[res.stack].append(res)
            elif res.type == "AWS::Logs::LogGroup":
                log_groups[res.stack].append(res)
            elif res.type in RULES:
                RULES[res.type](self, res)
            elif res.type.startswith("Custom::") or res.type == "AWS::CloudFormation::CustomResource":
                self.free(res, CUSTOM_RESOURCE_REASON, deploy_time=True)
            elif res.type in FREE_TYPES:
                self.free(res, FREE_TYPES[res.type])
            else:
                self.result.unpriced.setdefault(res.type, []).append(f"{res.stack}/{res.id}")
        self._shared(
            buckets, "s3.standard.gb_month", "S3 Standard storage", total=self.usage.s3_gb, unit="GB-month"
        )
        self._shared(
            log_groups,
            "cloudwatch_logs.ingest.gb",
            "CloudWatch Logs ingestion",
            total=self.usage.log_ingest_gb,
            unit="GB",
            note="archived-log storage (GB-month after ingestion) is not included",
        )
        self.result.notes.extend(self._notes())
        return self.result

    def _shared(
        self,
        groups: Mapping[str, list[_Res]],
        key: str,
        item: str,
        *,
        total: float,
        unit: str,
        note: str = "",
    ) -> None:
        """One usage line per stack for resources that share a deployment-wide usage input."""
        count = sum(len(v) for v in groups.values())
        for members in groups.values():
            first = members[0]
            label = first.id if len(members) == 1 else f"{first.id} +{len(members) - 1} more"
            self.add(
                first,
                f"{item} ({len(members)} of {count})" if count > 1 else item,
                key,
                total * len(members) / count,
                unit,
                usage=True,
                note=note,
                resource=label,
            )

    def _notes(self) -> list[str]:
        u = self.usage
        notes = [
            f"{self.hours:g} hours per month; on-demand USD prices from prices.json (as of "
            f"{self.prices.as_of}). Taxes, support plans, savings plans and free tiers are not included.",
            f"Usage: {u.requests:,.0f} requests/month, {u.gb_out:g} GB out, traffic in {u.active_share:.0%} "
            "of the hours; usage-driven lines follow these inputs (see `dify-on-aws cost --help`).",
        ]
        if self.fallback:
            notes.append(
                f"Prices missing for {self.result.region} are taken from {self.fallback} (marked ~): "
                "a proxy, not a sourced price for the region."
            )
        if any(line.dimension.startswith("fargate_spot.") for line in self.result.lines):
            notes.append(
                "Fargate Spot is priced at on-demand x (1 - fargate_spot.discount_fraction); the real "
                "discount floats and tasks can be interrupted."
            )
        return notes


# --- pricing rules ------------------------------------------------------------------------------------


def _service_schedule(p: _Pricer, res: _Res) -> WeeklySchedule | None:
    """The weekly schedule of the scalable target that scales this service, if it has one."""
    name = res.text("ServiceName")
    for target in p.of_type("AWS::ApplicationAutoScaling::ScalableTarget"):
        if target.stack != res.stack or target.text("ScalableDimension") != "ecs:service:DesiredCount":
            continue
        resource_id = _literal(target.props.get("ResourceId"), target.params)
        named = bool(name) and isinstance(resource_id, str) and resource_id.endswith(f"/{name}")
        if res.id in _refs(target.props.get("ResourceId")) or named:
            return weekly_schedule(target.props.get("ScheduledActions") or [])
    return None


def _running_tasks(p: _Pricer, res: _Res) -> tuple[float, WeeklySchedule | None, str]:
    """Tasks while the service runs, its weekly schedule (None: every hour) and a note on the count."""
    parsed = res.num("DesiredCount")
    if parsed is not None:
        count, note = parsed, ""
    elif "DesiredCount" not in res.props:
        count, note = 1.0, "DesiredCount not set: CloudFormation starts 1 task"
    else:
        count, note = 1.0, "DesiredCount is resolved at deploy time: 1 task assumed"
    schedule = _service_schedule(p, res)
    if schedule is not None and schedule.tasks and schedule.tasks != count:
        # After the first stop and start, the start action's minimum is what runs.
        count, note = schedule.tasks, f"{schedule.tasks:g} task(s) while running (the schedule's MinCapacity)"
    return count, schedule, note


@dataclass
class _ScheduledLines:
    """Adds a service's fixed lines for its running share of the hours and sums what the schedule saves."""

    p: _Pricer
    res: _Res
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


def _ecs_service(p: _Pricer, res: _Res) -> None:
    task = p.get(res, res.props.get("TaskDefinition"))
    if task is None or task.type != "AWS::ECS::TaskDefinition":
        p.add(
            res, "ECS service, task definition not in the template", "fargate.task", 1, "service", usage=False
        )
        return
    count, schedule, note = _running_tasks(p, res)
    split, split_note = _capacity_split(p, res, task, count)
    note = "; ".join(n for n in (note, split_note) if n)
    # Fargate bills the task's Cpu and Memory, however many containers share them.
    cpu = task.num("Cpu")
    memory = task.num("Memory")
    platform = task.props.get("RuntimePlatform") or {}
    arch = str(_literal(platform.get("CpuArchitecture"), task.params) or "X86_64").upper()
    family = str(_literal(platform.get("OperatingSystemFamily"), task.params) or "LINUX").upper()
    os_arch = ("linux_" if family == "LINUX" else "windows_") + ("arm" if arch == "ARM64" else "x86")
    fargate = {k: v for k, v in split.items() if k in ("FARGATE", "FARGATE_SPOT")}
    if not fargate:
        p.free(res, f"runs on {', '.join(split) or 'EC2'} capacity (priced with those instances)")
        return
    if cpu is None or memory is None:
        tasks = sum(fargate.values())
        p.add(
            res, "Fargate task of a size resolved at deploy time", "fargate.task", tasks, "tasks", usage=False
        )
        return
    h = p.hours
    out = _ScheduledLines(p, res, schedule)
    for provider, tasks in fargate.items():
        spot = provider == "FARGATE_SPOT"
        label = "Spot" if spot else "on-demand"
        for what, size, unit, key in (
            ("vCPU", cpu / 1024, "vCPU-h", f"fargate.{os_arch}.vcpu_hour"),
            ("memory", memory / 1024, "GB-h", f"fargate.{os_arch}.gb_hour"),
        ):
            price = _spot(p, key, res.region) if spot else p.price(key, res.region)
            size_text = f"{size:g} vCPU" if what == "vCPU" else f"{size:g} GB"
            sizing = f"{tasks:g} task(s) x {size_text} x {h * out.share:g} h"
            out.add(f"Fargate {arch} {what}, {label}", price, tasks * size * h, unit, sizing, note)
    _task_extras(out, task, sum(fargate.values()))
    out.record()


def _task_extras(out: _ScheduledLines, task: _Res, tasks: float) -> None:
    """Ephemeral storage above the free 20 GiB and the public IPv4 address of each running task."""
    p, res = out.p, out.res
    storage = _number((task.props.get("EphemeralStorage") or {}).get("SizeInGiB"), task.params) or 0.0
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
    if _literal(awsvpc.get("AssignPublicIp"), res.params) == "ENABLED":
        # Each running task holds its own public IPv4 address, billed per hour like any other.
        out.add(
            "public IPv4 address per task",
            p.price("vpc.public_ipv4.hour", res.region),
            tasks * p.hours,
            "IP-h",
            f"{tasks:g} running task(s), AssignPublicIp ENABLED",
        )


def _spot(p: _Pricer, key: str, region: str) -> Price:
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


def _capacity_split(p: _Pricer, res: _Res, task: _Res, count: float) -> tuple[dict[str, float], str]:
    """Tasks per capacity provider: bases first, the rest by weight (as ECS places them)."""
    strategy = res.props.get("CapacityProviderStrategy")
    note = ""
    if not strategy:
        launch = res.text("LaunchType")
        if launch:
            return {launch: count}, ""
        cluster = _target(res.props.get("Cluster"))
        for assoc in p.of_type("AWS::ECS::ClusterCapacityProviderAssociations"):
            if assoc.stack == res.stack and _target(assoc.props.get("Cluster")) == cluster:
                strategy = assoc.props.get("DefaultCapacityProviderStrategy") or None
        if not strategy:
            compat = task.props.get("RequiresCompatibilities") or []
            if "FARGATE" in compat:
                return {"FARGATE": count}, "no launch type or capacity provider: FARGATE assumed"
            return {"EC2": count}, ""
        note = "cluster default capacity provider strategy"
    items: list[tuple[str, float, float]] = []
    for item in strategy:
        provider = _literal(item.get("CapacityProvider"), res.params)
        name = str(provider) if isinstance(provider, str) else "EC2"
        items.append(
            (
                name,
                _number(item.get("Base"), res.params) or 0.0,
                _number(item.get("Weight"), res.params) or 0.0,
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


def _task_definition(p: _Pricer, res: _Res) -> None:
    used = any(
        _target(s.props.get("TaskDefinition")) == res.id
        for s in p.of_type("AWS::ECS::Service")
        if s.stack == res.stack
    )
    if used:
        p.free(res, "priced on the ECS service that runs it")
    else:
        p.free(
            res,
            "not run by an ECS service in the template (one-off task such as migrations: ~0)",
            deploy_time=True,
        )


def _ecs_cluster(p: _Pricer, res: _Res) -> None:
    insights = [
        str(_literal(s.get("Value"), res.params))
        for s in res.props.get("ClusterSettings") or []
        if s.get("Name") == "containerInsights"
    ]
    if insights and insights[0] in ("enabled", "enhanced"):
        p.add(
            res,
            f"Container Insights ({insights[0]})",
            "cloudwatch.container_insights",
            1,
            "cluster",
            usage=False,
        )
    else:
        p.free(res, "no charge (Container Insights off)")


def _engine_key(engine: str) -> str:
    return {"redis": "redis_oss", "valkey": "valkey", "memcached": "memcached"}.get(
        engine.lower(), _key_part(engine)
    )


def _replication_group(p: _Pricer, res: _Res) -> None:
    if res.props.get("PrimaryClusterId"):
        p.free(res, "nodes are priced on the cache cluster it is built from")
        return
    engine = _engine_key(res.text("Engine", "redis"))
    node = res.text("CacheNodeType", "unknown")
    note = ""
    groups = res.num("NumNodeGroups")
    node_groups = res.props.get("NodeGroupConfiguration")
    replicas = res.num("ReplicasPerNodeGroup") or 0.0
    if groups is not None:
        nodes = groups * (replicas + 1)
    elif isinstance(node_groups, list) and node_groups:
        nodes = sum(1 + (_number(g.get("ReplicaCount"), res.params) or replicas) for g in node_groups)
    elif res.num("NumCacheClusters") is not None:
        nodes = res.num("NumCacheClusters") or 0.0
    else:
        nodes, note = 1.0, "node count not set: 1 assumed"
    p.add(
        res,
        f"ElastiCache {engine} {node} nodes",
        f"elasticache.{engine}.{_key_part(node)}.hour",
        nodes * p.hours,
        "node-h",
        usage=False,
        note="; ".join(n for n in (f"{nodes:g} node(s)", note) if n),
    )


def _cache_cluster(p: _Pricer, res: _Res) -> None:
    engine = _engine_key(res.text("Engine", "redis"))
    node = res.text("CacheNodeType", "unknown")
    nodes = res.num("NumCacheNodes") or 1.0
    p.add(
        res,
        f"ElastiCache {engine} {node} nodes",
        f"elasticache.{engine}.{_key_part(node)}.hour",
        nodes * p.hours,
        "node-h",
        usage=False,
        note=f"{nodes:g} node(s)",
    )


def _serverless_cache(p: _Pricer, res: _Res) -> None:
    engine = _engine_key(res.text("Engine", "valkey"))
    minimum = p.price(f"elasticache_serverless.{engine}.min_gb", res.region).price or 0.0
    stored = max(p.usage.cache_gb, minimum)
    p.add(
        res,
        f"ElastiCache Serverless {engine} data stored",
        f"elasticache_serverless.{engine}.gb_hour",
        stored * p.hours,
        "GB-h",
        usage=True,
        note=f"{stored:g} GB (usage cache_gb, at least the metered minimum)",
    )
    p.add(
        res,
        f"ElastiCache Serverless {engine} ECPUs",
        f"elasticache_serverless.{engine}.per_million_ecpu",
        p.usage.requests * p.usage.cache_ecpu_per_request / 1e6,
        "1M ECPU",
        usage=True,
    )


def _db_cluster(p: _Pricer, res: _Res) -> None:
    engine = res.text("Engine", "aurora-postgresql")
    if not engine.startswith("aurora"):
        p.add(
            res,
            f"RDS Multi-AZ DB cluster ({engine})",
            f"rds_cluster.{_key_part(engine)}",
            1,
            "cluster",
            usage=False,
        )
        return
    if res.text("EngineMode") == "serverless":
        p.add(res, "Aurora Serverless v1 cluster", "aurora_sv1.cluster", 1, "cluster", usage=False)
        return
    tier = "io_optimized" if res.text("StorageType") == "aurora-iopt1" else "standard"
    p.add(
        res,
        f"Aurora storage ({tier.replace('_', '-')})",
        f"aurora.storage_gb_month_{tier}",
        p.usage.db_storage_gb,
        "GB-month",
        usage=True,
        note="billed while paused too; backups up to the database size are free",
    )
    if tier == "standard":
        p.add(
            res, "Aurora I/O requests", "aurora.io_per_million", p.usage.db_io_millions, "1M I/O", usage=True
        )


def _db_instance(p: _Pricer, res: _Res) -> None:
    cluster = p.get(res, res.props.get("DBClusterIdentifier"))
    cls = res.text("DBInstanceClass", "unknown")
    if cluster is not None:
        engine = cluster.text("Engine", "aurora-postgresql")
        family = "aurora_pg" if "postgres" in engine else "aurora_mysql"
        tier = "io_optimized" if cluster.text("StorageType") == "aurora-iopt1" else "standard"
        if cls != "db.serverless":
            p.add(res, f"Aurora {cls} instance", f"{family}.{_key_part(cls)}.hour", p.hours, "h", usage=False)
            return
        scaling = cluster.props.get("ServerlessV2ScalingConfiguration") or {}
        low = _number(scaling.get("MinCapacity"), cluster.params)
        high = _number(scaling.get("MaxCapacity"), cluster.params)
        key = f"{family}_sv2.acu_hour_{tier}"
        upto = f"; scaling up to {high:g} ACU costs more" if high is not None else ""
        if low == 0:
            hours = p.hours * p.usage.active_share
            p.add(
                res,
                "Aurora Serverless v2 capacity (auto-pause)",
                key,
                AURORA_AWAKE_MIN_ACU * hours,
                "ACU-h",
                usage=True,
                note=f"MinCapacity 0 pauses when idle: {AURORA_AWAKE_MIN_ACU:g} ACU for the active "
                f"{p.usage.active_share:.0%} of hours{upto}",
            )
            return
        if low is None:
            low, upto = AURORA_AWAKE_MIN_ACU, "; MinCapacity unresolved: 0.5 assumed" + upto
        p.add(
            res,
            "Aurora Serverless v2 minimum capacity",
            key,
            low * p.hours,
            "ACU-h",
            usage=False,
            note=f"{low:g} ACU x {p.hours:g} h{upto}",
        )
        return
    engine = res.text("Engine", "postgres")
    family = {"postgres": "rds_pg", "mysql": "rds_mysql"}.get(engine, f"rds_{_key_part(engine)}")
    copies = 2 if _literal(res.props.get("MultiAZ"), res.params) in (True, "true") else 1
    note = "Multi-AZ: x2" if copies == 2 else ""
    p.add(
        res,
        f"RDS {engine} {cls}",
        f"{family}.{_key_part(cls)}.hour",
        copies * p.hours,
        "h",
        usage=False,
        note=note,
    )
    size = res.num("AllocatedStorage")
    if size:
        kind = res.text("StorageType", "gp2")
        p.add(
            res,
            f"RDS {kind} storage",
            f"rds.{_key_part(kind)}_storage_gb_month",
            copies * size,
            "GB-month",
            usage=False,
            note=note,
        )


def _load_balancer(p: _Pricer, res: _Res) -> None:
    kind = res.text("Type", "application")
    public = res.text("Scheme", "internet-facing") == "internet-facing"
    mappings = res.props.get("SubnetMappings")
    azs = _count(res.props.get("Subnets")) or _count(mappings)
    az_note = ""
    if azs is None:
        azs, az_note = 2, "subnets resolved at deploy time: 2 zones assumed"
    requests, gb = p.usage.requests, p.usage.gb_out
    if kind == "application":
        p.add(res, "Application Load Balancer hours", "alb.hour", p.hours, "h", usage=False)
        lcu = max(gb, requests / ALB_CONNECTIONS_PER_LCU_HOUR)
        p.add(
            res,
            "ALB load balancer capacity units",
            "alb.lcu_hour",
            lcu,
            "LCU-h",
            usage=True,
            note="max(GB processed, new connections / 90,000); one connection per request",
        )
    elif kind == "network":
        p.add(res, "Network Load Balancer hours", "nlb.hour", p.hours, "h", usage=False)
        p.add(
            res,
            "NLB capacity units",
            "nlb.nlcu_hour",
            max(gb, requests / NLB_FLOWS_PER_NLCU_HOUR),
            "NLCU-h",
            usage=True,
        )
    else:
        p.add(res, f"{kind} load balancer hours", f"{_key_part(kind)}_lb.hour", p.hours, "h", usage=False)
    if public and res.text("IpAddressType") != "dualstack-without-public-ipv4":
        with_eip = sum(1 for m in mappings or [] if isinstance(m, Mapping) and m.get("AllocationId"))
        addresses = max(azs - with_eip, 0)
        p.add(
            res,
            "public IPv4 addresses (one per zone)",
            "vpc.public_ipv4.hour",
            addresses * p.hours,
            "IP-h",
            usage=False,
            note="; ".join(n for n in (f"internet-facing in {azs} zone(s)", az_note) if n),
        )
    p.add_egress(res)


def _nat_gateway(p: _Pricer, res: _Res) -> None:
    count = len(p.of_type("AWS::EC2::NatGateway"))
    p.add(res, "NAT gateway hours", "nat_gateway.hour", p.hours, "h", usage=False)
    p.add(
        res,
        "NAT gateway data processed",
        "nat_gateway.gb_processed",
        p.usage.nat_gb / count,
        "GB",
        usage=True,
        note=f"usage nat_gb split over {count} gateway(s)" if count > 1 else "",
    )


def _eip(p: _Pricer, res: _Res) -> None:
    users = [
        r.type.split("::")[-1]
        for r in p.resources
        if r.stack == res.stack and res.id in _refs(r.props) and r.type != "AWS::EC2::EIPAssociation"
    ]
    note = f"used by {', '.join(sorted(set(users)))}" if users else ""
    p.add(
        res,
        "public IPv4 address (Elastic IP)",
        "vpc.public_ipv4.hour",
        p.hours,
        "IP-h",
        usage=False,
        note=note,
    )


def _instance(p: _Pricer, res: _Res) -> None:
    kind = res.text("InstanceType", "m1.small")
    p.add(
        res,
        f"EC2 {kind} instance (Linux)",
        f"ec2.{_key_part(kind)}.hour",
        p.hours,
        "h",
        usage=False,
        note="EBS volumes not included",
    )
    has_eip = any(
        r.stack == res.stack and _target(r.props.get("InstanceId")) == res.id
        for r in p.of_type("AWS::EC2::EIP", "AWS::EC2::EIPAssociation")
    )
    public = any(
        _literal(ni.get("AssociatePublicIpAddress"), res.params) in (True, "true")
        for ni in res.props.get("NetworkInterfaces") or []
        if isinstance(ni, Mapping)
    )
    subnet = p.get(res, res.props.get("SubnetId"))
    if subnet is not None and _literal(subnet.props.get("MapPublicIpOnLaunch"), subnet.params) in (
        True,
        "true",
    ):
        public = True
    if public and not has_eip:
        p.add(
            res, "public IPv4 address (auto-assigned)", "vpc.public_ipv4.hour", p.hours, "IP-h", usage=False
        )


def _volume(p: _Pricer, res: _Res) -> None:
    kind = res.text("VolumeType", "gp2")
    p.add(
        res,
        f"EBS {kind} volume",
        f"ebs.{_key_part(kind)}.gb_month",
        res.num("Size") or 0,
        "GB-month",
        usage=False,
    )


def _vpc_endpoint(p: _Pricer, res: _Res) -> None:
    kind = res.text("VpcEndpointType", "Gateway")
    if kind == "Gateway":
        p.free(res, "gateway endpoint (S3, DynamoDB): no charge")
        return
    azs = _count(res.props.get("SubnetIds"))
    note = "data processed ($/GB) not modelled"
    if azs is None:
        azs, note = 2, "subnets resolved at deploy time: 2 zones assumed; " + note
    key = (
        "vpc_endpoint.interface.hour_per_az"
        if kind == "Interface"
        else f"vpc_endpoint.{_key_part(kind)}.hour_per_az"
    )
    p.add(res, f"{kind} VPC endpoint, {azs} zone(s)", key, azs * p.hours, "AZ-h", usage=False, note=note)


def _secret(p: _Pricer, res: _Res) -> None:
    replicas = _count(res.props.get("ReplicaRegions")) or 0
    p.add(
        res,
        "Secrets Manager secret",
        "secrets_manager.secret.month",
        1 + replicas,
        "secret-month",
        usage=False,
        note=f"+{replicas} replica(s)" if replicas else "",
    )


def _kms_key(p: _Pricer, res: _Res) -> None:
    p.add(res, "KMS customer managed key", "kms.key.month", 1, "key-month", usage=False)


def _hosted_zone(p: _Pricer, res: _Res) -> None:
    note = ""
    if res.type.startswith("AWS::ServiceDiscovery::"):
        note = "the Route 53 hosted zone Cloud Map creates for a DNS namespace; runtime instances not priced"
    p.add(res, "Route 53 hosted zone", "route53.hosted_zone.month", 1, "zone-month", usage=False, note=note)


def _distribution(p: _Pricer, res: _Res) -> None:
    share = len(p.cdns)
    config = res.props.get("DistributionConfig") or {}
    note = "North America rate; always-free tier (1 TB, 10M requests) not subtracted"
    if _literal(config.get("Enabled"), res.params) in (False, "false"):
        note = "distribution disabled; " + note
    p.add(
        res,
        "CloudFront HTTPS requests",
        "cloudfront.https_requests_na.per_10k",
        p.usage.requests / share / 10_000,
        "10k req",
        usage=True,
        note=note,
    )
    p.add(
        res,
        "CloudFront data transfer out",
        "cloudfront.data_out_na_first_10tb.gb",
        p.usage.gb_out / share,
        "GB",
        usage=True,
        note="North America, first 10 TB; other edge regions cost more",
    )


def _cloudfront_function(p: _Pricer, res: _Res) -> None:
    p.add(
        res,
        "CloudFront Functions invocations",
        "cloudfront.functions.per_million",
        p.usage.requests / 1e6,
        "1M req",
        usage=True,
        note="assumes it runs on every request",
    )


def _api(p: _Pricer, res: _Res) -> None:
    share = p.usage.requests / len(p.apis) / 1e6 if res in p.apis else 0.0
    if res.type == "AWS::ApiGateway::RestApi":
        p.add(res, "API Gateway REST API requests", "apigw.rest.per_million", share, "1M req", usage=True)
    elif res.text("ProtocolType", "HTTP") == "WEBSOCKET":
        p.add(
            res, "API Gateway WebSocket messages", "apigw.websocket.per_million", share, "1M msg", usage=True
        )
    else:
        p.add(
            res,
            "API Gateway HTTP API requests",
            "apigw.http.per_million",
            share,
            "1M req",
            usage=True,
            note="first 300M/month tier; metered per 512 KB",
        )
    p.add_egress(res)


def _function(p: _Pricer, res: _Res) -> None:
    kind = p.function_kinds.get((res.stack, res.id))
    if kind is None:
        p.free(res, "not invoked by requests (custom resource or deploy-time helper): ~0", deploy_time=True)
        return
    memory_gb = (res.num("MemorySize") or 128.0) / 1024
    arm = "arm64" in (res.props.get("Architectures") or [])
    if kind == "event":
        p.add(
            res,
            "Lambda function invoked by events",
            "lambda.event_invocations",
            1,
            "function",
            usage=True,
            note="event-driven invocations are not modelled",
        )
        return
    n = p.kind_counts[kind]
    invocations = p.usage.requests / n
    duration = p.usage.duration_ms if kind == "backend" else p.usage.helper_duration_ms
    role = {"backend": "serves requests", "authorizer": "authorizer", "edge": "Lambda@Edge"}[kind]
    split = f"; requests split over {n} such functions" if n > 1 else ""
    gb_seconds = invocations * duration / 1000 * memory_gb
    if kind == "edge":
        keys = ("lambda_edge.per_million_requests", "lambda_edge.gb_second")
        region: str | None = GLOBAL
    else:
        keys = ("lambda.per_million_requests", f"lambda.{'arm' if arm else 'x86'}.gb_second")
        region = None
    p.add(
        res,
        f"Lambda requests ({role})",
        keys[0],
        invocations / 1e6,
        "1M req",
        usage=True,
        region=region,
        note=f"free tier not subtracted{split}",
    )
    p.add(
        res,
        f"Lambda duration ({role})",
        keys[1],
        gb_seconds,
        "GB-s",
        usage=True,
        region=region,
        note=f"{duration:g} ms x {memory_gb * 1024:g} MB",
    )


def _function_url(p: _Pricer, res: _Res) -> None:
    if res in p.egress:
        p.add_egress(res)
    else:
        p.free(res, "no charge (invocations are priced on the function)")


def _alias_or_version(p: _Pricer, res: _Res) -> None:
    provisioned = (res.props.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
    count = _number(provisioned, res.params)
    if not count:
        p.free(res, "no charge")
        return
    fn = p.index.get((res.stack, p.function_of(res.stack, res.id) or ""))
    memory_gb = ((fn.num("MemorySize") if fn else None) or 128.0) / 1024
    p.add(
        res,
        "Lambda provisioned concurrency",
        "lambda.provisioned_concurrency.gb_second",
        count * memory_gb * p.hours * 3600,
        "GB-s",
        usage=False,
    )


def _web_acl(p: _Pricer, res: _Res) -> None:
    scope = res.text("Scope", "REGIONAL")
    region = "us-east-1" if scope == "CLOUDFRONT" else res.region
    rules = res.props.get("Rules") or []
    paid = sorted({name for name in WAF_PAID_RULE_GROUPS if name in json.dumps(rules)})
    acls = len(p.of_type("AWS::WAFv2::WebACL"))
    p.add(res, f"WAF web ACL ({scope})", "waf.web_acl.month", 1, "ACL-month", usage=False, region=region)
    p.add(
        res,
        "WAF rules and rule groups",
        "waf.rule.month",
        len(rules),
        "rule-month",
        usage=False,
        region=region,
        note=f"{', '.join(paid)} also bill subscription and request fees (not included)" if paid else "",
    )
    p.add(
        res,
        "WAF requests inspected",
        "waf.per_million_requests",
        p.usage.requests / acls / 1e6,
        "1M req",
        usage=True,
        region=region,
        note="every front-door request inspected",
    )


def _flow_log(p: _Pricer, res: _Res) -> None:
    destination = res.text("LogDestinationType", "cloud-watch-logs")
    key = (
        "cloudwatch_logs.ingest.gb"
        if destination == "cloud-watch-logs"
        else f"vpc_flow_logs.{_key_part(destination)}.gb"
    )
    p.add(
        res,
        f"VPC flow log delivery ({destination})",
        key,
        p.usage.flow_log_gb,
        "GB",
        usage=True,
        note="vended-log rate assumed equal to standard ingestion",
    )


def _ssm_parameter(p: _Pricer, res: _Res) -> None:
    if res.text("Tier", "Standard") == "Advanced":
        p.add(
            res,
            "SSM advanced parameter",
            "ssm_parameter_store.advanced.month",
            1,
            "parameter-month",
            usage=False,
        )
    else:
        p.free(res, "standard parameter: no charge")


def _backup_plan(p: _Pricer, res: _Res) -> None:
    p.add(
        res,
        "AWS Backup storage",
        "backup.storage.gb_month",
        p.usage.db_storage_gb,
        "GB-month",
        usage=True,
        note="assumes one full copy of the database storage",
    )


def _lattice_service(p: _Pricer, res: _Res) -> None:
    p.add(res, "VPC Lattice service hours", "vpc_lattice.service.hour", p.hours, "h", usage=False)


def _state_machine(p: _Pricer, res: _Res) -> None:
    p.free(
        res,
        "priced per state transition when it runs (CDK provider waiters run at deploy time): ~0",
        deploy_time=True,
    )


RULES: dict[str, Callable[[_Pricer, _Res], None]] = {
    "AWS::ECS::Service": _ecs_service,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::ECS::Cluster": _ecs_cluster,
    "AWS::ElastiCache::ReplicationGroup": _replication_group,
    "AWS::ElastiCache::CacheCluster": _cache_cluster,
    "AWS::ElastiCache::ServerlessCache": _serverless_cache,
    "AWS::RDS::DBCluster": _db_cluster,
    "AWS::RDS::DBInstance": _db_instance,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::EC2::NatGateway": _nat_gateway,
    "AWS::EC2::EIP": _eip,
    "AWS::EC2::Instance": _instance,
    "AWS::EC2::Volume": _volume,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::EC2::FlowLog": _flow_log,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::ReplicaKey": _kms_key,
    "AWS::Route53::HostedZone": _hosted_zone,
    "AWS::ServiceDiscovery::PrivateDnsNamespace": _hosted_zone,
    "AWS::ServiceDiscovery::PublicDnsNamespace": _hosted_zone,
    "AWS::CloudFront::Distribution": _distribution,
    "AWS::CloudFront::Function": _cloudfront_function,
    "AWS::ApiGatewayV2::Api": _api,
    "AWS::ApiGateway::RestApi": _api,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Url": _function_url,
    "AWS::Lambda::Alias": _alias_or_version,
    "AWS::Lambda::Version": _alias_or_version,
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::SSM::Parameter": _ssm_parameter,
    "AWS::Backup::BackupPlan": _backup_plan,
    "AWS::VpcLattice::Service": _lattice_service,
    "AWS::StepFunctions::StateMachine": _state_machine,
}


def price_templates(
    templates: Mapping[str, Template],
    *,
    region: str,
    usage: Usage,
    hours: float,
    prices: PriceBook,
    fallback_region: str | None,
    stack_regions: Mapping[str, str],
) -> Estimate:
    """Run every rule over the templates (stack name -> template) of one deployment."""
    return _Pricer(
        templates,
        region=region,
        usage=usage,
        hours=hours,
        prices=prices,
        fallback_region=fallback_region,
        stack_regions=stack_regions,
    ).run()
