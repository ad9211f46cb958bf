"""Custom resource (CDK Provider `on_event`): creates Dify's databases and the pgvector extension.

Runs on the Lambda Python runtime with only boto3; talks to Aurora PostgreSQL through the RDS Data
API, so the function needs no VPC access and no database driver. The SQL logic (`plan`/`apply`) only
sees an `Executor`, so tests can run it against a real PostgreSQL through another transport.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

# CREATE DATABASE runs here, on the database that always exists.
ADMIN_DATABASE = "postgres"
PHYSICAL_ID_SUFFIX = "/dify-db-init"
DEFAULT_MAX_WAIT_SECONDS = 600
# One Data API call lasts at most CLIENT_ATTEMPTS x (CONNECT_TIMEOUT + READ_TIMEOUT) plus botocore's backoff
# between its attempts (at most 20 s in standard mode); the budget ends that long, and a margin to report,
# before the function's timeout.
READ_TIMEOUT = 70
CONNECT_TIMEOUT = 10
CLIENT_ATTEMPTS = 2
CALL_RESERVE_SECONDS = CLIENT_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 20 + 10
# CREATE DATABASE cannot take a bind parameter, so names are held to plain lower-case identifiers.
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Errors that mean "the cluster or its Data API endpoint is not ready yet": just after creation, while a
# paused Serverless v2 writer resumes, or during a brief outage.
RETRYABLE_CODES = frozenset(
    {
        "DatabaseResumingException",
        "DatabaseUnavailableException",
        "DatabaseNotFoundException",  # the cluster has no writer instance yet
        "HttpEndpointNotEnabledException",
        "StatementTimeoutException",
        "ServiceUnavailableError",
        "InternalServerErrorException",
        "ThrottlingException",
    }
)
# The older, generic BadRequestException carries the same conditions only in its message.
RETRYABLE_BAD_REQUEST = re.compile(
    r"http\s*endpoint\b.*(?:\bnot\b|n't).*\b(?:enabled|available)|communications link failure", re.IGNORECASE
)

SleepFn = Callable[[float], None]
ClockFn = Callable[[], float]


class DbInitError(Exception):
    """A failure whose message is written for the CloudFormation console."""


class Executor(Protocol):
    """Runs one SQL statement (with `:name` placeholders) on one database and returns its rows."""

    def execute(
        self, sql: str, database: str, params: Mapping[str, str] | None = None
    ) -> list[list[object]]: ...


@dataclass(frozen=True)
class Step:
    """One change to make, with a label that error messages and logs use."""

    label: str
    database: str
    sql: str
    creates_database: str | None = None


@dataclass(frozen=True)
class Properties:
    cluster_arn: str
    secret_arn: str
    databases: tuple[str, ...]
    vector_database: str
    max_wait_seconds: int


# --------------------------------------------------------------------------- SQL logic (any Executor)


def validate_database_name(name: object) -> str:
    if not isinstance(name, str) or not DATABASE_NAME.fullmatch(name):
        raise DbInitError(
            f"Invalid database name {name!r}: use 1-63 characters of lower-case letters, digits and "
            "underscores, not starting with a digit"
        )
    return name


def quote_identifier(name: str) -> str:
    # Names are validated already; quoting still keeps reserved words (e.g. "user") valid.
    return '"' + validate_database_name(name).replace('"', '""') + '"'


def database_exists(executor: Executor, name: str) -> bool:
    rows = executor.execute("SELECT 1 FROM pg_database WHERE datname = :name", ADMIN_DATABASE, {"name": name})
    return bool(rows)


def extension_exists(executor: Executor, database: str, extension: str = "vector") -> bool:
    rows = executor.execute("SELECT 1 FROM pg_extension WHERE extname = :name", database, {"name": extension})
    return bool(rows)


def plan(executor: Executor, databases: Sequence[str], vector_database: str) -> list[Step]:
    """The steps still needed; empty when everything exists, so a second run changes nothing."""
    names = [validate_database_name(name) for name in databases]
    validate_database_name(vector_database)
    if vector_database not in names:
        raise DbInitError(f"VectorDatabase {vector_database!r} is not one of Databases {names}")
    steps: list[Step] = []
    missing: set[str] = set()
    for name in dict.fromkeys(names):
        if not database_exists(executor, name):
            missing.add(name)
            sql = f"CREATE DATABASE {quote_identifier(name)}"
            steps.append(Step(f"create database {name}", ADMIN_DATABASE, sql, creates_database=name))
    # A database about to be created cannot be queried yet, and certainly lacks the extension.
    if vector_database in missing or not extension_exists(executor, vector_database):
        steps.append(
            Step(
                f"create extension vector in {vector_database}",
                vector_database,
                "CREATE EXTENSION IF NOT EXISTS vector",
            )
        )
    return steps


def _exists_despite_error(executor: Executor, name: str) -> bool:
    try:
        return database_exists(executor, name)
    except DbInitError:
        return False  # the original error is the one worth reporting


def apply(executor: Executor, databases: Sequence[str], vector_database: str) -> list[Step]:
    """Makes the databases and the extension exist; returns the steps it ran. A failure names the steps
    that were done and those that were not."""
    steps = plan(executor, databases, vector_database)
    for index, step in enumerate(steps):
        LOG.info("Running step: %s", step.label)
        try:
            executor.execute(step.sql, step.database)
        except DbInitError as exc:
            # A retried (timed-out) or concurrent CREATE DATABASE may have succeeded after all.
            if step.creates_database and _exists_despite_error(executor, step.creates_database):
                LOG.info("Database %s exists after all; continuing", step.creates_database)
                continue
            done = "; ".join(s.label for s in steps[:index]) or "nothing"
            not_done = "; ".join(s.label for s in steps[index:])
            raise DbInitError(f"{exc} Done: {done}. Not done: {not_done}.") from exc
    return steps


# --------------------------------------------------------------------------- Data API transport


@dataclass(frozen=True)
class RetryPolicy:
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    first_delay: float = 2.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2**attempt))


def is_retryable(code: str, message: str) -> bool:
    if code in RETRYABLE_CODES:
        return True
    return code == "BadRequestException" and RETRYABLE_BAD_REQUEST.search(message) is not None


def _field_value(field: Mapping[str, Any]) -> object:
    if field.get("isNull"):
        return None
    # A Data API field holds exactly one typed value, e.g. {"longValue": 1}.
    return next(iter(field.values()), None)


def _short(sql: str, limit: int = 120) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class DataApiExecutor:
    """Executor over the RDS Data API, retrying while the cluster is not ready.

    The wait budget is shared by all statements of one invocation, so the Lambda function cannot
    run past its timeout (which would give CloudFormation a far less readable error).
    """

    def __init__(
        self,
        client: Any,
        cluster_arn: str,
        secret_arn: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: SleepFn = time.sleep,
        clock: ClockFn = time.monotonic,
    ) -> None:
        self._client = client
        self._cluster_arn = cluster_arn
        self._secret_arn = secret_arn
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + self._policy.max_wait_seconds

    def execute(self, sql: str, database: str, params: Mapping[str, str] | None = None) -> list[list[object]]:
        request: dict[str, Any] = {
            "resourceArn": self._cluster_arn,
            "secretArn": self._secret_arn,
            "database": database,
            "sql": sql,
            # DDL keeps running if the HTTP call times out, instead of being rolled back.
            "continueAfterTimeout": True,
        }
        if params:
            request["parameters"] = [
                {"name": name, "value": {"stringValue": value}} for name, value in params.items()
            ]
        statement = f"statement `{_short(sql)}` on database {database!r} of cluster {self._cluster_arn}"
        if self._clock() >= self._deadline:
            # A call started now could outlast the function; report instead of being cut off by Lambda.
            raise DbInitError(
                f"No time left to run {statement}: the {self._policy.max_wait_seconds:g}s budget of this "
                "invocation is spent"
            )
        attempt = 0
        while True:
            try:
                response = self._client.execute_statement(**request)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", "Unknown"))
                message = str(error.get("Message", exc))
                if not is_retryable(code, message):
                    raise DbInitError(f"Data API {statement} failed: {code}: {message}") from exc
                remaining = self._deadline - self._clock()
                if remaining <= 0:
                    raise DbInitError(
                        f"Gave up after waiting {self._policy.max_wait_seconds:g}s for the Data API of "
                        f"cluster {self._cluster_arn}: {statement} still fails with {code}: {message}"
                    ) from exc
                delay = min(self._policy.delay(attempt), remaining)
                LOG.warning("Data API not ready (%s: %s); retrying in %.1fs", code, message, delay)
                self._sleep(delay)
                attempt += 1
            except BotoCoreError as exc:
                raise DbInitError(f"Data API {statement} could not be sent: {exc}") from exc
            else:
                return [[_field_value(field) for field in record] for record in response.get("records", [])]


@functools.cache
def _rds_data_client() -> Any:
    # Created on first use, so importing this module needs no AWS credentials or region.
    # A Data API call may last 45 s before StatementTimeoutException. botocore retries network hiccups;
    # waiting for the cluster to become ready is DataApiExecutor's job.
    config = Config(
        read_timeout=READ_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        retries={"mode": "standard", "max_attempts": CLIENT_ATTEMPTS},
    )
    return boto3.client("rds-data", config=config)


# --------------------------------------------------------------------------- custom resource


def parse_properties(props: Mapping[str, Any]) -> Properties:
    required = ("ClusterArn", "SecretArn", "Databases", "VectorDatabase")
    missing = [key for key in required if not props.get(key)]
    if missing:
        raise DbInitError(f"Missing resource properties: {', '.join(missing)}")
    raw_databases = props["Databases"]
    if isinstance(raw_databases, str):
        raw_databases = [part.strip() for part in raw_databases.split(",") if part.strip()]
    if not isinstance(raw_databases, list) or not raw_databases:
        raise DbInitError("Databases must be a non-empty list of database names")
    databases = tuple(dict.fromkeys(validate_database_name(name) for name in raw_databases))
    vector_database = validate_database_name(props["VectorDatabase"])
    if vector_database not in databases:
        raise DbInitError(f"VectorDatabase {vector_database!r} is not one of Databases {list(databases)}")
    raw_wait = props.get("MaxWaitSeconds", str(DEFAULT_MAX_WAIT_SECONDS))
    try:
        max_wait = int(str(raw_wait))
    except ValueError:
        raise DbInitError(f"MaxWaitSeconds must be a whole number of seconds, not {raw_wait!r}") from None
    if max_wait < 0:
        raise DbInitError(f"MaxWaitSeconds must not be negative, not {max_wait}")
    return Properties(
        cluster_arn=str(props["ClusterArn"]),
        secret_arn=str(props["SecretArn"]),
        databases=databases,
        vector_database=vector_database,
        max_wait_seconds=max_wait,
    )


def _wait_budget(max_wait_seconds: int, context: object) -> float:
    """MaxWaitSeconds, shortened so that the last call may start no later than CALL_RESERVE_SECONDS before
    the Lambda function would time out (no call can start after the budget is spent)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        return float(max(0.0, min(max_wait_seconds, remaining_ms() / 1000 - CALL_RESERVE_SECONDS)))
    return float(max_wait_seconds)


def _data_api_executor(props: Properties, context: object) -> Executor:
    policy = RetryPolicy(max_wait_seconds=_wait_budget(props.max_wait_seconds, context))
    return DataApiExecutor(_rds_data_client(), props.cluster_arn, props.secret_arn, policy=policy)


ExecutorFactory = Callable[[Properties, object], Executor]


def handle(
    event: Mapping[str, Any], context: object, executor_factory: ExecutorFactory = _data_api_executor
) -> dict[str, Any]:
    request_type = event.get("RequestType")
    if request_type == "Delete":
        # Never drop data: the databases go only with the cluster itself.
        LOG.info("Delete: leaving the databases in place")
        return {"PhysicalResourceId": event.get("PhysicalResourceId", "dify-db-init")}
    if request_type not in ("Create", "Update"):
        raise DbInitError(f"Unknown RequestType {request_type!r}")

    props = parse_properties(event.get("ResourceProperties", {}))
    physical_id = (
        event.get("PhysicalResourceId") if request_type == "Update" else None
    ) or props.cluster_arn + PHYSICAL_ID_SUFFIX
    LOG.info(
        "%s: cluster %s, databases %s, vector extension in %s",
        request_type,
        props.cluster_arn,
        ",".join(props.databases),
        props.vector_database,
    )
    steps = apply(executor_factory(props, context), props.databases, props.vector_database)
    LOG.info("Done: %s", "; ".join(step.label for step in steps) or "nothing to change")
    return {"PhysicalResourceId": physical_id, "Data": {"Databases": ",".join(props.databases)}}


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, context)
