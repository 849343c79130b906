"""The test harness: one real throwaway Postgres per test session, a fresh database per test.

The server is started with the same code as `invoke db.start` (supamigrate.local.server), in a temp
directory on a free port, unless TEST_DATABASE_URL names a server to use instead (a superuser
URL: the tests create and drop databases there). Each test gets a database cloned from a
template that already holds the Supabase shim.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.server import throwaway_server
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget, parse_db_url
from supamigrate.local import server as localdb
from supamigrate.local.shim import install_shim

TEMPLATE = "supamigrate_template"
_counter = itertools.count(1)
# What no Postgres major changes: the CLI's split and parsing, the docs, configuration, the
# client side of errors, pastes and pipes. `nox` runs the suite once per major, these only
# under the first (the whole suite would take over 20 minutes); `pytest` alone runs them all.
ONCE_UNDER = "15"
SAME_ON_EVERY_MAJOR = (
    "tests/sql/",
    "tests/process/",
    "tests/test_pre_commit.py",
    "tests/test_docs.py",
    "tests/test_github.py",
    "tests/test_usage.py",
    "tests/run/test_config.py",
    "tests/run/test_config_one_place.py",
    "tests/run/test_error_text.py",
    "tests/executors/test_manual_paste.py",
    "tests/executors/test_libpq_environment.py",
    "tests/run/test_link.py::test_link_offline",  # the CLI offline, against no server
    # The two longest server tests (half a minute each): what they load, a million-row
    # backfill beside a writer and fourteen SIGKILLs mid-run, rests on row locks and atomic
    # commit, which every major keeps; the tenant and kill tests that are not about scale run
    # under both.
    "tests/run/test_backfill_scale.py",
    "tests/run/test_reliability.py::test_sigkill_at_random_moments",
)
# Tests without the session's server (no `pg_server` fixture, direct or through `db`,
# `project`, ...) touch no server of the major, so they too run once: unless they start one
# of their own, as these do (db.start's library, a restart mid-run, the state machine).
OWN_SERVERS = ("tests/local/", "tests/run/test_reliability.py", "tests/run/test_state_machine.py")


def same_on_every_major(item: pytest.Item) -> bool:
    if item.nodeid.startswith(SAME_ON_EVERY_MAJOR):
        return True
    uses_server = "pg_server" in getattr(item, "fixturenames", ())
    return not uses_server and not item.nodeid.startswith(OWN_SERVERS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    major = os.environ.get("SUPAMIGRATE_TEST_PG", "").strip()
    if major in ("", ONCE_UNDER):
        return
    skip = pytest.mark.skip(reason=f"the same on every Postgres major: run under {ONCE_UNDER}")
    for item in items:
        if same_on_every_major(item):
            item.add_marker(skip)


@dataclass(frozen=True)
class Harness:
    admin: DbTarget  # superuser: creates and drops databases
    user: DbTarget  # the Supabase-like `postgres` role that applies migrations
    server: localdb.LocalServer | None  # None when TEST_DATABASE_URL is used


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Harness]:
    """A running server for the whole session, with a shim-holding template database."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        admin = parse_db_url(url, source="TEST_DATABASE_URL")
        yield _with_template(Harness(admin, admin, None))
        return
    with throwaway_server("supamigrate-test-") as (server, _):
        yield _with_template(Harness(server.admin_target(), server.user_target(), server))


def _with_template(test_server: Harness) -> Harness:
    with session(test_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database if exists {TEMPLATE} with (force)")
        cur.execute(f"create database {TEMPLATE} owner {test_server.user.user}")
    install_shim(test_server.admin.with_database(TEMPLATE))
    return test_server


@pytest.fixture
def make_db(pg_server: Harness) -> Iterator[Callable[[], DbTarget]]:
    """A factory of fresh databases (cloned from the template), dropped after the test."""
    created: list[str] = []

    def make() -> DbTarget:
        name = f"t_{os.getpid()}_{next(_counter)}"
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"create database {name} template {TEMPLATE} owner {pg_server.user.user}")
        created.append(name)
        return pg_server.user.with_database(name)

    yield make
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        for name in created:
            cur.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def db(make_db: Callable[[], DbTarget]) -> DbTarget:
    """A fresh database with the shim, as the Supabase-like `postgres` role."""
    return make_db()


@pytest.fixture
def conn(db: DbTarget) -> Iterator[Any]:
    """An autocommit connection to `db` as `postgres`: each statement is committed at once."""
    with session(db, autocommit=True) as connection:
        yield connection


@pytest.fixture
def cur(conn: Any) -> Iterator[Any]:
    with conn.cursor() as cursor:
        yield cursor


@pytest.fixture
def project(tmp_path: Path, db: DbTarget) -> Any:
    """A temp project (migrations/, supabase/, tasks.py) whose DATABASE_URL is `db`."""
    from helpers.project import Project

    return Project.create(tmp_path / "app", db)
