"""`invoke verify` and `invoke rollback-rls` on a migrated database with data."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.catalog import row_counts, snapshot
from helpers.platform_fixtures import populate
from helpers.tenancy import copy_shipped
from supamigrate.connect.db import session


@pytest.fixture
def migrated(project: Any) -> Any:
    """A project with the shipped migrations applied over platform tables with data."""
    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=10, rows_per_user=3)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    return project


def _run(target: Any, sql: str) -> None:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(sql)


def _state(target: Any) -> list[Any]:
    tables = [
        "auth.users",
        "public.tenants",
        "public.user_tenants",
        "public.files",
        "public.audit_logs",
        "public.sessions",
    ]
    with session(target) as conn, conn.cursor() as cur:
        return [snapshot(cur), row_counts(cur, tables)]


def test_verify_passes_and_the_probe_leaves_nothing(migrated: Any) -> None:
    """A fully migrated database passes every check; the probe leaves no rows behind."""
    before = _state(migrated.target)
    result = migrated.invoke("verify")
    assert result.returncode == 0, result.stdout
    assert "PASS  error    isolation probe" in result.stdout
    # the app's per-user policies next to 004's: splinter's multiple_permissive_policies warns
    assert " 0 errors, " in result.stdout and ": verify passed" in result.stdout
    assert _state(migrated.target) == before


# Errors fail verify; warnings fail it only with --strict (splinter's names and levels).
ERRORS = {
    "dropped boundary": (
        'drop policy "tenant boundary: insert" on public.files',
        "FAIL  error    tenant boundary public.files",
    ),
    "AFTER signup trigger": (
        "create or replace trigger on_auth_user_created_tenant after insert on auth.users "
        "for each row execute function public.handle_new_user_tenant()",
        "FAIL  error    signup trigger order",
    ),
    "definer function reading a tenant table": (
        "create function public.all_files() returns setof public.files language sql "
        "security definer set search_path = '' as 'select * from public.files'",
        "FAIL  error    RLS bypass: security definer function",
    ),
    "definer function reading a view over a tenant table": (
        "create view public.v_docs with (security_invoker = on) as select * from public.files;"
        "create function public.all_docs() returns bigint language sql "
        "security definer set search_path = '' as 'select count(*) from public.v_docs'",
        "FAIL  error    RLS bypass: security definer function",
    ),
    "definer function in a schema the API does not serve, behind an invoker wrapper": (
        "create schema private; grant usage on schema private to authenticated;"
        "create function private.all_files() returns setof public.files language sql "
        "security definer set search_path = '' as 'select * from public.files';"
        "create function public.team_files() returns setof public.files language sql "
        "security invoker set search_path = '' as 'select * from private.all_files()'",
        "private.all_files() is security definer",
    ),
    "definer function reading through SQL built at run time": (
        "create function public.search_everything(q text) returns setof jsonb "
        "language plpgsql security definer set search_path = '' as $$ begin return query "
        "execute format('select to_jsonb(x) from %I.%I x where x::text like $1', 'public', "
        "'fi' || 'les') using '%' || q || '%'; end $$",
        "runs SQL built at run time (execute), which verify cannot read",
    ),
    "trigger copying rows through a helper in another schema": (
        "create table public.activity_feed (id bigint generated always as identity primary key, "
        "payload jsonb); alter table public.activity_feed enable row level security;"
        "create policy feed on public.activity_feed for select to authenticated using (true);"
        "create schema private;"
        "create function private.publish(payload jsonb) returns void language sql "
        "security definer set search_path = '' as "
        "'insert into public.activity_feed (payload) values (payload)';"
        "create function public.files_to_feed() returns trigger language plpgsql "
        "security definer set search_path = '' as "
        "$$ begin perform private.publish(to_jsonb(new)); return new; end $$;"
        "revoke execute on function public.files_to_feed() from public, anon, authenticated;"
        "create trigger files_to_feed after insert or update on public.files "
        "for each row execute function public.files_to_feed()",
        "writes into public.activity_feed (through private.publish(payload jsonb))",
    ),
    "matview over a tenant table": (
        "create materialized view public.file_counts as "
        "select tenant_id, count(*) from public.files group by 1",
        "FAIL  error    RLS bypass: materialized view",
    ),
    "trigger copying rows to an open table": (
        "create table public.activity (id serial primary key, what text);"
        "alter table public.activity enable row level security;"
        "create policy everyone on public.activity for select using (true);"
        "create function public.log_file() returns trigger language plpgsql security definer "
        "set search_path = '' as $$ begin insert into public.activity (what) values (new.name); "
        "return new; end $$;"
        "create trigger log_file after insert on public.files for each row "
        "execute function public.log_file()",
        "FAIL  error    RLS bypass: trigger copies tenant rows",
    ),
    "foreign key across tenants": (
        "create table public.comments (id serial primary key, tenant_id uuid, "
        "file_id uuid references public.files (id) on delete cascade, body text);"
        "alter table public.comments enable row level security",
        "FAIL  error    cross-tenant foreign key",
    ),
    "RLS disabled": (
        "alter table public.sessions disable row level security",
        "FAIL  error    RLS public.sessions",
    ),
    "user without tenant": (
        "insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000aa', 'x@example.com');"
        "delete from public.tenants where slug = 'personal-000000000000000000000000000000aa'",
        "FAIL  error    users without a tenant",
    ),
    "leaky policy without the boundary": (
        'drop policy "tenant boundary: select" on public.files;'
        "create policy leak on public.files for select to authenticated using (true)",
        'let through by policy "leak"',
    ),
    "table without RLS": (
        "create table public.notes (id int)",
        "FAIL  error    lint rls_disabled_in_public",
    ),
    "policy on a table without RLS": (
        "create table public.notes (id int primary key); create policy p on public.notes using (false)",
        "FAIL  error    lint policy_exists_rls_disabled",
    ),
    "security definer view": (
        "create view public.all_files as select * from public.files",
        "FAIL  error    lint security_definer_view",
    ),
    "policy trusts user_metadata": (
        "create policy meta on public.audit_logs for select to authenticated "
        "using ((select auth.jwt()) -> 'user_metadata' ->> 'tenant' = tenant_id::text)",
        "FAIL  error    lint rls_references_user_metadata",
    ),
}
WARNINGS = {
    "per-row auth.uid()": (
        "create policy mine on public.audit_logs as restrictive for select to authenticated using (user_id = auth.uid())",
        "WARN  warning  lint auth_rls_initplan",
    ),
    "two permissive policies": (
        "create policy mine on public.audit_logs for select to authenticated using (user_id = (select auth.uid()))",
        "WARN  warning  lint multiple_permissive_policies",
    ),
    "function without search_path": (
        "create function public.unsafe() returns int language sql security definer as 'select 1'",
        "WARN  warning  lint function_search_path_mutable",
    ),
    "per-user table keyed by the user's id (as profiles)": (
        "create table public.accounts (id uuid primary key references auth.users (id), "
        "plan text); alter table public.accounts enable row level security;"
        "create policy own on public.accounts to authenticated using (id = (select auth.uid()))",
        "public.accounts (id holds user ids)",
    ),
    "missing tenant_id index": (
        "drop index public.files_tenant_id_idx",
        "WARN  warning  index on tenant_id",
    ),
    "duplicate index": (
        "create index files_tenant_id_again on public.files (tenant_id)",
        "WARN  warning  lint duplicate_index",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_each_error_is_caught(migrated: Any, case: str) -> None:
    """Each way of breaking tenancy makes verify fail (exit 1) with the check that caught it."""
    sql, expected = ERRORS[case]
    _run(migrated.target, sql)
    result = migrated.invoke("verify")
    assert result.returncode == 1
    assert expected in result.stdout, result.stdout


@pytest.mark.parametrize("case", list(WARNINGS))
def test_each_warning_fails_only_with_strict(migrated: Any, case: str) -> None:
    """A warning is shown (exit 0) and fails verify only under --strict."""
    sql, expected = WARNINGS[case]
    _run(migrated.target, sql)
    result = migrated.invoke("verify")
    assert result.returncode == 0, result.stdout
    assert expected in result.stdout, result.stdout
    assert migrated.invoke("verify", "--strict").returncode == 1


@pytest.fixture
def bare(project: Any) -> Any:
    """The shipped migrations over platform tables with data and no RLS of the app's own."""
    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=10, rows_per_user=3, app=False)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    return project


def test_rollback_verify_migrate_round_trip(bare: Any) -> None:
    """rollback-rls turns RLS off (verify says so), twice is a no-op, migrate turns it back on."""
    migrated = bare
    dry = migrated.invoke("rollback-rls", "--dry")
    assert dry.returncode == 0 and "disable row level security" in dry.stdout
    assert migrated.invoke("verify", "--no-probe").returncode == 0  # --dry changed nothing
    first = migrated.invoke("rollback-rls", "--skip-confirm")
    assert first.returncode == 0 and "RLS rolled back" in first.stdout
    second = migrated.invoke("rollback-rls", "--skip-confirm")
    assert second.returncode == 0 and "Nothing to roll back" in second.stdout
    off = migrated.invoke("verify", "--no-probe")
    assert off.returncode == 1 and "FAIL  error    RLS public.files" in off.stdout
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from public.files where tenant_id is not null")
        assert cur.fetchone() == (30,)  # data and columns stay
    assert "`invoke migrate --migration 004` then `invoke migrate --migration 005`" in first.stdout
    again = migrated.invoke("migrate", "--skip-confirm")
    assert again.returncode == 0 and "004_enable_rls_policies ... ok" in again.stdout
    assert "005_enforce_tenant_boundary ... ok" in again.stdout
    assert migrated.invoke("verify").returncode == 0


def test_rollback_one_table(bare: Any) -> None:
    """--table rolls back only that table's RLS and policies."""
    migrated = bare
    assert migrated.invoke("rollback-rls", "--skip-confirm", "--table", "files").returncode == 0
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select relname, relrowsecurity from pg_class where relname in ('files', 'sessions') and relnamespace = 'public'::regnamespace order by 1"
        )
        assert cur.fetchall() == [("files", False), ("sessions", True)]
    bad = migrated.invoke("rollback-rls", "--skip-confirm", "--table", "nope")
    assert bad.returncode == 2


def test_verify_sql_is_printable(migrated: Any) -> None:
    """--sql prints the verification queries without connecting, and they run in real psql."""
    from helpers.project import paste_into_psql
    from supamigrate.tenant import VERIFY_SQL

    assert "users_without_tenant" in VERIFY_SQL and "rls_enabled" in VERIFY_SQL
    unreachable = migrated.target.url().replace(f":{migrated.target.port}/", ":1/")
    printed = migrated.invoke("verify", "--sql", url=unreachable)
    assert printed.returncode == 0 and printed.stdout.strip() == VERIFY_SQL.strip()
    psql = paste_into_psql(migrated.target, printed.stdout)
    assert psql.returncode == 0, psql.stderr
    assert (
        "users_without_tenant" in psql.stdout and " 0\n" in psql.stdout
    )  # every user has a tenant


def test_a_percent_sign_in_a_table_name_is_probed(migrated: Any) -> None:
    """A tenant table named with % is probed like any other: no crash, named in the probe."""
    _run(
        migrated.target,
        'create table public."pct%d" (id int primary key, tenant_id uuid references public.tenants (id));'
        'alter table public."pct%d" enable row level security;'
        'create policy "pct: members" on public."pct%d" to authenticated '
        "using (tenant_id = any (array(select public.current_user_tenant_ids())))"
        " with check (tenant_id = any (array(select public.current_user_tenant_ids())));",
    )
    result = migrated.invoke("verify")
    assert "Traceback" not in result.stdout + result.stderr
    assert 'public."pct%d"' in result.stdout, result.stdout
