"""One contract, every executing method: the same scenarios over psycopg2 and psql (and the
real Supabase CLI where its semantics apply), against the real server, like yoyo's backend
fixture over every database."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.executors import executors_in, migration_file
from helpers.project import REPO
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import SupamigrateError
from supamigrate.executors.base import Executor
from supamigrate.executors.results import Outcome, Result
from supamigrate.history.table import ADVISORY_LOCK_KEY, TABLE, record_sql
from supamigrate.project.files import MigrationFile
from supamigrate.sql.sqlsplit import split_statements, statements_text

EXECUTING = ["psycopg2", "psql"]
CLI = REPO / "node_modules" / ".bin" / "supabase"
NO_TX = "-- supamigrate:no-transaction\n"


@pytest.fixture(params=EXECUTING)
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_executor(tmp_path: Path, db: DbTarget) -> Iterator[Callable[..., Executor]]:
    with executors_in(tmp_path) as open_any:

        def open_(name: str, **limits: str) -> Executor:
            extra = {}
            if name == "supabase":
                (tmp_path / "supabase" / ".temp").mkdir(parents=True, exist_ok=True)
                ref = tmp_path / "supabase" / ".temp" / "project-ref"
                ref.write_text("abcdefghijklmnopqrst")
                extra["SUPABASE_CLI"] = str(CLI)
            return open_any(name, db, extra, **limits)

        yield open_


_file = migration_file


def _apply(executor: Executor, todo: list[MigrationFile], rerun: bool = False) -> list[Result]:
    seen: list[Result] = []
    results = executor.apply(todo, rerun=rerun, on_result=seen.append)
    assert results == seen  # every result is reported as it ends, in order
    return results


def _query(db: DbTarget, sql: str) -> list[tuple[Any, ...]]:
    with session(db) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


def _rows(db: DbTarget) -> list[tuple[Any, ...]]:
    if not _query(db, f"select to_regclass('{TABLE}') is not null")[0][0]:
        return []
    return _query(db, f"select version, name, statements from {TABLE} order by 1")


@pytest.mark.parametrize("name", [*EXECUTING, "supabase"])
def test_applies_in_order_and_stops_at_a_failure(
    name: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """In order with a CLI-split history row each; a failure is rolled back, the rest not run."""
    if name == "supabase" and not CLI.exists():
        pytest.skip("npm ci has not installed the Supabase CLI")
    good = "create table public.a (id int);\n-- two\ninsert into public.a values (1);\n"
    todo = [
        _file(tmp_path, "20250101000001", "a", good),
        _file(tmp_path, "20250101000002", "bad", "create table public.b (id int);\nselect 1/0;\n"),
        _file(tmp_path, "20250101000003", "c", "create table public.c (id int);\n"),
    ]
    results = _apply(open_executor(name), todo)
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.FAILED]
    assert _rows(db) == [("20250101000001", "a", statements_text(good))]
    tables = _query(db, "select to_regclass('public.b'), to_regclass('public.c')")
    assert tables == [(None, None)]


def test_failure_is_located_to_file_and_line(
    method: str, tmp_path: Path, open_executor: Callable[..., Executor]
) -> None:
    """The failing statement and its line in the file (where the server points, else the
    statement's first line), with SQLSTATE and message."""
    sql = "create table public.t (id int);\n\ninsert into public.t\n  values ('x');\n"
    (result,) = _apply(open_executor(method), [_file(tmp_path, "20250101000001", "t", sql)])
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.sqlstate == "22P02"
    assert result.failure.line in (3, 4)
    assert result.failure.statement.startswith("insert into public.t")


@pytest.mark.parametrize(
    "sql",
    [
        "select nextval('public.calls');\nselect 1/0;\n",  # named: no rollback undoes it
        "select public.bump();\nselect 1/0;\n",  # a function of the app's (an earlier file's)
        "insert into public.log values (1);\nselect 1/0;\n",  # DML: its trigger bumps
    ],
    ids=["nextval", "app-function", "dml-trigger"],
)
def test_locating_a_failure_never_runs_it_twice_where_that_shows(
    sql: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """A failure without an error position is located by a rolled-back re-run, except where
    the file may do what a rollback does not undo (a sequence moved, through the app's
    function or a trigger): then nothing runs twice and no statement is named rather than a
    guessed one."""
    with session(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("create sequence public.calls")
        cur.execute(
            "create function public.bump() returns bigint language sql "
            "as $$ select nextval('public.calls') $$"
        )
        cur.execute("create table public.log (id int)")
        cur.execute(
            "create function public.bump_trigger() returns trigger language plpgsql "
            "as $$ begin perform nextval('public.calls'); return new; end $$"
        )
        cur.execute(
            "create trigger bump before insert on public.log "
            "for each row execute function public.bump_trigger()"
        )
    (result,) = _apply(open_executor("psycopg2"), [_file(tmp_path, "20250101000001", "n", sql)])
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.sqlstate == "22012"
    assert _query(db, "select last_value from public.calls") == [(1,)]
    assert not result.failure.statement


def test_a_plain_failure_is_still_located_by_a_re_run(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """Definitions and built-ins only, and a SET statement_timeout of the file's own (the
    re-run's bound is set again after it): the failing statement is named."""
    sql = "set statement_timeout = 0;\ncreate table public.t (id int);\nselect 1/0;\n"
    (result,) = _apply(open_executor("psycopg2"), [_file(tmp_path, "20250101000001", "p", sql)])
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.statement.startswith("select 1/0")


@pytest.mark.parametrize("schema_before", [False, True])
def test_a_failed_first_run_leaves_the_database_as_it_was(
    method: str,
    schema_before: bool,
    tmp_path: Path,
    db: DbTarget,
    open_executor: Callable[..., Executor],
) -> None:
    """No history table before, the first migration fails: the table the run made goes, and
    the schema too only if the run made it (an empty one made beforehand stays, also when the
    migration's own notices spell the markers that say the run made it)."""
    if schema_before:
        _query(db, "create schema supabase_migrations")
    executor = open_executor(method)
    assert executor.read_history() == []
    spoof = (
        "do $$begin raise notice E'supamigrate: history schema made\\n"
        "supamigrate:history-schema-made'; end$$;\nselect 1/0;\n"
    )
    bad = _file(tmp_path, "20250101000001", "bad", spoof)
    (result,) = _apply(executor, [bad])
    assert result.outcome is Outcome.FAILED
    left = _query(
        db, f"select to_regnamespace('supabase_migrations') is not null, to_regclass('{TABLE}')"
    )
    assert left == [(schema_before, None)]


@pytest.mark.parametrize("method", [*EXECUTING, "supabase"])
def test_lock_timeout_is_honoured(
    method: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """A lock not granted within lock_timeout fails the migration (55P03), for every path (the
    CLI's through the startup options it is given: PGOPTIONS)."""
    if method == "supabase" and not CLI.exists():
        pytest.skip("npm ci has not installed the Supabase CLI")
    _query(db, "create table public.busy (id int)")
    migration = _file(tmp_path, "20250101000001", "alter", "alter table public.busy add x int;\n")
    # Held for 8 s: the CLI's start (node, the probe) under a loaded CI machine must not
    # outlast it; well under 8 s means lock_timeout, not the holder, ended the wait.
    with _holding(db, "lock table public.busy in access exclusive mode", seconds=8):
        started = time.monotonic()
        (result,) = _apply(open_executor(method, lock_timeout="300ms"), [migration])
        waited = time.monotonic() - started
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.sqlstate == "55P03" and waited < 6
    assert _rows(db) == []


@pytest.mark.parametrize("method", [*EXECUTING, "supabase"])
@pytest.mark.parametrize("marker", ["", NO_TX], ids=["transaction", "no-transaction"])
def test_statement_timeout_is_honoured(
    method: str, marker: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """statement_timeout cuts a long statement (57014) in both kinds of file, for every path."""
    if method == "supabase" and not CLI.exists():
        pytest.skip("npm ci has not installed the Supabase CLI")
    sql = f"{marker}select pg_sleep(5);\n"
    executor = open_executor(method, statement_timeout="300ms")
    (result,) = _apply(executor, [_file(tmp_path, "20250101000001", "slow", sql)])
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.sqlstate == "57014"
    assert _rows(db) == []


def test_notices_are_reported(
    method: str, tmp_path: Path, open_executor: Callable[..., Executor]
) -> None:
    """RAISE NOTICE output reaches the result, once, without the executor's own noise."""
    sql = "do $$ begin raise notice 'backfilled % rows', 42; end $$;\n"
    (result,) = _apply(open_executor(method), [_file(tmp_path, "20250101000001", "n", sql)])
    assert result.outcome is Outcome.OK
    assert [n for n in result.notices if "backfilled 42 rows" in n] and len(result.notices) == 1


def test_partial_lists_what_ran(
    method: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """A no-transaction file failing at its third statement: the two before it ran and stay."""
    sql = (
        f"{NO_TX}create table public.p1 (id int);\ncreate table public.p2 (id int);\nselect 1/0;\n"
    )
    (result,) = _apply(open_executor(method), [_file(tmp_path, "20250101000001", "p", sql)])
    assert result.outcome is Outcome.PARTIAL and result.failure is not None
    assert [s.splitlines()[-1] for s in result.failure.ran] == [
        "create table public.p1 (id int)",
        "create table public.p2 (id int)",
    ]
    assert result.failure.line == 4
    assert _query(db, "select to_regclass('public.p2') is not null") == [(True,)]
    assert _rows(db) == []


def test_every_migration_starts_from_a_clean_session(
    method: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """A role or search_path one migration sets does not reach the next one or its history row."""
    first = "create schema other;\nset search_path = other;\nset role anon;\nselect 1;\n"
    second = "create table made_here (id int);\n"
    todo = [
        _file(tmp_path, "20250101000001", "leaky", first),
        _file(tmp_path, "20250101000002", "clean", second),
    ]
    results = _apply(open_executor(method), todo)
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    owner = "select relnamespace::regnamespace::text, relowner::regrole::text from pg_class"
    found = _query(db, f"{owner} where relname = 'made_here'")
    assert found == [("public", db.user)]
    assert [row[0] for row in _rows(db)] == ["20250101000001", "20250101000002"]


@pytest.mark.parametrize(
    "sql",
    [
        f"{NO_TX}create table public.o (id int);\nbegin;\ninsert into public.o values (1);\n",
        f"{NO_TX}create table public.o (id int);\nset search_path = pg_catalog;\n",
        f"{NO_TX}create table public.o (id int);\nset role anon;\n",
        f"{NO_TX}create table public.o (id int);\ncreate temp table t (a int);\n",
        f"{NO_TX}create table public.o (id int);\nprepare p as select 1;\n",
        f"{NO_TX}create table public.o (id int);\nlisten somewhere;\n",
        f"{NO_TX}create table public.o (id int);\nselect pg_advisory_lock(42);\n",
        f"{NO_TX}create table public.o (id int);\n"
        "create function pg_temp.f() returns int language sql as 'select 1';\n",
    ],
    ids=[
        "transaction-open",
        "setting-changed",
        "role-changed",
        "temp-table",
        "prepared-statement",
        "listen",
        "advisory-lock",
        "temp-function",
    ],
)
def test_no_transaction_file_must_end_as_it_began(
    method: str, sql: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """Ending with a transaction open or session state changed is a failure, not "ok"."""
    (result,) = _apply(open_executor(method), [_file(tmp_path, "20250101000001", "o", sql)])
    assert result.outcome is Outcome.PARTIAL and result.failure is not None
    assert "the file left" in result.failure.message
    assert _rows(db) == []
    assert _query(db, "select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]


@pytest.mark.parametrize("same", [True, False], ids=["same-text", "other-text"])
@pytest.mark.parametrize("marker", ["", NO_TX], ids=["transaction", "no-transaction"])
def test_in_lock_recheck_skips_only_the_same_text(
    method: str,
    marker: str,
    same: bool,
    tmp_path: Path,
    db: DbTarget,
    open_executor: Callable[..., Executor],
) -> None:
    """Waiting for the runner lock while another runner records the version: skipped when it
    recorded this text; with another text the run stops (drift), and nothing of the file ran."""
    sql = f"{marker}create table public.once (id int);\n"
    migration = _file(tmp_path, "20250101000001", "once", sql)
    executor = open_executor(method)
    executor.read_history()  # the table exists before the other runner takes the lock
    _apply(executor, [_file(tmp_path, "20250101000000", "zero", "select 1;\n")])
    results: list[Result] = []
    texts = [s.text for s in split_statements(sql)] if same else ["create table public.x ()"]
    with session(db, autocommit=True) as other, other.cursor() as cur:
        cur.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        worker = threading.Thread(target=lambda: results.extend(_apply(executor, [migration])))
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive()  # waiting for the lock
        cur.execute(record_sql(migration.version, "once", texts, replace=False))
        cur.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        worker.join(timeout=30)
    assert [r.outcome for r in results] == [Outcome.SKIPPED if same else Outcome.FAILED]
    if not same:
        assert results[0].failure is not None
        assert "with a different text" in results[0].failure.message
    assert _query(db, "select to_regclass('public.once')") == [(None,)]
    assert _query(db, "select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]


def test_a_killed_runner_leaves_nothing(method: str, project: Any) -> None:
    """SIGKILL during a migration: no table, no history row; the next run applies it."""
    project.write("001_slow.sql", "create table public.k (id int);\nselect pg_sleep(20);\n")
    runner = project.popen("migrate", "--skip-confirm", "--method", method)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _sleeping(project.target):
        time.sleep(0.1)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=10)
    for _ in range(50):  # the server notices the vanished client (liveness check) and rolls back
        if not _sleeping(project.target):
            break
        time.sleep(0.2)
    assert not _sleeping(project.target)  # nothing goes on running the file for a dead runner
    assert _query(project.target, "select to_regclass('public.k')") == [(None,)]
    assert _rows(project.target) == []
    project.write("001_slow.sql", "create table public.k (id int);\n")
    assert project.invoke("migrate", "--skip-confirm", "--method", method).returncode == 0


def _sleeping(db: DbTarget) -> bool:
    sql = "select count(*) from pg_stat_activity where query like '%pg_sleep(20)%' and pid <> pg_backend_pid()"
    return bool(_query(db, sql)[0][0])


class _holding:
    """Hold `sql`'s locks in an open transaction of another connection for a while."""

    def __init__(self, db: DbTarget, sql: str, *, seconds: float) -> None:
        self.db, self.sql, self.seconds = db, sql, seconds
        self.ready, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with session(self.db) as conn, conn.cursor() as cur:
            cur.execute(self.sql)
            self.ready.set()
            self.done.wait(self.seconds)  # at most that long; the test's end lets go at once
            conn.rollback()

    def __enter__(self) -> _holding:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=self.seconds + 5)


def test_a_rehearsal_cannot_commit_even_if_a_commit_slips_through(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """Files that try to escape the rehearsal's transaction (the pre-flight refuses them; here
    they reach the executor directly): nothing they did is kept, history included."""
    from helpers.catalog import snapshot

    with session(db) as conn, conn.cursor() as cur:
        before = snapshot(cur)
    escapes = [
        "create table public.e1 (id int);\ncommit;\ncreate table public.e2 (id int);\n",
        "create table public.e3 (id int);\nrollback;\ncreate table public.e4 (id int);\n",
        "create table public.e5 (id int);\nend;\ninsert into public.e5 values (1);\n",
    ]
    for index, sql in enumerate(escapes):
        migration = _file(tmp_path, f"2025010100000{index}", "escape", sql)
        with contextlib.suppress(SupamigrateError):  # stopping with an error is fine
            open_executor("psycopg2").rehearse([migration])
    with session(db) as conn, conn.cursor() as cur:
        assert snapshot(cur) == before
        cur.execute("select count(*) from pg_class where relname in ('e1', 'e2', 'e3', 'e4', 'e5')")
        assert cur.fetchone() == (0,)


# --- many migrations in one call: a failure, a skip, notices and errors where they belong ----
# Eight files: psycopg2 sends them as messages of 1, 2, 4 and 1 migrations, so file 5 is in
# the middle of a message; psql runs them one by one. Both must behave the same.


def _eight(tmp_path: Path, special: dict[int, str]) -> list[MigrationFile]:
    """Eight migrations creating public.m1..m8, with `special` replacing some files' text."""
    return [
        _file(tmp_path, f"2025010100000{i}", f"m{i}", special.get(i, f"create table m{i} ();\n"))
        for i in range(1, 9)
    ]


def _tables(db: DbTarget) -> list[str]:
    found = _query(db, "select relname from pg_class where relname ~ '^m[0-9]$' order by 1")
    return [row[0] for row in found]


@pytest.mark.parametrize(
    "bad",
    [
        "create table m5 ();\n\ninsert into m5\n  select 'x'::int;\n",  # the server's position
        "create table m5 ();\ncreate table m5_b (id int);\nselect 1/0;\n",  # no position: re-run
        "create table m5 ();\n\nselect from where;\n",  # a syntax error: nothing of it parses
    ],
    ids=["runtime-error", "no-position", "syntax-error"],
)
def test_a_failure_amid_many_stops_there(
    method: str, bad: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """File 5 of 8 fails: 1-4 committed with their rows, 5 rolled back, 6-8 not run, and
    the error is located in file 5 at its line."""
    results = _apply(open_executor(method), _eight(tmp_path, {5: bad}))
    assert [r.outcome for r in results] == [Outcome.OK] * 4 + [Outcome.FAILED]
    failure = results[-1].failure
    assert failure is not None and results[-1].migration.name == "m5"
    assert failure.line in (3, 4) and failure.statement.startswith(("insert", "select"))
    assert _tables(db) == ["m1", "m2", "m3", "m4"]
    assert [row[0][-1] for row in _rows(db)] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("same", [True, False], ids=["same-text", "other-text"])
def test_a_skip_amid_many_goes_on_after_it(
    method: str,
    same: bool,
    tmp_path: Path,
    db: DbTarget,
    open_executor: Callable[..., Executor],
) -> None:
    """Another runner records file 5 while this one waits for the lock: with 5's text, 5 is
    skipped and never run, 1-4 and 6-8 are applied, each with its own row; with another text
    the run stops at 5 (drift) after 1-4."""
    todo = _eight(tmp_path, {})
    executor = open_executor(method)
    executor.read_history()
    _apply(executor, [_file(tmp_path, "20250101000000", "zero", "select 1;\n")])
    results: list[Result] = []
    with session(db, autocommit=True) as other, other.cursor() as cur:
        cur.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        worker = threading.Thread(target=lambda: results.extend(_apply(executor, todo)))
        worker.start()
        time.sleep(1.0)
        texts = [s.text for s in split_statements(todo[4].sql)] if same else ["select 5"]
        cur.execute(record_sql(todo[4].version, "m5", texts, replace=False))
        cur.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        worker.join(timeout=60)
    if same:
        assert [r.outcome for r in results] == [Outcome.OK] * 4 + [Outcome.SKIPPED] + [
            Outcome.OK
        ] * 3
        assert _tables(db) == ["m1", "m2", "m3", "m4", "m6", "m7", "m8"]
        assert len(_rows(db)) == 9
    else:
        assert [r.outcome for r in results] == [Outcome.OK] * 4 + [Outcome.FAILED]
        assert _tables(db) == ["m1", "m2", "m3", "m4"]
        assert len(_rows(db)) == 6


def test_notices_amid_many_belong_to_their_own_file(
    method: str, tmp_path: Path, open_executor: Callable[..., Executor]
) -> None:
    """Each file's notices reach its own result (also the failing one's), none another's."""

    def say(i: int) -> str:
        return f"do $$ begin raise notice 'from file %', {i}; end $$;\n"

    special = {i: f"create table m{i} ();\n{say(i)}" for i in (2, 3, 5, 6)}
    special[7] = f"{say(7)}select 1/0;\n"
    results = _apply(open_executor(method), _eight(tmp_path, special))
    assert [r.outcome for r in results] == [Outcome.OK] * 6 + [Outcome.FAILED]
    for number, result in enumerate(results, 1):
        expected = [f"from file {number}"] if number in (2, 3, 5, 6, 7) else []
        assert [n.split("NOTICE:")[-1].strip() for n in result.notices] == expected


def test_a_file_that_could_swallow_the_next_one_runs_alone(
    method: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """An unterminated dollar quote in file 5 fails file 5 only; it never reaches into the
    text sent after it, and 1-4 stay applied."""
    results = _apply(open_executor(method), _eight(tmp_path, {5: "select $x$ unterminated;\n"}))
    assert [r.outcome for r in results] == [Outcome.OK] * 4 + [Outcome.FAILED]
    assert results[-1].failure is not None and results[-1].failure.sqlstate == "42601"
    assert _tables(db) == ["m1", "m2", "m3", "m4"]


def test_temp_objects_do_not_reach_the_next_migration(
    method: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """A temp table one migration makes cannot shadow a real table for the next one."""
    todo = [
        _file(
            tmp_path,
            "20250101000001",
            "a",
            "create table public.t (a int);\ncreate temp table t (a int);\n",
        ),
        _file(tmp_path, "20250101000002", "b", "insert into t values (42);\n"),
    ]
    assert [r.outcome for r in _apply(open_executor(method), todo)] == [Outcome.OK, Outcome.OK]
    assert _query(db, "select a from public.t") == [(42,)]


def test_a_sequence_used_in_one_migration_is_not_current_in_the_next(
    method: str, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """lastval() after the previous file's nextval fails as it would run alone (a re-run, a
    transaction pooler's other server connection): one session must not make it work."""
    todo = [
        _file(
            tmp_path,
            "20250101000001",
            "a",
            "create sequence public.tickets;\nselect nextval('public.tickets');\n",
        ),
        _file(tmp_path, "20250101000002", "b", "create table public.q as select lastval() v;\n"),
    ]
    results = _apply(open_executor(method), todo)
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.FAILED]
    assert results[1].failure is not None and results[1].failure.sqlstate == "55000"


def test_a_transactional_migration_leaves_nothing_in_the_session(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """What a file makes at session level (an advisory lock, LISTEN, a WITH HOLD cursor, a
    prepared statement, a temp table) is gone once it committed, while the runner's session
    lives on (through a transaction pooler the app gets that server connection next)."""
    sql = (
        "create table public.s (id int);\nselect pg_advisory_lock(4242);\nlisten leftover;\n"
        "declare held cursor with hold for select 1;\nprepare leftover as select 1;\n"
        "create temp table leftover (a int);\nset search_path = pg_catalog;\n"
    )
    executor = open_executor("psycopg2")
    (result,) = _apply(executor, [_file(tmp_path, "20250101000001", "s", sql)])
    assert result.outcome is Outcome.OK
    # the runner's connection is still open: nothing of the file may be held by it
    assert _query(db, "select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]
    own = executor._connection  # type: ignore[attr-defined]
    with own.cursor() as cur:
        cur.execute(
            "select (select count(*) from pg_listening_channels()), "
            "(select count(*) from pg_cursors), (select count(*) from pg_prepared_statements), "
            "pg_my_temp_schema() = 0 or not exists (select 1 from pg_class where "
            "relnamespace = pg_my_temp_schema()), current_setting('search_path')"
        )
        assert cur.fetchone() == (0, 0, 0, True, '"$user", public')
