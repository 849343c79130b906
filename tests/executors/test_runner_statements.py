"""The runner's own statements after a file (the tenant boundary guard, the history row) run
the same whatever the file set last (promises 1 and 3): a file ending with `SET LOCAL
statement_timeout = '1ms'`, a weak role, an evil search_path, a temp table shadowing the
catalog, hidden messages, ... must not fail, misroute or skip them, by any method, and the
rehearsal predicts the same.

Generated trailing statements after a file making a tenant table on a database with 001-005
applied: psycopg2 and psql apply it on copies, the rehearsal runs it on a third; all three
verdicts are equal; where the file's own statements can run, the migration is ok, recorded
with its text, and the table carries the four restrictive boundary policies, as the guard's
notice says. Fixed seed and few examples by default; SUPAMIGRATE_LONG=1 runs many more.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executors.test_rehearsal_boundary import (
    _executor,
    bounded,  # noqa: F401 (a fixture)
)
from executors.test_rehearsal_differential import _files
from helpers.executors import executors_in
from supamigrate.connect.db import session
from supamigrate.executors.boundary_guard import NOTICE_PREFIX
from supamigrate.executors.results import Outcome, Result
from supamigrate.sql.sqlsplit import statements_text

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
_names = itertools.count(1)
MAKE = (
    "create table public.projects (id uuid primary key default gen_random_uuid(), "
    "name text, tenant_id uuid);\n"
    "comment on table public.projects is 'a\\b';\n"
)
_SHADOW = (
    "create temp table {name} as select 'public.projects'::regclass::oid as polrelid, "
    "('tenant boundary: ' || c)::name as polname, false as polpermissive, "
    "'public.projects'::regclass::oid as attrelid "
    "from unnest(array['select', 'insert', 'update', 'delete']) c;"
)
# Statements a file may end with; those that change a setting the runner's statements use.
SETTINGS = [
    "set local role anon;",
    "set local role authenticated;",
    "set local search_path = nowhere;",
    "set local search_path = pg_temp, public;",
    _SHADOW.format(name="pg_policy"),
    _SHADOW.format(name="pg_temp.pg_class"),
    "create temp table text (x int);",
    "set local client_min_messages = error;",
    "set local row_security = off;",
    "set local standard_conforming_strings = off;",
    "set local plpgsql.extra_errors = 'all';",
    "set local default_transaction_read_only = on;",
    "set constraints all immediate;",
    "set constraints all deferred;",
    "set local application_name = 'x';",
]
# Last, or they would cut the file's own statements that follow them.
TIMEOUTS = [
    "set local statement_timeout = '1ms';",
    "select set_config('statement_timeout', '1ms', true);",
    "set local lock_timeout = '1ms';",
]
# What no file may do, here as in the real run: the same failure by every path.
REFUSED = {
    "set local session_replication_role = replica;": "42501",  # superuser only
    "set transaction read only;": "25006",
}
TRAILING = st.tuples(
    st.lists(st.sampled_from([*SETTINGS, *REFUSED]), max_size=3, unique=True),
    st.lists(st.sampled_from(TIMEOUTS), max_size=1),
).map(lambda parts: parts[0] + parts[1])


def _verdict(result: Result) -> tuple[str, str]:
    failure = result.failure
    return (result.outcome.value, failure.sqlstate if failure else "")


def _copy(admin: Any, template: str) -> str:
    name = f"{template}_{next(_names)}"
    with session(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template {template} owner postgres")
    return name


def _bounded_and_recorded(target: Any, text: str) -> tuple[int, list[str] | None]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_policy where polrelid = to_regclass('public.projects') "
            "and not polpermissive and polroles = '{0}' and polname like 'tenant boundary: %'"
        )
        (policies,) = cur.fetchone() or (0,)
        cur.execute(
            "select statements from supabase_migrations.schema_migrations "
            "where version = '20250101000001'"
        )
        row = cur.fetchone()
    return int(policies), (list(row[0]) if row else None)


@settings(
    max_examples=150 if LONG else 7,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(trailing=TRAILING)
def test_the_runners_own_statements_run_the_same_whatever_the_file_set(
    pg_server: Any,
    bounded: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
    trailing: list[str],
) -> None:
    text = MAKE + "\n".join(trailing) + "\n"
    refused = {REFUSED[s] for s in trailing if s in REFUSED}
    copies = [_copy(pg_server.admin, bounded) for _ in range(3)]
    root = tmp_path / copies[0]
    try:
        todo = _files(root, [text])
        rehearsing = _executor(pg_server.user.with_database(copies[0]), root, todo)
        try:
            rehearsed = rehearsing.rehearse(todo)
        finally:
            rehearsing.close()
        verdicts = {"rehearsal": _verdict(rehearsed[0])}
        shadow = next((i for i, s in enumerate(trailing) if "create temp table" in s), None)
        first_refused = next((i for i, s in enumerate(trailing) if s in REFUSED), len(trailing))
        if shadow is not None and shadow < first_refused:
            # named like the catalog's: the rehearsal's own queries would read it; it says so
            assert rehearsed[0].outcome is Outcome.NOT_REHEARSED, (rehearsed[0], text)
            assert "named like the catalog's" in (rehearsed[0].trace.stopped or ""), text
            verdicts.pop("rehearsal")
        for method, copy in zip(("psycopg2", "psql"), copies[1:], strict=True):
            target = pg_server.user.with_database(copy)
            with executors_in(root) as open_:
                executor = open_(method, target, {})
                executor.guard_from = ""  # 005 is in history: every migration is guarded
                (real,) = executor.apply(todo, rerun=False, on_result=lambda _: None)
            verdicts[method] = _verdict(real)
            policies, recorded = _bounded_and_recorded(target, text)
            if refused:
                assert real.outcome is Outcome.FAILED, (method, text)
                assert real.failure and real.failure.sqlstate in refused, (method, text)
                assert recorded is None, (method, text)
                continue
            assert real.outcome is Outcome.OK, (method, real.failure, text)
            assert recorded == statements_text(text), (method, text)
            assert policies == 4, (method, policies, text)
            assert any(NOTICE_PREFIX in n for n in real.notices), (method, real.notices, text)
        assert len(set(verdicts.values())) == 1, (verdicts, text)
        if "rehearsal" in verdicts and not refused:
            assert any(NOTICE_PREFIX in n for n in rehearsed[0].notices), text
    finally:
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            for copy in copies:
                cur.execute(f"drop database if exists {copy} with (force)")


def test_a_no_transaction_file_setting_a_timeout_still_records_itself(
    pg_server: Any, tmp_path: Path
) -> None:
    """A no-transaction file's session-level `SET statement_timeout` is the envelope's own
    setting (the state check leaves it out): the state check and the history row ran under
    it, and failed after the file's statements had committed."""
    name = f"ntx_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template supamigrate_template owner postgres")
    try:
        target = pg_server.user.with_database(name)
        text = (
            "-- supamigrate:no-transaction\ncreate table public.t (id int);\n"
            "set lock_timeout = '1ms';\nset statement_timeout = '1ms';\n"
        )
        for method in ("psycopg2", "psql"):
            root = tmp_path / method
            todo = _files(root, [text])
            with executors_in(root) as open_:
                (real,) = open_(method, target, {}).apply(
                    todo, rerun=method == "psql", on_result=lambda _: None
                )
            assert real.outcome is Outcome.OK, (method, real.failure)
            _, recorded = _bounded_and_recorded(target, text)
            assert recorded == statements_text(text), method
            with session(target) as conn, conn.cursor() as cur:
                cur.execute("drop table public.t")
                conn.commit()
    finally:
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
