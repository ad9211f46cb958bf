"""A property-based sweep of the configuration space (hypothesis).

Valid configurations, drawn across every option (front door types and their options, removal policy, network:
new, imported by subnet IDs, closed, NAT gateways or instances; database, cache, storage, services with Spot,
architecture, Fargate sizes and scaling signals, tags, images, the SSRF proxy, backup, schedule, [email],
[env] with literals, SSM parameters, secrets and overrides, [monitoring], [package_index], [knowledge_bases]),
respecting the rules across sections of config/checks.py and config/model.py, are synthesized with cdk-nag
and linted with cfn-lint, and must keep the invariants the README promises:

* no unacknowledged cdk-nag finding, no missing context lookup, cfn-lint clean;
* no secret in plain text (the scanner of tests/test_secret_scan.py); [env] values from SSM or Secrets
  Manager only as ECS secrets, never in an environment;
* data kept unless `removal_policy = "destroy"`, deleted with it;
* exactly one worker beat task, never on Spot, never two at once during a deployment;
* every Dify route present on the front door;
* a closed network has no way to the internet (no internet gateway, NAT, public subnet or IP, no route to
  0.0.0.0/0, no function URL) and a VPC endpoint for every AWS service the template calls from the VPC;
* the knowledge API is a private REST API in a closed network, a function URL elsewhere.

Invalid configurations (one or more deliberate mistakes on a valid one) must raise ConfigError naming each
offending key, and the CLI must exit 2 with that message and no traceback.

Synthesis costs 1-2 s and cfn-lint ~4 s per configuration, so `make test` draws a few: DIFY_SWEEP_EXAMPLES
(default 6) split evenly over the front door types, at least one each, derandomized so every run checks the
same ones; cfn-lint runs in the background while the next configuration synthesizes. `make sweep` draws
many, randomly:

    DIFY_SWEEP_EXAMPLES=60 DIFY_SWEEP_RANDOM=1 .venv/bin/python -m pytest -q tests/test_sweep.py -s

Each run writes sweep-report.json (counts, the configurations tried, timings) into pytest's base
temporary directory and prints its path (visible with -s).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dify_on_aws.app import SynthResult, synthesize
from dify_on_aws.config import ConfigError, DifyConfig, parse_config
from dify_on_aws.config.model import (
    AURORA_POSTGRES_VERSIONS,
    DEFAULT_SANDBOX_REQUIREMENTS,
    FARGATE_SIZES,
    LOG_RETENTION_DAYS,
    CacheConfig,
    DatabaseConfig,
    FrontDoorConfig,
    ImagesConfig,
    NetworkConfig,
    ServicesConfig,
    ServiceSize,
    SsrfProxyConfig,
)
from dify_on_aws.frontdoor.routing import API_PREFIXES, PLUGIN_PREFIXES
from dify_on_aws.network.endpoints import GATEWAY_SERVICES
from dify_on_aws.operations.vpc_endpoints import required_endpoints
from dify_on_aws.services import dify_contract

from .conftest import ROOT, recorded_zones
from .test_closed_network import assert_no_way_out, derived_endpoints, endpoints_of
from .test_secret_scan import scan_result

SWEEP_EXAMPLES = int(os.environ.get("DIFY_SWEEP_EXAMPLES", "6"))
INVALID_EXAMPLES = int(os.environ.get("DIFY_SWEEP_INVALID_EXAMPLES", "200"))
CLI_EXAMPLES = int(os.environ.get("DIFY_SWEEP_CLI_EXAMPLES", "10"))
# Random exploration for `make sweep`; `make test` checks the same configurations every run.
RANDOM = os.environ.get("DIFY_SWEEP_RANDOM", "") == "1"
# cfn-lint processes running while the next configuration synthesizes.
LINT_PARALLEL = int(os.environ.get("DIFY_SWEEP_LINT_PARALLEL", "2"))

MODEL_FIELDS = set(DifyConfig.model_fields)
SERVICE_FIELDS = set(ServicesConfig.model_fields)
DOOR_FIELDS = set(FrontDoorConfig.model_fields)
DOOR_TYPES: tuple[str, ...] = get_args(FrontDoorConfig.model_fields["type"].annotation)
LAYOUTS: tuple[str, ...] = (
    get_args(ServicesConfig.model_fields["layout"].annotation)
    if "layout" in SERVICE_FIELDS
    else ("per_role",)
)
HAS_MAX_COUNT = "max_count" in ServiceSize.model_fields


def _accepts(model: type[BaseModel], **values: Any) -> bool:
    try:
        model.model_validate(values)
    except ValidationError:
        return False
    return True


NAT_OPTIONAL = _accepts(NetworkConfig, nat_gateways=0)
NETWORK_FIELDS = set(NetworkConfig.model_fields)
HAS_CLOSED = "closed" in NETWORK_FIELDS
HAS_IMPORTED = "vpc_id" in NETWORK_FIELDS
HAS_NAT_INSTANCE = "nat" in NETWORK_FIELDS
NAT_INSTANCE_TYPES = ("t4g.nano", "t4g.micro", "t3.micro", "c7gn.medium")

ACCOUNT = "111111111111"
# Zone letters that exist in each region (explicit zones are not looked up).
REGIONS: dict[str, str] = {
    "us-east-1": "abcdef",
    "us-west-2": "abcd",
    "eu-west-1": "abc",
    "eu-central-1": "abc",
    "ap-northeast-1": "acd",
}
ZONE_ID = "Z0123456789ABCDEFGHIJ"
LOOKED_UP_ZONE_ID = "ZLOOKEDUP0123456789"
# (domain, its hosted zone)
DOMAINS = (
    ("dify.example.com", "example.com"),
    ("example.org", "example.org"),
    ("ai.apps.example.net", "example.net"),
    ("chat.corp.example.co.jp", "corp.example.co.jp"),
)
ALLOWED_CIDRS = (
    "203.0.113.0/24",
    "198.51.100.7/32",
    "192.0.2.0/25",
    "10.0.0.0/8",
    "2001:db8::/32",
    "2001:db8:abcd::/48",
    "0.0.0.0/0",
    "::/0",
)
# "Everyone" spelled as a CIDR: rejected by the model (empty means everyone). The sweep found that WAF IP sets
# reject /0 and that an ALB allow-list of /0 left a cdk-nag finding (test_slash_zero_is_rejected).
SLASH_ZERO = ("0.0.0.0/0", "::/0")
COUNTRIES = ("JP", "US", "DE", "GB", "BR", "IN")
REGISTRIES = (
    "docker.io/langgenius",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/langgenius",
    "ghcr.io/acme/dify",
    "registry.example.com:5000/mirror/langgenius",
)
FARGATE_PAIRS = tuple((cpu, memory) for cpu, memories in FARGATE_SIZES.items() for memory in memories)
SERVICE_ROLES = tuple(
    r for r in ("api", "worker", "web", "sandbox", "plugin_daemon", "ssrf_proxy") if r in SERVICE_FIELDS
)
CERTIFICATE_ID = "0b2c6f1e-1d3c-4d5e-9f00-123456789abc"


def certificate_arn(region: str) -> str:
    return f"arn:aws:acm:{region}:{ACCOUNT}:certificate/{CERTIFICATE_ID}"


def lookup_key(zone: str, region: str) -> str:
    return f"hosted-zone:account={ACCOUNT}:domainName={zone}:privateZone=false:region={region}"


@dataclass(frozen=True)
class Case:
    """A configuration mapping (as parsed TOML) and the recorded context lookups it needs."""

    config: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)


# --- valid configurations -----------------------------------------------------------------------------


def _sizes(
    draw: st.DrawFn, *, count: bool = True, disk: bool = False, scale: bool = False, most: int = 6
) -> dict[str, Any]:
    """A size section; `most`: the largest task count the role allows (the plugin daemon runs one)."""
    cpu, memory = draw(st.sampled_from(FARGATE_PAIRS))
    size: dict[str, Any] = {"cpu": cpu, "memory_mib": memory}
    if count and draw(st.booleans()):
        size["desired_count"] = draw(st.integers(0, min(3, most)))
    if scale and HAS_MAX_COUNT and draw(st.booleans()):
        size["max_count"] = draw(st.integers(max(1, size.get("desired_count", 1)), most))
    if disk and draw(st.booleans()):
        size["ephemeral_storage_gib"] = draw(st.integers(21, 200))
    return size


def _maybe(draw: st.DrawFn, target: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    """Set `key` to a drawn value, or leave it at its default."""
    if draw(st.booleans()):
        target[key] = draw(strategy)


def _front_door(draw: st.DrawFn, kind: str, *, internal: bool = False) -> tuple[dict[str, Any], str]:
    """The [front_door] table and how its domain is set up ("none", "zone_id", "lookup", "certificate" or
    "zone_and_certificate"); `internal`: an internal ALB (what a closed network needs)."""
    door: dict[str, Any] = {"type": kind}
    mode = draw(st.sampled_from(("none", "zone_id", "lookup", "certificate", "zone_and_certificate")))
    if mode != "none":
        domain, zone = draw(st.sampled_from(DOMAINS))
        door["domain"] = domain
        if mode in ("zone_id", "lookup", "zone_and_certificate"):
            door["hosted_zone"] = zone
        if mode in ("zone_id", "zone_and_certificate"):
            door["hosted_zone_id"] = ZONE_ID
    if kind != "lambda_proxy":  # its function URL is public: no allow-lists (config rejects them)
        # The ALB is IPv4-only: the config rejects IPv6 entries for it.
        cidrs = tuple(c for c in ALLOWED_CIDRS if c not in SLASH_ZERO and (kind != "alb" or ":" not in c))
        _maybe(draw, door, "allowed_cidrs", st.lists(st.sampled_from(cidrs), max_size=3))
    if kind in ("cloudfront", "lambda"):
        _maybe(draw, door, "allowed_countries", st.lists(st.sampled_from(COUNTRIES), max_size=3))
        if "waf_managed_rules" in DOOR_FIELDS:
            _maybe(draw, door, "waf_managed_rules", st.booleans())
            _maybe(draw, door, "waf_rate_limit", st.integers(100, 100_000))
    if kind == "alb":
        if internal:
            door["internal"] = True
        else:
            _maybe(draw, door, "internal", st.booleans())
    _maybe(draw, door, "origin_read_timeout_seconds", st.integers(1, 180))
    _maybe(draw, door, "idle_timeout_seconds", st.integers(60, 4000))
    if kind == "lambda" or draw(st.booleans()):
        # Lambda-only settings are accepted (and ignored) by the other front doors.
        _maybe(draw, door, "function_memory_mib", st.integers(512, 10240))
        _maybe(draw, door, "function_timeout_seconds", st.integers(30, 900))
        _maybe(draw, door, "provisioned_concurrency", st.integers(0, 3))
    return door, mode


@st.composite
def valid_cases(draw: st.DrawFn, door_type: str | None = None) -> Case:
    """A valid configuration; `door_type` fixes the front door (the sweep covers each one equally)."""
    kind = door_type or draw(st.sampled_from(DOOR_TYPES))
    # lambda_proxy forwards to one task (the config says so).
    layout = "single_task" if kind == "lambda_proxy" else draw(st.sampled_from(LAYOUTS))
    # A closed network needs an internal ALB as its front door (config/checks.py, closed_network).
    # Two alb configurations in three are closed: only alb can be, and closed draws cover the most rules.
    closed = kind == "alb" and HAS_CLOSED and draw(st.integers(0, 2)) > 0
    door, mode = _front_door(draw, kind, internal=closed)
    config: dict[str, Any] = {
        "name": draw(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,31}", fullmatch=True)),
        "front_door": door,
    }
    # Whether the us-east-1 edge stack is needed (it needs account and region) does not depend on where a
    # given certificate is, so a placeholder stands in for it until the region is known.
    placeholder = {"certificate_arn": certificate_arn("us-east-1")} if "certificate" in mode else {}
    edge = FrontDoorConfig.model_validate({**door, **placeholder}).needs_edge_stack()
    needs_environment = mode == "lookup" or edge
    environment = (
        "both" if needs_environment else draw(st.sampled_from(("none", "both", "region", "account")))
    )
    region = draw(st.sampled_from(sorted(REGIONS)))
    if environment in ("both", "account"):
        config["account"] = ACCOUNT
    if environment in ("both", "region"):
        config["region"] = region
    if "certificate" in mode:
        regional = door["type"] in ("alb", "api_gateway")
        door["certificate_arn"] = certificate_arn(
            (region if environment == "both" else draw(st.sampled_from(sorted(REGIONS))))
            if regional
            else "us-east-1"
        )
    config["removal_policy"] = draw(st.sampled_from(("retain", "snapshot", "destroy")))
    _maybe(
        draw,
        config,
        "tags",
        st.dictionaries(
            st.from_regex(r"[A-Za-z][A-Za-z0-9_.:/=+@ -]{0,20}", fullmatch=True).filter(
                lambda k: not k.lower().startswith("aws:")
            ),
            # Empty values are rejected by the model (test_empty_tag_value_is_rejected).
            st.text(alphabet="abcXYZ019 _.:/=+-@", min_size=1, max_size=30),
            max_size=3,
        ),
    )
    config["images"] = _images(draw, closed=closed)
    config["network"] = network = _network(
        draw,
        config.get("region"),
        account="account" in config,
        no_nat=door["type"] == "lambda",
        closed=closed,
        public_alb=door["type"] == "alb" and not door.get("internal", False),
    )
    imported = "vpc_id" in network
    # Whether the tasks reach the internet (NetworkConfig.egress: our NAT, or an imported VPC's own).
    egress = not closed and (imported or network.get("nat_gateways", 1) > 0)
    # The password rotation function runs in the VPC and needs NAT, or in a closed network the Secrets
    # Manager endpoint; provisioned Lambda api instances would keep the old password.
    warm = door["type"] == "lambda" and door.get("provisioned_concurrency", 0) > 0
    config["database"] = _database(draw, rotation=(egress or closed) and not warm)
    config["cache"] = _cache(draw, layout)
    _maybe(draw, config, "storage", st.fixed_dictionaries({"noncurrent_version_days": st.integers(1, 3650)}))
    config["services"] = _services(draw, layout)
    # Queue scaling needs egress: refused without NAT and in closed networks (checks.py,
    # nat_for_queue_scaling).
    _signals(draw, config["services"], door=door["type"], egress=egress)
    config["ssrf_proxy"] = _ssrf_proxy(draw, closed=closed)
    if "backup" in MODEL_FIELDS:
        config["backup"] = _backup(draw)
    if "schedule" in MODEL_FIELDS:
        config["schedule"] = _schedule(draw)
    if "email" in MODEL_FIELDS:
        config["email"] = _email(draw, door.get("hosted_zone"))
    if "env" in MODEL_FIELDS:
        config["env"] = _env(draw, door=door["type"])
    if "monitoring" in MODEL_FIELDS:
        config["monitoring"] = _monitoring(draw)
    if "package_index" in MODEL_FIELDS:
        config["package_index"] = _package_index(draw, closed=closed)
    # In a closed network the knowledge API is a private REST API with its own endpoint: drawn more often.
    wants = draw(st.integers(0, 2)) > 0 if closed else draw(st.booleans())
    if "knowledge_bases" in MODEL_FIELDS and (closed or egress) and wants:
        config["knowledge_bases"] = _knowledge_bases(draw)
        domains = config["ssrf_proxy"].get("allowed_domains")
        if domains and not closed:
            # The proxy must let the knowledge API's function URL through (knowledge_api_reachable).
            covering = (".on.aws", f".lambda-url.{config.get('region', region)}.on.aws")
            domains.append(draw(st.sampled_from(covering if "region" in config else covering[:1])))
    context: dict[str, Any] = {}
    if mode == "lookup":
        zone = door["hosted_zone"]
        recorded = {"Id": f"/hostedzone/{LOOKED_UP_ZONE_ID}", "Name": f"{zone}."}
        # The main stack looks the zone up in its region, the us-east-1 edge stack in us-east-1.
        context = {lookup_key(zone, r): recorded for r in {region, "us-east-1"}}
    return Case({k: v for k, v in config.items() if v != {}}, context)


def _images(draw: st.DrawFn, *, closed: bool = False) -> dict[str, Any]:
    images: dict[str, Any] = {}
    if closed:
        # A closed network pulls only from ECR (the mirror `dify-on-aws mirror-images` fills).
        images["registry"] = draw(st.sampled_from([r for r in REGISTRIES if ".dkr.ecr." in r]))
    else:
        _maybe(draw, images, "registry", st.sampled_from(REGISTRIES))
        if "docker_hub_secret_arn" in ImagesConfig.model_fields:
            _maybe(draw, images, "docker_hub_secret_arn", st.just(DOCKER_HUB_SECRET))
    _maybe(draw, images, "dify_version", st.sampled_from(dify_contract.releases()))
    if draw(st.booleans()):
        # Any tags, accepted only as an untested combination (images.force).
        tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
        tag = tag.filter(lambda t: t != "latest")
        for key in ("api", "web", "sandbox", "plugin_daemon"):
            _maybe(draw, images, key, tag)
        images["force"] = True
    return images


def _network(
    draw: st.DrawFn,
    region: str | None,
    *,
    account: bool,
    no_nat: bool,
    closed: bool = False,
    public_alb: bool = False,
) -> dict[str, Any]:
    # An imported VPC described offline needs its zones, and so the region (config/network.py).
    if HAS_IMPORTED and region is not None and draw(st.integers(0, 3)) == 3:
        return _imported_network(draw, region, closed=closed, public_alb=public_alb)
    network: dict[str, Any] = {}
    base = draw(st.sampled_from(("10.0.0.0", "10.42.0.0", "172.16.0.0", "172.31.0.0", "192.168.0.0")))
    if draw(st.booleans()):
        network["cidr"] = f"{base}/{draw(st.integers(16, 22))}"
    # Three zones need a known environment or explicit zones (checks.py, zones: CDK gives an
    # environment-agnostic stack two).
    zoned = region is not None and draw(st.booleans())
    azs = draw(st.integers(2, 3 if zoned or (region is not None and account) else 2))
    network["max_azs"] = azs
    if closed:
        # No NAT in a closed network: nat_gateways defaults to 0 there and must stay 0.
        network["closed"] = True
        _maybe(draw, network, "nat_gateways", st.just(0))
    else:
        # No NAT gateway is not for the `lambda` front door (its api function needs NAT; the config says so).
        _maybe(draw, network, "nat_gateways", st.integers(1 if no_nat or not NAT_OPTIONAL else 0, azs))
        if HAS_NAT_INSTANCE and network.get("nat_gateways", 1) > 0 and draw(st.booleans()):
            network["nat"] = "instance"
            _maybe(draw, network, "nat_instance_type", st.sampled_from(NAT_INSTANCE_TYPES))
    _maybe(draw, network, "flow_logs", st.booleans())
    if zoned:
        assert region is not None
        letters = draw(st.permutations(REGIONS[region]))[:azs]
        network["availability_zones"] = [f"{region}{letter}" for letter in letters]
    return network


def _subnets(draw: st.DrawFn, kind: int, count: int) -> list[str]:
    return [f"subnet-0a1b2c3d4e5f6{kind}{i:03d}" for i in range(count)]


def _imported_network(draw: st.DrawFn, region: str, *, closed: bool, public_alb: bool) -> dict[str, Any]:
    """An existing VPC described by subnet IDs (synthesizes offline): zones, private subnets, optionally
    isolated ones, public ones when an internet-facing ALB needs them (config/checks.py, imported_vpc)."""
    zones = draw(st.permutations(REGIONS[region]))[: draw(st.integers(2, min(3, len(REGIONS[region]))))]
    network: dict[str, Any] = {
        "vpc_id": draw(st.sampled_from(("vpc-0a1b2c3d4e5f60718", "vpc-0123abcd"))),
        "cidr": draw(st.sampled_from(("10.40.0.0/16", "172.31.0.0/16", "10.8.0.0/20", "192.168.0.0/24"))),
        "availability_zones": [f"{region}{z}" for z in zones],
        "private_subnet_ids": _subnets(draw, 1, len(zones)),
    }
    if draw(st.booleans()):
        network["isolated_subnet_ids"] = _subnets(draw, 2, len(zones))
    if public_alb or (not closed and draw(st.booleans())):
        network["public_subnet_ids"] = _subnets(draw, 3, len(zones))
    if closed:
        network["closed"] = True
        # An imported closed VPC may already have its endpoints (checks.py, closed_network).
        _maybe(draw, network, "endpoints", st.booleans())
    return network


def _database(draw: st.DrawFn, *, rotation: bool) -> dict[str, Any]:
    database: dict[str, Any] = {}
    _maybe(draw, database, "engine_version", st.sampled_from(AURORA_POSTGRES_VERSIONS))
    low = draw(st.integers(0, 8))
    if draw(st.booleans()):
        database["min_acu"] = low / 2
        database["max_acu"] = draw(st.integers(max(2, low), 32)) / 2
    _maybe(draw, database, "auto_pause_seconds", st.integers(300, 86400))
    _maybe(draw, database, "readers", st.integers(0, 2))
    _maybe(draw, database, "backup_retention_days", st.integers(1, 35))
    if rotation and "rotation_days" in DatabaseConfig.model_fields:
        _maybe(draw, database, "rotation_days", st.integers(1, 365))
    if "snapshot_before_upgrade" in DatabaseConfig.model_fields:
        _maybe(draw, database, "snapshot_before_upgrade", st.booleans())
    if "snapshot_identifier" in DatabaseConfig.model_fields:
        snapshots = (
            "dify-pre-1-13-3-20260101t0500z",
            f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster-snapshot:before-upgrade",
        )
        _maybe(draw, database, "snapshot_identifier", st.sampled_from(snapshots))
    return database


def _cache(draw: st.DrawFn, layout: str) -> dict[str, Any]:
    cache: dict[str, Any] = {}
    if layout == "single_task" and "engine" in CacheConfig.model_fields:
        _maybe(draw, cache, "engine", st.sampled_from(("elasticache", "container")))
    _maybe(
        draw, cache, "node_type", st.sampled_from(("cache.t4g.micro", "cache.t4g.small", "cache.r7g.large"))
    )
    _maybe(draw, cache, "multi_az", st.booleans())
    _maybe(draw, cache, "engine_version", st.sampled_from(("7.2", "8.0", "8.1")))
    return cache


def _services(draw: st.DrawFn, layout: str) -> dict[str, Any]:
    services: dict[str, Any] = {}
    if layout != "per_role" or draw(st.booleans()):
        services["layout"] = layout
    if layout == "single_task":
        services["single_task"] = _sizes(draw, count=False)
    _maybe(draw, services, "architecture", st.sampled_from(("arm64", "x86_64")))
    _maybe(draw, services, "spot", st.booleans())
    _maybe(draw, services, "on_demand_base", st.integers(0, 10))
    _maybe(draw, services, "log_retention_days", st.sampled_from(LOG_RETENTION_DAYS))
    _maybe(draw, services, "bedrock", st.booleans())
    _maybe(draw, services, "container_insights", st.booleans())
    if "execute_command" in SERVICE_FIELDS:
        _maybe(draw, services, "execute_command", st.booleans())
    _maybe(draw, services, "sandbox_allow_all_syscalls", st.booleans())
    _maybe(draw, services, "sandbox_requirements_file", st.just(str(DEFAULT_SANDBOX_REQUIREMENTS)))
    for role in SERVICE_ROLES:
        if draw(st.booleans()):
            # One shared task cannot scale out: max_count only with one service per role (config says so).
            daemon = role == "plugin_daemon"
            services[role] = _sizes(draw, disk=daemon, scale=layout == "per_role", most=1 if daemon else 6)
    if draw(st.booleans()):
        services["beat"] = _sizes(draw, count=False)
    return services


def _signals(draw: st.DrawFn, services: dict[str, Any], *, door: str, egress: bool) -> None:
    """Scaling on real signals where the config allows it: the worker on its queue (one service per role,
    egress for the publisher's API calls, never closed; a ceiling above the floor), api and web on requests
    (ALB front doors)."""
    if services.get("layout", "per_role") != "per_role":
        return
    if egress and draw(st.booleans()):
        worker = services.setdefault("worker", {})
        worker["max_count"] = max(worker.get("max_count") or 0, worker.get("desired_count", 1) + 1)
        worker["queue_scaling"] = True
        _maybe(draw, worker, "queue_idle_minutes", st.integers(1, 60))
    for role in ("api", "web"):
        if door in ("alb", "cloudfront") and draw(st.booleans()):
            size = services.setdefault(role, {})
            size["max_count"] = max(size.get("max_count") or 1, size.get("desired_count", 1))
            size["requests_per_target"] = draw(st.integers(1, 5000))


def _ssrf_proxy(draw: st.DrawFn, *, closed: bool = False) -> dict[str, Any]:
    proxy: dict[str, Any] = {}
    images = (
        "public.ecr.aws/ubuntu/squid:6.6-24.04_beta",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ubuntu/squid:6.6-24.04_beta",
    )
    if closed:
        proxy["image"] = images[1]  # mirrored to ECR (checks.py, closed_network)
    else:
        _maybe(draw, proxy, "image", st.sampled_from(images))
    domains = (".example.com", "api.example.org", "pypi.org")
    _maybe(draw, proxy, "allowed_domains", st.lists(st.sampled_from(domains), max_size=3))
    cidrs = ("10.20.0.0/16", "192.168.10.0/24", "172.20.0.0/16")
    _maybe(draw, proxy, "allowed_cidrs", st.lists(st.sampled_from(cidrs), max_size=2))
    if "port_policy" in SsrfProxyConfig.model_fields:
        _maybe(draw, proxy, "port_policy", st.sampled_from(("dify", "strict")))
    _maybe(draw, proxy, "extra_ports", st.lists(st.sampled_from((8080, 8443, 9000)), max_size=2))
    return proxy


def _backup(draw: st.DrawFn) -> dict[str, Any]:
    backup: dict[str, Any] = {}
    _maybe(draw, backup, "enabled", st.booleans())
    _maybe(draw, backup, "retention_days", st.integers(1, 3650))
    _maybe(draw, backup, "schedule", st.sampled_from(("cron(0 5 * * ? *)", "cron(30 2 ? * SUN *)")))
    return backup


def _schedule(draw: st.DrawFn) -> dict[str, Any]:
    schedule: dict[str, Any] = {}
    _maybe(draw, schedule, "enabled", st.booleans())
    hours = ("MON-FRI 08:00-20:00", "MON-SUN 00:00-24:00", "SAT,SUN 10:00-16:30", "TUE 09:15-09:45")
    _maybe(draw, schedule, "working_hours", st.sampled_from(hours))
    _maybe(
        draw,
        schedule,
        "timezone",
        st.sampled_from(("UTC", "Asia/Tokyo", "Europe/Berlin", "America/St_Johns")),
    )
    return schedule


def _email(draw: st.DrawFn, zone: str | None) -> dict[str, Any]:
    """[email]: off, or SES for a domain (inside the front door's hosted zone, where its records go, or
    elsewhere)."""
    if draw(st.booleans()):
        return {}
    domain = draw(st.sampled_from(tuple(filter(None, (zone, "mail.example.io", "example.org")))))
    email: dict[str, Any] = {"domain": domain}
    _maybe(draw, email, "sender", st.sampled_from((f"dify@{domain}", f"no.reply+dify@{domain}")))
    _maybe(draw, email, "mail_from_subdomain", st.sampled_from(("mail", "bounce", "mail-from1")))
    _maybe(draw, email, "smtp_port", st.sampled_from((465, 587)))
    return email


# [env] entries: (name, setting) by source. Literals are neither secret-looking nor names the stack sets;
# override = true replaces a name it sets (LOG_LEVEL on the dify-api roles).
ENV_LITERALS = (
    ("LOG_OUTPUT_FORMAT", "json"),
    ("ENABLE_SOCIAL_OAUTH_LOGIN", "true"),
    ("GITHUB_CLIENT_ID", "Iv1.0123456789abcdef"),
    ("NOTION_INTEGRATION_TYPE", "internal"),
    ("HTTP_REQUEST_MAX_READ_TIMEOUT", "600"),
)
SECRET_ARN_EXAMPLE = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:dify/github-AbCdEf"
KMS_KEY_EXAMPLE = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/0b2c6f1e-1d3c-4d5e-9f00-123456789abc"
ENV_SECRETS = (
    ("GITHUB_CLIENT_SECRET", {"secret": SECRET_ARN_EXAMPLE, "key": "client_secret"}),
    ("NOTION_INTERNAL_SECRET", {"secret": SECRET_ARN_EXAMPLE}),
    ("RESEND_API_KEY", {"secret": SECRET_ARN_EXAMPLE, "key": "resend", "kms_key": KMS_KEY_EXAMPLE}),
)
ENV_PARAMETERS = (
    ("SENTRY_DSN", {"ssm": "/dify/sentry-dsn"}),
    ("GOOGLE_CLIENT_ID", {"ssm": "dify.google-client-id"}),
    ("UNSTRUCTURED_API_URL", {"ssm": "/dify/unstructured/url", "kms_key": KMS_KEY_EXAMPLE}),
)
ENV_OVERRIDES = (("LOG_LEVEL", {"value": "DEBUG", "override": True}),)
ENV_TABLES = ("shared", "api", "worker", "beat", "migration", "web", "sandbox", "plugin_daemon")
DOCKER_HUB_SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:dockerhub-AbCdEf"


def _env(draw: st.DrawFn, *, door: str) -> dict[str, Any]:
    """[env] and [env.<role>]: literals, SSM parameters, Secrets Manager secrets (whole or one JSON key)
    and overrides. The `lambda` front door takes no [env.web] and no SSM for the api (checks.py,
    env_on_lambda)."""
    env: dict[str, Any] = {}
    if draw(st.booleans()):
        return env
    tables = [t for t in ENV_TABLES if not (door == "lambda" and t == "web")]
    for table in draw(st.lists(st.sampled_from(tables), min_size=1, max_size=3, unique=True)):
        api_image = table in ("shared", "api", "worker", "beat", "migration")
        pool = [*ENV_LITERALS, *ENV_SECRETS]
        if not (door == "lambda" and table in ("shared", "api")):
            pool += ENV_PARAMETERS
        if api_image:
            pool += ENV_OVERRIDES
        entries = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique_by=lambda e: e[0]))
        target = env if table == "shared" else env.setdefault(table, {})
        for name, setting in entries:
            target[name] = copy.deepcopy(setting)
    return env


def _monitoring(draw: st.DrawFn) -> dict[str, Any]:
    monitoring: dict[str, Any] = {}
    _maybe(draw, monitoring, "enabled", st.booleans())
    _maybe(
        draw, monitoring, "email", st.sampled_from(("ops@example.com", "dify-alerts+aws@corp.example.org"))
    )
    _maybe(draw, monitoring, "queue_depth_threshold", st.integers(1, 10_000))
    _maybe(draw, monitoring, "cache_memory_percent", st.integers(1, 100))
    _maybe(draw, monitoring, "error_rate_percent", st.sampled_from((0.5, 1, 5.0, 25.5, 100)))
    return monitoring


def _package_index(draw: st.DrawFn, *, closed: bool) -> dict[str, Any]:
    """[package_index]: CodeArtifact behind the in-VPC proxy, its image mirrored to ECR when closed."""
    if draw(st.booleans()):
        return {}
    index: dict[str, Any] = {"type": "codeartifact"}
    mirrored = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/docker/library/python:3.13-slim"
    if closed:
        index["proxy_image"] = mirrored
    else:
        _maybe(draw, index, "proxy_image", st.sampled_from((mirrored, "python:3.12-slim")))
    return index


def _knowledge_bases(draw: st.DrawFn) -> dict[str, Any]:
    ids = st.lists(st.sampled_from(("KB12345678", "ABCDEFGHIJ", "0123456789")), min_size=1, unique=True)
    knowledge: dict[str, Any] = {"ids": draw(ids)}
    _maybe(draw, knowledge, "region", st.sampled_from(sorted(REGIONS)))
    return knowledge


# --- invariants -----------------------------------------------------------------------------------------


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def main_template(result: SynthResult) -> dict[str, Any]:
    (name,) = [n for n in result.templates if not n.endswith("-Edge")]
    return result.templates[name]


def check_retention(config: DifyConfig, result: SynthResult) -> None:
    """Data kept unless removal_policy = "destroy"; deleted with it (README, What a stack delete does)."""
    template = main_template(result)
    policy = config.removal_policy
    expected = {
        "retain": {"cluster": "Retain", "bucket": "Retain", "secret": "Retain", "cache": "Snapshot"},
        "snapshot": {"cluster": "Snapshot", "bucket": "Retain", "secret": "Retain", "cache": "Snapshot"},
        "destroy": {"cluster": "Delete", "bucket": "Delete", "secret": "Delete", "cache": "Delete"},
    }[policy]
    kinds = {
        "cluster": "AWS::RDS::DBCluster",
        "bucket": "AWS::S3::Bucket",
        "secret": "AWS::SecretsManager::Secret",
        "cache": "AWS::ElastiCache::ReplicationGroup",
    }
    if getattr(config.cache, "engine", "elasticache") != "elasticache":
        del kinds["cache"]  # Valkey as a container keeps nothing
    for what, kind in kinds.items():
        found = resources(template, kind)
        assert found, kind
        for logical_id, resource in found.items():
            assert resource.get("DeletionPolicy") == expected[what], (policy, logical_id)
            assert resource.get("UpdateReplacePolicy", expected[what]) == expected[what], (policy, logical_id)
    (cluster,) = resources(template, "AWS::RDS::DBCluster").values()
    assert cluster["Properties"].get("DeletionProtection", False) is (policy == "retain")


def check_one_beat(config: DifyConfig, result: SynthResult) -> None:
    """Exactly one beat task: one service with DesiredCount 1, never two during a deployment, and with one
    service per role on regular Fargate (the single-task layout puts every role on the same task)."""
    template = main_template(result)
    tasks = resources(template, "AWS::ECS::TaskDefinition")
    beats = [
        service["Properties"]
        for service in resources(template, "AWS::ECS::Service").values()
        if any(
            c["Name"] == "beat"
            for c in tasks[service["Properties"]["TaskDefinition"]["Ref"]]["Properties"][
                "ContainerDefinitions"
            ]
        )
    ]
    assert len(beats) == 1, beats
    (beat,) = beats
    assert beat["DesiredCount"] == 1
    assert beat["DeploymentConfiguration"]["MaximumPercent"] == 100
    if getattr(config.services, "layout", "per_role") == "per_role":
        providers = [s["CapacityProvider"] for s in beat.get("CapacityProviderStrategy", [])]
        assert providers in ([], ["FARGATE"]), providers


def check_waf_ip_sets(result: SynthResult) -> None:
    """Deploy-time limits the linters miss: a WAF IP set takes any CIDR but /0."""
    for template in result.templates.values():
        for ip_set in resources(template, "AWS::WAFv2::IPSet").values():
            addresses = ip_set["Properties"]["Addresses"]
            assert addresses, "an IP set needs at least one address"
            assert all(not str(a).endswith("/0") for a in addresses), addresses


def check_routes(config: DifyConfig, result: SynthResult) -> None:
    """Every Dify route is on the front door (the lambda door does not serve the plugin daemon's /e)."""
    template = main_template(result)
    kind = config.front_door.type
    if kind in ("cloudfront", "alb"):
        found = {
            value
            for rule in resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
            for condition in rule["Properties"]["Conditions"]
            for value in condition["PathPatternConfig"]["Values"]
        }
        expected = {p for prefix in (*API_PREFIXES, *PLUGIN_PREFIXES) for p in (prefix, f"{prefix}/*")}
    elif kind == "api_gateway":
        found = {
            r["Properties"]["RouteKey"] for r in resources(template, "AWS::ApiGatewayV2::Route").values()
        }
        expected = {
            key
            for prefix in (*API_PREFIXES, *PLUGIN_PREFIXES)
            for key in (f"ANY {prefix}", f"ANY {prefix}/{{proxy+}}")
        }
    elif kind == "lambda_proxy":
        # nginx in the proxy function routes; its configuration travels base64-encoded in the environment.
        configs = [
            base64.b64decode(variables["NGINX_CONF_B64"]).decode()
            for function in resources(template, "AWS::Lambda::Function").values()
            if "NGINX_CONF_B64"
            in (variables := function["Properties"].get("Environment", {}).get("Variables", {}))
        ]
        assert len(configs) == 1, "one proxy function"
        found = set(re.findall(r"location (= \S+|\S+/) \{", configs[0]))
        expected = {p for prefix in (*API_PREFIXES, *PLUGIN_PREFIXES) for p in (f"= {prefix}", f"{prefix}/")}
    else:
        (distribution,) = resources(template, "AWS::CloudFront::Distribution").values()
        behaviors = distribution["Properties"]["DistributionConfig"].get("CacheBehaviors", [])
        found = {b["PathPattern"] for b in behaviors}
        expected = {p for prefix in API_PREFIXES for p in (prefix, f"{prefix}/*")}
    assert expected <= found, sorted(expected - found)


def check_closed_network(config: DifyConfig, result: SynthResult) -> None:
    """A closed network has no way to the internet (README, Closed network; docs/closed-network.md): no
    internet gateway, NAT, Elastic IP, instance or public subnet, no route to 0.0.0.0/0, no public IP on a
    task, an internal load balancer, no function URL; and a VPC endpoint for every AWS service the template
    calls from inside the VPC (derived from it as tests/test_closed_network.py does), none nothing uses."""
    template = main_template(result)
    if not config.network.closed:
        return
    body = template["Resources"]
    assert_no_way_out(body)
    created = set(endpoints_of(body))
    needed = derived_endpoints(body)
    required = set(required_endpoints(config))
    # What the stack creates, or (network.endpoints = false) what `validate --vpc-id` asks the VPC for.
    assert needed <= created | required, sorted(needed - created - required)
    if config.network.endpoints:
        # An imported VPC gets interface endpoints only (a gateway endpoint would change its routes).
        skipped = GATEWAY_SERVICES if config.network.imported else frozenset()
        assert required - skipped <= created, sorted(required - skipped - created)
    # SES SMTP is no IAM action: the one endpoint the derivation cannot see.
    mail = {"email-smtp"} if config.email.enabled else set()
    assert created <= needed | mail, sorted(created - needed - mail)


def check_network(config: DifyConfig, result: SynthResult) -> None:
    """NAT as configured: `nat_gateways` gateways, or as many NAT instances with `nat = "instance"` (README,
    Network); an imported VPC is never modified: no VPC, subnet, route, NAT, gateway or flow log (README,
    "The stack never modifies a VPC it does not own")."""
    template = main_template(result)
    net = config.network
    if net.imported:
        for kind in (
            "AWS::EC2::VPC",
            "AWS::EC2::Subnet",
            "AWS::EC2::Route",
            "AWS::EC2::RouteTable",
            "AWS::EC2::NatGateway",
            "AWS::EC2::InternetGateway",
            "AWS::EC2::FlowLog",
            "AWS::EC2::Instance",
        ):
            assert not resources(template, kind), kind
        return
    instances = len(resources(template, "AWS::EC2::Instance"))
    gateways = len(resources(template, "AWS::EC2::NatGateway"))
    if net.nat == "instance":
        assert (instances, gateways) == (net.nat_gateways, 0)
    else:
        assert (instances, gateways) == (0, net.nat_gateways)
    assert bool(resources(template, "AWS::EC2::FlowLog")) is net.flow_logs


def check_env_secrets(config: DifyConfig, result: SynthResult) -> None:
    """[env] values from SSM or Secrets Manager reach the containers as ECS secrets, never as plain
    environment (README, Extra settings: "become ECS secrets"); literals are in the environment."""
    entries = list(config.env.entries())
    if not entries:
        return
    literal = {name for _, name, setting in entries if setting.is_literal}
    secret = {name for _, name, setting in entries if not setting.is_literal} - literal
    template = main_template(result)
    environment: set[str] = set()
    secrets: set[str] = set()
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            environment |= {e["Name"] for e in container.get("Environment", [])}
            secrets |= {e["Name"] for e in container.get("Secrets", [])}
    for function in resources(template, "AWS::Lambda::Function").values():
        environment |= set(function["Properties"].get("Environment", {}).get("Variables", {}))
    assert not secret & environment, sorted(secret & environment)
    assert secret <= secrets, sorted(secret - secrets)
    assert literal <= environment, sorted(literal - environment)


def _container_environment(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [
        {e["Name"]: e["Value"] for e in container.get("Environment", [])}
        for task in resources(template, "AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
        if container["Name"] == name
    ]


def check_monitoring(config: DifyConfig, result: SynthResult) -> None:
    """[monitoring] (README, Monitoring): a dashboard, alarms with a runbook line to an SNS topic encrypted
    with KMS, the operator's address subscribed; nothing of it when off."""
    template = main_template(result)
    dashboards = resources(template, "AWS::CloudWatch::Dashboard")
    if not config.monitoring.enabled:
        assert not dashboards and not resources(template, "AWS::Logs::QueryDefinition")
        return
    assert len(dashboards) == 1
    (topic_id,) = [
        rid
        for rid, t in resources(template, "AWS::SNS::Topic").items()
        if "KmsMasterKeyId" in t["Properties"]
    ]
    runbooks = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if str(a["Properties"].get("AlarmDescription", "")).startswith("Runbook: ")
    ]
    assert runbooks
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in runbooks)
    mails = {
        s["Properties"]["Endpoint"]
        for s in resources(template, "AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": topic_id} and s["Properties"]["Protocol"] == "email"
    }
    assert mails == ({config.monitoring.email} if config.monitoring.email else set()), mails


def check_package_index(config: DifyConfig, result: SynthResult) -> None:
    """[package_index] (README, Python packages): a CodeArtifact repository, and the plugin daemon and the
    sandbox install from the in-VPC proxy by a plain URL without credentials; none of it by default."""
    template = main_template(result)
    repositories = resources(template, "AWS::CodeArtifact::Repository")
    if config.package_index.type == "none":
        assert not repositories
        return
    assert len(repositories) == 1
    for name in ("plugin-daemon", "sandbox"):
        for environment in _container_environment(template, name):
            url = environment["PIP_MIRROR_URL"]
            assert url.startswith("http://package-index.") and "@" not in url, (name, url)


def check_knowledge_api(config: DifyConfig, result: SynthResult) -> None:
    """[knowledge_bases]: a private REST API in a closed network, else a public function URL (README,
    Bedrock knowledge bases as external knowledge); nothing without ids."""
    template = main_template(result)
    private = [
        api
        for api in resources(template, "AWS::ApiGateway::RestApi").values()
        if "PRIVATE" in api["Properties"].get("EndpointConfiguration", {}).get("Types", [])
    ]
    if not config.knowledge_bases.ids:
        assert not private
        return
    if config.network.closed:
        assert len(private) == 1, private
    else:
        assert not private
        assert resources(template, "AWS::Lambda::Url")


# --- cfn-lint in the background -------------------------------------------------------------------------


@dataclass
class _Lint:
    label: str
    outdir: Path
    process: subprocess.Popen[str]
    started: float


class LintQueue:
    """Runs cfn-lint (one process per configuration, all its templates) while the next one synthesizes."""

    def __init__(self, parallel: int) -> None:
        self.parallel = max(1, parallel)
        self.running: list[_Lint] = []
        self.failures: list[str] = []
        self.seconds: list[float] = []

    def submit(self, label: str, result: SynthResult) -> None:
        while len(self.running) >= self.parallel:
            self._finish(self.running.pop(0))
        paths = [str(result.template_path(s.artifact_id)) for s in result.stacks]
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "cfn-lint"),
                "--config-file",
                str(ROOT / ".cfnlintrc.yaml"),
                *paths,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.running.append(_Lint(label, result.outdir, process, time.monotonic()))

    def _finish(self, lint: _Lint) -> None:
        output, _ = lint.process.communicate()
        self.seconds.append(time.monotonic() - lint.started)
        if lint.process.returncode != 0:
            self.failures.append(f"cfn-lint exit {lint.process.returncode} for {lint.label}:\n{output}")
        shutil.rmtree(lint.outdir, ignore_errors=True)

    def drain(self) -> list[str]:
        while self.running:
            self._finish(self.running.pop(0))
        return self.failures


# --- the report -----------------------------------------------------------------------------------------

REPORT: dict[str, Any] = {
    "valid_tried": 0,
    "valid_parsed": 0,
    "valid_synthesized": 0,
    "invalid_tried": 0,
    "cli_runs": 0,
    "front_doors": Counter(),
    "removal_policies": Counter(),
    "mutations": Counter(),
    "synth_seconds": [],
    "lint_seconds": [],
    "valid_configs": [],
}


@pytest.fixture(scope="module", autouse=True)
def sweep_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    path = tmp_path_factory.getbasetemp() / "sweep-report.json"
    path.write_text(json.dumps(REPORT, indent=2, sort_keys=True, default=str), encoding="utf-8")
    synth = REPORT["synth_seconds"]
    print(
        f"\nsweep: {REPORT['valid_tried']} valid configurations tried, "
        f"{REPORT['valid_synthesized']} synthesized and checked ({sum(synth):.0f} s synth), "
        f"{REPORT['invalid_tried']} invalid ones, "
        f"{REPORT['cli_runs']} through the CLI; report: {path}"
    )


def _settings(examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
        **extra,
    )


# --- the valid sweep ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lint() -> Iterator[LintQueue]:
    """One cfn-lint queue for the whole sweep, so linting overlaps the next front door's synthesis too;
    test_swept_configurations_pass_cfn_lint (after the sweep) reports its failures."""
    queue = LintQueue(LINT_PARALLEL)
    yield queue
    queue.drain()


@pytest.mark.parametrize("door_type", DOOR_TYPES)
def test_valid_configurations_synthesize_cleanly(
    door_type: str, lint: LintQueue, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """DIFY_SWEEP_EXAMPLES configurations in all, split evenly over the front door types."""
    base = tmp_path_factory.mktemp(f"sweep-{door_type}")
    counter = iter(range(1_000_000))

    # Shrinking would synthesize again and again; the failing configuration is printed whole instead.
    @_settings(
        max(1, SWEEP_EXAMPLES // len(DOOR_TYPES)), phases=[Phase.explicit, Phase.reuse, Phase.generate]
    )
    @given(valid_cases(door_type))
    def check(case: Case) -> None:
        REPORT["valid_tried"] += 1
        config = parse_config(case.config, "<sweep>")
        label = json.dumps(case.config, sort_keys=True)
        started = time.monotonic()
        context = {**case.context, **recorded_zones(config)}
        result = synthesize(config, base / f"v{next(counter)}", nag=True, context=context)
        REPORT["synth_seconds"].append(round(time.monotonic() - started, 2))
        assert result.missing_context == [], result.missing_context
        assert result.violations == [], "\n".join(
            f"{v.rule} {v.path}: {v.description}" for v in result.violations
        )
        findings = scan_result(result)
        assert findings == [], "\n".join(map(str, findings))
        check_retention(config, result)
        check_one_beat(config, result)
        check_routes(config, result)
        check_waf_ip_sets(result)
        check_closed_network(config, result)
        check_network(config, result)
        check_env_secrets(config, result)
        check_knowledge_api(config, result)
        check_monitoring(config, result)
        check_package_index(config, result)
        REPORT["valid_synthesized"] += 1
        REPORT["front_doors"][config.front_door.type] += 1
        REPORT["removal_policies"][config.removal_policy] += 1
        REPORT["valid_configs"].append(case.config)
        lint.submit(label, result)

    check()


def test_swept_configurations_pass_cfn_lint(lint: LintQueue) -> None:
    """cfn-lint (errors and warnings, .cfnlintrc.yaml) on every configuration the sweep synthesized."""
    failures = lint.drain()
    REPORT["lint_seconds"] = [round(s, 2) for s in lint.seconds]
    assert not failures, "\n\n".join(failures)


@_settings(INVALID_EXAMPLES)
@given(valid_cases())
def test_the_valid_strategy_draws_valid_configurations(case: Case) -> None:
    """Cheap guard for the expensive sweep: every drawn configuration passes validation."""
    REPORT["valid_parsed"] += 1
    parse_config(case.config, "<sweep>")


# --- bugs the sweep found (strict xfail: they pass once the bug is fixed; then drop the avoidance) -------


def test_empty_tag_value_is_rejected() -> None:
    """Found by the sweep: an empty tag value failed synth (Step Functions tags need 1+ characters)."""
    with pytest.raises(ConfigError, match="empty value"):
        parse_config({"name": "EmptyTag", "tags": {"owner": ""}}, "<bug>")


@pytest.mark.parametrize(
    "front_door",
    [
        {"type": "cloudfront", "allowed_cidrs": ["0.0.0.0/0"]},
        {"type": "lambda", "allowed_cidrs": ["::/0"]},
        {"type": "alb", "allowed_cidrs": ["::/0"]},
        {"type": "api_gateway", "allowed_cidrs": ["0.0.0.0/0"]},
    ],
)
def test_slash_zero_is_rejected(front_door: dict[str, Any]) -> None:
    """Found by the sweep: WAF IP sets reject /0 (deploy failure) and an ALB allow-list of /0 left an
    unacknowledged cdk-nag finding. Empty already means everyone."""
    data = {"name": "Open", "account": ACCOUNT, "region": "eu-west-1", "front_door": front_door}
    with pytest.raises(ConfigError, match="allows everyone"):
        parse_config(data, "<bug>")


# --- invalid configurations -----------------------------------------------------------------------------


def put(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[last] = value


def drop(config: dict[str, Any], *dotted: str) -> None:
    for path in dotted:
        *parents, last = path.split(".")
        node: Any = config
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)


@dataclass(frozen=True)
class Mutation:
    """One deliberate mistake. `section`: the top-level key it touches (mistakes in different sections are
    all reported together); None for checks across sections, which pydantic runs only on an otherwise valid
    configuration, so such a mutation is applied alone."""

    name: str
    apply: Callable[[dict[str, Any]], None]
    expect: tuple[str, ...]
    section: str | None


def _set(path: str, value: Any, *expect: str) -> Mutation:
    return Mutation(
        f"{path} = {value!r}",
        lambda c: put(c, path, value),
        expect or (path,),
        path.split(".", maxsplit=1)[0],
    )


def _unforced(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set `path` and take back images.force, which would accept any tag (and the other forced tags, which
    would then be mistakes of their own: the images check names the first tag outside the set)."""

    def apply(config: dict[str, Any]) -> None:
        drop(config, *(f"images.{key}" for key in ("api", "web", "sandbox", "plugin_daemon", "dify_version")))
        put(config, path, value)
        put(config, "images.force", False)

    return apply


def _door(name: str, expect: tuple[str, ...], **settings_: Any) -> Mutation:
    """A front door combination mistake: the [front_door] table replaced by `settings_`."""

    def apply(config: dict[str, Any]) -> None:
        config["front_door"] = dict(settings_)

    return Mutation(name, apply, expect, "front_door")


def _whole(name: str, expect: tuple[str, ...], change: Callable[[dict[str, Any]], None]) -> Mutation:
    return Mutation(name, change, expect, None)


def _new_vpc_cidr(value: str) -> Callable[[dict[str, Any]], None]:
    """network.cidr on a new VPC: an imported VPC's CIDR may be public or as small as a /28."""

    def apply(config: dict[str, Any]) -> None:
        if "vpc_id" in config.get("network", {}):
            config["network"] = {}
        put(config, "network.cidr", value)

    return apply


def _zoneless(config: dict[str, Any]) -> None:
    """No explicit zones (they need region): a new open VPC instead of an imported or closed one, whose
    own rules would fail before the checks across sections run."""
    network = config.get("network", {})
    if "vpc_id" in network or network.get("closed"):
        config["network"] = {"max_azs": 2}
    else:
        drop(config, "network.availability_zones")


def _lambda_without(*keys: str) -> Callable[[dict[str, Any]], None]:
    def apply(config: dict[str, Any]) -> None:
        config["front_door"] = {"type": "lambda"}
        drop(config, *keys)
        _zoneless(config)

    return apply


def _lookup_without_account(config: dict[str, Any]) -> None:
    config["front_door"] = {"type": "alb", "domain": "dify.example.com", "hosted_zone": "example.com"}
    drop(config, "account")
    _zoneless(config)


def _cloudfront_waf_without_region(config: dict[str, Any]) -> None:
    config["front_door"] = {"type": "cloudfront", "allowed_cidrs": ["203.0.113.0/24"]}
    drop(config, "region")
    _zoneless(config)


def _zones_without_region(config: dict[str, Any]) -> None:
    config["front_door"] = {"type": "alb"}
    drop(config, "region")
    _zoneless(config)
    put(config, "network.max_azs", 2)
    put(config, "network.nat_gateways", 1)
    put(config, "network.availability_zones", ["us-east-1a", "us-east-1b"])


def _zones_in_another_region(config: dict[str, Any]) -> None:
    config["front_door"] = {"type": "alb"}
    config["region"] = "eu-west-1"
    _zoneless(config)
    put(config, "network.max_azs", 2)
    put(config, "network.nat_gateways", 1)
    put(config, "network.availability_zones", ["us-east-1a", "eu-west-1b"])


def _regional_certificate_elsewhere(config: dict[str, Any]) -> None:
    config.update(account=ACCOUNT, region="eu-west-1")
    _zoneless(config)
    config["front_door"] = {
        "type": "alb",
        "domain": "dify.example.com",
        "certificate_arn": certificate_arn("us-west-2"),
    }


def _zones_count(config: dict[str, Any]) -> None:
    config["region"] = "us-east-1"
    config["network"] = {"max_azs": 3, "availability_zones": ["us-east-1a", "us-east-1b"]}


MUTATIONS: tuple[Mutation, ...] = (
    # values a field rejects
    *(
        Mutation(f"network.cidr = {v!r} (new VPC)", _new_vpc_cidr(v), ("network.cidr",), "network")
        for v in ("10.0.0.0/33", "10.0.0.1/16", "8.8.0.0/16", "10.0.0.0/8", "vpc", "10.0.0.0/24")
    ),
    *(
        _set("front_door.allowed_cidrs", [v])
        for v in ("300.1.1.0/24", "10.0.0.1/8", "2001:db8::1/32", "everyone", "0.0.0.0/0", "::/0")
    ),
    _set("front_door.allowed_countries", ["jp"]),
    _set("front_door.allowed_countries", ["JPN"]),
    _set("front_door.domain", "Dify.Example.com"),
    _set("front_door.domain", "localhost"),
    _set("front_door.hosted_zone_id", "abc"),
    _set("front_door.certificate_arn", "arn:aws:acm:bad"),
    _set("front_door.origin_read_timeout_seconds", 0),
    _set("front_door.idle_timeout_seconds", 5000),
    _set("front_door.function_memory_mib", 100),
    _set("front_door.provisioned_concurrency", -1),
    _set("removal_policy", "nope"),
    _set("front_door.type", "nginx"),
    _set("services.architecture", "arm"),
    _set("cache.engine_version", "6.2"),
    _set("cache.node_type", "t4g.micro"),
    _set("database.engine_version", "15.4"),
    _set("database.min_acu", 0.3),
    _set("database.min_acu", -1),
    _set("database.max_acu", 300),
    _set("database.readers", 16),
    _set("database.backup_retention_days", 36),
    _set("database.auto_pause_seconds", 10),
    _set("services.log_retention_days", 2),
    _set("services.on_demand_base", 11),
    _set("services.sandbox_requirements_file", "no-such-requirements.txt"),
    _set("services.api.desired_count", 51, "services.api"),
    _set("services.plugin_daemon.ephemeral_storage_gib", 10, "services.plugin_daemon"),
    _set("storage.noncurrent_version_days", 0),
    _set("network.max_azs", 4),
    _set("network.max_azs", 1),
    _set("name", "1abc"),
    _set("name", "a_b"),
    _set("name", "x" * 33),
    _set("account", "123"),
    _set("region", "moon-1"),
    _set("images.api", "latest"),
    _set("images.web", "1.0 beta"),
    _set("images.registry", "https://docker.io/"),
    *(
        Mutation(f"{path} = {value!r} (not a known set)", _unforced(path, value), (path,), "images")
        for path, value in (("images.web", "1.2.0"), ("images.dify_version", "0.1.0"))
    ),
    _set("tags", {"aws:owner": "me"}),
    _set("tags", {"owner": "v" * 257}),
    _set("tags", {"owner": ""}),
    # unknown keys
    *(
        _set(path, 1)
        for path in (
            "nmae",
            "front_door.typo",
            "database.max_acus",
            "network.vpc_cidr",
            "cache.nodes",
            "images.registy",
            "storage.days",
            "services.api.cpus",
        )
    ),
    # wrong types
    _set("network.max_azs", "two"),
    _set("services.spot", [True]),
    _set("database.min_acu", "lots"),
    _set("tags", ["a"]),
    _set("front_door.allowed_cidrs", "10.0.0.0/8"),
    _set("services.api", 5),
    _set("cache.multi_az", {"a": 1}),
    _set("storage.noncurrent_version_days", 1.5),
    _set("name", 42),
    _set("front_door.internal", "maybe"),
    _set("front_door", 5),
    _set("services", []),
    _set("tags", {"owner": 1}),
    _set("network.availability_zones", "us-east-1a"),
    # Fargate sizes outside the table, on every role
    *(
        _set(f"services.{role}", {"cpu": cpu, "memory_mib": memory})
        for role in (*SERVICE_ROLES, "beat")
        for cpu, memory in ((300, 1024), (256, 4096), (4096, 4096), (512, 512), (1024, 9000), (2048, 17408))
    ),
    # impossible combinations within a section
    _set("network", {"max_azs": 2, "nat_gateways": 3}, "network", "nat_gateways"),
    _set("database", {"min_acu": 4, "max_acu": 2}, "database", "min_acu", "max_acu"),
    *(
        _door(f"internal with {t}", ("front_door", "internal"), type=t, internal=True)
        for t in ("cloudfront", "api_gateway", "lambda")
    ),
    *(
        _door(f"countries with {t}", ("front_door", "allowed_countries"), type=t, allowed_countries=["JP"])
        for t in ("alb", "api_gateway")
    ),
    *(
        _door(
            f"domain without zone ({t})",
            ("front_door", "domain", "hosted_zone"),
            type=t,
            domain="dify.example.com",
        )
        for t in ("cloudfront", "alb", "api_gateway", "lambda")
    ),
    _door(
        "hosted_zone without domain",
        ("front_door", "hosted_zone"),
        type="alb",
        hosted_zone="example.com",
        hosted_zone_id=ZONE_ID,
    ),
    _door(
        "certificate without domain",
        ("front_door", "certificate_arn"),
        type="alb",
        certificate_arn=certificate_arn("us-east-1"),
    ),
    _door(
        "zone id without zone",
        ("front_door", "hosted_zone_id"),
        type="alb",
        domain="dify.example.com",
        certificate_arn=certificate_arn("us-east-1"),
        hosted_zone_id=ZONE_ID,
    ),
    _door(
        "domain outside zone",
        ("front_door", "domain", "hosted_zone"),
        type="alb",
        domain="dify.example.org",
        hosted_zone="example.com",
        hosted_zone_id=ZONE_ID,
    ),
    *(
        _door(
            f"{t} certificate outside us-east-1",
            ("front_door", "certificate_arn", "us-east-1"),
            type=t,
            domain="dify.example.com",
            certificate_arn=certificate_arn("eu-west-1"),
        )
        for t in ("cloudfront", "lambda")
    ),
    # checks across sections (applied alone)
    _whole("lambda without account", ("front_door.type", "account"), _lambda_without("account")),
    _whole("lambda without region", ("front_door.type", "region"), _lambda_without("region")),
    _whole(
        "lambda without account and region",
        ("front_door.type", "account, region"),
        _lambda_without("account", "region"),
    ),
    _whole(
        "cloudfront allow-list without region", ("front_door.type", "region"), _cloudfront_waf_without_region
    ),
    _whole(
        "zone lookup without account",
        ("front_door.hosted_zone", "hosted_zone_id", "account"),
        _lookup_without_account,
    ),
    _whole("zones without region", ("network.availability_zones", "region"), _zones_without_region),
    _whole("zones in another region", ("network.availability_zones", "eu-west-1"), _zones_in_another_region),
    _whole("zones count", ("network", "availability_zones", "max_azs"), _zones_count),
    _whole(
        "regional certificate in another region",
        ("front_door.certificate_arn", "eu-west-1"),
        _regional_certificate_elsewhere,
    ),
)


def _single_task(change: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A change that needs `services.layout = 'single_task'` (and a front door it works with)."""

    def apply(config: dict[str, Any]) -> None:
        config["services"] = {"layout": "single_task", "single_task": {"cpu": 1024, "memory_mib": 4096}}
        config["front_door"] = {"type": "cloudfront"}
        for path, value in change.items():
            put(config, path, value)

    return apply


def _per_role(change: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def apply(config: dict[str, Any]) -> None:
        config["services"] = {"layout": "per_role"}
        config["front_door"] = {"type": "cloudfront"}
        drop(config, "cache.engine")
        for path, value in change.items():
            put(config, path, value)

    return apply


def _lambda_without_nat(config: dict[str, Any]) -> None:
    config.update(account=ACCOUNT, region="us-east-1")
    config["front_door"] = {"type": "lambda"}
    config["network"] = {"max_azs": 2, "nat_gateways": 0}
    config["services"] = {}
    drop(config, "cache.engine")


if "layout" in SERVICE_FIELDS:
    MUTATIONS += (
        _set("services.layout", "packed"),
        _set("cache.engine", "redis"),
        _set("services.single_task", {"cpu": 300, "memory_mib": 1024}),
        _door(
            "lambda_proxy with an allow-list",
            ("front_door", "lambda_proxy"),
            type="lambda_proxy",
            allowed_cidrs=["203.0.113.0/24"],
        ),
        _whole(
            "lambda_proxy with per_role",
            ("front_door.type", "single_task"),
            _per_role({"front_door.type": "lambda_proxy"}),
        ),
        _whole(
            "container cache with per_role",
            ("cache.engine", "single_task"),
            _per_role({"cache.engine": "container"}),
        ),
        _whole("lambda without NAT", ("nat_gateways",), _lambda_without_nat),
    )
if HAS_MAX_COUNT:
    MUTATIONS += (
        _set(
            "services.worker",
            {"cpu": 1024, "memory_mib": 2048, "desired_count": 3, "max_count": 2},
            "services.worker",
            "max_count",
        ),
        _set("services.api.max_count", 0, "services.api"),
    )
    if "layout" in SERVICE_FIELDS:
        MUTATIONS += (
            _whole(
                "max_count with single_task",
                ("max_count", "per_role"),
                _single_task({"services.api": {"cpu": 1024, "memory_mib": 2048, "max_count": 3}}),
            ),
        )
# Scaling on real signals: the plugin daemon runs one task; queue and request scaling have bounded knobs.
MUTATIONS += (
    _set("services.plugin_daemon.max_count", 2, "services.plugin_daemon", "one task"),
    _set("services.worker.queue_idle_minutes", 0, "services.worker.queue_idle_minutes"),
    _set("services.api.requests_per_target", 0, "services.api.requests_per_target"),
)
if "waf_managed_rules" in DOOR_FIELDS:
    MUTATIONS += (
        _door(
            "managed rules with alb", ("front_door", "waf_managed_rules"), type="alb", waf_managed_rules=True
        ),
        _set("front_door.waf_rate_limit", 10),
    )
if "rotation_days" in DatabaseConfig.model_fields:
    MUTATIONS += (_set("database.rotation_days", 0), _set("database.rotation_days", 400))
    if NAT_OPTIONAL:

        def _rotation_without_nat(config: dict[str, Any]) -> None:
            config["network"] = {"max_azs": 2, "nat_gateways": 0}
            config["front_door"] = {"type": "cloudfront"}
            put(config, "database.rotation_days", 30)

        MUTATIONS += (
            _whole("rotation without NAT", ("rotation_days", "nat_gateways"), _rotation_without_nat),
        )
if "backup" in MODEL_FIELDS:
    MUTATIONS += (
        _set("backup.schedule", "daily"),
        _set("backup.retention_days", 0),
        _set("backup.enable", True),
    )
if "schedule" in MODEL_FIELDS:
    MUTATIONS += (
        _set("schedule.working_hours", "9-5"),
        _set("schedule.working_hours", "MON-FRI 20:00-08:00"),
        _set("schedule.working_hours", "MON-FRY 08:00-20:00"),
        _set("schedule.timezone", "Mars/Olympus_Mons"),
    )
if "ssrf_proxy" in MODEL_FIELDS:
    MUTATIONS += (
        _set("ssrf_proxy.allowed_cidrs", ["169.254.169.254/32"], "ssrf_proxy", "169.254.169.254"),
        _set("ssrf_proxy.allowed_cidrs", ["10.0.0.0/33"], "ssrf_proxy", "allowed_cidrs"),
        _set("ssrf_proxy.extra_ports", [70000], "ssrf_proxy", "extra_ports"),
        _set("ssrf_proxy.allowed_domains", ["bad domain"], "ssrf_proxy", "allowed_domains"),
        _set("ssrf_proxy.nope", 1),
    )

if "env" in MODEL_FIELDS:
    MUTATIONS += (
        _set("env.GITHUB_CLIENT_SECRET", "plain-text", "GITHUB_CLIENT_SECRET", "{ secret = "),
        _set("env.worker.X", {"ssm": "/a", "value": "b"}, "env.worker.X", "exactly one of value, ssm"),
        _set("env.wroker", {"X": "a"}, "env.wroker"),
    )
if "email" in MODEL_FIELDS:
    MUTATIONS += (
        _set("email.domain", "Example.COM", "email.domain"),
        _set("email.sender", "x@elsewhere.org", "email", "sender"),
        _set("email.smtp_port", 25, "email.smtp_port"),
    )


# --- mistakes on the newer sections -----------------------------------------------------------------------

ECR_MIRROR = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com"
IMPORTED_VPC = "vpc-0a1b2c3d4e5f60718"


def _closed(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """A closed network on a new VPC with its images mirrored and an internal ALB, then `changes` (dotted
    paths; None removes the key)."""

    def apply(config: dict[str, Any]) -> None:
        config["network"] = {"closed": True}
        config["front_door"] = {"type": "alb", "internal": True}
        config["images"] = {"registry": f"{ECR_MIRROR}/langgenius"}
        put(config, "ssrf_proxy.image", f"{ECR_MIRROR}/ubuntu/squid:6.6-24.04_beta")
        drop(config, "package_index", "services.worker.queue_scaling")
        for path, value in changes.items():
            if value is None:
                drop(config, path)
            else:
                put(config, path.replace("__", "."), value)

    return apply


def _open_network(network: dict[str, Any], change: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A new VPC with `network` settings, a cloudfront front door, nothing else that needs NAT, then `change`
    (dotted paths)."""

    def apply(config: dict[str, Any]) -> None:
        config["network"] = {"max_azs": 2, **network}
        config["front_door"] = {"type": "cloudfront"}
        drop(config, "database.rotation_days", "services.worker.queue_scaling", "knowledge_bases")
        drop(config, "cache.engine")  # the container cache needs single_task, which `change` may undo
        for path, value in change.items():
            put(config, path, value)

    return apply


def _lambda_with(change: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The `lambda` front door (account, region, NAT) and `change`."""

    def apply(config: dict[str, Any]) -> None:
        config.update(account=ACCOUNT, region="us-east-1")
        config["front_door"] = {"type": "lambda"}
        config["network"] = {"max_azs": 2}
        config["services"] = {}
        drop(config, "cache.engine", "env")
        for path, value in change.items():
            put(config, path, value)

    return apply


WORKER = {"cpu": 1024, "memory_mib": 2048}
if HAS_CLOSED:
    MUTATIONS += (
        _whole(
            "closed with cloudfront",
            ("network.closed", "front_door.type = 'cloudfront'"),
            _closed(front_door={"type": "cloudfront"}),
        ),
        _whole(
            "closed with an internet-facing alb",
            ("network.closed", "without internal = true"),
            _closed(front_door={"type": "alb"}),
        ),
        _whole(
            "closed with Docker Hub images",
            ("images.registry = 'docker.io/langgenius'", "mirror-images"),
            _closed(images__registry="docker.io/langgenius"),
        ),
        _whole(
            "closed with the public squid image",
            ("ssrf_proxy.image", "ECR"),
            _closed(ssrf_proxy__image="public.ecr.aws/ubuntu/squid:6.6-24.04_beta"),
        ),
        _whole(
            "closed with a public package proxy image",
            ("package_index.proxy_image", "ECR"),
            _closed(package_index={"type": "codeartifact"}),
        ),
        _whole(
            "closed with a Docker Hub secret",
            ("images.docker_hub_secret_arn",),
            _closed(images__docker_hub_secret_arn=DOCKER_HUB_SECRET),
        ),
        _whole(
            "closed new VPC without endpoints",
            ("network.endpoints = false",),
            _closed(network__endpoints=False),
        ),
        _whole(
            "closed queue scaling",
            ("services.worker.queue_scaling", "closed network"),
            _closed(services__worker={**WORKER, "max_count": 3, "queue_scaling": True}),
        ),
        _set("network", {"closed": True, "nat_gateways": 1}, "network", "nat_gateways = 1"),
        _set("network", {"endpoints": False}, "network", "endpoints = false"),
        _set("network.closed", "maybe", "network.closed"),
    )
if HAS_NAT_INSTANCE:
    MUTATIONS += (
        _set("network.nat", "nat-gateway", "network.nat"),
        _set("network", {"nat": "instance", "nat_gateways": 0}, "network", "nat = 'instance'"),
        _set(
            "network", {"nat_instance_type": "t3.micro"}, "network", "nat_instance_type", "nat = 'instance'"
        ),
        _set("network", {"nat": "instance", "nat_instance_type": "tiny"}, "network", "nat_instance_type"),
    )
if HAS_IMPORTED:
    MUTATIONS += (
        _set("network.vpc_id", "vpc-123", "network.vpc_id"),
        _set("network", {"vpc_id": IMPORTED_VPC, "nat_gateways": 2}, "network", "nat_gateways = 2"),
        _set("network", {"vpc_id": IMPORTED_VPC, "flow_logs": True}, "network", "flow_logs = true"),
        _set("network", {"private_subnet_ids": ["subnet-0a1b2c3d4e5f60001"]}, "network", "vpc_id"),
        _set(
            "network",
            {"vpc_id": IMPORTED_VPC, "private_subnet_ids": ["subnet-0a1b2c3d"]},
            "network",
            "availability_zones",
            "cidr",
        ),
        _set("network.private_subnet_ids", ["subnet-xyz"], "network.private_subnet_ids"),
    )
if "knowledge_bases" in MODEL_FIELDS:
    MUTATIONS += (
        _set("knowledge_bases.ids", ["KB123"], "knowledge_bases.ids", "'KB123'"),
        _set("knowledge_bases.ids", ["KB12345678", "KB12345678"], "knowledge_bases.ids", "twice"),
        _set("knowledge_bases.region", "moon-1", "knowledge_bases.region"),
        _set("knowledge_bases.id", ["KB12345678"], "knowledge_bases.id"),
        _whole(
            "knowledge bases without NAT",
            ("knowledge_bases.ids", "nat_gateways = 0"),
            _open_network({"nat_gateways": 0}, {"knowledge_bases.ids": ["KB12345678"]}),
        ),
        _whole(
            "knowledge bases behind a domain allow-list",
            ("knowledge_bases.ids", "ssrf_proxy.allowed_domains", ".on.aws"),
            _open_network(
                {}, {"knowledge_bases.ids": ["KB12345678"], "ssrf_proxy.allowed_domains": [".example.com"]}
            ),
        ),
    )
if "email" in MODEL_FIELDS:
    MUTATIONS += (
        _set("email", {"sender": "dify@example.com"}, "email", "domain"),
        _set("email.mail_from_subdomain", "Mail.From", "email.mail_from_subdomain"),
        _set("email", {"domain": "example.com", "sender": "not an address"}, "email", "sender"),
    )
if "env" in MODEL_FIELDS:
    MUTATIONS += (
        _set("env.api.X", {"secret": "arn:aws:secretsmanager:bad"}, "env.api.X", "secret"),
        _set("env.sandbox.X", {"ssm": "two words"}, "env.sandbox.X", "ssm"),
        _set("env.worker.X", {"value": "a", "key": "k"}, "env.worker.X", "key"),
        _set("env.beat.X", {"ssm": "/a", "kms_key": "alias/mine"}, "env.beat.X", "kms_key"),
        _set("env.api.lower_case", "x", "env.api", "lower_case"),
        _set("env.migration.DB_PASSWORD", "hunter2-hunter2", "DB_PASSWORD", "{ secret = "),
        _whole(
            "env sets a name the stack sets",
            ("[env] DB_HOST", "override = true"),
            lambda c: put(c, "env.DB_HOST", "db.example.com"),
        ),
        _whole(
            "[env.web] with the lambda front door",
            ("[env.web]", "front_door.type = 'lambda'"),
            _lambda_with({"env.web.X": "1"}),
        ),
        _whole(
            "SSM for the api with the lambda front door",
            ("SSM", "front_door.type = 'lambda'", "{ secret = "),
            _lambda_with({"env.api.SENTRY_DSN": {"ssm": "/dify/sentry"}}),
        ),
    )
if "monitoring" in MODEL_FIELDS:
    MUTATIONS += (
        _set("monitoring.email", "ops-at-example.com", "monitoring.email"),
        _set("monitoring.cache_memory_percent", 0, "monitoring.cache_memory_percent"),
        _set("monitoring.error_rate_percent", 0, "monitoring.error_rate_percent"),
        _set("monitoring.queue_depth_threshold", 0, "monitoring.queue_depth_threshold"),
        _set("monitoring.enable", True, "monitoring.enable"),
    )
if "package_index" in MODEL_FIELDS:
    MUTATIONS += (
        _set("package_index.type", "pypi", "package_index.type"),
        _set("package_index.proxy_image", "Python 3", "package_index.proxy_image"),
        _set("package_index.url", "https://pypi.org/simple", "package_index.url"),
    )
MUTATIONS += (
    _set(
        "services.worker",
        {**WORKER, "desired_count": 2, "max_count": 2, "queue_scaling": True},
        "services.worker",
        "max_count",
    ),
    _whole(
        "queue scaling without NAT",
        ("services.worker.queue_scaling", "nat_gateways"),
        _open_network(
            {"nat_gateways": 0}, {"services": {"worker": {**WORKER, "max_count": 3, "queue_scaling": True}}}
        ),
    ),
    _whole(
        "queue scaling with single_task",
        ("services.worker.queue_scaling", "per_role"),
        _single_task({"services.worker": {**WORKER, "max_count": 3, "queue_scaling": True}}),
    ),
)
if "execute_command" in SERVICE_FIELDS:
    MUTATIONS += (_set("services.execute_command", "maybe"),)
if "port_policy" in SsrfProxyConfig.model_fields:
    MUTATIONS += (_set("ssrf_proxy.port_policy", "loose"),)
if "snapshot_identifier" in DatabaseConfig.model_fields:
    MUTATIONS += (_set("database.snapshot_identifier", "1bad--name"),)
if "docker_hub_secret_arn" in ImagesConfig.model_fields:
    MUTATIONS += (_set("images.docker_hub_secret_arn", "arn:aws:secretsmanager:bad"),)


@st.composite
def invalid_cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[Mutation]]:
    """A valid configuration with one cross-section mistake, or one to three mistakes in distinct sections."""
    config = copy.deepcopy(draw(valid_cases()).config)
    first = draw(st.sampled_from(MUTATIONS))
    chosen = [first]
    if first.section is not None:
        for extra in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
            if extra.section is not None and extra.section not in {m.section for m in chosen}:
                chosen.append(extra)
    for mutation in chosen:
        mutation.apply(config)
    return config, chosen


def _rejects(config: dict[str, Any], mutations: list[Mutation]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(config, "<sweep>")
    message = str(caught.value)
    for mutation in mutations:
        for fragment in mutation.expect:
            assert fragment in message, (mutation.name, fragment, message)
    return message


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_every_mistake_is_named_on_the_default_config(mutation: Mutation) -> None:
    config: dict[str, Any] = {"name": "Dify", "account": ACCOUNT, "region": "us-east-1"}
    mutation.apply(config)
    _rejects(config, [mutation])


@_settings(INVALID_EXAMPLES)
@given(invalid_cases())
def test_invalid_configurations_name_each_offending_key(case: tuple[dict[str, Any], list[Mutation]]) -> None:
    config, mutations = case
    REPORT["invalid_tried"] += 1
    for mutation in mutations:
        REPORT["mutations"][mutation.name] += 1
    _rejects(config, mutations)


# --- through the CLI ------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def to_toml(config: dict[str, Any], prefix: str = "") -> str:
    """A configuration mapping as a TOML document (scalars first, then one table per nested mapping)."""
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in config.items() if not isinstance(v, dict) or not v
    ]
    tables = [to_toml(v, f"{prefix}{_toml_key(k)}.") for k, v in config.items() if isinstance(v, dict) and v]
    header = [f"[{prefix[:-1]}]"] if prefix else []
    return "\n".join([*header, *lines, *tables]) + "\n"


def test_toml_writer_round_trips() -> None:
    import tomllib  # noqa: PLC0415

    config = {
        "name": "A",
        "tags": {"cost center": "x:y", "a": ""},
        "front_door": {"type": "alb", "allowed_cidrs": ["10.0.0.0/8"]},
        "services": {"api": {"cpu": 256, "memory_mib": 512}, "spot": True},
        "database": {"min_acu": 0.5},
    }
    assert tomllib.loads(to_toml(config)) == config


@_settings(CLI_EXAMPLES)
@given(case=invalid_cases())
def test_cli_exits_2_naming_the_key_without_a_traceback(
    case: tuple[dict[str, Any], list[Mutation]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    config, mutations = case
    REPORT["cli_runs"] += 1
    path = tmp_path_factory.mktemp("cli") / "bad.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "dify_on_aws.cli", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: invalid configuration in"), proc.stderr
    for mutation in mutations:
        for fragment in mutation.expect:
            assert fragment in proc.stderr, (mutation.name, fragment, proc.stderr)
