"""The Celery queue-depth reader and publisher (operations/runtime/queue_depth): the broker URL parser, the
RESP encoding, the handler with stub AWS clients, and the reader against real redis-server processes (plain
and TLS, with and without a password; see conftest.py), the same protocol ElastiCache Valkey speaks."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import boto3
import pytest

from dify_on_aws.operations import metrics
from dify_on_aws.operations.runtime.queue_depth import index

QUEUES = ["dataset", "workflow", "mail"]
PASSWORD = "s3cretTokenNeverLogged0123456789"


# --- throwaway redis-server processes -----------------------------------------------------------------


@dataclass(frozen=True)
class RedisServer:
    port: int
    password: str | None
    tls: bool
    ca_file: Path | None

    def cli(self, *args: str) -> str:
        """Run redis-cli against this server (database 1, the broker's, unless `args` say otherwise)."""
        command = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "-n", "1"]
        if self.tls and self.ca_file is not None:
            command += ["--tls", "--cacert", str(self.ca_file)]
        env = {**os.environ, **({"REDISCLI_AUTH": self.password} if self.password else {})}
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=30, check=True, env=env
        )
        return result.stdout.strip()


def _unavailable(reason: str) -> NoReturn:
    # CI sets DIFY_REQUIRE_REDIS=1 so that a missing server fails the run instead of skipping.
    if os.environ.get("DIFY_REQUIRE_REDIS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and a self-signed certificate for 127.0.0.1 and localhost (openssl), valid for a day."""
    key, cert = directory / "server.key", directory / "server.crt"
    openssl = shutil.which("openssl")
    if openssl is None:
        _unavailable("openssl not found: it makes the certificate for the redis-server TLS tests")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return key, cert


@pytest.fixture(scope="module")
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """Starts redis-server processes on free loopback ports (plain or TLS, with or without a password);
    every one is stopped when the module's tests are done."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        _unavailable("redis-server/redis-cli not found; run scripts/install-test-redis.sh as root")
    base = Path(tempfile.mkdtemp(prefix="dify-redis-"))
    processes: list[subprocess.Popen[bytes]] = []

    def start(*, password: str | None = None, tls: bool = False) -> RedisServer:
        port = _free_port()
        workdir = base / str(port)
        workdir.mkdir()
        args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
        ca_file = None
        if tls:
            key, ca_file = _self_signed_certificate(workdir)
            args += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(ca_file),
                     "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca_file),
                     "--tls-auth-clients", "no"]  # fmt: skip
        else:
            args += ["--port", str(port)]
        if password is not None:
            args += ["--requirepass", password]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port} (tls={tls})")
                time.sleep(0.05)
        return RedisServer(port=port, password=password, tls=tls, ca_file=ca_file)

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(base, ignore_errors=True)


def test_broker_url_as_the_stack_writes_it() -> None:
    """The URL data/cache.py `broker_url_secret` builds: rediss, empty user, token, database 1, and
    Dify's ssl_cert_reqs=optional (which still verifies the server certificate here)."""
    broker = index.parse_broker_url(
        f"rediss://:{PASSWORD}@master.x.cache.amazonaws.com:6379/1?ssl_cert_reqs=optional"
    )
    assert broker == index.Broker(
        host="master.x.cache.amazonaws.com", port=6379, database=1, tls=True, password=PASSWORD, verify=True
    )
    assert PASSWORD not in repr(broker)


def test_broker_url_variants() -> None:
    plain = index.parse_broker_url("redis://localhost")
    assert (plain.port, plain.database, plain.tls, plain.password) == (6379, 0, False, None)
    assert not index.parse_broker_url("rediss://h:1/0?ssl_cert_reqs=CERT_NONE").verify
    assert index.parse_broker_url("redis://user:p%40ss@h:1/2").password == "p@ss"
    for bad in ("http://h/1", "redis:///1", "redis://h/x"):
        with pytest.raises(index.BrokerError):
            index.parse_broker_url(bad)


def test_queue_keys_include_kombu_priority_lists() -> None:
    assert index.queue_keys(["mail"]) == ["mail", "mail\x06\x163", "mail\x06\x166", "mail\x06\x169"]


def test_resp_encoding() -> None:
    assert index.encode("LLEN", "mail") == b"*2\r\n$4\r\nLLEN\r\n$4\r\nmail\r\n"


# --- the handler, with stub AWS clients --------------------------------------------------------------


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value = value
        self.asked: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 (boto3's name)
        self.asked.append(SecretId)
        return {"SecretString": self.value}


class FakeCloudWatch:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.published.append(kwargs)


def test_handler_publishes_the_sum(
    monkeypatch: pytest.MonkeyPatch, redis_factory: Callable[..., RedisServer]
) -> None:
    """The published datum is what the scaling policy and the dashboard read (operations/metrics.py)."""
    server = redis_factory(password=PASSWORD)
    server.cli("RPUSH", "dataset", "a", "b")
    server.cli("RPUSH", "workflow\x06\x166", "c")
    secrets = FakeSecrets(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/1")
    cloudwatch = FakeCloudWatch()
    clients = {"secretsmanager": secrets, "cloudwatch": cloudwatch}
    monkeypatch.setattr(boto3, "client", lambda name, **_: clients[name])
    env = {
        "BROKER_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:111111111111:secret:Broker-AbCd",
        "CELERY_QUEUES": ",".join(QUEUES),
        "METRIC_NAMESPACE": metrics.NAMESPACE,
        "METRIC_NAME": metrics.QUEUE_DEPTH,
        "METRIC_DIMENSION": metrics.INSTANCE_DIMENSION,
        "INSTANCE": "DifyProd",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert index.handler({}, None) == {"depth": 3}
    assert secrets.asked == [env["BROKER_SECRET_ARN"]]
    assert cloudwatch.published == [
        {
            "Namespace": "DifyOnAws",
            "MetricData": [
                {
                    "MetricName": "CeleryQueueDepth",
                    "Dimensions": [{"Name": "Instance", "Value": "DifyProd"}],
                    "Value": 3,
                    "Unit": "Count",
                }
            ],
        }
    ]


# --- the reader against real servers ------------------------------------------------------------------


def _url(server: RedisServer, password: str | None) -> str:
    auth = f":{password}@" if password else ""
    return f"{'rediss' if server.tls else 'redis'}://{auth}127.0.0.1:{server.port}/1"


def _tls_context(server: RedisServer) -> ssl.SSLContext:
    assert server.ca_file is not None
    return ssl.create_default_context(cafile=str(server.ca_file))


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_empty_then_busy_queues(redis_factory: Callable[..., RedisServer], tls: bool) -> None:
    server = redis_factory(password=PASSWORD, tls=tls)
    broker = index.parse_broker_url(_url(server, PASSWORD))
    context = _tls_context(server) if tls else None
    assert index.queue_depth(broker, QUEUES, ssl_context=context) == 0
    server.cli("RPUSH", "dataset", *["job"] * 5)
    server.cli("RPUSH", "mail\x06\x169", "urgent")
    server.cli("RPUSH", "not-a-worker-queue", "ignored")
    assert index.queue_depth(broker, QUEUES, ssl_context=context) == 6
    server.cli("DEL", "dataset", "mail\x06\x169", "not-a-worker-queue")


def test_other_database_is_not_counted(redis_factory: Callable[..., RedisServer]) -> None:
    """Database 1 is the broker's (data/cache.py); a list of the same name in database 0 is Dify's cache."""
    server = redis_factory()
    server.cli("-n", "0", "RPUSH", "dataset", "cache-entry")
    broker = index.parse_broker_url(_url(server, None))
    assert index.queue_depth(broker, ["dataset"]) == 0


def test_tls_verifies_the_certificate_by_default(redis_factory: Callable[..., RedisServer]) -> None:
    """Without the test CA, the self-signed certificate is refused; `ssl_cert_reqs=none` accepts it."""
    server = redis_factory(password=PASSWORD, tls=True)
    with pytest.raises(index.BrokerError, match="TLS with the broker"):
        index.queue_depth(index.parse_broker_url(_url(server, PASSWORD)), QUEUES)
    unchecked = index.parse_broker_url(_url(server, PASSWORD) + "?ssl_cert_reqs=none")
    assert index.queue_depth(unchecked, QUEUES) == 0


def test_plain_socket_to_tls_server_fails_clearly(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(password=PASSWORD, tls=True)
    broker = index.parse_broker_url(_url(server, PASSWORD).replace("rediss://", "redis://"))
    with pytest.raises(index.BrokerError):
        index.queue_depth(broker, QUEUES)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_wrong_password_is_a_clear_error(redis_factory: Callable[..., RedisServer], tls: bool) -> None:
    server = redis_factory(password=PASSWORD, tls=tls)
    broker = index.parse_broker_url(_url(server, "wrong-password"))
    context = _tls_context(server) if tls else None
    with pytest.raises(index.BrokerError, match="refused the password") as caught:
        index.queue_depth(broker, QUEUES, ssl_context=context)
    assert "wrong-password" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_missing_password_is_an_error(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(password=PASSWORD)
    with pytest.raises(index.BrokerError, match="NOAUTH"):
        index.queue_depth(index.parse_broker_url(_url(server, None)), QUEUES)


def test_unreachable_broker() -> None:
    closed = index.parse_broker_url("redis://127.0.0.1:1/1")
    with pytest.raises(index.BrokerError, match=r"cannot reach the broker at 127\.0\.0\.1:1"):
        index.queue_depth(closed, QUEUES)
