"""The bad-input matrix: each case gives one clear line, the right exit code, and leaves the
database exactly as it was (catalog snapshot, row counts and history compared before/after).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from helpers.catalog import row_counts, snapshot
from helpers.project import Project
from supamigrate.connect.db import session

PASSWORD = "Bad-Input-Pw-5150"
OK = "create table public.ok_table (id int);\n"


@dataclass(frozen=True)
class Case:
    code: int
    needle: str  # in the one-line error (stderr), or in stdout when the run succeeds
    prepare: Callable[[Project, Any], dict[str, Any]]  # returns invoke kwargs (url=...)
    seconds: float = 60.0  # must finish within this (no hangs)


def _url(project: Project, **parts: Any) -> str:
    target = project.target
    for key, value in parts.items():
        target = target.with_database(value) if key == "database" else target
    url = target.url()
    if "port" in parts:
        url = url.replace(f":{project.target.port}/", f":{parts['port']}/")
    if "host" in parts:
        url = url.replace("@127.0.0.1:", f"@{parts['host']}:")
    return url


def _files(**files: str | bytes) -> Callable[[Project, Any], dict[str, Any]]:
    def prepare(project: Project, pg_server: Any) -> dict[str, Any]:
        for name, sql in files.items():
            project.write(name, sql)
        return {}

    return prepare


def _applied_then(edit: Callable[[Project], None]) -> Callable[[Project, Any], dict[str, Any]]:
    def prepare(project: Project, pg_server: Any) -> dict[str, Any]:
        project.write("001_ok.sql", OK)
        assert project.invoke("migrate", "--skip-confirm").returncode == 0
        project.write("002_next.sql", "create table public.next_table (id int);\n")
        edit(project)
        return {}

    return prepare


def _syntax_error(project: Project, pg_server: Any) -> dict[str, Any]:
    project.write("001_ok.sql", OK)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    project.write("002_bad.sql", "select 1;\nselec 2;\n")
    return {}


def _ghost(project: Project) -> None:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into supabase_migrations.schema_migrations (version, name) "
            "values ('20990101000000', 'ghost')"
        )


def _edit(project: Project) -> None:
    project.write("001_ok.sql", OK + "alter table public.ok_table add column c int;\n")


def _unreadable(project: Project, pg_server: Any) -> dict[str, Any]:
    project.write("001_ok.sql", OK)
    path = project.write("002_secret.sql", "select 1;\n")
    if os.geteuid() == 0:  # root reads any mode: a dangling symlink is unreadable for anyone
        path.unlink()
        path.symlink_to(project.root / "nowhere.sql")
    else:
        path.chmod(0)
    return {}


def _read_only_user(project: Project, pg_server: Any) -> dict[str, Any]:
    role = f"ro_{project.target.database}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role} login password %s", (PASSWORD,))
    project.write("001_ok.sql", OK)
    return {"url": project.target.with_user(role, PASSWORD).url()}


def _read_only_with_history(project: Project, pg_server: Any) -> dict[str, Any]:
    """The history table exists and is readable; the user can create nothing."""
    project.write("001_ok.sql", OK)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    role = f"reader_{project.target.database}"
    admin = pg_server.admin.with_database(project.target.database)
    with session(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role} login password %s", (PASSWORD,))
        cur.execute(f"grant usage on schema supabase_migrations, public to {role}")
        cur.execute(f"grant select on all tables in schema supabase_migrations to {role}")
    project.write("002_next.sql", "create table public.next_table (id int);\n")
    return {"url": project.target.with_user(role, PASSWORD).url()}


def _url_case(**parts: Any) -> Callable[[Project, Any], dict[str, Any]]:
    def prepare(project: Project, pg_server: Any) -> dict[str, Any]:
        project.write("001_ok.sql", OK)
        return {"url": _url(project, **parts)}

    return prepare


def _no_dir(project: Project, pg_server: Any) -> dict[str, Any]:
    """A configured migrations_dir that is missing (the default one is optional)."""
    (project.root / "pyproject.toml").write_text('[tool.supamigrate]\nmigrations_dir = "sql"\n')
    return {}


def _no_supabase_dir(project: Project, pg_server: Any) -> dict[str, Any]:
    """A configured supabase_dir that is missing: "no migrations" would pass a deploy green."""
    project.write("001_ok.sql", OK)
    (project.root / "pyproject.toml").write_text('[tool.supamigrate]\nsupabase_dir = "supabse"\n')
    return {}


CASES: dict[str, Case] = {
    "malformed URL": Case(2, "is not a valid Postgres URL", _url_case(port="notaport")),
    "unknown host": Case(1, "check the host name", _url_case(host="no-such-host.invalid"), 15),
    "wrong password": Case(
        1, "password authentication failed", lambda p, s: {"url": _wrong_password(p)}
    ),
    "refused port": Case(1, "Connection refused", _url_case(port=1)),
    "missing database": Case(1, "does not exist", _url_case(database="no_such_db")),
    "missing migrations dir": Case(2, "sql does not exist", _no_dir),
    "missing supabase dir": Case(2, "supabse does not exist", _no_supabase_dir),
    "empty directory": Case(0, "Nothing to apply", _files()),
    "empty file": Case(2, "001_empty.sql has no SQL statements", _files(**{"001_empty.sql": ""})),
    "comments only": Case(
        2, "has no SQL statements", _files(**{"001_c.sql": "-- todo\n/* later */\n"})
    ),
    "non-UTF-8": Case(
        2, "is not valid UTF-8", _files(**{"001_l.sql": "select 'caf\u00e9';".encode("latin-1")})
    ),
    "syntax error": Case(2, "002_bad.sql, line 2: syntax error", _syntax_error),
    "own BEGIN/COMMIT": Case(
        2, "controls the transaction", _files(**{"001_tx.sql": "begin;\nselect 1;\ncommit;\n"})
    ),
    "duplicate NNN": Case(
        2, "share the number 1", _files(**{"001_a.sql": OK, "1_b.sql": "select 1;\n"})
    ),
    "history without file": Case(1, "supabase migration repair", _applied_then(_ghost)),
    "edited applied file": Case(1, "edited since they ran: 001_ok", _applied_then(_edit)),
    "unreadable file": Case(2, "002_secret.sql", _unreadable),
    "read-only user": Case(1, "Cannot create the history table", _read_only_user),
    "read-only user, history present": Case(
        1, "error 42501: permission denied for schema public", _read_only_with_history
    ),
}


def _wrong_password(project: Project) -> str:
    return project.target.with_user(project.target.user, PASSWORD + "-wrong").url()


def _state(project: Project) -> tuple[Any, ...]:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select format('%I.%I', schemaname, tablename) from pg_tables "
            "where schemaname in ('public', 'auth', 'supabase_migrations') order by 1"
        )
        tables = [name for (name,) in cur.fetchall()]
        return snapshot(cur), row_counts(cur, tables)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input(case: str, project: Project, pg_server: Any) -> None:
    spec = CASES[case]
    kwargs = spec.prepare(project, pg_server)
    before = _state(project)
    started = time.monotonic()
    result = project.invoke("migrate", "--skip-confirm", **kwargs)
    elapsed = time.monotonic() - started
    assert result.returncode == spec.code, (result.stdout, result.stderr)
    if spec.code:
        error = result.stderr.strip()
        assert len(error.splitlines()) == 1 and error.startswith("FAILED: "), result.stderr
        assert spec.needle in error + result.stdout, error  # a failed migration: above it
    else:
        assert spec.needle in result.stdout
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert elapsed < spec.seconds
    assert _state(project) == before, "the database changed"


def test_an_unroutable_host_gives_up_within_the_connect_timeout(project: Project) -> None:
    """A host that never answers: exit 1 within connect_timeout (here 2 s), not a hang."""
    project.write("001_ok.sql", OK)
    project.env["SUPAMIGRATE_CONNECT_TIMEOUT"] = "2"
    started = time.monotonic()
    result = project.invoke("migrate", "--skip-confirm", url=_url(project, host="10.255.255.1"))
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "Cannot connect" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 2 + 4, elapsed


@pytest.mark.parametrize("where", ["setting", "url"])
def test_a_server_that_accepts_and_never_answers_gives_up_too(project: Project, where: str) -> None:
    """A port that takes the connection and says nothing (a stuck proxy, a pooler out of
    slots): exit 1 within connect_timeout, not a hang (libpq's own timeout does not cover
    the way psycopg2 connects through our wait callback). The URL's own value wins, as in
    libpq."""
    project.write("001_ok.sql", OK)
    project.env["SUPAMIGRATE_CONNECT_TIMEOUT"] = "2" if where == "setting" else "60"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = _url(project, port=port) + ("?connect_timeout=2" if where == "url" else "")
        started = time.monotonic()
        result = project.invoke("migrate", "--skip-confirm", url=url)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "Cannot connect" in result.stderr and "timeout" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert elapsed < 2 + 4, elapsed


def test_a_no_transaction_file_failing_halfway_is_reported_as_partial(project: Project) -> None:
    """Not 'unchanged' by nature: the report says partial, and which statements ran."""
    project.write(
        "001_nt.sql",
        "-- supamigrate:no-transaction\n"
        "create table public.first_half (id int);\n"
        "insert into public.missing_table values (1);\n"
        "create table public.second_half (id int);\n",
    )
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 1
    assert "001_nt ... partial" in result.stdout
    assert "line 3" in result.stdout and "42P01" in result.stdout
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.first_half'), to_regclass('public.second_half')")
        assert cur.fetchone() == ("first_half", None)
        cur.execute("select to_regclass('supabase_migrations.schema_migrations')")
        assert cur.fetchone() == (None,)  # no row: the history table this run made is gone


@pytest.mark.parametrize(
    "case",
    ["wrong password", "refused port", "missing database"],
)
def test_psql_says_a_connect_failure_as_psycopg2_does(
    case: str, project: Project, pg_server: Any
) -> None:
    """The same cause, the same one line and advice, whichever method tried to connect (psql's
    said `psql could not read the history: ...` with a line break and its password file)."""
    kwargs = CASES[case].prepare(project, pg_server)
    said = {
        method: project.invoke("migrate", "--skip-confirm", "--method", method, **kwargs)
        for method in ("psycopg2", "psql")
    }
    assert {done.returncode for done in said.values()} == {1}
    assert said["psql"].stderr == said["psycopg2"].stderr, said["psql"].stderr
    assert PASSWORD not in said["psql"].stderr and "/dev/fd" not in said["psql"].stderr


@pytest.mark.parametrize(
    ("param", "needle"),
    [("channel_binding=require", "channel binding"), ("require_auth=md5", "require")],
)
def test_a_security_parameter_binds_psql_as_it_binds_psycopg2(
    project: Project, param: str, needle: str
) -> None:
    """A URL's security setting reaches psql (as a PG* variable) as it reaches psycopg2: the
    same refusal, never a connection psql made without it (it was dropped on the way)."""
    base = project.target.url()
    url = f"{base}{'&' if '?' in base else '?'}{param}"
    for method in ("psycopg2", "psql"):
        done = project.invoke("status", "--method", method, url=url)
        # refused by the server (1), or by us where this psql's libpq does not know it (2)
        assert done.returncode in (1, 2), (method, done.stdout, done.stderr)
        assert needle in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
