"""Promise 1, the database changes only as the plan says, on the migration files' side: a
`supabase db pull` file applies through every method with the CLI's own history rows; settings
that change how SQL is read or sent are refused for every method alike unless they change
nothing; PREPARE TRANSACTION is refused everywhere. Against the real server, the real psql and
the real Supabase CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.catalog import snapshot
from helpers.db_pull import COMMENT, DB_PULL, MEMO_DEFAULT
from helpers.project import REPO, Project, paste_into_psql
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget

CLI = REPO / "node_modules" / ".bin" / "supabase"
LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
PROPERTY = settings(
    max_examples=60 if LONG else 6,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
METHODS = ["psycopg2", "psql", "supabase", "manual"]
needs_cli = pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")


def _link(project: Project) -> None:
    """Make the supabase method available: linked, the pinned CLI (it targets the URL)."""
    temp = project.root / "supabase" / ".temp"
    temp.mkdir(exist_ok=True)
    (temp / "project-ref").write_text("abcdefghijklmnopqrst\n")
    project.env["SUPABASE_CLI"] = str(CLI)


def _state(target: DbTarget) -> list[Any]:
    with session(target) as conn, conn.cursor() as cur:
        return snapshot(cur)


def _run(project: Project, method: str, url: str | None = None) -> tuple[int, str, str]:
    """`migrate` by `method`; manual's block is pasted into psql as a user would."""
    if method == "manual":
        result = project.invoke("migrate", "--method", "manual", url=url)
        if result.returncode:
            return result.returncode, result.stdout, result.stderr
        lines = result.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("-- ====="))
        end = next(i for i, line in enumerate(lines) if line.startswith("3. Check"))
        pasted = paste_into_psql(project.target, "\n".join(lines[start:end]))
        return pasted.returncode, pasted.stdout, pasted.stderr
    result = project.invoke("migrate", "--skip-confirm", "--method", method, url=url)
    return result.returncode, result.stdout, result.stderr


@needs_cli
@pytest.mark.parametrize("method", METHODS)
def test_a_db_pull_file_applies_like_supabase_db_push(
    method: str, project: Project, make_db: Callable[[], DbTarget]
) -> None:
    """The pg_dump header (SET client_encoding = 'UTF8', standard_conforming_strings = on,
    set_config('search_path', ...), RESET ALL) is not refused; the schema, its text and the
    history rows equal what the real `supabase db push` makes of the same file."""
    from helpers.supabase_cli import push

    project.write("001_remote_schema.sql", DB_PULL)
    assert project.invoke("mirror").returncode == 0
    theirs = make_db()
    pushed = push(project.root, theirs)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    if method == "supabase":
        _link(project)
    code, out, err = _run(project, method)
    assert code == 0, out + err
    assert _state(project.target) == _state(theirs)
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select obj_description('public.profiles'::regclass, 'pg_class')")
        assert cur.fetchone() == (COMMENT,)
        cur.execute(
            "select pg_get_expr(adbin, adrelid) from pg_attrdef "
            "where adrelid = 'billing.invoices'::regclass and adnum = 4"
        )
        assert cur.fetchone() == (MEMO_DEFAULT,)


# --- generated files that toggle the settings which decide how SQL is read or sent ---------

SAFE_SETTINGS = [
    "SET client_encoding = 'UTF8';",
    "set client_encoding to utf8;",
    "SET standard_conforming_strings = on;",
    "set local standard_conforming_strings = true;",
    "SELECT pg_catalog.set_config('standard_conforming_strings', 'on', false);",
    "reset client_encoding;",
    "SET standard_conforming_strings TO DEFAULT;",
    "SELECT pg_catalog.set_config('search_path', '', false);",
    "RESET ALL;",
    "-- client_encoding and standard_conforming_strings stay as they are\nselect 1;",
]
UNSAFE_SETTINGS = [
    "SET client_encoding = 'LATIN1';",
    "set names 'SQL_ASCII';",
    "SET standard_conforming_strings = off;",
    "set session standard_conforming_strings = 0;",
    "SELECT set_config('client_encoding', 'WIN1252', false);",
    "select set_config('standard_conforming_strings', 'off', true);",
    "do $$ begin execute 'set client_encoding = ' || quote_literal('LATIN1'); end $$;",
    "select 'standard_conforming_strings';",
]
PLAIN = [
    "create table if not exists public.plain_{n} (t text);",
    "insert into public.plain_{n} values ('caf\u00e9 \\n {n}');",
    "comment on table public.plain_{n} is 'Gr\u00fc\u00dfe \u6771\u4eac';",
]


@st.composite
def setting_files(draw: st.DrawFn) -> tuple[str, bool]:
    """A file of plain statements with settings spliced in; whether any is unsafe."""
    parts = [PLAIN[0]]
    unsafe = False
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(SAFE_SETTINGS)))
        elif draw(st.integers(0, 2)) == 0:
            parts.append(draw(st.sampled_from(UNSAFE_SETTINGS)))
            unsafe = True
        parts.append(draw(st.sampled_from(PLAIN[1:])))
    return "\n".join(parts).replace("{n}", "1") + "\n", unsafe


@PROPERTY
@given(case=setting_files(), method=st.sampled_from(["psycopg2", "psql", "manual"]))
def test_settings_that_change_reading_are_refused_alike_and_safe_ones_apply(
    tmp_path_factory: Any, make_db: Callable[[], DbTarget], case: tuple[str, bool], method: str
) -> None:
    """A setting that changes how later SQL is read or sent: exit 2, one line, nothing changed,
    for every method; one that changes nothing: applied, its text stored exactly."""
    sql, unsafe = case
    project = Project.create(tmp_path_factory.mktemp("settings") / "app", make_db())
    project.write("001_settings.sql", sql)
    before = _state(project.target)
    code, out, err = _run(project, method)
    if unsafe:
        assert code == 2, out + err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
        assert _state(project.target) == before
        return
    assert code == 0, out + err
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from public.plain_1 where t <> 'caf\u00e9 \\n 1'")
        assert cur.fetchone() == (0,)
        cur.execute("select obj_description('public.plain_1'::regclass, 'pg_class')")
        assert cur.fetchone() in ((None,), ("Gr\u00fc\u00dfe \u6771\u4eac",))
        cur.execute("select count(*) from supabase_migrations.schema_migrations")
        assert cur.fetchone() == (1,)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "sql",
    [
        "-- supamigrate:no-transaction\nbegin;\ncreate table public.held (id int);\n"
        "prepare transaction 'held';\n",
        "-- supamigrate:no-transaction\ncreate table public.held (id int);\nbegin;\n"
        "alter table public.held add column b int;\nprepare transaction 'held'",
        "create table public.held (id int);\nprepare transaction 'held';\n",
    ],
    ids=["no-transaction-end", "no-transaction-last-line", "transactional"],
)
def test_prepare_transaction_is_refused_by_every_method(
    method: str, sql: str, project: Project
) -> None:
    """A file that would park its work in a prepared transaction (holding its locks after it
    is recorded) is refused before anything runs, whichever method was asked for."""
    if method == "supabase":
        if not CLI.exists():
            pytest.skip("Supabase CLI not installed: run `npm ci`")
        _link(project)
    project.write("001_held.sql", sql)
    before = _state(project.target)
    code, out, err = _run(project, method)
    assert code == 2 and "PREPARE TRANSACTION" in err, out + err
    assert len(err.strip().splitlines()) == 1
    assert _state(project.target) == before
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from pg_prepared_xacts")
        assert cur.fetchone() == (0,)


def test_the_url_cannot_ask_for_another_client_encoding(project: Project) -> None:
    """client_encoding=LATIN1 in the URL would store the UTF-8 files garbled: one line, exit 2."""
    project.write("001_a.sql", "create table public.a (t text default 'caf\u00e9');\n")
    result = project.invoke(
        "migrate", "--skip-confirm", url=project.target.url() + "?client_encoding=LATIN1"
    )
    assert result.returncode == 2 and "client_encoding" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_psql_sends_utf8_whatever_the_locale(project: Project) -> None:
    """psql under a C locale still labels the files' bytes UTF-8 (no mojibake)."""
    project.write("001_a.sql", "create table public.a (t text default 'caf\u00e9 \u6771\u4eac');\n")
    project.env.update(LC_ALL="C", LANG="C", PGCLIENTENCODING="LATIN1")
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql")
    assert result.returncode == 0, result.stdout + result.stderr
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select pg_get_expr(adbin, adrelid) from pg_attrdef where adrelid = 'public.a'::regclass"
        )
        assert cur.fetchone() == ("'caf\u00e9 \u6771\u4eac'::text",)


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_a_no_transaction_file_may_set_what_is_already_in_force(
    method: str, project: Project
) -> None:
    """A setting set to the value it already has leaves the session as it began: a
    no-transaction file with such a header is applied, not failed by the state check."""
    project.write(
        "001_concurrently.sql",
        "-- supamigrate:no-transaction\nSET client_encoding = 'UTF8';\n"
        "SET standard_conforming_strings = on;\nSET idle_in_transaction_session_timeout = 0;\n"
        "create table public.nt (id int);\ncreate index concurrently nt_id on public.nt (id);\n",
    )
    result = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert result.returncode == 0, result.stdout + result.stderr
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.nt_id') is not null")
        assert cur.fetchone() == (True,)
