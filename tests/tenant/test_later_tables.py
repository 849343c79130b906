"""A tenant table made after 005 ran is bounded in the migration that made it (the runner's
boundary guard, executors/boundary_guard.py): whatever the app's own policies on it, no user
reaches another tenant's rows, through either executing method, and the report says so.
Properties over generated later migrations, against the real server, acting through
PostgREST's door (`set local role` and JWT claims) with `postgres` not a superuser."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.platform_fixtures import populate
from helpers.supabase_cli import CLI
from helpers.tenancy import REPO, apply, copy_shipped
from supamigrate.connect.db import session
from supamigrate.executors.base import Settings
from supamigrate.executors.boundary_guard import NOTICE_PREFIX, guard_from
from supamigrate.executors.psql import PsqlExecutor
from supamigrate.executors.psycopg2 import Psycopg2Executor
from supamigrate.executors.results import Outcome
from supamigrate.local.demo_app import create_app
from supamigrate.project.files import MigrationFile
from supamigrate.tenant.rollback import apply_rollback, plan_rollback
from tenant.test_tenant_boundary import EXPRESSIONS, ROLES, _attempt

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
USERS = 3
SHAPES: tuple[str, ...] = (
    # made with tenant_id
    "create table public.projects (id uuid primary key default gen_random_uuid(), "
    "tenant_id uuid, user_id uuid, name text);",
    # tenant_id added to a table made without it
    "create table public.projects (id uuid primary key default gen_random_uuid(), "
    "user_id uuid, name text);\nalter table public.projects add column tenant_id uuid;",
    # made by dynamic SQL, which no reading of the file can see
    "do $$ begin execute 'create table public.projects (id uuid primary key default "
    "gen_random_uuid(), tenant_id uuid, user_id uuid, name text)'; end $$;",
)
# The same, inside a subtransaction: a DO block or a function with an EXCEPTION clause (the
# idempotent style many migrations use) runs its statements under a subtransaction id.
SUBTRANSACTIONS = (
    "do $$ begin create table public.projects (id uuid primary key default "
    "gen_random_uuid(), tenant_id uuid, user_id uuid, name text); "
    "exception when duplicate_table then null; end $$;",
    "create table public.projects (id uuid primary key default gen_random_uuid(), "
    "user_id uuid, name text);\ndo $$ begin alter table public.projects add column tenant_id "
    "uuid; exception when duplicate_column then null; end $$;",
    "create function public.make_projects() returns void language plpgsql as $$ begin "
    "create table public.projects (id uuid primary key default gen_random_uuid(), "
    "tenant_id uuid, user_id uuid, name text); exception when duplicate_table then null; "
    "end $$;\nselect public.make_projects();",
)
# tenant_id of a domain over uuid: 005's expression bounds it as it bounds a uuid
DOMAIN = (
    "create domain public.tenant_ref as uuid;\ncreate table public.projects (id uuid primary "
    "key default gen_random_uuid(), tenant_id public.tenant_ref, user_id uuid, name text);"
)
SHAPES += (*SUBTRANSACTIONS, DOMAIN)
FILL = (
    "insert into public.projects (tenant_id, user_id, name) "
    "select ut.tenant_id, ut.user_id, 'p' from public.user_tenants ut;\n"
    "grant select, insert, update, delete on public.projects to anon, authenticated;\n"
)


@st.composite
def later_migrations(draw: Any) -> str:
    sql = [draw(st.sampled_from(SHAPES)), FILL]
    if draw(st.booleans()):
        sql.append("alter table public.projects enable row level security;")
    for index in range(draw(st.integers(0, 3))):
        cmd = draw(st.sampled_from(("select", "insert", "update", "delete", "all")))
        kind = draw(st.sampled_from(("permissive", "permissive", "restrictive")))
        policy = f"create policy app{index} on public.projects as {kind} for {cmd} "
        policy += f"to {draw(st.sampled_from(ROLES))}"
        if cmd != "insert":
            policy += f" using ({draw(st.sampled_from(EXPRESSIONS))})"
        if cmd in ("insert", "update", "all"):
            policy += f" with check ({draw(st.sampled_from(EXPRESSIONS))})"
        sql.append(policy + ";")
    return "\n".join(sql) + "\n"


@pytest.fixture(scope="module")
def bounded(pg_server: Any) -> Iterator[str]:
    """A template database: the app with users and rows, 001-005 applied."""
    name = f"later_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template supamigrate_template owner postgres")
    target = pg_server.user.with_database(name)
    with session(target) as conn, conn.cursor() as cur:
        create_app(cur, [])
        populate(cur, users=USERS, rows_per_user=1, app=False)
    apply(target)
    yield name
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database {name} with (force)")


def _later(sql: str) -> MigrationFile:
    return MigrationFile("20991231000000", "later", Path("later.sql"), sql, "later")


def _apply(target: Any, sql: str, method: str) -> list[str]:
    """Apply one later migration by `method`; its notices."""
    kind = Psycopg2Executor if method == "psycopg2" else PsqlExecutor
    executor = kind(Settings(target, REPO, REPO / "supabase"))
    try:
        todo = [_later(sql)]
        executor.guard_from = guard_from(executor.read_history() or [], todo)  # as migrate does
        (result,) = executor.apply(todo, rerun=False, on_result=lambda r: None)
    finally:
        executor.close()
    assert result.outcome is Outcome.OK, result.failure
    return list(result.notices)


def _fresh(pg_server: Any, template: str) -> Any:
    name = f"later_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template {template} owner postgres")
    return pg_server.user.with_database(name)


def _drop(pg_server: Any, target: Any) -> None:
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database {target.database} with (force)")


def _reach(cur: Any) -> None:
    """No user reads, changes, removes, inserts into or moves to another tenant; anon
    reaches nothing."""
    cur.execute(
        "select user_id::text, array_agg(tenant_id::text) from public.user_tenants group by 1"
    )
    member = {user: set(tenants) for user, tenants in cur.fetchall()}
    every = {t for ts in member.values() for t in ts}
    cur.execute("select id::text, tenant_id::text from public.projects")
    tenant_of = dict(cur.fetchall())
    for user, mine in member.items():
        inside = {row for row, tenant in tenant_of.items() if tenant in mine}
        for sql in (
            "select id::text from public.projects",
            "update public.projects set name = name returning id::text",
            "delete from public.projects returning id::text",
        ):
            assert _attempt(cur, "authenticated", user, sql) <= inside, (sql, user)
        for tenant in sorted(every - mine):
            put = cur.mogrify(
                "insert into public.projects (tenant_id, user_id, name) values (%s, %s, 'x')",
                (tenant, user),
            ).decode()
            assert not _attempt(cur, "authenticated", user, put), ("insert", tenant)
            move = cur.mogrify(
                "update public.projects set tenant_id = %s returning 1", (tenant,)
            ).decode()
            assert not _attempt(cur, "authenticated", user, move), ("move", tenant)
    for sql in ("select 1 from public.projects", "delete from public.projects returning 1"):
        assert not _attempt(cur, "anon", None, sql), sql


@settings(
    max_examples=100 if LONG else 6,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sql=later_migrations(), method=st.sampled_from(("psycopg2", "psql")))
def test_a_tenant_table_made_later_is_bounded(
    pg_server: Any, bounded: str, sql: str, method: str
) -> None:
    target = _fresh(pg_server, bounded)
    try:
        notices = _apply(target, sql, method)
        with session(target) as conn, conn.cursor() as cur:
            _reach(cur)
        assert any(f"{NOTICE_PREFIX} public.projects" in n for n in notices), notices
    finally:
        _drop(pg_server, target)


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
@pytest.mark.parametrize(
    "shape", (*SUBTRANSACTIONS, DOMAIN), ids=["do-create", "do-alter", "function", "domain"]
)
def test_a_tenant_table_made_in_a_subtransaction_or_of_a_domain_is_bounded(
    pg_server: Any, bounded: str, shape: str, method: str
) -> None:
    """Made under a subtransaction id (an EXCEPTION clause), the table was the transaction's
    all the same; a domain over uuid is a uuid to 005's boundary: each was left with RLS off,
    readable and writable by anon across tenants."""
    target = _fresh(pg_server, bounded)
    try:
        # No grant: Supabase's default privileges give the API roles the table (a GRANT would
        # touch its catalog row outside the subtransaction).
        fill = FILL.split("\ngrant")[0]
        sql = f"{shape}\n{fill}\ncreate policy app on public.projects for all to authenticated "
        notices = _apply(target, sql + "using (true) with check (true);\n", method)
        with session(target) as conn, conn.cursor() as cur:
            _reach(cur)
        assert any(f"{NOTICE_PREFIX} public.projects" in n for n in notices), notices
    finally:
        _drop(pg_server, target)


def test_after_rollback_rls_a_later_table_is_left_as_the_app_made_it(
    pg_server: Any, bounded: str
) -> None:
    """rollback-rls took the boundary away: a table made later is not bounded (nor said so)."""
    target = _fresh(pg_server, bounded)
    try:
        with session(target) as conn, conn.cursor() as cur:
            plan = plan_rollback(
                cur,
                table=None,
                rls_version=_version(cur, "004"),
                boundary_version=_version(cur, "005"),
            )
            apply_rollback(cur, plan, lock_timeout="5s")
        notices = _apply(target, SHAPES[0] + FILL, "psycopg2")
        assert not any(NOTICE_PREFIX in n for n in notices), notices
        with session(target) as conn, conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_policy where polrelid = 'public.projects'::regclass"
            )
            assert cur.fetchone() == (0,)
    finally:
        _drop(pg_server, target)


def test_a_policy_of_the_apps_with_a_boundary_name_is_kept(pg_server: Any, bounded: str) -> None:
    """The app bounded its table itself, under 005's names: its policy stays as it is (verify
    judges it), the commands it lacks get the boundary, and the migration commits."""
    target = _fresh(pg_server, bounded)
    try:
        sql = (
            SHAPES[0]
            + FILL
            + "alter table public.projects enable row level security;\n"
            + 'create policy "tenant boundary: select" on public.projects as restrictive '
            + "using (tenant_id = any (array(select supamigrate.member_tenant_ids())));\n"
        )
        notices = _apply(target, sql, "psycopg2")
        assert any(f"{NOTICE_PREFIX} public.projects" in n for n in notices), notices
        with session(target) as conn, conn.cursor() as cur:
            cur.execute(
                "select polname from pg_policy where polrelid = 'public.projects'::regclass "
                "order by 1"
            )
            assert [r[0] for r in cur.fetchall()] == [
                f"tenant boundary: {cmd}" for cmd in ("delete", "insert", "select", "update")
            ]
            cur.execute(
                "select policy from supamigrate.tenant_rls "
                "where rel = 'public.projects'::regclass order by 1"
            )
            assert "tenant boundary: select" not in [r[0] for r in cur.fetchall()]  # not ours
    finally:
        _drop(pg_server, target)


def test_a_permissive_policy_with_a_boundary_name_is_kept_and_said(
    pg_server: Any, bounded: str
) -> None:
    """Kept, as above; but a permissive one is no boundary (every tenant's rows are read
    through it): the report says so, naming the command and what to do."""
    target = _fresh(pg_server, bounded)
    try:
        sql = (
            SHAPES[0]
            + FILL
            + "alter table public.projects enable row level security;\n"
            + 'create policy "tenant boundary: select" on public.projects '
            + "for select to authenticated using (true);\n"
        )
        notices = _apply(target, sql, "psycopg2")
        warned = [n for n in notices if "permissive policy" in n]
        assert len(warned) == 1 and '"tenant boundary: select"' in warned[0], notices
        assert "so select is not bounded" in warned[0] and "--migration 005" in warned[0]
    finally:
        _drop(pg_server, target)


@pytest.mark.parametrize(
    "sql",
    [
        # a tenant_id that is not 005's kind (uuid): not the guard's to bound
        "create table public.counters (id int primary key, tenant_id bigint);\n",
        # a no-transaction file: its tables are not the guard's transaction's
        "-- supamigrate:no-transaction\n" + SHAPES[0] + "\n",
    ],
    ids=["bigint-tenant-id", "no-transaction"],
)
def test_what_the_guard_does_not_bound_still_applies(
    pg_server: Any, bounded: str, sql: str
) -> None:
    """Nothing the guard leaves alone fails: the migration commits as it did before it."""
    target = _fresh(pg_server, bounded)
    try:
        notices = _apply(target, sql, "psycopg2")
        assert not any(NOTICE_PREFIX in n for n in notices), notices
    finally:
        _drop(pg_server, target)


def test_a_table_made_outside_migrations_is_left_alone(pg_server: Any, bounded: str) -> None:
    """A dashboard table with tenant_id and RLS off is not the next migration's: it stays as
    it is (no RLS turned on, no policy, no lock taken on it); verify names it."""
    target = _fresh(pg_server, bounded)
    try:
        with session(target) as conn, conn.cursor() as cur:
            cur.execute("create table public.price_list (id int, tenant_id uuid)")
        notices = _apply(target, "create table public.notes (id int);\n", "psycopg2")
        assert not any(NOTICE_PREFIX in n for n in notices), notices
        with session(target) as conn, conn.cursor() as cur:
            cur.execute(
                "select relrowsecurity, (select count(*) from pg_policy where polrelid = c.oid) "
                "from pg_class c where oid = 'public.price_list'::regclass"
            )
            assert cur.fetchone() == (False, 0)
    finally:
        _drop(pg_server, target)


def test_a_migrator_without_the_record_warns_and_commits(pg_server: Any, bounded: str) -> None:
    """Another role runs migrations (a CI role that is not postgres): the guard cannot use
    005's record, so it says what to do in a WARNING and the migration commits."""
    target = _fresh(pg_server, bounded)
    role = f"ci_{uuid.uuid4().hex[:8]}"
    try:
        with session(pg_server.admin.with_database(target.database)) as conn, conn.cursor() as cur:
            cur.execute(f"create role {role} login password 'ci-secret'")
            cur.execute(f"grant usage, create on schema public to {role}")
            cur.execute(f"grant usage on schema supabase_migrations to {role}")
            cur.execute(f"grant select, insert on supabase_migrations.schema_migrations to {role}")
        ci = target.with_user(role, "ci-secret")
        notices = _apply(ci, SHAPES[0], "psycopg2")
        assert any("may not use supamigrate.tenant_rls" in n for n in notices), notices
    finally:
        _drop(pg_server, target)
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop role if exists {role}")


def _version(cur: Any, number: str) -> str | None:
    cur.execute(
        "select version from supabase_migrations.schema_migrations where name like %s",
        (f"%{ {'004': 'enable_rls_policies', '005': 'enforce_tenant_boundary'}[number] }",),
    )
    row = cur.fetchone()
    return row[0] if row else None


LATER = (
    SHAPES[0]
    + FILL
    + "alter table public.projects enable row level security;\n"
    + "create policy open on public.projects for all to authenticated using (true) "
    + "with check (true);\n"
)


@pytest.mark.parametrize("method", ["psycopg2", "supabase"])
def test_migrate_says_it_bounded_the_table(project: Any, method: str) -> None:
    """The whole command, by the default method and through `supabase db push` (the CLI runs
    the files; the boundary follows its push): the report names the table, and its four
    boundary policies are there."""
    if method == "supabase" and not CLI.exists():
        pytest.skip("Supabase CLI not installed: run `npm ci`")
    project.env["SUPABASE_CLI"] = str(CLI)
    linked = project.root / "supabase" / ".temp"
    linked.mkdir(exist_ok=True)
    (linked / "project-ref").write_text("abcdefghijklmnopqrst\n")
    copy_shipped(project.root)
    shutil.copy(REPO / "supabase" / "config.toml", project.root / "supabase" / "config.toml")
    first = project.invoke("migrate", "--skip-confirm")
    assert first.returncode == 0, first.stdout + first.stderr
    project.write("006_projects.sql", LATER)
    result = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{NOTICE_PREFIX} public.projects" in result.stdout
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_policy where polrelid = 'public.projects'::regclass "
            "and not polpermissive and polname like 'tenant boundary: %%'"
        )
        assert cur.fetchone() == (4,)
