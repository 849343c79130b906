"""`invoke advise`: each of splinter's lints on a real database that trips it, then the same
database after the advised fix, which must not; the fresh Supabase-shaped database trips none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supamigrate.advise import LINTS, Level, advise
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget

# (who runs it, statement): `user` is the Supabase-like postgres role, `admin` a superuser
# standing in for what Supabase's own roles (auth, extensions) do.
Step = tuple[str, str]
_TABLE = "create table public.notes (id int primary key, owner uuid)"
_RLS = "alter table public.notes enable row level security"
_QUEUE_EXPOSED = (
    "do $$ begin execute format('alter role authenticator in database %I "
    "set pgrst.db_schemas = %L', current_database(), 'public, pgmq_public'); end $$"
)

# lint -> (steps that trip it, the finding's object, steps that apply the advised fix)
CASES: dict[str, tuple[list[Step], str, list[Step]]] = {
    "rls_disabled_in_public": (
        [("user", _TABLE)],
        "public.notes",
        [("user", _RLS), ("user", "create policy own on public.notes using (true)")],
    ),
    "policy_exists_rls_disabled": (
        [("user", _TABLE), ("user", "create policy own on public.notes using (true)")],
        "public.notes",
        [("user", _RLS)],
    ),
    "rls_enabled_no_policy": (
        [("user", _TABLE), ("user", _RLS)],
        "public.notes",
        [("user", "create policy own on public.notes using (owner = (select auth.uid()))")],
    ),
    "rls_references_user_metadata": (
        [
            ("user", _TABLE),
            ("user", _RLS),
            (
                "user",
                "create policy admins on public.notes using "
                "((select auth.jwt()) -> 'user_metadata' ->> 'role' = 'admin')",
            ),
        ],
        "admins on public.notes",
        [
            ("user", "drop policy admins on public.notes"),
            (
                "user",
                "create policy admins on public.notes using "
                "((select auth.jwt()) -> 'app_metadata' ->> 'role' = 'admin')",
            ),
        ],
    ),
    "rls_policy_always_true": (
        [
            ("user", _TABLE),
            ("user", _RLS),
            (
                "user",
                "create policy anyone on public.notes for all to authenticated "
                "using (true) with check (true)",
            ),
            # reading everything is a choice; only writes are flagged (as `invoke lint` does)
            ("user", "create policy readers on public.notes for select using (true)"),
        ],
        "anyone on public.notes",
        [
            ("user", "drop policy anyone on public.notes"),
            (
                "user",
                "create policy anyone on public.notes for all to authenticated "
                "using (owner = (select auth.uid())) with check (owner = (select auth.uid()))",
            ),
        ],
    ),
    "security_definer_view": (
        [("user", _TABLE), ("user", "create view public.v as select id from public.notes")],
        "public.v",
        [("user", "alter view public.v set (security_invoker = on)")],
    ),
    "auth_users_exposed": (
        [
            ("user", "create view public.emails as select id, email from auth.users"),
            ("user", "grant select on public.emails to anon"),
        ],
        "public.emails",
        [("user", "revoke select on public.emails from anon, authenticated")],
    ),
    "auth_allow_anonymous_sign_ins": (
        [
            ("user", _TABLE),
            ("user", _RLS),
            ("user", "create policy members on public.notes to authenticated using (true)"),
            ("admin", "insert into auth.users (id, is_anonymous) values (gen_random_uuid(), true)"),
        ],
        "members on public.notes",
        [
            ("user", "drop policy members on public.notes"),
            (
                "user",
                "create policy members on public.notes to authenticated using "
                "((select (auth.jwt() ->> 'is_anonymous')::boolean) is false)",
            ),
        ],
    ),
    "function_search_path_mutable": (
        [("user", "create function public.one() returns int language sql as 'select 1'")],
        "public.one()",
        [("user", "alter function public.one() set search_path = ''")],
    ),
    "extension_in_public": (
        [("admin", "create extension citext schema public")],
        "citext",
        [("admin", "alter extension citext set schema extensions")],
    ),
    "materialized_view_in_api": (
        [("user", "create materialized view public.mv as select 1 as x")],
        "public.mv",
        [("user", "revoke select on public.mv from anon, authenticated")],
    ),
    "foreign_table_in_api": (
        [
            ("admin", "create extension postgres_fdw schema extensions"),
            ("admin", "create server elsewhere foreign data wrapper postgres_fdw"),
            ("admin", "create foreign table public.remote (id int) server elsewhere"),
            ("admin", "grant select on public.remote to anon"),
        ],
        "public.remote",
        [("admin", "revoke select on public.remote from anon, authenticated")],
    ),
    "unsupported_reg_types": (
        [("user", "create table public.t (id int primary key, coll regcollation)")],
        "public.t.coll (regcollation)",
        [("user", "alter table public.t alter column coll type text using coll::text")],
    ),
    "insecure_queue_exposed_in_api": (
        [
            ("admin", "create schema pgmq"),
            ("admin", "create schema pgmq_public"),
            ("admin", "create table pgmq.q_jobs (msg_id bigint primary key, message jsonb)"),
            ("admin", "grant usage on schema pgmq to anon, authenticated"),
            ("admin", "grant select, insert on pgmq.q_jobs to authenticated"),
            ("admin", _QUEUE_EXPOSED),
        ],
        "pgmq.q_jobs",
        [("admin", "alter table pgmq.q_jobs enable row level security")],
    ),
    "fkey_to_auth_unique": (
        [
            (
                "admin",
                "create table public.p (id int primary key, phone text references auth.users (phone))",
            )
        ],
        "p_phone_fkey on public.p",
        [("admin", "alter table public.p drop constraint p_phone_fkey")],
    ),
    "unindexed_foreign_keys": (
        [
            ("user", "create table public.parent (id int primary key)"),
            (
                "user",
                "create table public.child (id int primary key, parent_id int references public.parent)",
            ),
        ],
        "public.child (parent_id)",
        [("user", "create index on public.child (parent_id)")],
    ),
    "auth_rls_initplan": (
        [
            ("user", _TABLE),
            ("user", _RLS),
            ("user", "create policy own on public.notes using (owner = auth.uid())"),
        ],
        "own on public.notes",
        [
            ("user", "drop policy own on public.notes"),
            ("user", "create policy own on public.notes using (owner = (select auth.uid()))"),
        ],
    ),
    "no_primary_key": (
        [("user", "create table public.t (x int not null)")],
        "public.t",
        [("user", "alter table public.t add primary key (x)")],
    ),
    "unused_index": (
        [("user", _TABLE), ("user", "create index notes_owner on public.notes (owner)")],
        "public.notes_owner on public.notes",
        [
            ("user", "set enable_seqscan = off"),
            ("user", "select count(*) from public.notes where owner = gen_random_uuid()"),
            ("user", "select pg_stat_force_next_flush()"),  # this session's counts, now
        ],
    ),
    "multiple_permissive_policies": (
        [
            ("user", _TABLE),
            ("user", _RLS),
            ("user", "create policy a on public.notes for select to authenticated using (true)"),
            ("user", "create policy b on public.notes for select to authenticated using (true)"),
        ],
        "public.notes: a, b for authenticated SELECT",
        [("user", "drop policy b on public.notes")],
    ),
    "duplicate_index": (
        [
            ("user", _TABLE),
            ("user", "create index one on public.notes (owner)"),
            ("user", "create index two on public.notes (owner)"),
        ],
        "public.notes: one, two",
        [("user", "drop index public.two")],
    ),
    "table_bloat": (
        [
            ("user", "create table public.big (id int primary key, pad text)"),
            (
                "user",
                "insert into public.big select g, repeat('x', 200) from generate_series(1, 20000) g",
            ),
            ("user", "delete from public.big where id % 10 <> 0"),
            ("user", "vacuum analyze public.big"),
        ],
        "public.big (",
        [("user", "vacuum full public.big"), ("user", "analyze public.big")],
    ),
}


def _findings(target: DbTarget, lint: str) -> list[str]:
    with session(target) as conn, conn.cursor() as cur:
        result = advise(cur)
        conn.rollback()
    return [f.obj for f in result.findings if f.lint.name == lint]


def _apply(steps: list[Step], user: DbTarget, admin: DbTarget) -> None:
    """Run the steps in order, each role in one session (a `set` holds for its next steps)."""
    with session(user, autocommit=True) as as_user, session(admin, autocommit=True) as as_admin:
        for who, sql in steps:
            with (as_admin if who == "admin" else as_user).cursor() as cur:
                cur.execute(sql)


def test_every_lint_has_a_case() -> None:
    """Each advisor is tested below, and each name is splinter's."""
    assert sorted(CASES) == sorted(lint.name for lint in LINTS)


@pytest.mark.parametrize("lint", sorted(CASES))
def test_lint_trips_then_the_fix_clears_it(lint: str, db: DbTarget, pg_server: Any) -> None:
    """The database that trips the lint names the object; after the advised fix it does not."""
    trip, obj, fix = CASES[lint]
    admin = pg_server.admin.with_database(db.database)
    assert _findings(db, lint) == []
    _apply(trip, db, admin)
    found = _findings(db, lint)
    assert len(found) == 1 and found[0].startswith(obj), found
    _apply(fix, db, admin)
    assert _findings(db, lint) == []


def test_a_fresh_supabase_shaped_database_is_clean(db: DbTarget) -> None:
    """The shim's database (as `supabase start` gives) has no finding at any level."""
    with session(db) as conn, conn.cursor() as cur:
        result = advise(cur)
    assert result.findings == ()
    assert [lint.name for lint, _ in result.skipped] == ["auth_allow_anonymous_sign_ins"]


def _supamigrate(root: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "supamigrate"), "advise", *args],
        cwd=root,
        env={**base, "DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_in_a_foreign_repo_json_exit_codes_and_annotations(tmp_path: Path, db: DbTarget) -> None:
    """A repo of the user's own (no tenant migrations, no tasks.py): a public table without RLS
    fails advise (exit 1, named in JSON and as a GitHub error); RLS and a policy pass it."""
    root = tmp_path / "their-app"
    (root / "supabase" / "migrations").mkdir(parents=True)
    run_sql: Callable[[str], None] = lambda sql: _apply([("user", sql)], db, db)  # noqa: E731
    run_sql("create table public.todos (id bigint primary key, done boolean)")

    failed = _supamigrate(root, db.url(), "--json")
    assert failed.returncode == 1, failed.stderr
    doc = json.loads(failed.stdout)
    assert doc["result"] == "failed"
    assert {"lint": "rls_disabled_in_public", "object": "public.todos"}.items() <= next(
        f for f in doc["findings"] if f["lint"] == "rls_disabled_in_public"
    ).items()
    assert f":{db.password}@" not in failed.stdout + failed.stderr  # masked

    github = _supamigrate(root, db.url(), GITHUB_ACTIONS="true")
    assert github.returncode == 1
    assert any(
        line.startswith("::error title=advise rls_disabled_in_public::") and "public.todos" in line
        for line in github.stdout.splitlines()
    ), github.stdout

    run_sql("alter table public.todos enable row level security")
    run_sql("create policy mine on public.todos for select to authenticated using (true)")
    passed = _supamigrate(root, db.url(), "--json")
    assert passed.returncode == 0, passed.stdout
    assert json.loads(passed.stdout)["counts"]["error"] == 0


def test_strict_fails_on_warnings_and_info_never_fails(tmp_path: Path, db: DbTarget) -> None:
    """A warning (mutable search_path) passes by default and fails with --strict; info
    (a table without a primary key) fails neither."""
    root = tmp_path / "app"
    (root / "supabase").mkdir(parents=True)
    _apply(
        [
            ("user", "create table public.t (x int)"),
            ("user", "alter table public.t enable row level security"),
        ],
        db,
        db,
    )
    info = _supamigrate(root, db.url())
    assert info.returncode == 0 and "INFO" in info.stdout and "no_primary_key" in info.stdout
    assert _supamigrate(root, db.url(), "--strict").returncode == 0
    _apply([("user", "create function public.f() returns int language sql as 'select 1'")], db, db)
    assert _supamigrate(root, db.url()).returncode == 0
    strict = _supamigrate(root, db.url(), "--strict")
    assert strict.returncode == 1 and "function_search_path_mutable" in strict.stdout
    levels = {lint.name: lint.level for lint in LINTS}
    assert levels["rls_disabled_in_public"] is Level.ERROR


def test_bad_url_is_one_line(tmp_path: Path) -> None:
    """A malformed URL is one line, exit 2, no traceback."""
    (tmp_path / "supabase").mkdir()
    result = _supamigrate(tmp_path, "postgresql://u:secret@:notaport/x")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "secret" not in result.stdout + result.stderr


def test_a_plain_postgres_database_is_advised_too(pg_server: Any) -> None:
    """No auth schema, no API roles (template0): nothing is exposed, the rest still runs."""
    name = "advise_plain_test"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database if exists {name}")
        cur.execute(f"create database {name} template template0")
    plain = pg_server.admin.with_database(name)
    try:
        _apply([("admin", "create table public.t (x int)")], plain, plain)
        with session(plain) as conn, conn.cursor() as cur:
            result = advise(cur)
        assert [(f.lint.name, f.obj) for f in result.findings] == [("no_primary_key", "public.t")]
    finally:
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
