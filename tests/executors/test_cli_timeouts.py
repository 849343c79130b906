"""The supabase method's timeouts (executors/cli_timeouts.py), against the real CLI, the real
server and a real PgBouncer: the limits reach `supabase db push` as startup options, the
user's own options stay, and where a pooler refuses or drops them the CLI is not used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.catalog import snapshot
from helpers.pooler import BINARY, pgbouncer
from helpers.procscan import ArgvWatch
from helpers.project import Project
from helpers.supabase_cli import CLI
from supamigrate.connect.db import connect, session
from supamigrate.connect.dburl import DbTarget
from supamigrate.durations import to_ms
from supamigrate.errors import DatabaseUnavailable
from supamigrate.executors import cli_timeouts
from supamigrate.executors.base import Settings
from supamigrate.executors.results import Outcome
from supamigrate.executors.supabase_cli import SupabaseCliExecutor
from supamigrate.project.files import MigrationFile

pytestmark = pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")
LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
SECRET = "Qv7-Distinctive-Secret-5523"
SEEN = (
    "create table public.seen as select current_setting('lock_timeout') as lt, "
    "current_setting('statement_timeout') as st, current_setting('my.mark', true) as mark;\n"
)


def _query(target: DbTarget, sql: str) -> list[tuple[Any, ...]]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


def _link(root: Path) -> None:
    (root / "supabase" / ".temp").mkdir(parents=True, exist_ok=True)
    (root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst\n")


@pytest.mark.parametrize("where", ["PGOPTIONS", "url"])
def test_the_users_options_stay_and_ours_win(tmp_path: Path, db: DbTarget, where: str) -> None:
    """Options the user gives (in PGOPTIONS, or the URL's `options`, which the CLI's driver
    takes over PGOPTIONS) reach the migration; their lock_timeout=0 loses to ours."""
    user = r"-c lock_timeout=0 -c my.mark=kept\ here"
    environ = {**os.environ, "SUPABASE_CLI": str(CLI)}
    target = db
    if where == "url":
        target = DbTarget(db.host, db.port, db.user, db.database, db.password, (("options", user),))
        environ.pop("PGOPTIONS", None)
    else:
        environ["PGOPTIONS"] = user
    _link(tmp_path)
    path = tmp_path / "supabase" / "migrations" / "20250101000001_seen.sql"
    path.parent.mkdir(parents=True)
    path.write_text(SEEN)
    limits = Settings(
        target,
        tmp_path,
        tmp_path / "supabase",
        lock_timeout="1234ms",
        statement_timeout="7 s",  # a blank inside: escaped in the options
        environ=environ,
        say=lambda line: None,
    )
    assert SupabaseCliExecutor.limits_refused(limits) is None
    executor = SupabaseCliExecutor(limits)
    try:
        migration = MigrationFile("20250101000001", "seen", path, SEEN, path.stem)
        (result,) = executor.apply([migration], rerun=False, on_result=lambda r: None)
    finally:
        executor.close()
    assert result.outcome is Outcome.OK, result.failure
    assert _query(db, "select lt, st, mark from public.seen") == [("1234ms", "7s", "kept here")]


DURATIONS = st.tuples(
    st.one_of(
        st.integers(1, 3_000_000).map(str),
        st.tuples(st.integers(0, 3000), st.integers(0, 999)).map(lambda p: f"{p[0]}.{p[1]}"),
    ),
    st.sampled_from(["us", "ms", "s", "min", "h", "d", ""]),
    st.sampled_from(["", " ", "\t", " \t "]),
).filter(lambda d: 1 <= (to_ms(f"{d[0]}{d[1]}") or 0) <= 2_147_483_647)


@settings(max_examples=200 if LONG else 15, derandomize=True, deadline=None)
@given(lock=DURATIONS, statement=DURATIONS)
def test_the_probe_reads_back_every_duration_the_server_takes(
    pg_server: Any, lock: tuple[str, str, str], statement: tuple[str, str, str]
) -> None:
    """Any duration the config lets through, blanks, fractions (1.5s, since Postgres 12) and
    rounding (1500us is 2ms) included, arrives as a startup option exactly: the probe on the
    real server finds it in force, in the milliseconds durations.to_ms says."""
    target = pg_server.user
    values = [f"{n}{blank}{unit}".strip() for n, unit, blank in (lock, statement)]
    limits = Settings(target, Path(), Path("supabase"), *values, environ={})
    assert cli_timeouts.wanted(limits) == dict(zip(cli_timeouts.LIMITS, values, strict=True))
    assert cli_timeouts.refused(limits) is None


def test_a_failed_login_is_not_taken_for_refused_options(db: DbTarget) -> None:
    """The probe tells a pooler refusing options from any other connect error (here a wrong
    password, with `options` in the URL): that one is reported as it is, for every method."""
    params = (("options", "-c my.mark=x"),)
    target = DbTarget(db.host, db.port, db.user, db.database, "wrong-password", params)
    limits = Settings(target, Path(), Path("supabase"), environ={})
    with pytest.raises(DatabaseUnavailable, match="password authentication failed"):
        cli_timeouts.refused(limits)


def _project(root: Path, target: DbTarget) -> Project:
    project = Project.create(root, target)
    project.write("001_seen.sql", SEEN)
    _link(project.root)
    project.env["SUPABASE_CLI"] = str(CLI)
    return project


@pytest.fixture
def secret_db(db: DbTarget, pg_server: Any) -> Iterator[DbTarget]:
    """`db` as a role with a distinctive password, to look for in output and argv."""
    role = f"secret_{db.database}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role} login superuser password %s", (SECRET,))
    yield db.with_user(role, SECRET)
    with session(pg_server.admin.with_database(db.database), autocommit=True) as conn:
        conn.cursor().execute(f"drop owned by {role}")
    with session(pg_server.admin, autocommit=True) as conn:
        conn.cursor().execute(f"drop role {role}")


def test_auto_uses_the_cli_with_the_default_lock_timeout(tmp_path: Path, db: DbTarget) -> None:
    """A direct connection keeps startup options: auto picks the CLI, says which timeouts it
    runs under, and the migration ran under lock_timeout 5s (test_secrets: no password shows)."""
    result = _project(tmp_path / "app", db).invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Method: supabase (auto)" in result.stdout
    assert "Timeouts: lock_timeout 5s for each statement `supabase db push` runs" in result.stdout
    assert _query(db, "select lt, st from public.seen") == [("5s", "0")]


POOLERS = {"refuses": "extra_float_digits", "ignores": "extra_float_digits,options"}


@pytest.mark.skipif(BINARY is None, reason="install pgbouncer (.ci/run does)")
@pytest.mark.parametrize("pooler", POOLERS)
def test_through_a_pooler_without_options_auto_falls_back(
    tmp_path: Path, secret_db: DbTarget, pooler: str
) -> None:
    """A PgBouncer that refuses `options`, or drops them: auto does not run the CLI without
    its timeouts, says why in one line, and psycopg2 applies under its own."""
    db = secret_db
    with pgbouncer(db, ignore=POOLERS[pooler]) as port:
        through = DbTarget("127.0.0.1", port, db.user, db.database, db.password)
        project = _project(tmp_path / "app", through)
        with ArgvWatch(SECRET) as watch:
            result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    method = next(line for line in result.stdout.splitlines() if line.startswith("Method:"))
    assert method.startswith("Method: psycopg2 (auto); skipped: supabase: ")
    assert f"127.0.0.1:{port} {pooler} startup options" in method
    assert "so `supabase db push` could not run with lock_timeout 5s: use the direct" in method
    assert "--lock-timeout 0" in method
    assert _query(db, "select lt from public.seen") == [("5s",)]  # psycopg2's SET LOCAL
    assert not watch.hits and SECRET not in result.stdout + result.stderr


@pytest.mark.skipif(BINARY is None, reason="install pgbouncer (.ci/run does)")
@pytest.mark.parametrize("pooler", POOLERS)
def test_through_a_pooler_without_options_the_cli_is_refused(
    tmp_path: Path, secret_db: DbTarget, pooler: str
) -> None:
    """--method supabase there: one line saying what to do, exit 2, history and schema as
    they were (also with only a statement_timeout asked)."""
    db = secret_db
    with pgbouncer(db, ignore=POOLERS[pooler]) as port:
        through = DbTarget("127.0.0.1", port, db.user, db.database, db.password)
        project = _project(tmp_path / "app", through)
        project.write("002_more.sql", "create table public.more (id int);\n")
        first = ("migrate", "--skip-confirm", "--method", "psycopg2", "--migration", "001")
        assert project.invoke(*first, url=db.url()).returncode == 0  # a history to keep
        with session(db) as conn, conn.cursor() as cur:
            before = snapshot(cur)
        flags = ["--lock-timeout", "0", "--statement-timeout", "1min"]
        runs = [
            project.invoke("migrate", "--skip-confirm", "--method", "supabase", *extra)
            for extra in ([], flags)
        ]
    for result, limits in zip(runs, ["lock_timeout 5s", "statement_timeout 1min"], strict=True):
        assert result.returncode == 2, result.stdout + result.stderr
        error = result.stderr.strip()
        assert "\n" not in error and error.count("cannot run") == 1
        assert f"127.0.0.1:{port} {pooler} startup options" in error
        assert f"could not run with {limits}: use the direct connection" in error
        assert "another --method" in error and SECRET not in error + result.stdout
    assert "--statement-timeout 0" in runs[1].stderr and "--lock-timeout" not in runs[1].stderr
    with session(db) as conn, conn.cursor() as cur:
        assert snapshot(cur) == before and len(before[-1]) == 1  # the one history row


@pytest.mark.skipif(BINARY is None, reason="install pgbouncer (.ci/run does)")
def test_a_forced_cli_with_nothing_to_apply_is_not_refused(tmp_path: Path, db: DbTarget) -> None:
    """--method supabase through a pooler that refuses options, with nothing pending: the run
    needs no timeout, so it says so and exits 0 (an attack review found it refused, exit 2).
    The refusal comes only with something to push."""
    with pgbouncer(db, ignore=POOLERS["refuses"]) as port:
        through = DbTarget("127.0.0.1", port, db.user, db.database, db.password)
        project = _project(tmp_path / "app", through)
        applied = ("migrate", "--skip-confirm", "--method", "psycopg2")
        assert project.invoke(*applied, url=db.url()).returncode == 0
        forced = ("migrate", "--skip-confirm", "--method", "supabase")
        idle = project.invoke(*forced)
        project.write("002_more.sql", "create table public.more (id int);\n")
        busy = project.invoke(*forced)
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "Nothing to apply: 1 applied." in idle.stdout
    assert busy.returncode == 2 and "refuses startup options" in busy.stderr
    assert _query(db, "select to_regclass('public.more') is null") == [(True,)]


@pytest.mark.parametrize(
    ("user", "mark"),
    [("-c my.mark=x\\", "x"), ("-c my.mark=a\\ ", "a "), ("-c my.mark=b  ", "b")],
)
def test_the_users_options_keep_their_meaning_next_to_ours(
    pg_server: Any, user: str, mark: str
) -> None:
    """A final lone backslash (which escapes nothing there) or an escaped blank at the end of
    the user's PGOPTIONS: alone the server reads `mark`; with ours after, it still does, and
    our lock_timeout holds (the review found the merge broke them)."""
    target = pg_server.user
    limits = Settings(target, Path(), Path("supabase"), environ={"PGOPTIONS": user})
    assert cli_timeouts.refused(limits) is None
    conn = connect(target, options=cli_timeouts.merged(limits))
    try:
        with conn.cursor() as cur:
            cur.execute("select current_setting('my.mark'), current_setting('lock_timeout')")
            assert cur.fetchone() == (mark, "5s")
    finally:
        conn.close()


def test_the_users_own_bad_options_are_reported_as_they_are(pg_server: Any) -> None:
    """PGOPTIONS=foo is the server's "invalid command-line argument": the user's options, not
    a pooler refusing them; it fails every method alike and is raised as it is."""
    limits = Settings(pg_server.user, Path(), Path("supabase"), environ={"PGOPTIONS": "foo"})
    with pytest.raises(DatabaseUnavailable, match="command-line argument"):
        cli_timeouts.refused(limits)


def test_a_cli_failing_before_any_migration_says_why(tmp_path: Path, db: DbTarget) -> None:
    """A statement_timeout too small for the CLI's own setup: its SQLSTATE and the advice for
    it, not an unknown error; nothing applied."""
    project = _project(tmp_path / "app", db)
    args = ("migrate", "--skip-confirm", "--method", "supabase", "--statement-timeout", "1ms")
    result = project.invoke(*args)
    assert result.returncode == 1
    assert "error 57014: canceling statement due to statement timeout" in result.stdout
    assert "before it began any migration" in result.stdout
    assert "raise --statement-timeout" in result.stdout and "?????" not in result.stdout
    with session(db) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('supabase_migrations.schema_migrations')")
        table = cur.fetchone()
        if table is not None and table[0] is not None:
            cur.execute("select count(*) from supabase_migrations.schema_migrations")
            assert cur.fetchone() == (0,)
