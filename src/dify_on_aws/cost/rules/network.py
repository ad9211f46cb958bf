"""Pricing rules for the network: load balancers, NAT gateways, Elastic IPs, EC2 instances and volumes,
VPC endpoints, flow logs, VPC Lattice and DNS (Route 53 and Cloud Map hosted zones)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dify_on_aws.cost.rules.common import Rule, count, key_part
from dify_on_aws.templates import Resource

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer

# ALB: one LCU covers 1 GB processed per hour or 25 new connections per second (other dimensions are
# assumed lower for a web app). Spread evenly, LCU-hours = max(GB, new connections / (25 x 3600)).
ALB_CONNECTIONS_PER_LCU_HOUR = 25 * 3600
NLB_FLOWS_PER_NLCU_HOUR = 800 * 3600


def _load_balancer(p: Pricer, res: Resource) -> None:
    kind = res.text("Type", "application")
    public = res.text("Scheme", "internet-facing") == "internet-facing"
    mappings = res.props.get("SubnetMappings")
    azs = count(res.props.get("Subnets")) or count(mappings)
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
        p.add(res, f"{kind} load balancer hours", f"{key_part(kind)}_lb.hour", p.hours, "h", usage=False)
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


def _nat_gateway(p: Pricer, res: Resource) -> None:
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


def _eip(p: Pricer, res: Resource) -> None:
    users = [
        r.type.split("::")[-1]
        for r in p.resources
        if r.stack == res.stack
        and res.key in p.t.refs(r.stack, r.props)
        and r.type != "AWS::EC2::EIPAssociation"
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


def _instance(p: Pricer, res: Resource) -> None:
    kind = res.text("InstanceType", "m1.small")
    notes = ["EBS volumes not included"]
    routes = [r for r in p.of_type("AWS::EC2::Route") if p.get(r, r.props.get("InstanceId")) == res]
    if routes:
        # A NAT instance: unlike a NAT gateway, nothing is billed per GB it forwards (usage nat_gb).
        notes.insert(0, f"NAT instance for {len(routes)} route(s): no per-GB processing charge")
    credits = res.props.get("CreditSpecification")
    mode = res.value(credits.get("CPUCredits")) if isinstance(credits, Mapping) else None
    if kind.startswith(("t3", "t4g")) and mode != "standard":
        # T3 and T4g instances launch with unlimited CPU credits unless told otherwise.
        notes.append("unlimited CPU credits: sustained CPU above the baseline is billed extra")
    p.add(
        res,
        f"EC2 {kind} instance (Linux)",
        f"ec2.{key_part(kind)}.hour",
        p.hours,
        "h",
        usage=False,
        note="; ".join(notes),
    )
    has_eip = any(
        r.stack == res.stack and p.get(r, r.props.get("InstanceId")) == res
        for r in p.of_type("AWS::EC2::EIP", "AWS::EC2::EIPAssociation")
    )
    public = any(
        res.value(ni.get("AssociatePublicIpAddress")) in (True, "true")
        for ni in res.props.get("NetworkInterfaces") or []
        if isinstance(ni, Mapping)
    )
    subnet = p.get(res, res.props.get("SubnetId"))
    if subnet is not None and subnet.value(subnet.props.get("MapPublicIpOnLaunch")) in (
        True,
        "true",
    ):
        public = True
    if public and not has_eip:
        p.add(
            res, "public IPv4 address (auto-assigned)", "vpc.public_ipv4.hour", p.hours, "IP-h", usage=False
        )


def _volume(p: Pricer, res: Resource) -> None:
    kind = res.text("VolumeType", "gp2")
    size = res.num("Size") or 0
    p.add(res, f"EBS {kind} volume", f"ebs.{key_part(kind)}.gb_month", size, "GB-month", usage=False)


def _vpc_endpoint(p: Pricer, res: Resource) -> None:
    kind = res.text("VpcEndpointType", "Gateway")
    if kind == "Gateway":
        p.free(res, "gateway endpoint (S3, DynamoDB): no charge")
        return
    azs = count(res.props.get("SubnetIds"))
    note = "data processed ($/GB) not modelled"
    if azs is None:
        azs, note = 2, "subnets resolved at deploy time: 2 zones assumed; " + note
    key = (
        "vpc_endpoint.interface.hour_per_az"
        if kind == "Interface"
        else f"vpc_endpoint.{key_part(kind)}.hour_per_az"
    )
    p.add(res, f"{kind} VPC endpoint, {azs} zone(s)", key, azs * p.hours, "AZ-h", usage=False, note=note)


def _hosted_zone(p: Pricer, res: Resource) -> None:
    note = ""
    if res.type.startswith("AWS::ServiceDiscovery::"):
        note = "the Route 53 hosted zone Cloud Map creates for a DNS namespace; runtime instances not priced"
    p.add(res, "Route 53 hosted zone", "route53.hosted_zone.month", 1, "zone-month", usage=False, note=note)


def _flow_log(p: Pricer, res: Resource) -> None:
    destination = res.text("LogDestinationType", "cloud-watch-logs")
    key = (
        "cloudwatch_logs.ingest.gb"
        if destination == "cloud-watch-logs"
        else f"vpc_flow_logs.{key_part(destination)}.gb"
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


def _lattice_service(p: Pricer, res: Resource) -> None:
    p.add(res, "VPC Lattice service hours", "vpc_lattice.service.hour", p.hours, "h", usage=False)


RULES: dict[str, Rule] = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::EC2::NatGateway": _nat_gateway,
    "AWS::EC2::EIP": _eip,
    "AWS::EC2::Instance": _instance,
    "AWS::EC2::Volume": _volume,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::EC2::FlowLog": _flow_log,
    "AWS::VpcLattice::Service": _lattice_service,
    "AWS::Route53::HostedZone": _hosted_zone,
    "AWS::ServiceDiscovery::PrivateDnsNamespace": _hosted_zone,
    "AWS::ServiceDiscovery::PublicDnsNamespace": _hosted_zone,
}
