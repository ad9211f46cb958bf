"""`[network]`: the VPC."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from dify_on_aws.config.base import Section


class NetworkConfig(Section):
    """The VPC: public subnets for NAT (and internet-facing load balancers), private ones for the rest."""

    cidr: str = Field("10.0.0.0/16", description="IPv4 CIDR of the new VPC (a /16 to /22).")
    max_azs: int = Field(2, ge=2, le=3, description="Availability zones to spread subnets over.")
    nat_gateways: int = Field(
        1,
        ge=0,
        le=3,
        description="NAT gateways for egress (image pulls, model APIs); at most `max_azs`. `0`: no NAT "
        "(about $33/month less): tasks run in the public subnets with public IPs, behind security groups "
        "that admit nothing from the internet; data stores stay in isolated subnets.",
    )
    availability_zones: list[str] | None = Field(
        None,
        description="Explicit zone names of your account (`aws ec2 describe-availability-zones`); exactly "
        "`max_azs` of them; needs `region`. Without them a stack with `account` and "
        "`region` uses CDK's availability-zones lookup, recorded in cdk.context.json by the first "
        "`cdk synth` with credentials (`dify-on-aws synth` stops with exit 2 until it is recorded); "
        "names are never guessed, since `<region>b` may not exist for your account.",
    )
    flow_logs: bool = Field(False, description="Send VPC flow logs to CloudWatch Logs (costs per GB).")
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
        if isinstance(data, dict) and data.get("closed") is True and "nat_gateways" not in data:
            return {**data, "nat_gateways": 0}
        return data

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"is not a valid IPv4 network in CIDR form ({exc})") from None
        if not 16 <= net.prefixlen <= 22:
            raise ValueError("prefix length must be between /16 and /22")
        if not net.is_private:
            raise ValueError("must be a private (RFC 1918) range, e.g. 10.0.0.0/16")
        return value

    @model_validator(mode="after")
    def _nat_within_azs(self) -> NetworkConfig:
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
