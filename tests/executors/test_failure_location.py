"""A failure without an error position (a constraint violated by a row) is named with its
statement and line by psycopg2 as psql names it, whether the table is the file's own or an
earlier one's; and where a re-run could repeat what a rollback does not undo, nothing runs
twice."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.executors import executors_in, migration_file
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.executors.results import Outcome

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
TABLES = (
    "create table public.parent (id int primary key);\n"
    "create table public.kid (id int primary key, parent int references public.parent (id), "
    "n int not null default 0 check (n >= 0));\n"
)
# A failing statement: its SQLSTATE, and what the server says without pointing into the text.
BREAKS = {
    "23505": "insert into public.kid (id) values (1), (1);",
    "23502": "insert into public.kid (id, n) values (2, null);",
    "23514": "insert into public.kid (id, n) values (4, -1);",
    "23503": "insert into public.kid (id, parent) values (3, 42);",
}
FINE = st.sampled_from(
    [
        "insert into public.parent values (7) on conflict do nothing;",
        "create index on public.kid (n);",
        "insert into public.kid (id) values (100) on conflict do nothing;",
        "comment on table public.kid is 'kids';",
        "select 1;",
    ]
)


@settings(
    max_examples=200 if LONG else 8,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    own_tables=st.booleans(),
    sqlstate=st.sampled_from(sorted(BREAKS)),
    before=st.lists(FINE, max_size=3),
    after=st.lists(FINE, max_size=2),
    blank_lines=st.integers(0, 2),
)
def test_psycopg2_names_the_failing_statement_as_psql_does(
    tmp_path_factory: Any,
    make_db: Callable[[], DbTarget],
    own_tables: bool,
    sqlstate: str,
    before: list[str],
    after: list[str],
    blank_lines: int,
) -> None:
    lines = [*before, *[""] * blank_lines, BREAKS[sqlstate], *after]
    sql = (TABLES if own_tables else "") + "\n".join(lines) + "\n"
    expected_line = sql.splitlines().index(BREAKS[sqlstate]) + 1
    named = {}
    for method in ("psql", "psycopg2"):
        db = make_db()
        if not own_tables:
            with session(db, autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(TABLES)
        root = tmp_path_factory.mktemp(method)
        with executors_in(root) as open_any:
            executor = open_any(method, db, {})
            todo = [migration_file(root, "20250101000001", "rows", sql)]
            (result,) = executor.apply(todo, rerun=False, on_result=lambda _: None)
        assert result.outcome is Outcome.FAILED and result.failure is not None
        assert result.failure.sqlstate == sqlstate, result.failure
        named[method] = (result.failure.line, result.failure.statement.strip())
        with session(db) as conn, conn.cursor() as cur:  # the file left nothing behind
            cur.execute("select to_regclass('public.kid') is not null")
            assert cur.fetchone() == (not own_tables,)
    assert named["psycopg2"] == named["psql"] == (expected_line, BREAKS[sqlstate][:-1]), named


def test_a_trigger_the_file_makes_never_runs_twice(tmp_path: Path, db: DbTarget) -> None:
    """The file puts a trigger calling the app's function (it moves a sequence) on a table
    with none, then writes there and fails: the server sees no trigger before the file ran,
    so only the file tells; the file is not re-run and no statement is guessed."""
    with session(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "create sequence public.calls;"
            "create table public.log (id int primary key);"
            "insert into public.log values (1);"
            "create function public.bump() returns trigger language plpgsql "
            "as $$ begin perform nextval('public.calls'); return new; end $$"
        )
    sql = (
        "create trigger bump before insert on public.log "
        "for each row execute function public.bump();\n"
        "insert into public.log values (1);\n"
    )
    with executors_in(tmp_path) as open_any:
        executor = open_any("psycopg2", db, {})
        todo = [migration_file(tmp_path, "20250101000001", "t", sql)]
        (result,) = executor.apply(todo, rerun=False, on_result=lambda _: None)
    assert result.failure is not None and result.failure.sqlstate == "23505"
    assert not result.failure.statement
    with session(db) as conn, conn.cursor() as cur:
        cur.execute("select last_value, is_called from public.calls")
        assert cur.fetchone() == (1, True)  # the first run's one call, not a second
