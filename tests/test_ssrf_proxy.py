"""The SSRF proxy's squid.conf: its text, `squid -k parse`, and a real Squid on loopback.

The live tests run the container's own entry script (base64 config in the environment, chown of stdout and
stderr, `exec squid -N`) against small HTTP servers:

- 127.0.0.1 (always denied: loopback) and 127.0.0.2 (allowed through `allowed_cidrs=["127.0.0.2/32"]`;
  Linux routes all of 127/8 to lo);
- their ephemeral ports are listed in `extra_ports`, so a 403 from them is about the address, while a third
  server on 127.0.0.2 whose port is *not* listed shows the port rule on an otherwise allowed address.

Names come from a test hosts_file (no DNS), and a few lines appended to the rendered configuration only
change what a test needs: that hosts file, no real name servers, and no shutdown grace.

Squid is installed by scripts/install-test-squid.sh; without it these tests skip, unless DIFY_REQUIRE_SQUID=1
(CI), where they fail.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import permutations
from pathlib import Path

import pytest

from dify_on_aws.services.squid_values import NAT64_PREFIX
from dify_on_aws.services.ssrf_proxy import (
    ALWAYS_DENIED,
    CONFIG_ENV,
    CONFIG_PATH,
    IMAGE,
    INTERNAL_HOSTS_ENV,
    INTERNAL_HOSTS_PATH,
    METADATA,
    PORT,
    URL,
    internal_hosts_environment,
    squid_config,
    squid_container,
)

VPC = "10.0.0.0/16"
MAPPED = ipaddress.ip_network("::ffff:0:0/96")
# Squid warns about `via off` (HTTP wants Via); hiding the proxy from upstream servers is deliberate.
EXPECTED_WARNINGS = ("HTTP requires the use of Via",)


def _acl(config: str, name: str) -> list[str]:
    return [line.split()[-1] for line in config.splitlines() if line.startswith(f"acl {name} ")]


def _networks(config: str, name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(value) for value in _acl(config, name)]


def _covered(network: ipaddress.IPv4Network | ipaddress.IPv6Network, config: str, name: str) -> bool:
    return any(
        network.version == other.version and network.subnet_of(other)  # type: ignore[arg-type]
        for other in _networks(config, name)
    )


def _access(config: str) -> list[str]:
    return [line for line in config.splitlines() if line.startswith("http_access ")]


# --- the rendered text ---------------------------------------------------------------------------------


def test_constants() -> None:
    assert PORT == 3128
    assert URL == "http://ssrf-proxy:3128"
    assert re.fullmatch(r"[a-z0-9./-]+/squid:[0-9][0-9A-Za-z._-]+", IMAGE), "a pinned tag, not latest"


def test_every_always_denied_range_is_denied_with_its_nat64_form() -> None:
    config = squid_config(denied_cidrs=[VPC])
    for cidr in ALWAYS_DENIED:
        network = ipaddress.ip_network(cidr)
        assert _covered(network, config, "ssrf_denied"), cidr
        if isinstance(network, ipaddress.IPv4Network):
            nat64 = ipaddress.ip_network(
                (int(NAT64_PREFIX.network_address) | int(network.network_address), 96 + network.prefixlen)
            )
            assert _covered(nat64, config, "ssrf_denied"), f"NAT64 form of {cidr}"
    for cidr in METADATA:
        assert cidr in _acl(config, "ssrf_metadata")
    # The IPv6 metadata endpoint sits in fc00::/7; the IPv4 ones in 169.254.0.0/16.
    assert _covered(ipaddress.ip_network("fd00:ec2::254/128"), config, "ssrf_denied")
    assert _covered(ipaddress.ip_network("169.254.170.2/32"), config, "ssrf_denied")
    assert "64:ff9b::a9fe:a9fe/128" in _acl(config, "ssrf_metadata")


def test_ipv4_mapped_ipv6_is_never_listed() -> None:
    """Squid stores IPv4 as ::ffff:a.b.c.d: listing ::ffff:0:0/96 would deny (or allow) all of IPv4."""
    config = squid_config(denied_cidrs=[VPC], allowed_cidrs=["10.0.5.10/32"], allowed_domains=["a.example"])
    for name in ("ssrf_denied", "ssrf_metadata", "ssrf_clients", "ssrf_allowed_ips"):
        for network in _networks(config, name):
            assert not (isinstance(network, ipaddress.IPv6Network) and network.overlaps(MAPPED)), network
    with pytest.raises(ValueError, match=re.escape("'::ffff:0:0/96'")):
        squid_config(denied_cidrs=["::ffff:0:0/96"])
    with pytest.raises(ValueError, match="IPv4-mapped"):
        squid_config(denied_cidrs=[VPC], allowed_cidrs=["::ffff:a00:0/104"])


def test_caller_networks_are_denied_and_may_use_the_proxy() -> None:
    config = squid_config(denied_cidrs=[VPC, "2600:1f18:1:100::/56", "203.0.113.128/25", "8.8.8.0/24"])
    assert "8.8.8.0/24" in _acl(config, "ssrf_denied")
    assert "64:ff9b::808:800/120" in _acl(config, "ssrf_denied")
    assert "2600:1f18:1:100::/56" in _acl(config, "ssrf_denied")
    # Inside an always-denied range: listed once (Squid warns about and ignores nested entries).
    assert "203.0.113.128/25" not in _acl(config, "ssrf_denied")
    assert _covered(ipaddress.ip_network(VPC), config, "ssrf_denied")
    clients = _acl(config, "ssrf_clients")
    assert clients == [
        "8.8.8.0/24",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "203.0.113.128/25",
        "::1/128",
        "2600:1f18:1:100::/56",
    ]
    explicit = squid_config(denied_cidrs=[VPC], client_cidrs=[VPC])
    assert _acl(explicit, "ssrf_clients") == [VPC]
    with pytest.raises(ValueError, match="client_cidrs"):
        squid_config(denied_cidrs=[VPC], client_cidrs=[])


def test_http_access_order_open_internet() -> None:
    assert _access(squid_config(denied_cidrs=[VPC], allowed_cidrs=["10.0.5.10/32"])) == [
        "http_access deny !ssrf_clients",
        "http_access deny manager",
        "http_access deny !ssrf_ports",
        "http_access deny ssrf_connect !ssrf_tls_ports",
        "http_access deny ssrf_metadata",
        "http_access deny ssrf_denied",
        "http_access allow all",
        "http_access deny all",
    ]


def test_http_access_order_closed_network() -> None:
    config = squid_config(
        denied_cidrs=[VPC],
        allowed_domains=["api.openai.com", ".amazonaws.com"],
        allowed_cidrs=["10.0.5.10/32"],
    )
    assert _access(config) == [
        "http_access deny !ssrf_clients",
        "http_access deny manager",
        "http_access deny !ssrf_ports",
        "http_access deny ssrf_connect !ssrf_tls_ports",
        "http_access deny ssrf_metadata",
        "http_access deny ssrf_denied",
        "http_access allow ssrf_allowed_domains",
        "http_access allow ssrf_allowed_ips",
        "http_access deny all",
    ]
    assert "acl ssrf_allowed_domains dstdomain -n .amazonaws.com" in config
    assert "acl ssrf_allowed_domains dstdomain -n api.openai.com" in config
    assert "acl ssrf_allowed_ips dst -n 10.0.5.10/32" in config
    # Every ACL is defined before the first rule that uses it.
    first_rule = config.index("http_access ")
    assert all(config.index(f"acl {name} ") < first_rule for name in ("ssrf_allowed_domains", "ssrf_denied"))


def test_allowed_cidrs_are_cut_out_of_the_denied_ranges() -> None:
    """An allowed address is simply not denied; every other address of its range still is, so a name that
    resolves to an allowed address *and* a private one is denied (dst matches any of its addresses)."""
    config = squid_config(denied_cidrs=[VPC], allowed_cidrs=["10.0.5.10/32", "fd12:3456::/48"])
    allowed = ipaddress.IPv4Network("10.0.5.10/32")
    ten = [
        n
        for n in _networks(config, "ssrf_denied")
        if isinstance(n, ipaddress.IPv4Network) and n.subnet_of(ipaddress.IPv4Network("10.0.0.0/8"))
    ]
    assert not any(allowed.subnet_of(n) for n in ten)
    assert sum(n.num_addresses for n in ten) == 2**24 - 1
    nat64 = ipaddress.ip_network("64:ff9b::a00:50a/128")
    assert not _covered(nat64, config, "ssrf_denied")
    assert _covered(ipaddress.ip_network("64:ff9b::a00:50b/128"), config, "ssrf_denied")
    assert not _covered(ipaddress.ip_network("fd12:3456::/48"), config, "ssrf_denied")
    assert _covered(ipaddress.ip_network("fd12:3457::/48"), config, "ssrf_denied")
    assert "Cut out of the above (allowed_cidrs): 10.0.5.10/32, fd12:3456::/48" in config


@pytest.mark.parametrize(
    "cidr", ["169.254.0.0/16", "169.254.169.254/32", "169.254.170.0/24", "fd00:ec2::/32", "fc00::/7"]
)
def test_allowed_cidrs_cannot_open_the_metadata_endpoints(cidr: str) -> None:
    with pytest.raises(ValueError, match=re.escape(cidr)):
        squid_config(denied_cidrs=[VPC], allowed_cidrs=[cidr])


@pytest.mark.parametrize("argument", ["denied_cidrs", "allowed_cidrs", "client_cidrs"])
@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_no_network_may_be_everything(argument: str, cidr: str) -> None:
    kwargs = {"denied_cidrs": [VPC], argument: [cidr]}
    with pytest.raises(ValueError, match=f"{argument}: {re.escape(repr(cidr))} would match every address"):
        squid_config(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("denied_cidrs", "10.0.0.1/16"),
        ("denied_cidrs", "10.0.0.0/33"),
        ("allowed_cidrs", "300.1.1.1/32"),
        ("allowed_cidrs", "example.com"),
        ("client_cidrs", "10.0.0.0/8 "),
        ("client_cidrs", "fd00::1/64"),
    ],
)
def test_invalid_cidr_is_named(argument: str, value: str) -> None:
    kwargs: dict[str, list[str]] = {
        "denied_cidrs": [VPC],
        argument: [VPC, value] if argument == "denied_cidrs" else [value],
    }
    with pytest.raises(ValueError, match=f"{argument}: {re.escape(repr(value))}"):
        squid_config(**kwargs)  # type: ignore[arg-type]


def test_host_bits_get_a_hint() -> None:
    with pytest.raises(ValueError, match=re.escape("did you mean 10.0.0.0/16?")):
        squid_config(denied_cidrs=["10.0.0.1/16"])


def test_a_single_string_is_not_a_list() -> None:
    with pytest.raises(TypeError, match="denied_cidrs"):
        squid_config(denied_cidrs=VPC)
    with pytest.raises(TypeError, match="allowed_domains"):
        squid_config(denied_cidrs=[VPC], allowed_domains="example.com")


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "com",
        ".com",
        "*.example.com",
        "http://example.com",
        "example.com/",
        "example.com.",
        "exa mple.com",
        "example..com",
        "-bad.example.com",
        "bad-.example.com",
        "bücher.de",
        "1.2.3.4",
        "[::1]",
        "a" * 64 + ".com",
        ".".join(["abcdefghi"] * 26) + ".com",
        "example.com\nhttp_access allow all",
    ],
)
def test_invalid_domain_is_named(domain: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"allowed_domains: {domain!r}")):
        squid_config(denied_cidrs=[VPC], allowed_domains=[domain])


def test_domains_are_normalized_and_deduplicated() -> None:
    config = squid_config(
        denied_cidrs=[VPC],
        allowed_domains=[
            "API.Example.com",
            ".example.com",
            "example.com",
            "xn--bcher-kva.de",
            "a_b.example.org",
        ],
    )
    assert _acl(config, "ssrf_allowed_domains") == [".example.com", "xn--bcher-kva.de", "a_b.example.org"]


@pytest.mark.parametrize(
    ("argument", "value"),
    [("extra_ports", [0]), ("extra_ports", [70000]), ("extra_ports", [True]), ("port", 0)],
)
def test_invalid_port_is_named(argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=argument):
        squid_config(denied_cidrs=[VPC], **{argument: value})  # type: ignore[arg-type]


def test_ports() -> None:
    config = squid_config(denied_cidrs=[VPC], port_policy="strict")
    assert _acl(config, "ssrf_ports") == ["80", "443"]
    assert _acl(config, "ssrf_tls_ports") == ["443"]
    extra = squid_config(denied_cidrs=[VPC], extra_ports=[8443, 8443, 443], port_policy="strict")
    assert _acl(extra, "ssrf_ports") == ["80", "443", "8443"]
    assert _acl(extra, "ssrf_tls_ports") == ["443", "8443"]


# Dify's own proxy (langgenius/dify docker/ssrf_proxy/squid.conf.template @02e1ae9a): Safe_ports for plain
# HTTP, SSL_ports (443 only) for CONNECT. Written out here, not read from the code under test.
DIFY_SAFE_PORTS = ["21", "70", "80", "210", "280", "443", "488", "591", "777", "1025-65535"]


def test_default_ports_are_difys_own() -> None:
    """Issue #11 finding 4: HTTP-request nodes and tools calling APIs on other ports must not fail."""
    config = squid_config(denied_cidrs=[VPC])
    assert _acl(config, "ssrf_ports") == DIFY_SAFE_PORTS
    assert _acl(config, "ssrf_tls_ports") == ["443"]
    # extra_ports inside the unregistered range add nothing to HTTP, but open CONNECT.
    extra = squid_config(denied_cidrs=[VPC], extra_ports=[8443, 23])
    assert _acl(extra, "ssrf_ports") == ["21", "23", *DIFY_SAFE_PORTS[1:]]
    assert _acl(extra, "ssrf_tls_ports") == ["23", "443", "8443"]
    with pytest.raises(ValueError, match="port_policy"):
        squid_config(denied_cidrs=[VPC], port_policy="open")  # type: ignore[arg-type]


def test_settings() -> None:
    lines = squid_config(denied_cidrs=[VPC]).splitlines()
    for expected in (
        "http_port 3128",
        "cache deny all",
        "via off",
        "forwarded_for delete",
        "access_log stdio:/dev/stdout",
        "cache_log /dev/stderr",
        "logfile_rotate 0",
        "strip_query_terms on",
        "pid_filename none",
        "pinger_enable off",
        "read_timeout 15 minutes",
        "connect_timeout 30 seconds",
        "shutdown_lifetime 5 seconds",
    ):
        assert expected in lines
    to_files = squid_config(denied_cidrs=[VPC], log_dir="/var/log/squid", port=3129).splitlines()
    assert "access_log stdio:/var/log/squid/access.log" in to_files
    assert "http_port 3129" in to_files
    for bad in ("var/log", "/var/log squid", "/var/log\nhttp_access allow all"):
        with pytest.raises(ValueError, match="log_dir"):
            squid_config(denied_cidrs=[VPC], log_dir=bad)


def test_rendering_is_deterministic() -> None:
    domains = ["b.example", ".a.example", "c.example"]
    cidrs = ["10.0.5.10/32", "192.168.1.0/24", "fd12::/48"]
    renders = {
        squid_config(denied_cidrs=[VPC, "8.8.8.0/24"], allowed_domains=d, allowed_cidrs=c)
        for d, c in zip(permutations(domains), permutations(cidrs), strict=True)
    }
    assert len(renders) == 1
    assert squid_config(denied_cidrs=[VPC]) == squid_config(denied_cidrs=[VPC])


def test_every_line_is_a_directive_or_a_comment() -> None:
    config = squid_config(denied_cidrs=[VPC], allowed_domains=["a.example"], allowed_cidrs=["10.0.5.10/32"])
    assert config.endswith("\n")
    for line in config.splitlines():
        assert not line or line.startswith("#") or re.fullmatch(r"[a-z_]+ \S.*", line), line
        assert len(line) <= 110, line


def test_container() -> None:
    config = squid_config(denied_cidrs=[VPC])
    container = squid_container(config)
    assert base64.b64decode(container.environment[CONFIG_ENV]).decode() == config
    assert container.entry_point == ["sh", "-c"]
    (script,) = container.command
    assert f"> {CONFIG_PATH}" in script
    assert script.endswith(f"exec squid -N -f {CONFIG_PATH}")
    assert container.health_check == ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3128"]


# --- a real Squid ----------------------------------------------------------------------------------------

SQUID = shutil.which("squid") or shutil.which("squid", path="/usr/sbin:/usr/local/sbin:/sbin")


@pytest.fixture(scope="module")
def squid() -> str:
    if SQUID is None:
        reason = "squid is not installed; run `bash scripts/install-test-squid.sh` (as root)"
        if os.environ.get("DIFY_REQUIRE_SQUID") == "1":
            pytest.fail(f"{reason}; DIFY_REQUIRE_SQUID=1 requires it")
        pytest.skip(reason)
    return SQUID


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"allowed_cidrs": ["10.0.5.10/32", "fd12:3456::/48"], "extra_ports": [8443]},
        {"allowed_domains": ["api.openai.com", ".amazonaws.com"], "allowed_cidrs": ["10.0.5.10/32"]},
        {"allowed_domains": ["api.openai.com"], "log_dir": "/tmp", "client_cidrs": [VPC, "2600:1f18::/56"]},
        {"allowed_domains": ["api.openai.com"], "internal_hosts_file": "/dev/null"},
    ],
    ids=["open", "allowed-cidrs", "closed", "closed-log-files", "closed-internal-hosts"],
)
def test_squid_parses_the_configuration(squid: str, tmp_path: Path, kwargs: dict[str, object]) -> None:
    path = tmp_path / "squid.conf"
    path.write_text(squid_config(denied_cidrs=[VPC], **kwargs))  # type: ignore[arg-type]
    result = subprocess.run(
        [squid, "-k", "parse", "-f", str(path)], capture_output=True, check=False, text=True, timeout=30
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    complaints = [
        line
        for line in output.splitlines()
        if re.search(r"WARNING|ERROR|FATAL|BUNGLED", line) and not any(w in line for w in EXPECTED_WARNINGS)
    ]
    assert not complaints, output


class _Backend(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.host = host
        self.port = self.server_address[1]
        self.body = f"backend {host}".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Backend

    def do_GET(self) -> None:
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class _Lab:
    denied: _Backend  # 127.0.0.1, port in extra_ports
    allowed: _Backend  # 127.0.0.2, port in extra_ports
    off_port: _Backend  # 127.0.0.2, port not listed
    hosts_file: Path

    @property
    def backends(self) -> tuple[_Backend, ...]:
        return (self.denied, self.allowed, self.off_port)

    def hits(self) -> int:
        return sum(len(b.requests) for b in self.backends)

    def render(self, port: int, **kwargs: object) -> str:
        kwargs.setdefault("allowed_cidrs", ["127.0.0.2/32"])
        # Strict ports, so off_port (an ephemeral port) shows the port rule; see test_difys_ports_live.
        kwargs.setdefault("port_policy", "strict")
        kwargs.setdefault("extra_ports", [self.denied.port, self.allowed.port])
        config = squid_config(denied_cidrs=[VPC], port=port, **kwargs)  # type: ignore[arg-type]
        # Test only: names from our hosts file, no real DNS, no shutdown grace, and a short connect timeout
        # (an address that is wrongly allowed fails fast with 503 instead of the 403 of a denied one).
        return config + (
            f"hosts_file {self.hosts_file}\ndns_nameservers 127.0.0.1\nshutdown_lifetime 0 seconds\n"
            "connect_timeout 1 seconds\n"
        )


@pytest.fixture(scope="module")
def lab() -> Iterator[_Lab]:
    backends = [_Backend("127.0.0.1"), _Backend("127.0.0.2"), _Backend("127.0.0.2")]
    threads = [threading.Thread(target=b.serve_forever, args=(0.05,), daemon=True) for b in backends]
    for thread in threads:
        thread.start()
    # Squid reads the hosts file after switching to its unprivileged user, which cannot enter pytest's
    # private temporary directories: this one lives directly in the system's temporary directory.
    with tempfile.TemporaryDirectory(prefix="squid-hosts-") as directory:
        hosts = Path(directory) / "hosts"
        hosts.write_text(
            # kb.test: a private API's name, resolving to a denied (VPC endpoint) address.
            "127.0.0.1 localhost private.test kb.test\n"
            "127.0.0.2 allowed.test other.test mixed.test\n"
            # mixed.test has two addresses: an allowed one and a denied one.
            "127.0.0.1 mixed.test\n"
        )
        hosts.chmod(0o644)
        hosts.parent.chmod(0o755)
        try:
            yield _Lab(denied=backends[0], allowed=backends[1], off_port=backends[2], hosts_file=hosts)
        finally:
            for backend in backends:
                backend.shutdown()
                backend.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Proxy:
    port: int
    log: Path

    def get(self, url: str) -> tuple[int, str, bytes]:
        """GET `url` through the proxy: status, X-Squid-Error (empty if none) and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", url)
            response = conn.getresponse()
            return response.status, response.getheader("X-Squid-Error") or "", response.read()
        finally:
            conn.close()

    def connect(self, target: str) -> tuple[int, socket.socket]:
        """CONNECT to `target` (host:port): the status, and the socket (the tunnel on 200)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        return int(head.split()[1]), sock

    def tunnel(self, target: str, path: str) -> tuple[int, bytes]:
        """CONNECT to `target`, then GET `path` through the tunnel: the CONNECT status and the reply."""
        status, sock = self.connect(target)
        reply = b""
        with sock:
            if status == 200:
                host = target.rsplit(":", 1)[0]
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                while chunk := sock.recv(4096):
                    reply += chunk
        return status, reply


@contextmanager
def _running(
    squid: str, workdir: Path, config: str, port: int, environment: Mapping[str, str] | None = None
) -> Iterator[_Proxy]:
    """Squid started exactly as the container starts it (with the task's other `environment`), stopped
    whatever happens."""
    workdir.chmod(0o755)
    container = squid_container(config, config_path=str(workdir / "squid.conf"), port=port)
    env = {
        **os.environ,
        **container.environment,
        **(environment or {}),
        "PATH": f"{os.path.dirname(squid)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    log, errors = workdir / "stdout.log", workdir / "stderr.log"
    with log.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(
            [*container.entry_point, *container.command], env=env, stdout=out, stderr=err, cwd=workdir
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"squid exited ({process.returncode}):\n{errors.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"squid did not listen on {port}:\n{errors.read_text()}")
                time.sleep(0.05)
        yield _Proxy(port, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def proxy(squid: str, lab: _Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Proxy]:
    port = _free_port()
    with _running(squid, tmp_path_factory.mktemp("squid"), lab.render(port), port) as running:
        yield running


@pytest.fixture
def start(squid: str, lab: _Lab, tmp_path: Path) -> Iterator[Callable[..., _Proxy]]:
    """Start one more Squid with other settings (stopped after the test)."""
    with ExitStack() as stack:

        def run(environment: Mapping[str, str] | None = None, **kwargs: object) -> _Proxy:
            port = _free_port()
            config = lab.render(port, **kwargs)
            return stack.enter_context(_running(squid, tmp_path, config, port, environment))

        yield run


def test_allowed_address_is_fetched_without_revealing_the_proxy(proxy: _Proxy, lab: _Lab) -> None:
    for host in ("127.0.0.2", "allowed.test", "[::ffff:127.0.0.2]"):
        before = len(lab.allowed.requests)
        status, error, body = proxy.get(f"http://{host}:{lab.allowed.port}/hello?q=1")
        assert (status, error, body) == (200, "", lab.allowed.body), host
        assert len(lab.allowed.requests) == before + 1
        path, headers = lab.allowed.requests[-1]
        assert path == "/hello?q=1"
        assert "via" not in headers
        assert "x-forwarded-for" not in headers


@pytest.mark.parametrize(
    ("host", "backend"),
    [
        ("127.0.0.1", "denied"),
        ("localhost", "denied"),
        ("private.test", "denied"),
        # Two addresses, one allowed and one denied: denied (dst matches any of them).
        ("mixed.test", "allowed"),
        # Other spellings of 127.0.0.1.
        ("127.1", "denied"),
        ("2130706433", "denied"),
        ("0x7f000001", "denied"),
        ("0177.0.0.1", "denied"),
        ("0.0.0.0", "denied"),  # noqa: S104 - a URL host here, nothing binds to it
        ("[::ffff:127.0.0.1]", "denied"),
        ("[::1]", "denied"),
        ("[::]", "denied"),
    ],
)
def test_denied_address_gets_403_from_squid(proxy: _Proxy, lab: _Lab, host: str, backend: str) -> None:
    before = lab.hits()
    port = getattr(lab, backend).port
    status, error, _ = proxy.get(f"http://{host}:{port}/")
    assert (status, error) == (403, "ERR_ACCESS_DENIED 0")
    assert lab.hits() == before, "the request reached a backend"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.170.2/v2/credentials/00000000-0000-0000-0000-000000000000",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[64:ff9b::7f00:1]/",
        "http://10.0.0.2/",
    ],
)
def test_metadata_and_vpc_are_refused_at_once(proxy: _Proxy, url: str) -> None:
    started = time.monotonic()
    status, error, _ = proxy.get(url)
    assert (status, error) == (403, "ERR_ACCESS_DENIED 0")
    assert time.monotonic() - started < 2, "refused by the ACL, not after a connection attempt"


def test_unlisted_port_is_refused_on_an_allowed_address(proxy: _Proxy, lab: _Lab) -> None:
    direct = http.client.HTTPConnection("127.0.0.2", lab.off_port.port, timeout=5)
    direct.request("GET", "/")
    assert direct.getresponse().read() == lab.off_port.body, "the server itself answers"
    direct.close()
    url = f"http://127.0.0.2:{lab.off_port.port}/"
    before = lab.hits()
    assert proxy.get(url)[:2] == (403, "ERR_ACCESS_DENIED 0")
    assert lab.hits() == before


@pytest.mark.parametrize(
    "target",
    ["127.0.0.2:80", "127.0.0.2:{off_port}", "169.254.169.254:443", "127.0.0.1:443", "127.0.0.1:{denied}"],
)
def test_connect_is_refused(proxy: _Proxy, lab: _Lab, target: str) -> None:
    """CONNECT only to TLS ports (443 and extra_ports), and never to a denied address."""
    before = lab.hits()
    status, sock = proxy.connect(target.format(off_port=lab.off_port.port, denied=lab.denied.port))
    sock.close()
    assert status == 403
    assert lab.hits() == before


def test_connect_tunnels_to_an_allowed_port(proxy: _Proxy, lab: _Lab) -> None:
    status, reply = proxy.tunnel(f"127.0.0.2:{lab.allowed.port}", "/tunnel")
    assert status == 200
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(lab.allowed.body)
    assert lab.allowed.requests[-1][0] == "/tunnel"


def test_health_check_command(proxy: _Proxy) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    _, _, *check = squid_container("", port=proxy.port).health_check
    assert subprocess.run([bash, *check], check=False, timeout=10).returncode == 0
    _, _, *closed = squid_container("", port=_free_port()).health_check
    assert subprocess.run([bash, *closed], capture_output=True, check=False, timeout=10).returncode != 0


def test_unknown_clients_are_refused(start: Callable[..., _Proxy], lab: _Lab) -> None:
    proxy = start(client_cidrs=["192.0.2.0/24"])
    before = lab.hits()
    assert proxy.get(f"http://127.0.0.2:{lab.allowed.port}/")[:2] == (403, "ERR_ACCESS_DENIED 0")
    assert lab.hits() == before


def test_closed_network_reaches_only_listed_names(start: Callable[..., _Proxy], lab: _Lab) -> None:
    proxy = start(allowed_domains=["allowed.test"])
    port = lab.allowed.port
    assert proxy.get(f"http://allowed.test:{port}/?q=secret-token")[0] == 200
    # An allowed_cidrs address named directly in the URL is reachable too.
    assert proxy.get(f"http://127.0.0.2:{port}/")[0] == 200
    # Same address, but the name is not listed (and -n: no reverse lookup makes an IP match a name).
    assert proxy.get(f"http://other.test:{port}/")[:2] == (403, "ERR_ACCESS_DENIED 0")
    assert proxy.get(f"http://mixed.test:{port}/")[:2] == (403, "ERR_ACCESS_DENIED 0")
    assert proxy.get(f"http://127.0.0.1:{lab.denied.port}/")[:2] == (403, "ERR_ACCESS_DENIED 0")


@pytest.mark.parametrize("allowed_domains", [[], ["allowed.test"]], ids=["open", "closed"])
def test_an_internal_host_is_reached_by_its_exact_name_and_port_only(
    start: Callable[..., _Proxy], lab: _Lab, tmp_path: Path, allowed_domains: list[str]
) -> None:
    """The knowledge API's private name (kb.test here) resolves to a VPC address, which Squid denies; its
    exact name on its port (443 in the stack) gets a CONNECT tunnel. The same address by another name or by
    number, another port, and plain HTTP stay denied."""
    port = lab.denied.port
    proxy = start(
        environment=internal_hosts_environment(["kb.test"]),
        internal_hosts_file=str(tmp_path / "internal-hosts"),
        internal_port=port,
        allowed_domains=allowed_domains,
    )
    status, reply = proxy.tunnel(f"kb.test:{port}", "/retrieval")
    assert status == 200
    assert reply.endswith(lab.denied.body) and lab.denied.requests[-1][0] == "/retrieval"
    before = lab.hits()
    for target in (f"private.test:{port}", f"127.0.0.1:{port}", f"kb.test:{lab.allowed.port}"):
        status, sock = proxy.connect(target)
        sock.close()
        assert status == 403, target
    assert proxy.get(f"http://kb.test:{port}/")[:2] == (403, "ERR_ACCESS_DENIED 0")
    assert lab.hits() == before


def test_internal_hosts_need_their_names() -> None:
    config = squid_config(denied_cidrs=[VPC], internal_hosts_file=INTERNAL_HOSTS_PATH)
    (script,) = squid_container(config).command
    assert f': "${{{INTERNAL_HOSTS_ENV}:?is not set}}"' in script
    assert f"> {INTERNAL_HOSTS_PATH}" in script
    assert INTERNAL_HOSTS_ENV not in squid_container(squid_config(denied_cidrs=[VPC])).command[0]
    with pytest.raises(ValueError, match="internal_port"):
        squid_config(denied_cidrs=[VPC], internal_hosts_file=INTERNAL_HOSTS_PATH, internal_port=8443)
    with pytest.raises(ValueError, match="internal_hosts_file"):
        squid_config(denied_cidrs=[VPC], internal_hosts_file="relative/hosts")
    with pytest.raises(ValueError, match="at least one"):
        internal_hosts_environment([])


def test_access_log_goes_to_stdout_without_query_strings(proxy: _Proxy, lab: _Lab) -> None:
    proxy.get(f"http://allowed.test:{lab.allowed.port}/page?token=secret-token")
    proxy.get("http://169.254.169.254/latest/meta-data/")
    deadline = time.monotonic() + 5
    while "169.254.169.254" not in proxy.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = proxy.log.read_text()
    assert "TCP_DENIED/403" in log and "http://169.254.169.254/latest/meta-data/" in log
    assert f"http://allowed.test:{lab.allowed.port}/page?" in log
    assert "secret-token" not in log


def test_difys_ports_live(start: Callable[..., _Proxy], lab: _Lab) -> None:
    """Issue #11 finding 4: with Dify's safe ports (the default) an API on an unregistered port is reached
    with plain HTTP, CONNECT still goes only to 443, and denied addresses stay denied on those ports."""
    proxy = start(port_policy="dify", extra_ports=[])
    assert proxy.get(f"http://127.0.0.2:{lab.off_port.port}/")[:2] == (200, "")
    before = lab.hits()
    assert proxy.get(f"http://127.0.0.1:{lab.denied.port}/")[:2] == (403, "ERR_ACCESS_DENIED 0")
    status, sock = proxy.connect(f"127.0.0.2:{lab.off_port.port}")
    sock.close()
    assert status == 403
    assert lab.hits() == before


# Issue #16: what must be denied is written here, independent of the code's own tables (ALWAYS_DENIED,
# METADATA): the IPv4 special-purpose blocks that RFC 6890 (section 2.2.2, with RFC 5771 multicast) marks as
# not globally reachable, their IPv6 peers (RFC 6890 section 2.2.3, RFC 4291, RFC 6052, RFC 8215, RFC 3879),
# the AWS metadata and credential endpoints, and the VPC. One address of each is probed through Squid.
INDEPENDENT_DENIALS = [
    ("0.0.0.0/8", "0.1.2.3", "this host on this network"),
    ("10.0.0.0/8", "10.200.0.1", "private use"),
    ("100.64.0.0/10", "100.64.0.1", "shared address space"),
    ("127.0.0.0/8", "127.0.0.1", "loopback"),
    ("169.254.0.0/16", "169.254.1.1", "link local"),
    ("172.16.0.0/12", "172.16.0.1", "private use"),
    ("192.0.0.0/24", "192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.0/24", "192.0.2.1", "TEST-NET-1"),
    ("192.168.0.0/16", "192.168.1.1", "private use"),
    ("198.18.0.0/15", "198.19.0.1", "benchmarking"),
    ("198.51.100.0/24", "198.51.100.1", "TEST-NET-2"),
    ("203.0.113.0/24", "203.0.113.1", "TEST-NET-3"),
    ("224.0.0.0/4", "224.0.0.1", "multicast"),
    ("240.0.0.0/4", "240.0.0.1", "reserved"),
    ("255.255.255.255/32", "255.255.255.255", "limited broadcast"),
    ("::1/128", "::1", "loopback"),
    ("::/128", "::", "unspecified"),
    ("::ffff:0:0/96", "::ffff:10.0.0.1", "IPv4-mapped form of a private address"),
    ("64:ff9b::/96", "64:ff9b::ac10:1", "NAT64 form of a private address"),
    ("64:ff9b:1::/48", "64:ff9b:1::1", "local-use NAT64"),
    ("100::/64", "100::1", "discard only"),
    ("2001::/23", "2001:2::1", "IETF protocol assignments (benchmarking)"),
    ("2001:db8::/32", "2001:db8::1", "documentation"),
    ("fc00::/7", "fd12:3456::1", "unique local"),
    ("fe80::/10", "fe80::1", "link-local unicast"),
    ("fec0::/10", "fec0::1", "deprecated site-local"),
    ("ff00::/8", "ff02::1", "multicast"),
    ("169.254.169.254/32", "169.254.169.254", "EC2 instance metadata"),
    ("fd00:ec2::254/128", "fd00:ec2::254", "EC2 instance metadata over IPv6"),
    ("169.254.170.2/32", "169.254.170.2", "ECS task metadata and task-role credentials"),
    (VPC, "10.0.0.2", "the VPC (denied_cidrs)"),
]


def _url(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


@pytest.mark.parametrize(("network", "address", "why"), INDEPENDENT_DENIALS, ids=str)
def test_independent_list_is_denied_in_the_text(network: str, address: str, why: str) -> None:
    """The rendered configuration denies each address (runs without Squid too)."""
    assert ipaddress.ip_address(address) in ipaddress.ip_network(network), why
    config = squid_config(denied_cidrs=[VPC])
    ip = ipaddress.ip_address(address)
    # Squid holds IPv4 as IPv4-mapped IPv6, so a mapped address is matched by the IPv4 ranges.
    probe = ipaddress.ip_network(ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip)
    denied = _covered(probe, config, "ssrf_denied") or _covered(probe, config, "ssrf_metadata")
    assert denied, f"{network} ({why}) is not denied"


@pytest.mark.parametrize(("network", "address", "why"), INDEPENDENT_DENIALS, ids=str)
def test_independent_list_is_denied_live(proxy: _Proxy, network: str, address: str, why: str) -> None:
    """Each address gets Squid's own 403 at once; a wrongly allowed one would be tried (503 after 1 s)."""
    started = time.monotonic()
    assert proxy.get(_url(address))[:2] == (403, "ERR_ACCESS_DENIED 0"), f"{network} ({why})"
    assert time.monotonic() - started < 2, "refused by the ACL, not after a connection attempt"
