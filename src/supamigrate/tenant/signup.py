"""The signup probe: insert a user into auth.users as Supabase Auth (GoTrue) does, and check
that the user comes out with a tenant and an owner membership.

GoTrue connects as supabase_auth_admin with search_path `auth`; a trigger on auth.users that
cannot run as that role fails every signup ("Database error saving new user"). Everything here
happens under a savepoint that is rolled back.
"""

from __future__ import annotations

import json
import uuid

import psycopg2
from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.catalog import column_list, one
from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.names import AUTH_ADMIN, MEMBERSHIPS, TENANTS

NAME = "signup as the auth server"
_FIX = (
    "make each trigger function on auth.users `security definer` with `set search_path = ''` "
    "and schema-qualified names (as 001's public.handle_new_user_tenant is), or grant "
    f"{AUTH_ADMIN} exactly what it needs"
)
# A signup as GoTrue writes it: email provider metadata, the name the app passed in.
_INSERT = """
insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated', 'authenticated', %s, '',
        %s, %s, now(), now())"""
_APP_META = json.dumps({"provider": "email", "providers": ["email"]})


def signup_probe(cur: Cursor) -> list[Check]:
    """One user signs up as the auth server would; a tenant and owner membership must follow."""
    cur.execute("savepoint supamigrate_signup")
    try:
        acting, fallback = _become_auth_server(cur)
        user = str(uuid.uuid4())
        try:
            cur.execute(
                _INSERT,
                (user, f"signup-{user}@example.invalid", _APP_META, '{"full_name": "Probe"}'),
            )
        except psycopg2.Error as exc:
            reason = f"the insert into auth.users as {acting} fails: {describe(exc)}"
            return [Check(NAME, Level.ERROR, False, reason, _FIX)]
        cur.execute("reset role")
        checks = [_outcome(cur, user, acting)]
    except psycopg2.Error as exc:
        checks = [Check(NAME, Level.ERROR, False, f"could not run: {describe(exc)}", _FIX)]
        fallback = ""
    finally:
        cur.execute("rollback to savepoint supamigrate_signup")
    return checks + _unproven(cur, fallback)


def describe(exc: psycopg2.Error) -> str:
    """The server's message, plus the function it was raised in (a trigger's, say)."""
    message = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
    context = (exc.diag.context or "").strip().splitlines()
    where = [line for line in context if "function" in line] or context
    return f"{message} (in {where[0]})" if where else message


def _become_auth_server(cur: Cursor) -> tuple[str, str]:
    """Act as supabase_auth_admin with its search_path; (who we act as, why not if we can't)."""
    me = str(one(cur, "select current_user"))
    if not one(cur, "select exists (select 1 from pg_roles where rolname = %s)", (AUTH_ADMIN,)):
        return me, f"there is no {AUTH_ADMIN} role"
    if not one(cur, "select pg_has_role(current_user, %s, 'member')", (AUTH_ADMIN,)):
        # Membership only for this savepoint: Postgres 15 lets a CREATEROLE role grant it;
        # Supabase's supautils or Postgres 16+ may refuse, and then we say what we could not do.
        cur.execute("savepoint supamigrate_grant")
        try:
            cur.execute(f'grant "{AUTH_ADMIN}" to current_user')
        except psycopg2.Error as exc:
            cur.execute("rollback to savepoint supamigrate_grant")
            return me, f"cannot act as {AUTH_ADMIN}: {describe(exc)}"
    cur.execute(f'set local role "{AUTH_ADMIN}"')
    cur.execute("select set_config('search_path', %s, true)", (_auth_search_path(cur),))
    return AUTH_ADMIN, ""


def _auth_search_path(cur: Cursor) -> str:
    """The search_path the auth server's sessions get (Supabase sets `auth` on its role)."""
    found = column_list(
        cur,
        "select substr(c, length('search_path=') + 1) from pg_db_role_setting s "
        "join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c "
        "where r.rolname = %s and c like 'search_path=%%' order by s.setdatabase desc",
        (AUTH_ADMIN,),
    )
    return str(found[0]) if found else "auth"


def _outcome(cur: Cursor, user: str, acting: str) -> Check:
    cur.execute(
        "select count(*), count(*) filter (where ut.role = 'owner') "
        f"from public.{MEMBERSHIPS} ut join public.{TENANTS} t on t.id = ut.tenant_id "
        "where ut.user_id = %s",
        (user,),
    )
    tenants, owned = cur.fetchone() or (0, 0)
    if owned == 0:
        detail = f"a user inserted as {acting} got {tenants} tenant(s), no owner membership"
        return Check(NAME, Level.ERROR, False, detail, "run `invoke migrate` (001)")
    detail = f"a user inserted as {acting} got a tenant and an owner membership; nothing kept"
    return Check(NAME, Level.ERROR, True, detail)


def _unproven(cur: Cursor, fallback: str) -> list[Check]:
    """Where we could not act as the auth server, name the triggers that would run as it."""
    if not fallback:
        return []
    invokers = column_list(
        cur,
        "select format('%I.%I()', n.nspname, p.proname) from pg_trigger g "
        "join pg_proc p on p.oid = g.tgfoid join pg_namespace n on n.oid = p.pronamespace "
        "where g.tgrelid = to_regclass('auth.users') and not g.tgisinternal and not p.prosecdef "
        "order by 1",
    )
    name = "signup triggers running as the auth server"
    if not invokers:
        return [Check(name, Level.WARNING, True, f"none (all security definer; {fallback})")]
    detail = f"{', '.join(invokers)} run as {AUTH_ADMIN} on signup, unproven: {fallback}"
    return [Check(name, Level.WARNING, False, detail, _FIX)]
