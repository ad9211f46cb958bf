"""The application keys Dify shares between services, each generated separately in Secrets Manager."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from dify_on_aws.nag import acknowledge

_NO_ROTATION = (
    "A shared key read by several Dify services at task start; rotating it automatically would leave "
    "running tasks with different keys. Rotate by updating the secret and redeploying the services."
)


class AppSecrets(Construct):
    """SECRET_KEY, the sandbox API key, the plugin daemon key and the inner API key: four distinct secrets."""

    def __init__(self, scope: Construct, id_: str, *, removal_policy: cdk.RemovalPolicy) -> None:
        super().__init__(scope, id_)
        self.secret_key = self._secret(
            "SecretKey", "Dify SECRET_KEY (session signing, credential encryption)"
        )
        self.sandbox_api_key = self._secret("SandboxApiKey", "Dify CODE_EXECUTION_API_KEY = sandbox API_KEY")
        self.plugin_daemon_key = self._secret("PluginDaemonKey", "Dify PLUGIN_DAEMON_KEY = daemon SERVER_KEY")
        self.inner_api_key = self._secret(
            "InnerApiKey", "Dify INNER_API_KEY_FOR_PLUGIN = daemon DIFY_INNER_API_KEY"
        )
        for secret in self.all:
            secret.apply_removal_policy(removal_policy)
            acknowledge(secret, "AwsSolutions-SMG4", _NO_ROTATION)

    def _secret(self, id_: str, description: str) -> sm.Secret:
        return sm.Secret(
            self,
            id_,
            description=description,
            generate_secret_string=sm.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )

    @property
    def all(self) -> tuple[sm.Secret, ...]:
        return (self.secret_key, self.sandbox_api_key, self.plugin_daemon_key, self.inner_api_key)
