"""Publish the Celery queue depth of Dify's worker as a CloudWatch metric (run every minute).

The broker is Valkey/Redis: Celery's Redis transport (kombu) keeps each queue as a list named after the
queue, and a message sent with a priority in a list of its own, ``<queue>\\x06\\x16<step>`` for the steps
3, 6 and 9 (kombu ``transport/redis.py``: ``PRIORITY_STEPS = [0, 3, 6, 9]``, ``sep = '\\x06\\x16'``; step 0
is the plain list). Dify sets no priorities today, but ``LLEN`` of a missing key is 0, so the depth is the
sum of ``LLEN`` over all four names of every queue the worker consumes, as kombu's own ``_size`` counts it.

The reader speaks the Redis protocol (RESP) itself over a plain or TLS socket: ``AUTH``, ``SELECT`` and a
pipeline of ``LLEN``. That is all it needs, and it keeps this asset a plain folder with no third-party
package to bundle (the project builds Lambda assets without Docker).

Environment:
``BROKER_SECRET_ARN``  the secret holding Dify's ``CELERY_BROKER_URL`` (``redis[s]://:<token>@host:port/db``)
``CELERY_QUEUES``      the worker's queues, comma-separated (the worker's own ``CELERY_QUEUES``)
``METRIC_NAMESPACE``, ``METRIC_NAME``, ``METRIC_DIMENSION``, ``INSTANCE``  where the value goes

The broker URL and its token are never logged; errors name the host and the server's reply only.
Only the Lambda runtime's boto3 is used; the module must stay self-contained (it is shipped as an asset).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3

LOG = logging.getLogger("dify_queue_depth")
LOG.setLevel(logging.INFO)

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
TIMEOUT_SECONDS = 5.0
_CRLF = b"\r\n"


class BrokerError(Exception):
    """The broker could not be read: unreachable, refused the password, or answered with an error."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    database: int
    tls: bool
    password: str | None = field(default=None, repr=False)
    username: str | None = None
    verify: bool = True


def parse_broker_url(url: str) -> Broker:
    """``redis://`` or ``rediss://`` with an optional ``user:password@``, a port (6379) and a database
    path (0); ``?ssl_cert_reqs=none`` (any case, with or without ``CERT_``) turns off certificate checks."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise BrokerError(f"broker URL scheme {parts.scheme!r} is not redis or rediss")
    if not parts.hostname:
        raise BrokerError("broker URL has no host")
    path = parts.path.lstrip("/")
    if path and not path.isdigit():
        raise BrokerError(f"broker URL database {path!r} is not a number")
    reqs = parse_qs(parts.query).get("ssl_cert_reqs", ["required"])[0].lower().removeprefix("cert_")
    return Broker(
        host=parts.hostname,
        port=parts.port or 6379,
        database=int(path or 0),
        tls=parts.scheme == "rediss",
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        verify=reqs != "none",
    )


def queue_keys(queues: Sequence[str]) -> list[str]:
    """Every list a queue's messages can wait in: the queue itself and its priority lists."""
    return [
        key
        for queue in queues
        for key in (queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS))
    ]


def encode(*args: str | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Connection:
    """A minimal RESP2 client: send commands, read replies (errors come back as BrokerError)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("rb")

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def send(self, *commands: bytes) -> None:
        self._sock.sendall(b"".join(commands))

    def _line(self) -> bytes:
        line = self._file.readline()
        if not line.endswith(_CRLF):
            raise BrokerError("the broker closed the connection")
        return line[:-2]

    def reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BrokerError(f"the broker answered: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.reply() for _ in range(count)]
        raise BrokerError(f"unexpected reply from the broker: {line[:40]!r}")


def connect(broker: Broker, *, ssl_context: ssl.SSLContext | None = None) -> Connection:
    """Open, authenticate and select the database; `ssl_context` replaces the default (system CAs)."""
    try:
        sock = socket.create_connection((broker.host, broker.port), timeout=TIMEOUT_SECONDS)
    except OSError as exc:
        raise BrokerError(f"cannot reach the broker at {broker.host}:{broker.port}: {exc}") from exc
    if broker.tls:
        context = ssl_context or ssl.create_default_context()
        if ssl_context is None and not broker.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            sock = context.wrap_socket(sock, server_hostname=broker.host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise BrokerError(f"TLS with the broker at {broker.host}:{broker.port} failed: {exc}") from exc
    connection = Connection(sock)
    try:
        if broker.password is not None:
            user = (broker.username,) if broker.username else ()
            connection.send(encode("AUTH", *user, broker.password))
            try:
                connection.reply()
            except BrokerError as exc:
                raise BrokerError(
                    f"the broker at {broker.host}:{broker.port} refused the password from the broker URL "
                    f"secret ({exc}); the secret and the cache's AUTH token differ"
                ) from exc
        connection.send(encode("SELECT", broker.database))
        connection.reply()
    except BrokerError:
        connection.close()
        raise
    except OSError as exc:
        connection.close()
        raise BrokerError(f"talking to the broker at {broker.host}:{broker.port} failed: {exc}") from exc
    return connection


def queue_depth(broker: Broker, queues: Sequence[str], *, ssl_context: ssl.SSLContext | None = None) -> int:
    """The number of messages waiting in `queues` (one pipelined round trip of LLEN)."""
    keys = queue_keys(queues)
    connection = connect(broker, ssl_context=ssl_context)
    try:
        connection.send(*(encode("LLEN", key) for key in keys))
        lengths = [connection.reply() for _ in keys]
    except OSError as exc:
        raise BrokerError(f"reading queues from {broker.host}:{broker.port} failed: {exc}") from exc
    finally:
        connection.close()
    return sum(int(length) for length in lengths)


def handler(event: Any, context: Any) -> dict[str, int]:
    """Read the depth and publish it; a broker problem is raised (the invocation fails and is logged)."""
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["BROKER_SECRET_ARN"])
    broker = parse_broker_url(secret["SecretString"])
    queues = [q.strip() for q in os.environ["CELERY_QUEUES"].split(",") if q.strip()]
    depth = queue_depth(broker, queues)
    boto3.client("cloudwatch").put_metric_data(
        Namespace=os.environ["METRIC_NAMESPACE"],
        MetricData=[
            {
                "MetricName": os.environ["METRIC_NAME"],
                "Dimensions": [{"Name": os.environ["METRIC_DIMENSION"], "Value": os.environ["INSTANCE"]}],
                "Value": depth,
                "Unit": "Count",
            }
        ],
    )
    LOG.info("queue depth %d over %d queues", depth, len(queues))
    return {"depth": depth}
