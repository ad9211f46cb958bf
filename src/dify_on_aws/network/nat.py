"""NAT instances: the cheap alternative to NAT gateways for a VPC the stack creates.

CDK's NatInstanceProviderV2 places one Amazon Linux 2023 instance in a public subnet per NAT, turns off its
source/destination check (a NAT forwards traffic that is neither from nor to itself) and routes the private
subnets of each zone to it. Here it gets no key pair and no SSH: Session Manager through the instance role,
IMDSv2 only, and a security group that admits only the VPC."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from dify_on_aws.nag import acknowledge

SSM_POLICY = "AmazonSSMManagedInstanceCore"
# The root device of Amazon Linux 2023 images.
ROOT_DEVICE = "/dev/xvda"


def nat_instances(instance_type: str) -> ec2.NatInstanceProviderV2:
    """The provider to hand to `ec2.Vpc(nat_gateway_provider=...)`; call `harden` once the VPC exists."""
    kind = ec2.InstanceType(instance_type)
    arm = kind.architecture == ec2.InstanceArchitecture.ARM_64
    return ec2.NatProvider.instance_v2(
        instance_type=kind,
        # The current Amazon Linux 2023 image from its public SSM parameter, resolved at deploy time.
        machine_image=ec2.MachineImage.latest_amazon_linux2023(
            cpu_type=ec2.AmazonLinuxCpuType.ARM_64 if arm else ec2.AmazonLinuxCpuType.X86_64
        ),
        # Inbound is opened below, to the VPC only (the default admits all of IPv4).
        default_allowed_traffic=ec2.NatTrafficDirection.OUTBOUND_ONLY,
    )


def harden(provider: ec2.NatInstanceProviderV2, *, vpc: ec2.IVpc, vpc_cidr: str) -> None:
    """Admit only the VPC (`vpc_cidr`), manage through Session Manager, require IMDSv2, encrypt the root
    volume, and acknowledge what cdk-nag reports about a deliberately small, stateless instance."""
    provider.connections.allow_from(
        ec2.Peer.ipv4(vpc_cidr), ec2.Port.all_traffic(), "Traffic from the VPC to translate"
    )
    for instance in provider.gateway_instances:
        # Its user data installs iptables from the Amazon Linux repositories at first boot, through the
        # internet gateway: the public subnets' default routes must exist before it starts.
        for subnet in vpc.public_subnets:
            instance.node.add_dependency(subnet.internet_connectivity_established)
        instance.role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(SSM_POLICY))
        cfn = instance.instance
        cfn.metadata_options = ec2.CfnInstance.MetadataOptionsProperty(
            http_endpoint="enabled", http_tokens="required"
        )
        # The image's root volume (its size from the image), encrypted with the account's EBS key.
        cfn.block_device_mappings = [
            ec2.CfnInstance.BlockDeviceMappingProperty(
                device_name=ROOT_DEVICE,
                ebs=ec2.CfnInstance.EbsProperty(
                    encrypted=True, volume_type="gp3", delete_on_termination=True
                ),
            )
        ]
        acknowledge(
            instance,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{SSM_POLICY}]",
            "Session Manager access to the NAT instance (instead of SSH) is what this managed policy grants.",
        )
        acknowledge(
            instance,
            "AwsSolutions-EC28",
            "A NAT instance needs no detailed monitoring; its status checks and network metrics suffice.",
        )
        acknowledge(
            instance,
            "AwsSolutions-EC29",
            "The NAT instance holds no state: network.nat = 'instance' trades failover for cost (README), "
            "and a replaced instance is re-created by the stack.",
        )
