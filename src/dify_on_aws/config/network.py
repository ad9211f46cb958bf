"""`[network]`: the VPC, created by the stack or imported."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator, model_validator

from dify_on_aws.config.base import CrossFieldError, Section, cross_check

_VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
# EC2 instance type names: family (with generation and options) and size, e.g. t4g.nano, c7gn.medium.
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
SUBNET_KEYS = ("public_subnet_ids", "private_subnet_ids", "isolated_subnet_ids")
_BOOL = TypeAdapter(bool)


def _shown(value: object) -> str:
    """A value as the user wrote it in TOML (true, not True)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


class NetworkConfig(Section):
    """The VPC: public subnets for NAT (and internet-facing load balancers), private ones for the rest.
    With `vpc_id`, an existing VPC is used instead and never modified."""

    vpc_id: str | None = Field(
        None,
        description="Use this existing VPC (`vpc-...`) instead of creating one. The stack never modifies it: "
        "no routes, NAT, flow logs or default security group changes, only its own security groups. With "
        "`private_subnet_ids` (and `public_subnet_ids`, `isolated_subnet_ids`, `availability_zones`, "
        "`cidr`) it synthesizes offline; alone it is looked up (needs `account` and `region`; recorded "
        "in cdk.context.json by the first `cdk synth` with credentials). Tasks run in the private subnets, "
        "which must reach the internet (your NAT, proxy or transit gateway) to pull images and call "
        "model APIs.",
    )
    public_subnet_ids: list[str] = Field(
        default_factory=list,
        description="Imported VPC: public subnets, one per zone in `availability_zones` order. Needed only "
        "by an internet-facing `alb` front door.",
    )
    private_subnet_ids: list[str] = Field(
        default_factory=list,
        description="Imported VPC: private subnets with a route to the internet, one per zone in "
        "`availability_zones` order. Tasks, functions and internal load balancers go here (and the "
        "database and cache when `isolated_subnet_ids` is empty).",
    )
    isolated_subnet_ids: list[str] = Field(
        default_factory=list,
        description="Imported VPC: subnets without internet access for the database and the cache, one per "
        "zone in `availability_zones` order. Empty: they use `private_subnet_ids`.",
    )
    cidr: str = Field(
        "10.0.0.0/16",
        description="IPv4 CIDR of the new VPC (a private /16 to /22). With `vpc_id` and subnet IDs: the "
        "imported VPC's primary CIDR (required: security group rules and the SSRF proxy's deny list use it, "
        "and CDK cannot read it offline); with `vpc_id` alone it is looked up, so leave it out.",
    )
    max_azs: int = Field(
        2,
        ge=2,
        le=3,
        description="Availability zones to spread subnets over. 3 needs `account` and `region` (or `region` "
        "and `availability_zones`): an environment-agnostic template gets two zones from CDK.",
    )
    nat_gateways: int = Field(
        1,
        ge=0,
        le=3,
        description='NAT gateways (or instances, with `nat = "instance"`) for egress (image pulls, model '
        "APIs); at most `max_azs`. `0`: no NAT (about $33/month less): tasks run in the public subnets with "
        "public IPs, behind security groups that admit nothing from the internet; data stores stay in "
        "isolated subnets. Not with `vpc_id`: an imported VPC brings its own egress.",
    )
    nat: Literal["gateway", "instance"] = Field(
        "gateway",
        description="`gateway`: managed NAT gateways. `instance`: NAT instances (`nat_instance_type`, Amazon "
        "Linux 2023, SSM Session Manager instead of SSH), about $30/month less per zone but one instance "
        "per NAT with no automatic failover and the instance's bandwidth (README, Network).",
    )
    nat_instance_type: str = Field(
        "t4g.nano",
        description='EC2 instance type of each NAT instance (`nat = "instance"`); Graviton (`...g`) types '
        "get the arm64 image.",
    )
    availability_zones: list[str] | None = Field(
        None,
        description="Explicit zone names of your account (`aws ec2 describe-availability-zones`); exactly "
        "`max_azs` of them (for an imported VPC: the zones of its subnets, in the order of the subnet "
        "lists); needs `region`. Without them a stack with `account` and "
        "`region` uses CDK's availability-zones lookup, recorded in cdk.context.json by the first "
        "`cdk synth` with credentials (`dify-on-aws synth` stops with exit 2 until it is recorded); "
        "names are never guessed, since `<region>b` may not exist for your account.",
    )
    flow_logs: bool = Field(
        False, description="Send VPC flow logs to CloudWatch Logs (costs per GB). Not with `vpc_id`."
    )

    closed: bool = Field(
        False,
        description="A closed network (docs/closed-network.md): isolated subnets only, no internet gateway, "
        "no NAT (`nat_gateways` defaults to 0 and must stay 0), AWS services through VPC endpoints. Needs an "
        "internal front door (`front_door.type = 'alb'` with `internal = true`), images from ECR "
        "(`dify-on-aws mirror-images`), and the plugin marketplace is turned off (plugins are installed by "
        "uploading `.difypkg` files, signature checks stay on).",
    )
    endpoints: bool = Field(
        True,
        description="`closed` only: create the VPC endpoints the deployment needs (ECR, S3 gateway, "
        "CloudWatch Logs, Secrets Manager, SSM messages, Bedrock when `services.bedrock`); interface "
        "endpoints cost per hour in each zone (see `dify-on-aws cost`). `false`: the VPC already has them; "
        "`dify-on-aws validate --vpc-id VPC` lists the missing ones.",
    )

    @model_validator(mode="before")
    @classmethod
    def _closed_without_nat(cls, data: object) -> object:
        """A closed network has no NAT: `nat_gateways` defaults to 0 there instead of 1."""
        if not isinstance(data, dict) or data.get("vpc_id") is not None or "nat_gateways" in data:
            return data
        return {**data, "nat_gateways": 0} if _true(data.get("closed", False)) else data

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, value: str | None) -> str | None:
        if value is not None and not _VPC_ID.fullmatch(value):
            raise ValueError("must be a VPC ID such as 'vpc-0123456789abcdef0'")
        return value

    @field_validator(*SUBNET_KEYS)
    @classmethod
    def _subnet_ids(cls, value: list[str]) -> list[str]:
        wrong = [s for s in value if not _SUBNET_ID.fullmatch(s)]
        if wrong:
            raise ValueError(f"{wrong} are not subnet IDs such as 'subnet-0123456789abcdef0'")
        if len(set(value)) != len(value):
            raise ValueError("lists a subnet twice; give one subnet per zone")
        return value

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str, info: ValidationInfo) -> str:
        _check_cidr(value, imported=info.data.get("vpc_id") is not None)
        return value

    @field_validator("nat_instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not _INSTANCE_TYPE.fullmatch(value):
            raise ValueError("must be an EC2 instance type such as 't4g.nano' or 't3.micro'")
        return value

    @property
    def imported(self) -> bool:
        """An existing VPC (looked up, or described by subnet IDs) instead of a new one."""
        return self.vpc_id is not None

    @property
    def explicit_subnets(self) -> bool:
        """Subnet IDs given: the imported VPC is described offline, without a lookup."""
        return any(getattr(self, key) for key in SUBNET_KEYS)

    @property
    def egress(self) -> bool:
        """Private subnets reach the internet: through our NAT, or (assumed) the imported VPC's own, unless
        the network is closed."""
        return not self.closed and (self.imported or self.nat_gateways > 0)

    def changed(self, key: str) -> bool:
        """The key differs from its default. (Not "was given": a config dumped and parsed again has every
        key given, and must stay valid.)"""
        return bool(getattr(self, key) != type(self).model_fields[key].default)

    @cross_check
    def _nat_within_azs(self) -> NetworkConfig:
        if self.imported:
            return self
        if self.nat_gateways > self.max_azs:
            raise ValueError(
                f"nat_gateways ({self.nat_gateways}) cannot exceed max_azs ({self.max_azs}); "
                "use at most one NAT gateway per zone"
            )
        if self.availability_zones is not None and len(self.availability_zones) != self.max_azs:
            raise ValueError(
                f"availability_zones lists {len(self.availability_zones)} zones but max_azs is "
                f"{self.max_azs}; list exactly max_azs zones"
            )
        if self.closed and self.nat_gateways:
            raise ValueError(
                f"closed = true has no internet gateway, so nat_gateways = {self.nat_gateways} cannot work; "
                "remove nat_gateways (it defaults to 0 in a closed network) or set closed = false"
            )
        if not self.endpoints and not self.closed:
            raise ValueError(
                "endpoints = false only applies to a closed network (closed = true); remove endpoints"
            )
        return self

    @cross_check
    def _nat_instance(self) -> NetworkConfig:
        if self.nat == "instance" and self.nat_gateways == 0 and not self.imported:
            raise ValueError(
                "nat = 'instance' with nat_gateways = 0 creates no NAT instance; set nat_gateways >= 1 "
                "(the number of NAT instances) or remove nat"
            )
        if self.changed("nat_instance_type") and self.nat != "instance" and not self.imported:
            raise ValueError(
                f"nat_instance_type = {self.nat_instance_type!r} applies only to NAT instances; set "
                "nat = 'instance' or remove nat_instance_type"
            )
        return self

    @cross_check
    def _subnets_need_vpc(self) -> NetworkConfig:
        if self.explicit_subnets and not self.imported:
            given = [key for key in SUBNET_KEYS if getattr(self, key)]
            raise ValueError(
                f"{', '.join(given)} describe an existing VPC; set vpc_id to its ID, or remove them to "
                "create a new VPC"
            )
        return self

    @cross_check
    def _imported_vpc_is_not_ours(self) -> NetworkConfig:
        """What only a VPC the stack creates can have: we never modify a VPC we do not own."""
        if not self.imported:
            return self
        fixes = {
            "nat_gateways": "an imported VPC keeps its own egress (NAT, proxy or transit gateway)",
            "nat": "an imported VPC keeps its own egress; the stack adds no NAT to it",
            "nat_instance_type": "the stack adds no NAT instance to an imported VPC",
            "max_azs": "the zones are those of the imported subnets",
            "flow_logs": "turn on flow logs where the VPC is managed; the stack adds none to a VPC it does "
            "not own",
        }
        problems = [
            f"{key} = {_shown(getattr(self, key))} cannot be used with vpc_id ({why}); remove {key}"
            for key, why in fixes.items()
            if self.changed(key)
        ]
        if problems:
            raise CrossFieldError(problems)
        return self

    @cross_check
    def _imported_subnets(self) -> NetworkConfig:
        problems = _subnet_problems(self) if self.imported else []
        if problems:
            raise CrossFieldError(problems)
        return self


def _true(value: object) -> bool:
    """Whether a boolean field reads `value` as true (`"true"` too); False for what it rejects."""
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return False  # the field reports the value


def _check_cidr(value: str, *, imported: bool) -> None:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"is not a valid IPv4 network in CIDR form ({exc})") from None
    if imported:
        # An existing VPC: whatever AWS allowed it to be (/16 to /28, private or not).
        if not 16 <= net.prefixlen <= 28:
            raise ValueError("a VPC's CIDR is a /16 to /28; give the imported VPC's primary CIDR")
        return
    if not 16 <= net.prefixlen <= 22:
        raise ValueError("prefix length must be between /16 and /22")
    if not net.is_private:
        raise ValueError("must be a private (RFC 1918) range, e.g. 10.0.0.0/16")


def _subnet_problems(net: NetworkConfig) -> list[str]:
    """What an imported VPC's description lacks: subnet IDs with their zones and CIDR, or (looked up) keys
    the lookup answers itself."""
    if not net.explicit_subnets:
        return [
            f"{key} = {_shown(getattr(net, key))} with vpc_id alone: the lookup reads it from the VPC; "
            "remove it, or describe the VPC offline with private_subnet_ids (and the other subnet IDs)"
            for key in ("cidr", "availability_zones")
            if net.changed(key)
        ]
    problems: list[str] = []
    zones = net.availability_zones or []
    if not net.private_subnet_ids:
        problems.append(
            "vpc_id with subnet IDs needs private_subnet_ids (private subnets with a route to the "
            "internet, where the tasks run); add them, or remove every *_subnet_ids to look the VPC up"
        )
    if len(zones) < 2:
        problems.append(
            "vpc_id with subnet IDs needs availability_zones: the zones of the subnets, in the order of "
            "the subnet lists, at least two (Aurora and ElastiCache subnet groups span two zones)"
        )
    for key in SUBNET_KEYS:
        ids = getattr(net, key)
        if ids and zones and len(ids) != len(zones):
            problems.append(
                f"{key} lists {len(ids)} subnets but availability_zones lists {len(zones)} zones; give "
                "one subnet per zone, in the order of availability_zones"
            )
    # Required although it has a default: the default is the new VPC's, not this VPC's.
    if "cidr" not in net.model_fields_set:
        problems.append(
            f"vpc_id with subnet IDs needs cidr: the VPC's primary IPv4 CIDR (`aws ec2 describe-vpcs "
            f"--vpc-ids {net.vpc_id} --query Vpcs[0].CidrBlock`), which CDK cannot read offline"
        )
    ids = [s for key in SUBNET_KEYS for s in getattr(net, key)]
    if len(set(ids)) != len(ids):
        problems.append("a subnet is listed under two of public/private/isolated_subnet_ids; list it once")
    return problems
