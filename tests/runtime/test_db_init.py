"""Unit tests for the database-initialisation custom resource (no network, no AWS credentials)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dify_on_aws.data.runtime.db_init import index

CLUSTER_ARN = "arn:aws:rds:eu-west-1:123456789012:cluster:dify-db"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0123-AbCdEf"
DATABASES = ["dify", "dify_plugin", "dify_vector"]
PHYSICAL_ID = CLUSTER_ARN + "/dify-db-init"


class FakeExecutor:
    """An in-memory PostgreSQL that understands only the handler's statements, and records them."""

    def __init__(self, databases: set[str] | None = None, extensions: set[str] | None = None) -> None:
        self.databases = {"postgres", *(databases or set())}
        self.extensions = set(extensions or set())  # databases that have `vector`
        self.calls: list[tuple[str, str, dict[str, str] | None]] = []
        self.fail_create: Exception | None = None

    def execute(self, sql: str, database: str, params: Mapping[str, str] | None = None) -> list[list[object]]:
        self.calls.append((sql, database, dict(params) if params is not None else None))
        assert database in self.databases, f"no database {database}"
        if sql.startswith("SELECT 1 FROM pg_database"):
            assert params is not None
            return [[1]] if params["name"] in self.databases else []
        if sql.startswith("SELECT 1 FROM pg_extension"):
            assert params == {"name": "vector"}
            return [[1]] if database in self.extensions else []
        if sql.startswith("CREATE DATABASE "):
            assert database == "postgres"
            self.databases.add(sql.removeprefix("CREATE DATABASE ").strip('"'))
            if self.fail_create is not None:
                raise self.fail_create
            return []
        if sql == "CREATE EXTENSION IF NOT EXISTS vector":
            self.extensions.add(database)
            return []
        raise AssertionError(f"unexpected statement {sql!r}")

    @property
    def changes(self) -> list[tuple[str, str]]:
        return [(sql, db) for sql, db, _ in self.calls if not sql.startswith("SELECT")]


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_event(request_type: str = "Create", **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
        "ClusterArn": CLUSTER_ARN,
        "SecretArn": SECRET_ARN,
        "Databases": list(DATABASES),
        "VectorDatabase": "dify_vector",
        "MaxWaitSeconds": "600",
    }
    props.update(overrides)
    event: dict[str, Any] = {"RequestType": request_type, "ResourceProperties": props}
    if request_type != "Create":
        event["PhysicalResourceId"] = PHYSICAL_ID
    return event


def run(event: dict[str, Any], executor: index.Executor) -> dict[str, Any]:
    return index.handle(event, None, executor_factory=lambda props, context: executor)


# ----------------------------------------------------------------------------- plan / apply / handler


def test_create_issues_the_right_statements() -> None:
    fake = FakeExecutor()
    result = run(make_event(), fake)
    assert result == {
        "PhysicalResourceId": PHYSICAL_ID,
        "Data": {"Databases": "dify,dify_plugin,dify_vector"},
    }
    assert fake.calls == [
        ("SELECT 1 FROM pg_database WHERE datname = :name", "postgres", {"name": "dify"}),
        ("SELECT 1 FROM pg_database WHERE datname = :name", "postgres", {"name": "dify_plugin"}),
        ("SELECT 1 FROM pg_database WHERE datname = :name", "postgres", {"name": "dify_vector"}),
        ('CREATE DATABASE "dify"', "postgres", None),
        ('CREATE DATABASE "dify_plugin"', "postgres", None),
        ('CREATE DATABASE "dify_vector"', "postgres", None),
        ("CREATE EXTENSION IF NOT EXISTS vector", "dify_vector", None),
    ]


def test_existing_databases_are_skipped() -> None:
    fake = FakeExecutor(databases={"dify", "dify_vector"})
    run(make_event(), fake)
    assert fake.changes == [
        ('CREATE DATABASE "dify_plugin"', "postgres"),
        ("CREATE EXTENSION IF NOT EXISTS vector", "dify_vector"),
    ]


def test_second_run_is_a_no_op() -> None:
    fake = FakeExecutor()
    first = run(make_event(), fake)
    fake.calls.clear()
    second = run(make_event("Update"), fake)
    assert fake.changes == []
    assert second == first
    assert index.plan(fake, DATABASES, "dify_vector") == []


def test_duplicate_names_are_created_once() -> None:
    fake = FakeExecutor()
    result = run(make_event(Databases=["dify", "dify_vector", "dify"]), fake)
    assert result["Data"] == {"Databases": "dify,dify_vector"}
    assert [sql for sql, _ in fake.changes].count('CREATE DATABASE "dify"') == 1


def test_databases_may_come_as_comma_separated_string() -> None:
    fake = FakeExecutor()
    assert run(make_event(Databases="dify, dify_vector"), fake)["Data"] == {"Databases": "dify,dify_vector"}


@pytest.mark.parametrize(
    "name",
    ["Dify", "dify-db", "1dify", "", "a" * 64, 'dify"; DROP DATABASE postgres; --', "dify vector", "dïfy", 7],
)
def test_invalid_names_are_rejected_before_any_sql(name: object) -> None:
    fake = FakeExecutor()
    with pytest.raises(index.DbInitError, match=r"Invalid database name") as info:
        run(make_event(Databases=["dify", name], VectorDatabase="dify"), fake)
    assert repr(name) in str(info.value)
    assert "lower-case letters, digits and underscores" in str(info.value)
    assert fake.calls == []


def test_longest_valid_name_and_reserved_word_are_quoted() -> None:
    fake = FakeExecutor()
    run(make_event(Databases=["user", "a" * 63], VectorDatabase="user"), fake)
    assert ('CREATE DATABASE "user"', "postgres") in fake.changes
    assert (f'CREATE DATABASE "{"a" * 63}"', "postgres") in fake.changes


def test_vector_database_must_be_one_of_databases() -> None:
    with pytest.raises(index.DbInitError, match=r"VectorDatabase 'vectors' is not one of Databases"):
        run(make_event(VectorDatabase="vectors"), FakeExecutor())


@pytest.mark.parametrize("missing", ["ClusterArn", "SecretArn", "Databases", "VectorDatabase"])
def test_missing_property_is_named(missing: str) -> None:
    event = make_event()
    del event["ResourceProperties"][missing]
    with pytest.raises(index.DbInitError, match=f"Missing resource properties: {missing}"):
        run(event, FakeExecutor())


@pytest.mark.parametrize("value", ["soon", "-1", "1.5"])
def test_bad_max_wait_seconds(value: str) -> None:
    with pytest.raises(index.DbInitError, match="MaxWaitSeconds"):
        run(make_event(MaxWaitSeconds=value), FakeExecutor())


def test_delete_does_nothing() -> None:
    def factory(props: index.Properties, context: object) -> index.Executor:
        raise AssertionError("Delete must not touch the database")

    event = make_event("Delete", Databases=["Not Valid"])
    assert index.handle(event, None, executor_factory=factory) == {"PhysicalResourceId": PHYSICAL_ID}


def test_update_keeps_the_physical_id() -> None:
    event = make_event("Update", ClusterArn="arn:aws:rds:eu-west-1:123456789012:cluster:other")
    event["PhysicalResourceId"] = "previous-id"
    assert run(event, FakeExecutor())["PhysicalResourceId"] == "previous-id"


def test_unknown_request_type() -> None:
    with pytest.raises(index.DbInitError, match="Unknown RequestType 'Replace'"):
        run(make_event("Replace"), FakeExecutor())


def test_create_database_that_exists_after_a_failure_is_accepted() -> None:
    # E.g. a CREATE DATABASE whose call timed out but which went on to finish.
    fake = FakeExecutor()
    fake.fail_create = index.DbInitError("timed out")
    run(make_event(Databases=["dify"], VectorDatabase="dify"), fake)
    assert fake.extensions == {"dify"}


def test_create_database_failure_is_raised_when_the_database_is_absent() -> None:
    class Refusing(FakeExecutor):
        def execute(
            self, sql: str, database: str, params: Mapping[str, str] | None = None
        ) -> list[list[object]]:
            if sql.startswith("CREATE DATABASE"):
                raise index.DbInitError("permission denied to create database")
            return super().execute(sql, database, params)

    with pytest.raises(index.DbInitError, match="permission denied"):
        run(make_event(), Refusing())


def test_original_error_is_reported_when_the_recheck_fails_too() -> None:
    class Failing(FakeExecutor):
        failed = False

        def execute(
            self, sql: str, database: str, params: Mapping[str, str] | None = None
        ) -> list[list[object]]:
            if self.failed:
                raise index.DbInitError("SELECT gave up")
            if sql.startswith("CREATE DATABASE"):
                self.failed = True
                raise index.DbInitError("CREATE DATABASE gave up")
            return super().execute(sql, database, params)

    with pytest.raises(index.DbInitError, match=r"^CREATE DATABASE gave up Done: nothing\. Not done: "):
        run(make_event(), Failing())


def test_failure_names_what_was_done_and_what_was_not() -> None:
    class FailsOnSecond(FakeExecutor):
        def execute(
            self, sql: str, database: str, params: Mapping[str, str] | None = None
        ) -> list[list[object]]:
            if sql == 'CREATE DATABASE "dify_vector"':
                raise index.DbInitError("No time left to run the statement")
            return super().execute(sql, database, params)

    with pytest.raises(index.DbInitError) as raised:
        run(make_event(Databases=["dify", "dify_vector"], VectorDatabase="dify_vector"), FailsOnSecond())

    assert str(raised.value) == (
        "No time left to run the statement Done: create database dify. "
        "Not done: create database dify_vector; create extension vector in dify_vector."
    )


def test_wait_budget_ends_before_the_lambda_timeout() -> None:
    """The last call may start only when a whole call (2 attempts x (10 s connect + 70 s read) + 20 s
    backoff) and 10 s to report still fit: 190 s before the timeout (issue 16: the old 30 s did not cover
    one Data API call)."""

    class Context:
        def __init__(self, seconds: int) -> None:
            self.seconds = seconds

        def get_remaining_time_in_millis(self) -> int:
            return self.seconds * 1000

    assert index._wait_budget(600, Context(300)) == 110.0
    assert index._wait_budget(600, Context(100)) == 0.0
    assert index._wait_budget(20, Context(300)) == 20.0
    assert index._wait_budget(600, None) == 600.0


def test_data_api_client_bounds_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, Any] = {}
    monkeypatch.setattr(boto3, "client", lambda service, config: made.update(config=config))
    index._rds_data_client.__wrapped__()  # bypass the cache: no client is kept
    config = made["config"]
    assert (config.connect_timeout, config.read_timeout) == (10, 70)
    assert config.retries == {"mode": "standard", "max_attempts": 2}


# ----------------------------------------------------------------------------- Data API transport


@pytest.fixture
def rds_data() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "rds-data", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def request(sql: str, database: str = "postgres", name: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "resourceArn": CLUSTER_ARN,
        "secretArn": SECRET_ARN,
        "database": database,
        "sql": sql,
        "continueAfterTimeout": True,
    }
    if name is not None:
        params["parameters"] = [{"name": "name", "value": {"stringValue": name}}]
    return params


SELECT_DB = "SELECT 1 FROM pg_database WHERE datname = :name"


def executor(client: Any, clock: FakeClock, max_wait: float = 600) -> index.DataApiExecutor:
    policy = index.RetryPolicy(max_wait_seconds=max_wait, first_delay=2, max_delay=30)
    return index.DataApiExecutor(
        client, CLUSTER_ARN, SECRET_ARN, policy=policy, sleep=clock.sleep, clock=clock
    )


def test_data_api_request_and_records(rds_data: tuple[Any, Stubber]) -> None:
    client, stubber = rds_data
    stubber.add_response(
        "execute_statement",
        {"records": [[{"longValue": 1}, {"stringValue": "x"}, {"isNull": True}, {"booleanValue": False}]]},
        request(SELECT_DB, name="dify"),
    )
    rows = executor(client, FakeClock()).execute(SELECT_DB, "postgres", {"name": "dify"})
    assert rows == [[1, "x", None, False]]


def test_no_call_starts_once_the_budget_is_spent(rds_data: tuple[Any, Stubber]) -> None:
    client, _ = rds_data  # no response queued: a call would fail the stubber
    clock = FakeClock()
    run_one = executor(client, clock, max_wait=10)
    clock.now += 10

    with pytest.raises(index.DbInitError, match="No time left to run statement `SELECT 1"):
        run_one.execute(SELECT_DB, "postgres", {"name": "dify"})


def test_handler_end_to_end_over_the_data_api(
    rds_data: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = rds_data
    monkeypatch.setattr(index, "_rds_data_client", lambda: client)
    for name in DATABASES:
        stubber.add_response("execute_statement", {"records": []}, request(SELECT_DB, name=name))
    for name in DATABASES:
        stubber.add_response("execute_statement", {}, request(f'CREATE DATABASE "{name}"'))
    stubber.add_response(
        "execute_statement", {}, request("CREATE EXTENSION IF NOT EXISTS vector", database="dify_vector")
    )
    result = index.handler(make_event(), None)
    assert result["PhysicalResourceId"] == PHYSICAL_ID


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("DatabaseResumingException", "The database is resuming after being auto-paused."),
        ("BadRequestException", "HttpEndpoint is not enabled for cluster dify-db."),
        ("BadRequestException", "The HTTP endpoint isn't available for this cluster"),
        ("BadRequestException", "Communications link failure\n\nThe last packet sent successfully..."),
        ("HttpEndpointNotEnabledException", "HTTP endpoint isn't enabled"),
        ("StatementTimeoutException", "Request timed out"),
        ("ServiceUnavailableError", "Service unavailable"),
        ("InternalServerErrorException", "Internal error"),
    ],
)
def test_retries_while_not_ready_then_succeeds(
    rds_data: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture, code: str, message: str
) -> None:
    client, stubber = rds_data
    for _ in range(3):
        stubber.add_client_error(
            "execute_statement", code, message, 400, expected_params=request(SELECT_DB, name="dify")
        )
    stubber.add_response(
        "execute_statement", {"records": [[{"longValue": 1}]]}, request(SELECT_DB, name="dify")
    )
    clock = FakeClock()
    caplog.set_level(logging.DEBUG, logger=index.LOG.name)
    assert executor(client, clock).execute(SELECT_DB, "postgres", {"name": "dify"}) == [[1]]
    assert clock.sleeps == [2, 4, 8]
    assert code in caplog.text
    assert SECRET_ARN not in caplog.text


def test_backoff_is_capped() -> None:
    policy = index.RetryPolicy(first_delay=2, max_delay=30)
    assert [policy.delay(n) for n in range(7)] == [2, 4, 8, 16, 30, 30, 30]


def test_gives_up_after_max_wait(rds_data: tuple[Any, Stubber]) -> None:
    client, stubber = rds_data
    for _ in range(4):
        stubber.add_client_error(
            "execute_statement",
            "DatabaseResumingException",
            "The database is resuming",
            400,
            expected_params=request('CREATE DATABASE "dify"'),
        )
    clock = FakeClock()
    with pytest.raises(index.DbInitError) as info:
        executor(client, clock, max_wait=10).execute('CREATE DATABASE "dify"', "postgres")
    text = str(info.value)
    assert clock.sleeps == [2, 4, 4]  # the last sleep is cut to the end of the budget
    assert text.startswith("Gave up after waiting 10s for the Data API of cluster " + CLUSTER_ARN)
    assert 'CREATE DATABASE "dify"' in text
    assert "DatabaseResumingException: The database is resuming" in text
    assert SECRET_ARN not in text


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("BadRequestException", "ERROR: permission denied to create database; SQLState: 42501"),
        ("DatabaseErrorException", 'ERROR: syntax error at or near "DATABSE"'),
        ("ForbiddenException", "Access denied for secret"),
        ("AccessDeniedException", "not authorized to perform rds-data:ExecuteStatement"),
    ],
)
def test_other_errors_are_raised_at_once(rds_data: tuple[Any, Stubber], code: str, message: str) -> None:
    client, stubber = rds_data
    stubber.add_client_error(
        "execute_statement",
        code,
        message,
        400,
        expected_params=request("CREATE EXTENSION IF NOT EXISTS vector", "dify_vector"),
    )
    clock = FakeClock()
    with pytest.raises(index.DbInitError) as info:
        executor(client, clock).execute("CREATE EXTENSION IF NOT EXISTS vector", "dify_vector")
    assert clock.sleeps == []
    assert str(info.value) == (
        "Data API statement `CREATE EXTENSION IF NOT EXISTS vector` on database 'dify_vector' of cluster "
        f"{CLUSTER_ARN} failed: {code}: {message}"
    )


def test_importing_creates_no_client() -> None:
    # The module-level client is created lazily, on the first Create/Update.
    assert index._rds_data_client.cache_info().currsize == 0
