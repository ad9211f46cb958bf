"""The Dify roles and their ports: the vocabulary the config, the services and the front doors share
(no CDK import, so the config model can use it without starting jsii)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    API = "api"
    WORKER = "worker"
    BEAT = "beat"
    WEB = "web"
    SANDBOX = "sandbox"
    PLUGIN_DAEMON = "plugin-daemon"
    SSRF_PROXY = "ssrf-proxy"
    MIGRATION = "migration"


# Ports the images listen on; other roles reach them through ECS Service Connect under the role's name.
PORTS = {Role.API: 5001, Role.WEB: 3000, Role.SANDBOX: 8194, Role.PLUGIN_DAEMON: 5002, Role.SSRF_PROXY: 3128}

# Roles running the dify-api image, which share the whole api configuration and differ only by MODE.
API_IMAGE_ROLES = (Role.API, Role.WORKER, Role.BEAT, Role.MIGRATION)
