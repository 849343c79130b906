"""The Supabase shim behaves like Supabase for the three API roles and the postgres role."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from supamigrate.local.shim import install_shim


def _act_as(cur: Any, role: str, sub: str | None = None) -> None:
    """What PostgREST does per request: switch role and set the JWT claims, transaction-local."""
    cur.execute(f"set local role {role}")
    claims = {"role": role} if sub is None else {"sub": sub, "role": role}
    cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


def test_authenticated_claims_make_auth_uid_the_user(conn: Any) -> None:
    """`set local role authenticated` plus claims: auth.uid(), auth.role(), auth.jwt() answer."""
    user = str(uuid.uuid4())
    conn.autocommit = False
    with conn.cursor() as cur:
        _act_as(cur, "authenticated", user)
        cur.execute("select auth.uid()::text, auth.role(), auth.jwt() ->> 'sub', current_user")
        assert cur.fetchone() == (user, "authenticated", user, "authenticated")
    conn.rollback()


def test_legacy_claim_sub_setting_still_works(conn: Any) -> None:
    """Old PostgREST set request.jwt.claim.sub; auth.uid() falls back to it."""
    user = str(uuid.uuid4())
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("select set_config('request.jwt.claim.sub', %s, true)", (user,))
        cur.execute("select auth.uid()::text")
        assert cur.fetchone() == (user,)
    conn.rollback()


def test_anon_has_no_uid(conn: Any) -> None:
    """An anonymous request has no user: auth.uid() is null."""
    conn.autocommit = False
    with conn.cursor() as cur:
        _act_as(cur, "anon")
        cur.execute("select auth.uid(), auth.role()")
        assert cur.fetchone() == (None, "anon")
    conn.rollback()


def test_rls_applies_to_users_and_not_to_service_role(conn: Any) -> None:
    """With RLS on, authenticated sees only its rows, anon nothing, service_role everything."""
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("create table public.notes (id serial primary key, owner uuid, body text)")
        cur.execute(
            "insert into public.notes (owner, body) values (%s, 'a'), (%s, 'b'), (%s, 'b2')",
            (alice, bob, bob),
        )
        cur.execute("alter table public.notes enable row level security")
        cur.execute(
            "create policy own on public.notes for select to authenticated "
            "using (owner = (select auth.uid()))"
        )
    conn.autocommit = False
    with conn.cursor() as cur:
        for role, sub, expected in [
            ("authenticated", alice, 1),
            ("authenticated", bob, 2),
            ("anon", None, 0),
            ("service_role", None, 3),
        ]:
            _act_as(cur, role, sub)
            cur.execute("select count(*) from public.notes")
            assert cur.fetchone() == (expected,), role
            conn.rollback()


def test_postgres_role_is_like_supabase(cur: Any) -> None:
    """Migrations run as a postgres that is not superuser but can create roles and bypass RLS."""
    cur.execute(
        "select rolsuper, rolcreaterole, rolbypassrls from pg_roles where rolname = current_user"
    )
    assert cur.fetchone() == (False, True, True)
    cur.execute("select rolbypassrls, rolcanlogin from pg_roles where rolname = 'service_role'")
    assert cur.fetchone() == (True, False)


def test_default_privileges_grant_new_tables_to_api_roles(cur: Any) -> None:
    """A table postgres creates in public is usable by the API roles, as on Supabase."""
    cur.execute("create table public.things (id int)")
    cur.execute(
        "select has_table_privilege('authenticated', 'public.things', 'select,insert'),"
        " has_table_privilege('anon', 'public.things', 'select')"
    )
    assert cur.fetchone() == (True, True)


def test_trigger_on_auth_users_is_allowed(cur: Any) -> None:
    """postgres may hang a trigger on auth.users (the documented new-user pattern)."""
    cur.execute(
        "create function public.noop() returns trigger language plpgsql as "
        "$$ begin return new; end $$"
    )
    cur.execute(
        "create trigger t after insert on auth.users for each row execute function public.noop()"
    )
    cur.execute("insert into auth.users (id, email) values (gen_random_uuid(), 'x@example.com')")
    cur.execute("select count(*) from auth.users")
    assert cur.fetchone() == (1,)


def test_shim_is_skipped_where_auth_users_exists(pg_server: Any, db: Any) -> None:
    """Installing again does nothing: the real (or already shimmed) auth schema is left alone."""
    assert install_shim(pg_server.admin.with_database(db.database)) is False


def test_auth_belongs_to_the_auth_admin(cur: Any) -> None:
    """supabase_auth_admin owns schema auth and auth.users, with GoTrue's search_path `auth`."""
    cur.execute(
        "select n.nspowner::regrole::text, c.relowner::regrole::text from pg_namespace n "
        "join pg_class c on c.relnamespace = n.oid where c.oid = 'auth.users'::regclass"
    )
    assert cur.fetchone() == ("supabase_auth_admin", "supabase_auth_admin")
    cur.execute(
        "select s.setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole "
        "where r.rolname = 'supabase_auth_admin'"
    )
    assert cur.fetchone() == (["search_path=auth"],)


def test_auth_admin_has_no_rights_on_public_tables(cur: Any) -> None:
    """Tables postgres creates in public are granted to the API roles, not to the auth server."""
    cur.execute("create table public.things (id int)")
    cur.execute(
        "select has_table_privilege('supabase_auth_admin', 'public.things', "
        "'select, insert, update, delete, references, trigger')"
    )
    assert cur.fetchone() == (False,)


def test_postgres_may_trigger_on_auth_users_but_not_own_it(cur: Any) -> None:
    """postgres has TRIGGER and DML on auth.users, is not the auth server, and cannot alter it."""
    import psycopg2

    cur.execute(
        "select has_table_privilege('auth.users', 'trigger, insert, select'), "
        "pg_has_role('supabase_auth_admin', 'member')"
    )
    assert cur.fetchone() == (True, False)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="must be owner"):
        cur.execute("alter table auth.users add column nickname text")
