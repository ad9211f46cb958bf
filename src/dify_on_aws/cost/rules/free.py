"""Resource types without a monthly charge of their own, and types left out of the estimate."""

from __future__ import annotations

# Types with no monthly charge of their own (their cost, if any, is priced on another resource).
FREE_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::InstanceProfile",
            "AWS::IAM::ServiceLinkedRole",
            "AWS::IAM::User",
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
    "AWS::CodeArtifact::Repository": "priced on its domain (storage and requests are billed per domain)",
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
    "AWS::SES::EmailIdentity": "no charge for the identity; SES bills each message sent (about $0.10 per "
    "1,000, SES pricing page), which Dify's invitation and reset mails keep negligible: not modelled",
    **dict.fromkeys(
        ("AWS::Backup::BackupVault", "AWS::Backup::BackupSelection"),
        "priced through the backup plan's storage",
    ),
    "AWS::Events::Rule": "no charge for rules on AWS service events or schedules (targets are priced)",
    "AWS::Logs::SubscriptionFilter": "no charge of its own",
    "AWS::Lambda::EventSourceMapping": "no charge of its own (the function and the source are priced)",
    "AWS::SNS::Topic": "no charge for the topic; alarm notifications are a few publishes a month (SNS free "
    "tier: 1M publishes, 1,000 e-mail deliveries)",
    **dict.fromkeys(
        ("AWS::SNS::TopicPolicy", "AWS::SNS::Subscription"),
        "no charge of its own (e-mail deliveries: first 1,000 a month free)",
    ),
    "AWS::Logs::QueryDefinition": "saved query: no charge (Logs Insights bills per GB scanned when run)",
    "AWS::Logs::ResourcePolicy": "no charge",
}
OMITTED_TYPES = frozenset({"AWS::CDK::Metadata", "AWS::CloudFormation::WaitConditionHandle"})
CUSTOM_RESOURCE_REASON = "custom resource: runs once per deployment (its handler is deploy-time only)"
