"""The database-initialisation SQL against a real PostgreSQL with pgvector (see conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from dify_on_aws.data.runtime.db_init import index

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.postgres

DATABASES = ["dify", "dify_plugin", "dify_vector"]
# `:name` but not the `::` of a cast.
PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class PsycopgExecutor:
    """The handler's Executor over psycopg: each statement on its own autocommit connection, as the
    Data API runs it (CREATE DATABASE cannot run inside a transaction)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.statements: list[tuple[str, str]] = []

    def execute(self, sql: str, database: str, params: Mapping[str, str] | None = None) -> list[list[object]]:
        self.statements.append((sql, database))
        query = PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))
        with psycopg.connect(self.conninfo, dbname=database, autocommit=True) as conn:
            cursor = conn.execute(query, dict(params or {}))
            rows = cursor.fetchall() if cursor.description is not None else []
        return [list(row) for row in rows]

    @property
    def changes(self) -> list[tuple[str, str]]:
        return [(sql, db) for sql, db in self.statements if not sql.startswith("SELECT")]


def query(conninfo: str, database: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo, dbname=database, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return list(cursor.fetchall()) if cursor.description is not None else []


def snapshot(conninfo: str) -> dict[str, Any]:
    """What a second run must leave as it was: the databases (with their OIDs) and their extensions."""
    databases = query(conninfo, "postgres", "SELECT datname, oid FROM pg_database ORDER BY datname")
    extensions = {
        name: query(conninfo, name, "SELECT extname, extversion, oid FROM pg_extension ORDER BY extname")
        for name, _ in databases
        if name != "template0"
    }
    return {"databases": databases, "extensions": extensions}


def test_apply_creates_databases_and_extension(postgres: str) -> None:
    executor = PsycopgExecutor(postgres)
    steps = index.apply(executor, DATABASES, "dify_vector")
    assert [step.label for step in steps] == [
        "create database dify",
        "create database dify_plugin",
        "create database dify_vector",
        "create extension vector in dify_vector",
    ]
    names = {row[0] for row in query(postgres, "postgres", "SELECT datname FROM pg_database")}
    assert set(DATABASES) <= names
    assert query(postgres, "dify_vector", "SELECT 1 FROM pg_extension WHERE extname = 'vector'") == [(1,)]
    # Only the vector database gets the extension.
    assert query(postgres, "dify", "SELECT 1 FROM pg_extension WHERE extname = 'vector'") == []


def test_second_run_changes_nothing(postgres: str) -> None:
    index.apply(PsycopgExecutor(postgres), DATABASES, "dify_vector")
    before = snapshot(postgres)
    executor = PsycopgExecutor(postgres)
    assert index.apply(executor, DATABASES, "dify_vector") == []
    assert executor.changes == []
    assert snapshot(postgres) == before


def test_handler_create_then_update(postgres: str) -> None:
    def factory(props: index.Properties, context: object) -> index.Executor:
        return PsycopgExecutor(postgres)

    props = {
        "ClusterArn": "arn:aws:rds:eu-west-1:123456789012:cluster:dify-db",
        "SecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
        "Databases": DATABASES,
        "VectorDatabase": "dify_vector",
    }
    created = index.handle({"RequestType": "Create", "ResourceProperties": props}, None, factory)
    before = snapshot(postgres)
    updated = index.handle(
        {
            "RequestType": "Update",
            "PhysicalResourceId": created["PhysicalResourceId"],
            "ResourceProperties": props,
        },
        None,
        factory,
    )
    assert updated == created
    assert snapshot(postgres) == before


def test_only_missing_parts_are_created(postgres: str) -> None:
    query(postgres, "postgres", 'CREATE DATABASE "dify"')
    query(postgres, "postgres", 'CREATE DATABASE "user"')  # a reserved word: must be quoted
    executor = PsycopgExecutor(postgres)
    index.apply(executor, ["dify", "user", "dify_vector"], "user")
    assert executor.changes == [
        ('CREATE DATABASE "dify_vector"', "postgres"),
        ("CREATE EXTENSION IF NOT EXISTS vector", "user"),
    ]


def test_vector_extension_is_usable(postgres: str) -> None:
    index.apply(PsycopgExecutor(postgres), DATABASES, "dify_vector")
    with psycopg.connect(postgres, dbname="dify_vector", autocommit=True) as conn:
        conn.execute("CREATE TABLE embeddings (id int PRIMARY KEY, embedding vector(3) NOT NULL)")
        conn.execute("CREATE INDEX ON embeddings USING hnsw (embedding vector_cosine_ops)")
        conn.execute(
            "INSERT INTO embeddings VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,1]'), (4, '[1,1,0]')"
        )
        conn.execute("SET enable_seqscan = off")  # make the planner use the HNSW index
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT id FROM embeddings ORDER BY embedding <=> '[0.9,0.1,0]' LIMIT 2"
            )
        )
        nearest = conn.execute(
            "SELECT id FROM embeddings ORDER BY embedding <=> %s::vector LIMIT 2", ["[0.9,0.1,0]"]
        ).fetchall()
    assert "embeddings_embedding_idx" in plan
    assert [row[0] for row in nearest] == [1, 4]
