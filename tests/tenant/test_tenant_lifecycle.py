"""Signups find their tenant whatever the app's triggers are named; leaving a tenant takes
effect at once; rollback-rls then re-applying returns the catalog exactly (policies, RLS flags,
grants) and never touches 001's RLS."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from helpers.catalog import snapshot
from helpers.platform_fixtures import populate
from helpers.tenancy import act_as, apply, copy_shipped
from supamigrate.connect.db import session

# An app trigger that sorts before ours and needs the new user's tenant: a welcome file in it.
WELCOME = """
create function public.a_handle_new_user() returns trigger language plpgsql security definer
set search_path = '' as $$
begin
  insert into public.files (user_id, tenant_id, name)
  values (new.id,
          (select ut.tenant_id from public.user_tenants ut where ut.user_id = new.id limit 1),
          'welcome.pdf');
  return new;
end $$;
create trigger a_handle_new_user after insert on auth.users
  for each row execute function public.a_handle_new_user();
"""


def _sign_up(pg_server: Any, database: str) -> str:
    """One signup as GoTrue makes it: as supabase_auth_admin, search_path auth, one
    transaction with the user's row and an update, committed (deferred keys checked)."""
    user = str(uuid.uuid4())
    admin = pg_server.admin.with_database(database)
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("set role supabase_auth_admin")
        cur.execute("set search_path = auth")
        cur.execute(
            "insert into users (instance_id, id, aud, role, email, raw_app_meta_data, "
            "raw_user_meta_data, created_at, updated_at) values "
            "('00000000-0000-0000-0000-000000000000', %s, 'authenticated', '', %s, "
            '\'{"provider": "email"}\', \'{"full_name": "New User"}\', now(), now())',
            (user, f"{user}@example.com"),
        )
        cur.execute("update users set role = 'authenticated' where id = %s", (user,))
    return user


def test_an_app_trigger_sorting_first_finds_the_tenant(pg_server: Any, db: Any) -> None:
    """`a_handle_new_user` and the app's `on_auth_user_created` both run after the tenant is
    made: the welcome file lands in the user's tenant, the profile exists, the user sees both."""
    with session(db) as conn, conn.cursor() as cur:
        populate(cur, users=2, rows_per_user=1)
    apply(db)
    with session(db) as conn, conn.cursor() as cur:
        cur.execute(WELCOME)
    user = _sign_up(pg_server, db.database)
    with session(db) as conn, conn.cursor() as cur:
        cur.execute(
            "select f.tenant_id = ut.tenant_id, ut.role, (select count(*) from public.profiles "
            "where id = %s) from public.files f join public.user_tenants ut "
            "on ut.user_id = f.user_id where f.user_id = %s",
            (user, user),
        )
        assert cur.fetchall() == [(True, "owner", 1)]
        act_as(cur, "authenticated", user)
        cur.execute("select name from public.files")
        assert cur.fetchall() == [("welcome.pdf",)]


def test_leaving_a_tenant_takes_effect_at_once(db: Any) -> None:
    """A member who leaves loses every row of the tenant at once, the ones they wrote too
    (although the app's own policy lets a user see their own files)."""
    with session(db) as conn, conn.cursor() as cur:
        owner, member = populate(cur, users=2, rows_per_user=2)
    apply(db)
    with session(db) as conn, conn.cursor() as cur:
        cur.execute("select tenant_id from public.user_tenants where user_id = %s", (owner,))
        (tenant,) = cur.fetchone()
        cur.execute(
            "insert into public.user_tenants (user_id, tenant_id, role) values (%s, %s, 'member')",
            (member, tenant),
        )
        conn.commit()
        act_as(cur, "authenticated", member)
        cur.execute(
            "insert into public.files (user_id, tenant_id, name) values (%s, %s, 'mine.pdf')",
            (member, tenant),
        )
        cur.execute("select count(*) from public.files where tenant_id = %s", (tenant,))
        assert cur.fetchone() == (3,)
        cur.execute(
            "delete from public.user_tenants where user_id = %s and tenant_id = %s returning 1",
            (member, tenant),
        )
        assert cur.fetchall() == [(1,)]  # members may leave
        conn.commit()
        act_as(cur, "authenticated", member)
        cur.execute("select count(*) from public.files where tenant_id = %s", (tenant,))
        assert cur.fetchone() == (0,)
        cur.execute("update public.files set name = 'x' where tenant_id = %s", (tenant,))
        assert cur.rowcount == 0


GRANTS = """
select n.nspname, c.relname, coalesce(c.relacl::text, ''), c.relrowsecurity,
       c.relforcerowsecurity
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname in ('public', 'auth', 'storage', 'supamigrate') order by 1, 2"""


def _catalog(target: Any) -> list[Any]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(GRANTS)
        grants = cur.fetchall()
        return [snapshot(cur), grants]


@pytest.mark.parametrize("app", [True, False], ids=["app policies", "no app RLS"])
def test_rollback_then_reapply_returns_the_catalog(project: Any, app: bool) -> None:
    """rollback-rls shows every statement, keeps 001's RLS (anon sees nothing), and re-applying
    as it says returns policies, RLS flags, grants and history exactly as they were."""
    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=4, rows_per_user=2, app=app)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    before = _catalog(project.target)
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select rel::text, policy, migration, inferred from supamigrate.tenant_rls order by 1, 2"
        )
        record = cur.fetchall()
    rolled = project.invoke("rollback-rls", "--skip-confirm", "--json")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    shown = json.loads(rolled.stdout)["sql"]
    assert "tenants disable" not in shown and "user_tenants disable" not in shown
    assert ('drop policy if exists "tenant boundary: select" on public.files;') in shown
    assert ("disable row level security" in shown) is (not app)
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select relname, relrowsecurity from pg_class where relname in "
            "('tenants', 'user_tenants') and relnamespace = 'public'::regnamespace order by 1"
        )
        assert cur.fetchall() == [("tenants", True), ("user_tenants", True)]
        act_as(cur, "anon")
        cur.execute(
            "select (select count(*) from public.tenants) + (select count(*) from public.user_tenants)"
        )
        assert cur.fetchone() == (0,)
    for number in ("004", "005"):
        again = project.invoke("migrate", "--migration", number, "--skip-confirm")
        assert again.returncode == 0, again.stdout + again.stderr
    assert _catalog(project.target) == before
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select rel::text, policy, migration, inferred from supamigrate.tenant_rls order by 1, 2"
        )
        assert cur.fetchall() == record
    assert project.invoke("verify").returncode == 0


def test_a_role_the_app_makes_is_bounded_too(db: Any) -> None:
    """The boundary is TO public: a role the app creates and lets read everything still sees
    only the rows of the tenants its JWT's user belongs to."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with session(db) as conn, conn.cursor() as cur:
        users = populate(cur, users=3, rows_per_user=2)
    apply(db)
    try:
        with session(db) as conn, conn.cursor() as cur:
            cur.execute(f"create role {role} nologin; grant {role} to postgres")
            cur.execute(f"grant usage on schema public to {role}")
            cur.execute(f"grant select, update, delete on public.files to {role}")
            cur.execute(f"create policy everything on public.files to {role} using (true)")
            conn.commit()
            act_as(cur, role, users[0])
            cur.execute("select count(*), count(distinct user_id) from public.files")
            assert cur.fetchone() == (2, 1)
            act_as(cur, role, None)
            cur.execute("select count(*) from public.files")
            assert cur.fetchone() == (0,)
    finally:
        with session(db) as conn, conn.cursor() as cur:
            cur.execute("drop policy if exists everything on public.files")
            cur.execute(f"drop owned by {role}; drop role {role}")
