"""`[email]`: Dify's invitation, password-reset and notification mails through Amazon SES."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from dify_on_aws.config.base import Section, cross_check
from dify_on_aws.config.front_door import dns_name

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?P<domain>[a-z0-9.-]+)$")


class EmailConfig(Section):
    """E-mail through Amazon SES (off unless `domain` is set). The stack verifies `domain` as an SES identity
    with Easy DKIM and a custom MAIL FROM domain, creates SMTP credentials that only Secrets Manager holds,
    and sets Dify's mail settings (`MAIL_TYPE = smtp`) on the api and the worker. The DNS records go into
    `front_door.hosted_zone` when `domain` is inside it; otherwise the stack prints them as outputs for you
    to create. A new account is in the SES sandbox (mail only to verified addresses): README "E-mail"."""

    domain: str | None = Field(
        None,
        description="Domain that Dify's mails come from, e.g. `example.com`; verified as an SES domain "
        "identity with Easy DKIM (three CNAME records). Unset: no e-mail (Dify shows invitation links "
        "instead of mailing them).",
    )
    sender: str | None = Field(
        None,
        description="Sender address (`MAIL_DEFAULT_SEND_FROM`), inside `domain`; the SMTP user may send "
        "from this address only. Default: `no-reply@<domain>`.",
    )
    mail_from_subdomain: str = Field(
        "mail",
        description="Custom MAIL FROM domain `<this>.<domain>` (bounce address; an MX and an SPF TXT "
        "record), so SPF aligns with the sender's domain for DMARC.",
    )
    smtp_port: Literal[465, 587] = Field(
        465,
        description="Port of the SES SMTP endpoint `email-smtp.<region>.amazonaws.com`: 465 (TLS from the "
        "first byte) or 587 (STARTTLS). Both leave the VPC through NAT (or the `email-smtp` interface "
        "endpoint in a closed network).",
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return dns_name(value, "example.com")

    @field_validator("mail_from_subdomain")
    @classmethod
    def _subdomain(cls, value: str) -> str:
        if not _LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not one lower-case DNS label such as 'mail' or 'bounce'")
        return value

    @cross_check
    def _sender_in_domain(self) -> EmailConfig:
        if self.sender is None:
            return self
        if self.domain is None:
            raise ValueError("sender is set but domain is not; set domain (e.g. 'example.com')")
        match = _ADDRESS.fullmatch(self.sender)
        if match is None:
            raise ValueError(f"sender {self.sender!r} is not a plain address such as 'dify@{self.domain}'")
        if match["domain"] != self.domain:
            raise ValueError(
                f"sender {self.sender!r} is not in domain {self.domain!r}; SES sends only from verified "
                f"identities: use an address such as 'dify@{self.domain}'"
            )
        return self

    @property
    def enabled(self) -> bool:
        return self.domain is not None

    def sender_address(self) -> str:
        assert self.domain is not None
        return self.sender or f"no-reply@{self.domain}"

    def mail_from_domain(self) -> str:
        assert self.domain is not None
        return f"{self.mail_from_subdomain}.{self.domain}"
