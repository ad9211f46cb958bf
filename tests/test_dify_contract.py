"""The containers of every example against what Dify's own code reads (issue #11).

The contract data (src/dify_on_aws/services/dify_contract/<release>.json) records, per supported release and
from Dify's sources (repo, path and commit per fact), the variables each component reads, the ones it needs
without a usable default, and the queues beat and the api send to. Over every example configuration:

- every variable set on a container is one its component reads (typos and dead keys fail);
- every variable a component needs without a usable default is set;
- every queue something enqueues to is consumed by a worker;
- every pair that must match comes from the same secret and key;
- URLs one component hands to another are reachable from where the receiver runs, around the SSRF proxy
  for Dify's own services, through it for everything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import ConfigError, DifyConfig, load_config
from dify_on_aws.frontdoor.routing import PLUGIN_PREFIXES
from dify_on_aws.services import dify_contract
from dify_on_aws.services.dify_contract import Contract

from .conftest import EXAMPLES, config_of

# Container name -> the component (image) whose code reads its environment.
COMPONENT = {
    "api": "api",
    "worker": "api",
    "beat": "api",
    "migration": "api",
    "web": "web",
    "sandbox": "sandbox",
    "plugin-daemon": "plugin_daemon",
    "ssrf-proxy": "ssrf_proxy",
    "package-index": "package_index",
}
# Where each Dify service listens (Dify's compose and images).
LISTENS = {"api": 5001, "web": 3000, "sandbox": 8194, "plugin-daemon": 5002, "ssrf-proxy": 3128}
LOOPBACK = ("localhost", "127.0.0.1")
# Pairs that must be equal, written here: (container, variable) on each side.
PAIRS = [
    *((("api", "SECRET_KEY"), (other, "SECRET_KEY")) for other in ("worker", "beat", "migration")),
    (("api", "CODE_EXECUTION_API_KEY"), ("sandbox", "API_KEY")),
    (("api", "PLUGIN_DAEMON_KEY"), ("plugin-daemon", "SERVER_KEY")),
    (("api", "INNER_API_KEY_FOR_PLUGIN"), ("plugin-daemon", "DIFY_INNER_API_KEY")),
    (("api", "DB_USERNAME"), ("plugin-daemon", "DB_USERNAME")),
    (("api", "DB_PASSWORD"), ("plugin-daemon", "DB_PASSWORD")),
    (("api", "DB_USERNAME"), ("api", "PGVECTOR_USER")),
    (("api", "DB_PASSWORD"), ("api", "PGVECTOR_PASSWORD")),
    (("api", "REDIS_PASSWORD"), ("plugin-daemon", "REDIS_PASSWORD")),
    *((("api", name), (other, name)) for other in ("worker", "beat", "migration")
      for name in ("DB_USERNAME", "DB_PASSWORD", "REDIS_PASSWORD", "CELERY_BROKER_URL",
                   "CODE_EXECUTION_API_KEY", "PLUGIN_DAEMON_KEY", "INNER_API_KEY_FOR_PLUGIN")),
]  # fmt: skip
# Browser-facing URLs of the api image: all the front door's URL.
BROWSER_URLS = (
    "CONSOLE_API_URL",
    "CONSOLE_WEB_URL",
    "SERVICE_API_URL",
    "APP_WEB_URL",
    "FILES_URL",
    "TRIGGER_URL",
)


@dataclass(frozen=True)
class Container:
    task: str
    environment: dict[str, Any]
    secrets: dict[str, Any]

    def names(self) -> set[str]:
        return {*self.environment, *self.secrets}


@dataclass(frozen=True)
class Deployment:
    contract: Contract
    containers: dict[str, Container]
    # ECS Service Connect: DNS name -> port.
    aliases: dict[str, int]


def _deployment(example: str, result: SynthResult) -> Deployment:
    contract = dify_contract.load(
        load_config(next(p for p in EXAMPLES if p.name == example)).images.dify_version
    )
    containers: dict[str, Container] = {}
    aliases: dict[str, int] = {}
    for body in result.templates.values():
        template = body if isinstance(body, dict) else json.loads(body)
        for lid, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::ECS::TaskDefinition":
                for c in props["ContainerDefinitions"]:
                    if c["Name"] in COMPONENT:
                        assert c["Name"] not in containers, f"{example}: two {c['Name']} containers"
                        containers[c["Name"]] = Container(
                            lid,
                            {e["Name"]: e["Value"] for e in c.get("Environment", [])},
                            {s["Name"]: s["ValueFrom"] for s in c.get("Secrets", [])},
                        )
            if resource["Type"] == "AWS::ECS::Service":
                for service in props.get("ServiceConnectConfiguration", {}).get("Services", []):
                    for alias in service.get("ClientAliases", []):
                        aliases[alias["DnsName"]] = alias["Port"]
    return Deployment(contract, containers, aliases)


@pytest.fixture(scope="module")
def deployments(example_results: dict[str, SynthResult]) -> dict[str, Deployment]:
    return {name: _deployment(name, result) for name, result in example_results.items()}


def _flat(value: Any) -> str:
    """A CloudFormation value as text: joins joined, references as their JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flat(part) for part in parts)
    return json.dumps(value, sort_keys=True)


# --- the data files ----------------------------------------------------------------------------------------


def test_every_supported_release_has_its_facts_sourced() -> None:
    """Each fact names a source, and each source a repository, a path and a commit."""
    assert dify_contract.DEFAULT_RELEASE in dify_contract.releases()
    for release in dify_contract.releases():
        path = dify_contract._HERE / f"{release}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["release"] == release
        for key, source in data["sources"].items():
            assert source["repo"] and source["path"], key
            assert re.fullmatch(r"[0-9a-f]{40}|this repository", source["commit"]), key
        cited = set(re.findall(r'"source": "([^"]+)"', path.read_text(encoding="utf-8")))
        for component in data["components"].values():
            cited |= set(component["reads"].values())
        assert cited <= set(data["sources"]), cited - set(data["sources"])
        contract = dify_contract.load(release)
        assert set(contract.images) == {*dify_contract.IMAGE_KEYS, "ssrf_proxy"}
        for component in contract.components.values():
            assert set(component.required) <= set(component.reads)


def test_the_default_is_todays_image_set() -> None:
    """The defaults keep producing the images of Dify 1.13.3's compose (docker-compose-template.yaml)."""
    images = config_of().images
    assert (images.dify_version, images.api, images.web, images.sandbox, images.plugin_daemon) == (
        "1.13.3", "1.13.3", "1.13.3", "0.2.14", "0.5.3-local",
    )  # fmt: skip
    assert config_of().ssrf_proxy.image == "public.ecr.aws/ubuntu/squid:6.6-24.04_beta"


def test_an_unknown_combination_names_both_tags() -> None:
    with pytest.raises(ConfigError, match=r"images\.web = '1\.2\.0' with images\.api = '1\.13\.3'"):
        config_of(images={"api": "1.13.3", "web": "1.2.0"})
    with pytest.raises(ConfigError, match=r"images\.api = '1\.12\.0' with images\.dify_version = '1\.13\.3'"):
        config_of(images={"dify_version": "1.13.3", "api": "1.12.0"})
    with pytest.raises(ConfigError, match=r"images\.dify_version = '9\.9\.9' is not a supported release"):
        config_of(images={"dify_version": "9.9.9"})
    with pytest.raises(ConfigError, match=r"ssrf_proxy\.image tag 'latest'"):
        config_of(ssrf_proxy={"image": "ubuntu/squid:latest"})
    forced = config_of(images={"web": "1.2.0", "force": True}, ssrf_proxy={"image": "ubuntu/squid:latest"})
    assert forced.images.web == "1.2.0"
    # A mirror may change where the images come from, not which ones they are.
    mirrored = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ubuntu/squid:6.6-24.04_beta"
    assert config_of(ssrf_proxy={"image": mirrored}).ssrf_proxy.image == mirrored


def test_a_release_picks_its_set() -> None:
    for release in dify_contract.releases():
        expected = dify_contract.load(release).images
        for images in ({"dify_version": release}, {"api": release}):
            chosen = config_of(images=images).images
            assert chosen.dify_version == release
            assert {k: getattr(chosen, k) for k in dify_contract.IMAGE_KEYS} == {
                k: expected[k] for k in dify_contract.IMAGE_KEYS
            }


def test_a_forced_unknown_release_gets_the_default_contract(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    config = config_of(
        images={"dify_version": "9.9.9", "api": "9.9.9", "web": "9.9.9", "force": True},
        services={"layout": "single_task"},
    )
    assert config.images.contract_release() == dify_contract.DEFAULT_RELEASE
    (body,) = (b for name, b in synth(config).templates.items() if "Edge" not in name)
    template = body if isinstance(body, dict) else json.loads(body)
    worker = next(
        c
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
        for c in r["Properties"]["ContainerDefinitions"]
        if c["Name"] == "worker"
    )
    queues = {e["Name"]: e["Value"] for e in worker["Environment"]}["CELERY_QUEUES"]
    assert queues == ",".join(dify_contract.load(dify_contract.DEFAULT_RELEASE).worker_queues())
    assert worker["Image"].endswith("/dify-api:9.9.9")


# --- every example against the contract ----------------------------------------------------------------


def test_every_variable_set_is_read(deployments: dict[str, Deployment]) -> None:
    """A variable no component reads is a typo or a dead key (issue #11: BROKER_USE_SSL, APP_API_URL)."""
    for example, deployment in deployments.items():
        for name, container in deployment.containers.items():
            reads = deployment.contract.components[COMPONENT[name]].reads
            unread = container.names() - set(reads)
            assert not unread, f"{example}: {name} sets {sorted(unread)}, which Dify does not read"


def test_every_needed_variable_is_set(deployments: dict[str, Deployment]) -> None:
    for example, deployment in deployments.items():
        for name, container in deployment.containers.items():
            required = deployment.contract.components[COMPONENT[name]].required
            missing = set(required) - container.names()
            assert not missing, f"{example}: {name} lacks {sorted(missing)}"


def test_every_enqueued_queue_has_a_consumer(deployments: dict[str, Deployment]) -> None:
    """Issue #11 finding 3: beat sends trigger_provider_refresh to trigger_refresh_publisher every minute."""
    for example, deployment in deployments.items():
        contract = deployment.contract
        worker = deployment.containers["worker"].environment
        consumed = set(worker.get("CELERY_QUEUES", ",".join(contract.worker_default_queues)).split(","))
        missing = set(contract.enqueued()) - consumed
        assert not missing, f"{example}: nothing consumes {sorted(missing)}"
        assert "trigger_refresh_publisher" in consumed, example


def test_pairs_come_from_the_same_secret_and_key(deployments: dict[str, Deployment]) -> None:
    for example, deployment in deployments.items():
        c = deployment.containers
        for (left, left_name), (right, right_name) in PAIRS:
            if left not in c or right not in c:
                continue
            assert c[left].secrets[left_name] == c[right].secrets[right_name], (
                f"{example}: {left}.{left_name} and {right}.{right_name} differ"
            )
        for name in ("DB_HOST", "DB_PORT", "REDIS_HOST", "REDIS_PORT", "REDIS_USE_SSL"):
            assert c["api"].environment[name] == c["plugin-daemon"].environment[name], f"{example}: {name}"
        assert c["api"].environment["DB_DATABASE"] != c["plugin-daemon"].environment["DB_DATABASE"]


def _reaches(deployment: Deployment, client: str, url: str, target: str) -> bool:
    """`client` reaches `target` at `url`: on loopback when they share a task, else by its Service Connect
    name, on the port the target listens on."""
    parts = urlsplit(url)
    port = parts.port or 80
    c = deployment.containers
    if c[client].task == c[target].task:
        return parts.hostname in LOOPBACK and port == LISTENS[target]
    return parts.hostname == target and deployment.aliases.get(target) == port == LISTENS[target]


def around_the_proxy(no_proxy: str, url: str) -> bool:
    """Whether `url` bypasses the proxy under `no_proxy`, by Python's rule (urllib; requests and httpx, which
    plugins use, agree for host and host:port entries, and so does Go's net/http)."""
    return bool(proxy_bypass_environment(urlsplit(url).netloc, {"no": no_proxy}))


def test_urls_between_services_are_reachable(deployments: dict[str, Deployment]) -> None:
    """Issue #11 finding 1: plugins fetch INTERNAL_FILES_URL through the daemon's proxy variables, so it must
    bypass the SSRF proxy (which denies loopback and private addresses) and point where the api listens."""
    for example, deployment in deployments.items():
        c = deployment.containers
        daemon = c["plugin-daemon"].environment
        for name in ("api", "worker", "beat", "migration"):
            api = c[name].environment
            files = api["INTERNAL_FILES_URL"]
            assert _reaches(deployment, "plugin-daemon", files, "api"), f"{example}: {name} {files}"
            assert around_the_proxy(daemon["NO_PROXY"], files), (
                f"{example}: plugins send {files} to the proxy"
            )
            assert daemon["no_proxy"] == daemon["NO_PROXY"]
            if name == "migration":
                continue  # runs `flask upgrade-db` and exits: it calls no other service
            for variable, target in (
                ("CODE_EXECUTION_ENDPOINT", "sandbox"),
                ("PLUGIN_DAEMON_URL", "plugin-daemon"),
                ("SSRF_PROXY_HTTP_URL", "ssrf-proxy"),
                ("SSRF_PROXY_HTTPS_URL", "ssrf-proxy"),
            ):
                assert _reaches(deployment, name, api[variable], target), f"{example}: {name}.{variable}"
        inner = daemon["DIFY_INNER_API_URL"]
        assert _reaches(deployment, "plugin-daemon", inner, "api"), f"{example}: {inner}"
        assert around_the_proxy(daemon["NO_PROXY"], inner) or urlsplit(inner).hostname in LOOPBACK
        for client in ("sandbox", "plugin-daemon"):
            variables = c[client].environment
            for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                assert _reaches(deployment, client, variables[variable], "ssrf-proxy"), f"{example}: {client}"


def test_the_package_index_is_reached_around_the_proxy(deployments: dict[str, Deployment]) -> None:
    """The daemon runs `uv pip install -i PIP_MIRROR_URL` with its HTTP_PROXY, HTTPS_PROXY and NO_PROXY (the
    pinned setup_python_environment.go), the sandbox `pip3 install -i PIP_MIRROR_URL` in its own
    environment (setup.go, no --trusted-host): the index must bypass the SSRF proxy (which denies the VPC),
    and pip must trust its plain-HTTP host. Both point at the package proxy's port, or neither is set."""
    seen = 0
    for example, deployment in deployments.items():
        c = deployment.containers
        index = c["plugin-daemon"].environment.get("PIP_MIRROR_URL")
        assert c["sandbox"].environment.get("PIP_MIRROR_URL") == index, example
        if index is None:
            assert "package-index" not in c, example
            continue
        seen += 1
        parts = urlsplit(index)
        assert parts.path == "/simple/" and parts.port == 8080, f"{example}: {index}"
        assert c["package-index"].environment["PORT"] == str(parts.port), example
        for client in ("sandbox", "plugin-daemon"):
            assert around_the_proxy(c[client].environment["NO_PROXY"], index), f"{example}: {client}"
        assert c["sandbox"].environment["PIP_TRUSTED_HOST"] == parts.netloc, example
    assert seen, "no example runs the package index"


def test_the_proxy_still_sees_loopback_and_other_services(deployments: dict[str, Deployment]) -> None:
    """Only Dify's own api (files, inner API) and the credential endpoints go around the proxy in one task:
    other loopback ports (the cache, the sandbox, the daemon itself) go through it, and it denies them."""
    for example, deployment in deployments.items():
        c = deployment.containers
        if c["api"].task != c["plugin-daemon"].task:
            continue
        for client in ("sandbox", "plugin-daemon"):
            no_proxy = c[client].environment["NO_PROXY"]
            for url in (
                "http://localhost:6379/",
                "http://127.0.0.1:8194/",
                "http://localhost:5002/",
                "http://localhost/",
            ):
                assert not around_the_proxy(no_proxy, url), (
                    f"{example}: {client} bypasses the proxy for {url}"
                )
        assert not around_the_proxy(c["sandbox"].environment["NO_PROXY"], "http://localhost:5001/"), example


def test_browser_urls_are_the_front_door(deployments: dict[str, Deployment]) -> None:
    """Console, files, trigger and endpoint URLs go to browsers and webhook callers: all the front door's URL,
    and plugin endpoints under the prefix the front door routes to the plugin daemon."""
    for example, deployment in deployments.items():
        c = deployment.containers
        api = c["api"].environment
        public = _flat(api["CONSOLE_API_URL"])
        for name in ("worker", "beat", "migration", "api"):
            variables = c[name].environment
            for variable in BROWSER_URLS:
                assert _flat(variables[variable]) == public, f"{example}: {name}.{variable}"
            assert _flat(variables["ENDPOINT_URL_TEMPLATE"]) == f"{public}{PLUGIN_PREFIXES[0]}/{{hook_id}}"
        if "web" in c:
            for variable in ("CONSOLE_API_URL", "APP_API_URL"):
                assert _flat(c["web"].environment[variable]) == public, f"{example}: web.{variable}"
