"""Fixtures for the runtime handler tests, among them a throwaway PostgreSQL server with pgvector."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
PG_PORT = 5432  # only names the socket file, which lives in a private directory
SYSTEM_DATABASES = ("postgres", "template0", "template1")


def _unavailable(reason: str) -> NoReturn:
    # CI can set DIFY_REQUIRE_POSTGRES=1 so that a missing server fails the run instead of skipping.
    if os.environ.get("DIFY_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _find_pg_bin() -> Path | None:
    def version(bin_dir: Path) -> tuple[int, str]:
        name = bin_dir.parent.name
        return (int(name), name) if name.isdigit() else (-1, name)

    for bin_dir in sorted(PG_ROOT.glob("*/bin"), key=version, reverse=True):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    return None


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _connect_when_ready(psycopg: Any, conninfo: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Starts PostgreSQL listening only on a unix socket in a temporary directory; yields its conninfo."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    bin_dir = _find_pg_bin()
    if bin_dir is None:
        _unavailable(f"no initdb/pg_ctl under {PG_ROOT}/*/bin; run scripts/install-test-postgres.sh as root")

    base = Path(tempfile.mkdtemp(prefix="dify-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root.
        runuser = shutil.which("runuser")
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = None
        if runuser is None or account is None:
            shutil.rmtree(base, ignore_errors=True)
            _unavailable("running as root but there is no 'postgres' user or no runuser to switch to it")
        os.chown(base, account.pw_uid, account.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]

    data = base / "data"
    pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        _run([*prefix, *initdb, "--no-locale", "--no-sync"], base)
        # No TCP at all; durability is irrelevant for a throwaway server.
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = ''\nunix_socket_directories = '{base}'\nport = {PG_PORT}\n"
                "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
            )
        _run([*pg_ctl, "-l", str(base / "server.log"), "-w", "-t", "60", "start"], base)
        started = True
        conninfo = f"host={base} port={PG_PORT} user=postgres dbname=postgres"
        with _connect_when_ready(psycopg, conninfo) as conn:
            if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is None:
                _unavailable(
                    f"the pgvector extension is not installed for PostgreSQL {bin_dir.parent.name}; "
                    "run scripts/install-test-postgres.sh as root"
                )
        yield conninfo
    finally:
        if started:
            subprocess.run(
                [*pg_ctl, "-m", "immediate", "-w", "stop"], cwd=base, capture_output=True, check=False
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres(postgres_server: str) -> Iterator[str]:
    """The shared server, with every database a test created dropped afterwards."""
    yield postgres_server
    import psycopg  # noqa: PLC0415  (only reached when the session fixture imported it)

    with psycopg.connect(postgres_server, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE NOT (datname = ANY(%s))", [list(SYSTEM_DATABASES)]
            )
        ]
        for name in names:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
