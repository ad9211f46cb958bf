"""E-mail through Amazon SES: a domain identity with Easy DKIM and a custom MAIL FROM domain, its DNS records
(in a Route 53 zone, or as outputs to create by hand), and SMTP credentials that only Secrets Manager holds.

The SMTP password is derived from an IAM access key inside a custom resource (runtime/smtp_credentials), so
it never appears in a template, a parameter or a log. The dedicated IAM user may only send raw mail
(SMTP is SendRawEmail) from the one sender address.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_ses as ses
from aws_cdk import custom_resources as cr
from constructs import Construct

from dify_on_aws.nag import acknowledge
from dify_on_aws.runtime_support import acknowledge_provider, python_function
from dify_on_aws.services.environment import MailSettings

SMTP_RUNTIME = Path(__file__).parent / "runtime" / "smtp_credentials"
# SES's published values (SES "Setting up a custom MAIL FROM domain"): an MX to the regional feedback
# endpoint and an SPF record that names amazonses.com.
MAIL_FROM_MX_PRIORITY = 10
MAIL_FROM_SPF = "v=spf1 include:amazonses.com ~all"
DKIM_TTL_SECONDS = 1800


def smtp_endpoint(region: str) -> str:
    """The SES SMTP interface of a region (SES "Connecting to an Amazon SES SMTP endpoint")."""
    return f"email-smtp.{region}.amazonaws.com"


class SesMail(Construct):
    """The SES identity, its DNS records and SMTP credentials for Dify's `smtp` mail type."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        domain: str,
        mail_from_domain: str,
        sender: str,
        port: int,
        zone: route53.IHostedZone | None,
        secret_removal: cdk.RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        self.identity = ses.EmailIdentity(
            self,
            "Identity",
            identity=ses.Identity.domain(domain),
            dkim_identity=ses.DkimIdentity.easy_dkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
            dkim_signing=True,
            mail_from_domain=mail_from_domain,
        )
        feedback = f"feedback-smtp.{stack.region}.amazonses.com"
        if zone is not None:
            self._records(zone, mail_from_domain, feedback)
        else:
            self._outputs(mail_from_domain, feedback)

        # A user of its own: SMTP authenticates with an access key, which only an IAM user can have.
        self.user = iam.User(self, "SmtpUser")
        self.user.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ses:SendRawEmail"],
                # Every identity of this account and region: in the SES sandbox the recipients' verified
                # identities are authorized too; the From condition keeps the sender to one address.
                resources=[f"arn:{cdk.Aws.PARTITION}:ses:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:identity/*"],
                conditions={"StringEquals": {"ses:FromAddress": sender}},
            )
        )
        acknowledge(
            self.user,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]",
            "In the SES sandbox SendRawEmail is also authorized against each recipient's identity; the "
            "ses:FromAddress condition allows only Dify's sender address.",
        )
        self.credentials = sm.Secret(
            self,
            "SmtpCredentials",
            description="SES SMTP username and password of Dify (written by the SmtpCredentials resource)",
            removal_policy=secret_removal,
        )
        acknowledge(
            self.credentials,
            "AwsSolutions-SMG4",
            "Derived from an IAM access key; replace the SmtpCredentials resource (or delete its access "
            "key) to rotate. Secrets Manager rotation would not create a new key.",
        )
        self.resource = self._credentials_resource(log_retention)
        self.settings = MailSettings(
            sender=sender, server=smtp_endpoint(stack.region), port=port, credentials=self.credentials
        )

    def _records(self, zone: route53.IHostedZone, mail_from_domain: str, feedback: str) -> None:
        """Easy DKIM's three CNAMEs (full names from the identity) and MAIL FROM's MX and SPF TXT."""
        for n, record in enumerate(self.identity.dkim_records, start=1):
            route53.CfnRecordSet(
                self,
                f"DkimRecord{n}",
                hosted_zone_id=zone.hosted_zone_id,
                name=record.name,
                type="CNAME",
                resource_records=[record.value],
                ttl=str(DKIM_TTL_SECONDS),
            )
        route53.MxRecord(
            self,
            "MailFromMx",
            zone=zone,
            record_name=f"{mail_from_domain}.",
            values=[route53.MxRecordValue(priority=MAIL_FROM_MX_PRIORITY, host_name=feedback)],
        )
        route53.TxtRecord(
            self, "MailFromSpf", zone=zone, record_name=f"{mail_from_domain}.", values=[MAIL_FROM_SPF]
        )

    def _outputs(self, mail_from_domain: str, feedback: str) -> None:
        """No zone to write to: the records as outputs, to create wherever the domain's DNS is."""
        for n, record in enumerate(self.identity.dkim_records, start=1):
            cdk.CfnOutput(
                self,
                f"DkimRecord{n}",
                description=f"SES DKIM record {n} of 3: create this CNAME (name = value)",
                value=cdk.Fn.join(" CNAME ", [record.name, record.value]),
            )
        cdk.CfnOutput(
            self,
            "MailFromMx",
            description="SES custom MAIL FROM: create this MX record",
            value=f"{mail_from_domain} MX {MAIL_FROM_MX_PRIORITY} {feedback}",
        )
        cdk.CfnOutput(
            self,
            "MailFromSpf",
            description="SES custom MAIL FROM: create this TXT record",
            value=f'{mail_from_domain} TXT "{MAIL_FROM_SPF}"',
        )

    def _credentials_resource(self, log_retention: logs.RetentionDays) -> cdk.CustomResource:
        handler = python_function(
            self,
            "CredentialsFunction",
            code_dir=SMTP_RUNTIME,
            handler="index.on_event",
            description="Creates Dify's SES SMTP credentials in Secrets Manager",
            timeout=cdk.Duration.minutes(1),
            log_retention=log_retention,
        )
        handler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"],
                resources=[self.user.user_arn],
            )
        )
        handler.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:PutSecretValue"], resources=[self.credentials.secret_arn]
            )
        )
        provider = cr.Provider(self, "Provider", on_event_handler=handler)
        acknowledge_provider(provider, [handler])
        return cdk.CustomResource(
            self,
            "SmtpCredentialsResource",
            service_token=provider.service_token,
            resource_type="Custom::DifySmtpCredentials",
            properties={
                "UserName": self.user.user_name,
                "SecretArn": self.credentials.secret_arn,
                "Region": cdk.Stack.of(self).region,
            },
        )
