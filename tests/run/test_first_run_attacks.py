"""A fresh database's first migration makes the history table in its own transaction: the
ways that can go wrong, against the real server (event triggers, other runners, signals,
kills, cancels, a server that cannot parse the file)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.executors import executors_in, migration_file
from helpers.polling import query, wait_for
from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.executors.base import Executor, Settings
from supamigrate.executors.registry import REGISTRY
from supamigrate.executors.results import Outcome, Result
from supamigrate.history.table import ADVISORY_LOCK_KEY, SCHEMA, TABLE
from supamigrate.project.files import MigrationFile

FRESH = (
    f"select to_regnamespace('supabase_migrations') is not null, to_regclass('{TABLE}') is not null"
)


@pytest.fixture
def open_executor(tmp_path: Path, db: DbTarget) -> Iterator[Callable[..., Executor]]:
    with executors_in(tmp_path) as open_any:

        def open_(target: DbTarget = db, **limits: str) -> Executor:
            return open_any("psycopg2", target, {}, **limits)

        yield open_


_file = migration_file


def _apply(executor: Executor, todo: list[MigrationFile]) -> list[Result]:
    assert executor.read_history() == []
    return executor.apply(todo, rerun=False, on_result=lambda r: None)


def _admin(pg_server: Any, db: DbTarget) -> DbTarget:
    return pg_server.admin.with_database(db.database)


def _waiting_for_lock(target: DbTarget) -> str:
    return (
        "select 1 from pg_locks where locktype = 'advisory' and not granted "
        f"and objid = {ADVISORY_LOCK_KEY & 0xFFFFFFFF}"
    )


# --- notices: the runner's DDL is the runner's -----------------------------------------------


def test_an_event_trigger_warning_on_the_runners_ddl_is_not_the_migrations(
    tmp_path: Path, db: DbTarget, pg_server: Any, open_executor: Callable[..., Executor]
) -> None:
    """An event trigger warning on every DDL command (projects add such triggers; Supabase has
    its own on ddl_command_end): the history table's CREATEs are the runner's, so their
    warnings are not shown as the first migration's notices; the migration's own DDL's are."""
    with session(_admin(pg_server, db), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "create function public.warn_ddl() returns event_trigger language plpgsql as "
            "$$begin raise warning 'ddl seen: %', tg_tag; end$$"
        )
        cur.execute(
            "create event trigger warn_ddl on ddl_command_end execute function public.warn_ddl()"
        )
    first = _file(tmp_path, "20250101000001", "plain", "select 1;\n")
    second = _file(tmp_path, "20250101000002", "ddl", "create table public.t (id int);\n")
    results = _apply(open_executor(), [first, second])
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    assert not results[0].notices, results[0].notices
    assert any("ddl seen: CREATE TABLE" in n for n in results[1].notices), results[1].notices


# --- where the failing statement is: not moved by another runner's first migration -----------


def test_a_located_failure_is_not_moved_by_another_runners_first_migration(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """Two runners on a fresh database, the first migration fails without an error position
    (so the runner re-runs it, rolled back, to find the statement). While runner A re-runs
    it, runner B's first migration holds the history schema it is making: A must still name
    the statement that failed, not the first one of the file."""
    sql = "select pg_sleep(1);\nselect 1/0;\n"
    a = open_executor(lock_timeout="200ms")
    b = open_executor(lock_timeout="200ms")
    assert a.read_history() == [] and b.read_history() == []
    got: dict[str, list[Result]] = {}

    def run(name: str, executor: Executor) -> None:
        todo = [_file(tmp_path, "20250101000001", "bad", sql)]
        got[name] = executor.apply(todo, rerun=False, on_result=lambda r: None)

    first = threading.Thread(target=run, args=("a", a))
    first.start()
    wait_for(
        db,
        "select 1 from pg_stat_activity where query like '%pg_sleep(1)%' "
        "and state = 'active' and pid <> pg_backend_pid()",
    )
    second = threading.Thread(target=run, args=("b", b))
    second.start()
    wait_for(db, _waiting_for_lock(db))
    first.join(20)
    second.join(20)
    for name in ("a", "b"):
        (result,) = got[name]
        assert result.outcome is Outcome.FAILED and result.failure is not None
        assert result.failure.sqlstate == "22012", (name, result.failure)
        assert result.failure.statement.startswith("select 1/0"), (name, result.failure)
    assert query(db, FRESH) == [(False, False)]


# --- signals, cancels and kills while the first migration waits or runs -----------------------


class _LockHeld:
    """Another session holds the runners' lock (another runner mid-migration)."""

    def __init__(self, target: DbTarget) -> None:
        self.target = target

    def __enter__(self) -> _LockHeld:
        self.held = session(self.target, autocommit=True)
        self.conn = self.held.__enter__()
        with self.conn.cursor() as cur:
            cur.execute(f"select pg_advisory_lock({ADVISORY_LOCK_KEY})")
        return self

    def __exit__(self, *exc: object) -> None:
        self.held.__exit__(None, None, None)


def test_sigterm_while_the_first_migration_waits_for_the_lock(project: Project) -> None:
    """SIGTERM while a first run waits for another runner's lock: the run stops as a signal
    stops it (exit 143, the signal named), nothing applied, no history schema left."""
    project.write("001_a.sql", "create table public.a (id int);\n")
    with _LockHeld(project.target):
        runner = project.popen("migrate", "--skip-confirm")
        wait_for(project.target, _waiting_for_lock(project.target))
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=30)
    assert runner.returncode == 143, (out, err)
    assert "SIGTERM" in out + err and "Cannot create the history table" not in out + err
    assert query(project.target, "select to_regclass('public.a')") == [(None,)]
    assert query(project.target, FRESH) == [(False, False)]


def test_a_cancel_while_the_first_migration_waits_for_the_lock_is_not_ignored(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """pg_cancel_backend on a first run waiting for the lock (someone stopping it from the
    dashboard): the migration fails as any cancelled one does; it is not sent again."""
    executor = open_executor()
    assert executor.read_history() == []
    got: list[Result] = []
    todo = [_file(tmp_path, "20250101000001", "a", "create table public.a (id int);\n")]
    with _LockHeld(db):
        thread = threading.Thread(
            target=lambda: got.extend(executor.apply(todo, rerun=False, on_result=lambda r: None))
        )
        thread.start()
        wait_for(db, _waiting_for_lock(db))
        query(
            db,
            "select pg_cancel_backend(pid) from pg_locks where locktype = 'advisory' "
            "and not granted",
        )
        time.sleep(0.5)  # (the lock is let go after: a run that went on would apply it then)
    thread.join(20)
    assert [r.outcome for r in got] == [Outcome.FAILED], got
    assert query(db, "select to_regclass('public.a')") == [(None,)]
    assert query(db, FRESH) == [(False, False)]


def test_a_runner_killed_in_its_first_migration_leaves_no_history_schema(
    project: Project,
) -> None:
    """SIGKILL while the first migration runs: no table of it, and no history table or schema
    either (the run made them in that migration's transaction, which the server rolls back)."""
    project.write("001_slow.sql", "create table public.k (id int);\nselect pg_sleep(30);\n")
    runner = project.popen("migrate", "--skip-confirm")
    active = (
        "select 1 from pg_stat_activity where query like '%pg_sleep(30)%' "
        "and state = 'active' and pid <> pg_backend_pid()"
    )
    wait_for(project.target, active)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=10)
    wait_for(project.target, f"select 1 where not exists ({active})")
    assert query(project.target, "select to_regclass('public.k')") == [(None,)]
    assert query(project.target, FRESH) == [(False, False)]


def test_eight_runners_on_a_fresh_database(project: Project) -> None:
    """Eight runners at once where no history table exists: each makes it in its first
    migration's transaction, under the one lock; every migration is applied once, all exit 0."""
    project.write("001_log.sql", "create table public.log (n int primary key);\n")
    for n in range(2, 6):
        project.write(f"00{n}_step.sql", f"insert into public.log values ({n});\n")
    runners = [project.popen("migrate", "--skip-confirm") for _ in range(8)]
    outputs = [runner.communicate(timeout=120) for runner in runners]
    assert [r.returncode for r in runners] == [0] * 8, outputs
    assert query(project.target, "select n from public.log order by n") == [
        (n,) for n in range(2, 6)
    ]
    history = query(project.target, f"select count(*) from {TABLE}")
    assert history == [(5,)]
    combined = "".join(out for out, _ in outputs)
    assert combined.count("001_log ... ok (") == 1, combined


# --- a first migration the server cannot parse (the plain way, then the file again) -----------


@pytest.mark.parametrize("schema_before", [False, True])
def test_a_first_migration_the_server_cannot_parse(
    schema_before: bool, tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """Nothing of the message runs, so the table is made the plain way and the file sent
    again; it fails, is located, and the run leaves the database as it was (a schema made
    beforehand stays). The next file still applies after it (--continue-on-error's path)."""
    if schema_before:
        query(db, "create schema supabase_migrations")
    bad = _file(tmp_path, "20250101000001", "bad", "select 1;\nselect from where;\n")
    (result,) = _apply(open_executor(), [bad])
    assert result.outcome is Outcome.FAILED and result.failure is not None
    assert result.failure.sqlstate == "42601" and result.failure.line == 2, result.failure
    assert not result.notices
    assert query(db, FRESH) == [(schema_before, False)]
    fine = _file(tmp_path, "20250101000002", "fine", "create table public.f (id int);\n")
    executor = open_executor()
    assert executor.read_history() == []
    results = executor.apply([bad, fine], rerun=False, on_result=lambda r: None)
    assert [r.outcome for r in results][:1] == [Outcome.FAILED]


# --- a file that reads the runner's message (current_query()) and spells its notices ----------

# The file finds the runner's per-run nonce in its own message and raises the next migration's
# start marker with it, then fails: were it believed, this file would be reported committed.
FORGE_NEXT_MARKER = (
    "do $$declare n text := substring(current_query() from "
    "'supamigrate: start [0-9]+ ([0-9a-f]{32}) at');\n"
    "begin\n"
    "  raise notice 'supamigrate: start 20250101000004 % at %', n, "
    "extract(epoch from clock_timestamp());\n"
    "  raise notice 'supamigrate: history table ready %', n;\n"
    "end$$;\n"
    "select 1/0;\n"
)


def test_a_file_reading_the_nonce_cannot_forge_a_marker(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """Migrations 1 and 2 fine (the table is made), then 3 and 4 share a message: 3 reads the
    nonce from current_query() and raises 4's start marker, then fails. 3 is not reported
    applied (it was rolled back) and 4 did not run."""
    todo = [
        _file(tmp_path, "20250101000001", "a", "select 1;\n"),
        _file(tmp_path, "20250101000002", "b", "select 2;\n"),
        _file(tmp_path, "20250101000003", "forger", FORGE_NEXT_MARKER),
        _file(tmp_path, "20250101000004", "d", "create table public.d (id int);\n"),
    ]
    results = _apply(open_executor(), todo)
    outcomes = {r.migration.name: r.outcome for r in results}
    recorded = query(db, f"select version from {TABLE} order by 1")
    assert recorded == [("20250101000001",), ("20250101000002",)]
    assert outcomes.get("forger") is Outcome.FAILED, outcomes
    assert "d" not in outcomes or outcomes["d"] is not Outcome.OK, outcomes


def test_a_file_spelling_the_table_ready_notice_shows_it_as_its_own(
    tmp_path: Path, open_executor: Callable[..., Executor]
) -> None:
    """A first migration raising the table's notice with the real nonce (read from
    current_query()) changes nothing: it is the migration's notice, shown as such."""
    forge = (
        "do $$begin raise notice 'mine before'; end$$;\n"
        "do $$begin raise notice 'supamigrate: history table ready %', substring(current_query()"
        " from 'history table ready ([0-9a-f]{32})'); end$$;\nselect 1;\n"
    )
    (result,) = _apply(open_executor(), [_file(tmp_path, "20250101000001", "f", forge)])
    assert result.outcome is Outcome.OK
    assert len(result.notices) == 2, result.notices  # its own two, the forged one included
    assert "mine before" in result.notices[0] and "history table ready" in result.notices[1]


# --- a first run that cannot make the table: one clear line, nothing changed ------------------


def _other_owner(project: Project, pg_server: Any) -> None:
    """supabase_migrations made beforehand by another role; the migrator may look into it but
    not create in it."""
    role = f"owner_{project.target.database}"
    with session(_admin(pg_server, project.target), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role}")
        cur.execute(f"create schema supabase_migrations authorization {role}")
        cur.execute(f"grant usage on schema supabase_migrations to {project.target.user}")


def _event_trigger_refusing_schemas(project: Project, pg_server: Any) -> None:
    """An event trigger refusing new schemas (a platform's guard)."""
    with session(_admin(pg_server, project.target), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "create function public.no_schemas() returns event_trigger language plpgsql as "
            "$$begin raise exception 'new schemas are not allowed here'; end$$"
        )
        cur.execute(
            "create event trigger no_schemas on ddl_command_start when tag in ('CREATE SCHEMA') "
            "execute function public.no_schemas()"
        )


@pytest.mark.parametrize(
    ("prepare", "why"),
    [
        (_other_owner, "permission denied for schema supabase_migrations"),
        (_event_trigger_refusing_schemas, "new schemas are not allowed here"),
    ],
    ids=["schema of another role", "event trigger refusing schemas"],
)
def test_a_first_run_that_cannot_make_the_table(
    prepare: Callable[[Project, Any], None], why: str, project: Project, pg_server: Any
) -> None:
    prepare(project, pg_server)
    admin = _admin(pg_server, project.target)  # (the migrator may not look into the schema)
    before = query(admin, FRESH)
    project.write("001_a.sql", "create table public.a (id int);\n")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Cannot create the history table" in lines[0], result.stderr
    assert why in lines[0], lines
    assert query(project.target, "select to_regclass('public.a')") == [(None,)]
    assert query(admin, FRESH) == before


# --- many migrations: messages of up to 256 files and 1 MiB ---------------------------------


def test_many_migrations_over_a_mebibyte_all_apply_once(project: Project) -> None:
    """300 files of ~4 KB each on a fresh database (more than one message's 256 files and
    1 MiB): every one applied, recorded and reported once, in order."""
    pad = "-- " + "x" * 4000 + "\n"
    project.write("001_log.sql", "create table public.log (n int primary key);\n")
    for n in range(2, 301):
        project.write(f"{n:03d}_s.sql", f"{pad}insert into public.log values ({n});\n")
    result = project.invoke("migrate", "--skip-confirm", "--json")
    assert result.returncode == 0, result.stderr
    import json

    results = json.loads(result.stdout)["results"]
    assert [r["result"] for r in results] == ["ok"] * 300
    assert query(project.target, "select count(*), min(n), max(n) from public.log") == [
        (299, 2, 300)
    ]
    assert query(project.target, f"select count(*) from {TABLE}") == [(300,)]


def test_the_backend_terminated_in_the_first_migration(project: Project, pg_server: Any) -> None:
    """pg_terminate_backend while the first migration runs: exit 1 saying the connection was
    lost and that the migration did not commit; no history schema left; the next run applies."""
    project.write("001_slow.sql", "create table public.k (id int);\nselect pg_sleep(30);\n")
    runner = project.popen("migrate", "--skip-confirm", "--json")
    active = (
        "select pid from pg_stat_activity where query like '%pg_sleep(30)%' "
        "and state = 'active' and pid <> pg_backend_pid()"
    )
    wait_for(project.target, active)
    query(_admin(pg_server, project.target), f"select pg_terminate_backend(pid) from ({active}) s")
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 1, (out, err)
    assert "connection was lost" in err and "Traceback" not in err, err
    import json

    assert [r["result"] for r in json.loads(out)["results"]] != ["ok"], out
    assert query(project.target, FRESH) == [(False, False)]
    project.write("001_slow.sql", "create table public.k (id int);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0


def test_a_rehearsal_then_the_run_on_a_fresh_database(project: Project) -> None:
    """--rehearse on a fresh database leaves no history table; the run after it makes it with
    its first migration, and shows only the migrations' notices."""
    project.write("001_a.sql", "create table public.a (id int);\n")
    project.write("002_b.sql", "do $$begin raise notice 'b ran'; end$$;\n")
    project.write("003_c.sql", "insert into public.a values (3);\n")
    rehearsed = project.invoke("migrate", "--skip-confirm", "--rehearse")
    assert rehearsed.returncode == 0, rehearsed.stdout + rehearsed.stderr
    assert query(project.target, FRESH) == [(False, False)]
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert query(project.target, f"select count(*) from {TABLE}") == [(3,)]
    assert "history table" not in result.stdout + result.stderr
    assert result.stdout.count("NOTICE") == 1 and "b ran" in result.stdout, result.stdout


def test_a_first_migration_s_notices_then_its_failure(
    tmp_path: Path, open_executor: Callable[..., Executor]
) -> None:
    """The first migration's own notices, and only them, come with its failure."""
    sql = "do $$begin raise notice 'mine one'; raise warning 'mine two'; end$$;\nselect 1/0;\n"
    (result,) = _apply(open_executor(), [_file(tmp_path, "20250101000001", "n", sql)])
    assert result.outcome is Outcome.FAILED
    assert [n.split(":  ", 1)[-1].strip() for n in result.notices] == ["mine one", "mine two"]


def test_eight_runners_whose_first_migration_fails(project: Project) -> None:
    """Eight runners on a fresh database, the first migration failing without an error
    position: each names the failing statement (located by a rolled-back re-run, made under
    the runners' lock) and none leaves a history table or schema."""
    project.write("001_bad.sql", "select pg_sleep(0.2);\nselect 1/0;\n")
    runners = [project.popen("migrate", "--skip-confirm", "--json") for _ in range(8)]
    outputs = [runner.communicate(timeout=120) for runner in runners]
    assert [r.returncode for r in runners] == [1] * 8, outputs
    import json

    for out, _ in outputs:
        (only,) = json.loads(out)["results"]
        assert only["result"] == "failed", only
        assert "select 1/0" in json.dumps(only), only
    assert query(project.target, FRESH) == [(False, False)]


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
def test_two_runners_where_the_database_defaults_to_a_stricter_isolation(
    isolation: str, method: str, project: Project
) -> None:
    """default_transaction_isolation set on the database: the second runner's re-check, made
    after the first runner committed, must still see its history row (skip, exit 0), and a
    migration that is not idempotent (an INSERT into a table without a key) runs once. The
    snapshot used to be taken by the statement waiting for the lock: the re-check missed the
    row and the INSERT ran twice."""
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            f"alter database {project.target.database} set default_transaction_isolation = "
            f"'{isolation}'"
        )
        cur.execute("create table public.log (n int)")
    project.write("001_one.sql", "insert into public.log values (1);\n")
    project.write("002_two.sql", "insert into public.log values (2);\n")
    project.invoke("mirror")
    with _LockHeld(project.target):  # both wait for the lock: one goes first, then the other
        runners = [project.popen("migrate", "--skip-confirm", "--method", method) for _ in range(2)]
        both = f"select 1 from ({_waiting_for_lock(project.target)}) w having count(*) = 2"
        wait_for(project.target, both)
    outputs = [runner.communicate(timeout=120) for runner in runners]
    assert [r.returncode for r in runners] == [0, 0], outputs
    assert query(project.target, "select n from public.log order by n") == [(1,), (2,)]
    assert query(project.target, f"select count(*) from {TABLE}") == [(2,)]


@pytest.mark.parametrize("fails", [False, True])
def test_a_first_no_transaction_file_on_a_fresh_database(
    fails: bool, tmp_path: Path, open_executor: Callable[..., Executor]
) -> None:
    """A first `-- supamigrate:no-transaction` file makes the table the plain way; when it
    fails before any statement stayed, the table and the schema the run made go again."""
    body = "select 1/0;\n" if fails else "create index concurrently i on public.t (id);\n"
    sql = "-- supamigrate:no-transaction\n" + body
    db = open_executor().settings.target
    query(db, "create table public.t (id int)")
    (result,) = _apply(open_executor(), [_file(tmp_path, "20250101000001", "nt", sql)])
    assert result.outcome is (Outcome.FAILED if fails else Outcome.OK), result
    assert query(db, FRESH) == [(not fails, not fails)]


def test_a_huge_first_migration_with_backslashes(
    tmp_path: Path, db: DbTarget, open_executor: Callable[..., Executor]
) -> None:
    """A first migration over 1 MiB, with backslashes in plain and E'' strings, goes alone
    and makes the table: applied, recorded with its exact statements, its notice its own."""
    rows = ",\n".join(f"({n}, 'c:\\dir\\{n}')" for n in range(50_000))
    sql = (
        "create table public.paths (n int primary key, p text);\n"
        f"insert into public.paths values\n{rows};\n"
        "do $$begin raise notice E'tab\\there'; end$$;\n"
    )
    assert len(sql) > 1024 * 1024
    (result,) = _apply(open_executor(), [_file(tmp_path, "20250101000001", "huge", sql)])
    assert result.outcome is Outcome.OK, result
    assert [n.split(":  ", 1)[-1].rstrip("\n") for n in result.notices] == ["tab\there"]
    assert query(
        db, "select count(*), (select p from public.paths where n = 9999) from public.paths"
    ) == [(50_000, "c:\\dir\\9999")]
    from supamigrate.sql.sqlsplit import split_statements

    stored = query(db, f"select statements from {TABLE}")
    assert stored == [([s.text for s in split_statements(sql)],)]


def test_sigint_while_the_first_migration_runs(project: Project) -> None:
    """Ctrl-C while the first migration runs: it is rolled back with the table it made; exit
    130 naming the signal; no history schema left."""
    project.write("001_slow.sql", "create table public.k (id int);\nselect pg_sleep(30);\n")
    runner = project.popen("migrate", "--skip-confirm")
    wait_for(
        project.target,
        "select 1 from pg_stat_activity where query like '%pg_sleep(30)%' "
        "and state = 'active' and pid <> pg_backend_pid()",
    )
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, (out, err)
    assert "SIGINT" in out + err and "Traceback" not in err, (out, err)
    assert query(project.target, "select to_regclass('public.k')") == [(None,)]
    assert query(project.target, FRESH) == [(False, False)]


def test_through_a_transaction_pooler_the_first_migration_fails_then_the_next_applies(
    tmp_path: Path, db: DbTarget
) -> None:
    """PgBouncer (transaction mode, round robin): the first migration fails without an error
    position (located by a re-run, perhaps on another backend), the table goes with it; with
    --continue-on-error the next one makes it and applies."""
    from helpers.pooler import BINARY, pgbouncer

    if BINARY is None:
        pytest.skip("install pgbouncer (.ci/run does)")
    with pgbouncer(db) as port:
        target = DbTarget("127.0.0.1", port, db.user, db.database, db.password)
        project = Project.create(tmp_path / "app", target)
        project.write("001_bad.sql", "select 1;\nselect 1/0;\n")
        project.write("002_ok.sql", "create table public.ok (id int);\n")
        result = project.invoke("migrate", "--skip-confirm", "--continue-on-error")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "select 1/0" in result.stdout and "[2/2] 002_ok ... ok" in result.stdout, result.stdout
    assert query(db, f"select version from {TABLE}") == [("20251201000002",)]


# --- a property: any first run, with --continue-on-error, on a fresh database ----------------

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
NT = "-- supamigrate:no-transaction\n"
KINDS = {
    "ok": "create table public.t{i} (id int);\n",
    "runtime": "create table public.t{i} (id int);\nselect 1/0;\n",  # no position: re-run
    "positioned": "create table public.t{i} (id int);\ninsert into public.t{i} values ('x');\n",
    "unparsable": "create table public.t{i} (id int);\nselect from where;\n",  # nothing runs
    "nt_ok": NT + "create table public.t{i} (id int);\n",
    "nt_fail": NT + "select 1/0;\n",
    "nt_partial": NT + "create table public.t{i} (id int);\nselect 1/0;\n",
}


def _property_run(
    target: DbTarget, root: Path, kinds: list[str]
) -> tuple[list[Result], list[MigrationFile]]:
    """Like `migrate --continue-on-error`: apply, and after a failure go on with the rest."""
    todo = [
        _file(root, f"2025010100{i:04d}", kind, KINDS[kind].format(i=i))
        for i, kind in enumerate(kinds)
    ]
    (root / "supabase").mkdir(exist_ok=True)
    executor = REGISTRY["psycopg2"](
        Settings(target, root, root / "supabase", environ=dict(os.environ), say=lambda _: None)
    )
    results: list[Result] = []
    try:
        assert executor.read_history() == []
        remaining = list(todo)
        while remaining:
            batch = executor.apply(remaining, rerun=False, on_result=lambda r: None)
            results += batch
            remaining = remaining[len(batch) :]
            if not batch:
                break
    finally:
        executor.close()
    return results, todo


@given(
    kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=5),
    schema_before=st.booleans(),
    warn_ddl=st.booleans(),
)
@settings(
    derandomize=True,
    max_examples=200 if LONG else 12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_a_first_run_leaves_the_history_and_the_schema_as_the_report_says(
    kinds: list[str],
    schema_before: bool,
    warn_ddl: bool,
    make_db: Callable[[], DbTarget],
    pg_server: Any,
) -> None:
    """Whatever mix of outcomes a first run has: the history holds exactly the migrations
    reported ok; each file's table is there exactly when it was reported ok or partial; the
    history table (and a schema the run made) exists only if something was recorded; no
    notice of the runner's is shown (with `warn_ddl`, an event trigger warns on every DDL
    command: only the files' own CREATE TABLEs are theirs)."""
    import tempfile

    db = make_db()
    if schema_before:
        query(db, "create schema supabase_migrations")
    if warn_ddl:
        with session(_admin(pg_server, db), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(
                "create function public.warn_ddl() returns event_trigger language plpgsql as "
                "$$begin raise warning 'ddl seen: %', tg_tag; end$$"
            )
            cur.execute(
                "create event trigger warn_ddl on ddl_command_end "
                "execute function public.warn_ddl()"
            )
    with tempfile.TemporaryDirectory() as root:
        results, todo = _property_run(db, Path(root), kinds)
    assert [r.migration.version for r in results] == [m.version for m in todo]
    ok = [r.migration.version for r in results if r.outcome is Outcome.OK]
    stays = {Outcome.OK, Outcome.PARTIAL}
    expected_outcome = {"ok": Outcome.OK, "nt_ok": Outcome.OK, "nt_partial": Outcome.PARTIAL}
    for result, kind in zip(results, kinds, strict=True):
        assert result.outcome is expected_outcome.get(kind, Outcome.FAILED), (kind, result)
        assert not any("supamigrate" in n for n in result.notices), result.notices
        theirs = [n for n in result.notices if "ddl seen" in n]
        assert all(n.rstrip().endswith("ddl seen: CREATE TABLE") for n in theirs), (kinds, theirs)
    there = query(db, FRESH)[0]
    assert there == (bool(ok) or schema_before, bool(ok)), (kinds, there)
    if ok:
        assert query(db, f"select version from {TABLE} order by 1") == [(v,) for v in ok]
    for i, result in enumerate(results):
        made = query(db, f"select to_regclass('public.t{i}') is not null")[0][0]
        creates = "create table" in result.migration.sql
        assert made == (creates and result.outcome in stays), (kinds, i, result.outcome)


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
@pytest.mark.parametrize("schema_before", [False, True])
def test_a_failed_first_run_where_plpgsql_is_revoked_leaves_the_database_as_it_was(
    method: str, schema_before: bool, project: Project, pg_server: Any
) -> None:
    """Where plpgsql is revoked the table is made the plain way, and removed the plain way
    after a failed first run (drop_if_unused_sql is a DO block): the database as it was, an
    empty schema made beforehand included."""
    with session(_admin(pg_server, project.target), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("revoke usage on language plpgsql from public")
        if schema_before:
            cur.execute(f"create schema {SCHEMA} authorization {project.target.user}")
    project.write("001_bad.sql", "select 1/0;\n")
    failed = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert failed.returncode == 1 and "division by zero" in failed.stdout, failed.stdout
    assert query(project.target, FRESH) == [(schema_before, False)]
