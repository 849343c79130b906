"""`invoke verify`: prove the tenant migrations did what they should, and lint the schema.

Every check is a read-only query, except the isolation probe, which writes inside one
transaction that is always rolled back. Lints follow Supabase's database linter in spirit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

PLATFORM_TABLES = ("files", "audit_logs", "sessions")
HELPERS = ("current_user_tenant_ids", "current_user_admin_tenant_ids", "user_default_tenant_id")
# type name -> a literal any NOT NULL column of that type accepts, for the probe's rows
_PROBE_VALUES = {
    "uuid": "gen_random_uuid()",
    "text": "'probe'",
    "character varying": "'probe'",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "numeric": "0",
    "boolean": "false",
    "timestamp with time zone": "now()",
    "timestamp without time zone": "now()",
    "date": "current_date",
    "jsonb": "'{}'",
    "json": "'{}'",
    "inet": "'127.0.0.1'",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(cur: Any, *, probe: bool) -> list[Check]:
    present = _present_platform_tables(cur)
    checks = [*_structure(cur, present), *_rls(cur, present), *_counts(cur, present)]
    if probe:
        checks.append(_probe(cur, present))
    checks.extend(lints(cur))
    return checks


def _present_platform_tables(cur: Any) -> list[str]:
    cur.execute(
        "select t from unnest(%s::text[]) t where to_regclass('public.' || t) is not null",
        (list(PLATFORM_TABLES),),
    )
    return [row[0] for row in cur.fetchall()]


def _one(cur: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    cur.execute(sql, params)
    return cur.fetchone()[0]


def _presence(name: str, missing: list[str], found: str, fix: str) -> Check:
    if missing:
        return Check(name, False, f"missing: {', '.join(missing)}", fix)
    return Check(name, True, found)


def _structure(cur: Any, present: list[str]) -> list[Check]:
    checks = []
    for table in ("tenants", "user_tenants"):
        exists = _one(cur, "select to_regclass(%s) is not null", (f"public.{table}",))
        missing = [] if exists else [f"public.{table}"]
        checks.append(
            _presence(f"table public.{table}", missing, "exists", "run `invoke migrate` (001)")
        )
    for table in present:
        has = _one(
            cur,
            "select count(*) = 1 from information_schema.columns where table_schema = 'public' "
            "and table_name = %s and column_name = 'tenant_id'",
            (table,),
        )
        missing = [] if has else ["tenant_id"]
        name = f"column public.{table}.tenant_id"
        checks.append(_presence(name, missing, "exists", "run `invoke migrate` (002)"))
    cur.execute(
        "select h from unnest(%s::text[]) h where to_regprocedure('public.' || h || '()') is null",
        (list(HELPERS),),
    )
    missing = [row[0] for row in cur.fetchall()]
    fix = "run `invoke migrate` (001)"
    checks.append(_presence("helper functions", missing, ", ".join(HELPERS), fix))
    triggers = {
        "on_auth_user_created_tenant": "auth.users",
        "tenants_set_updated_at": "public.tenants",
    }
    if "files" in present:
        triggers["files_set_tenant_id"] = "public.files"
    cur.execute(
        "select tgname from pg_trigger where not tgisinternal and tgname = any(%s)",
        (list(triggers),),
    )
    found = {row[0] for row in cur.fetchall()}
    lost = [f"{name} on {table}" for name, table in triggers.items() if name not in found]
    fix = "run `invoke migrate` (001, 002)"
    checks.append(_presence("triggers", lost, ", ".join(triggers), fix))
    return checks


def _rls(cur: Any, present: list[str]) -> list[Check]:
    checks = []
    for table in ("tenants", "user_tenants", *present):
        cur.execute(
            "select c.relrowsecurity, (select count(*) from pg_policy p where p.polrelid = c.oid) "
            "from pg_class c where c.oid = to_regclass(%s)",
            (f"public.{table}",),
        )
        row = cur.fetchone()
        if row is None:
            continue
        enabled, policies = row
        ok = bool(enabled) and policies > 0
        detail = (
            f"RLS {'on' if enabled else 'OFF'}, {policies} polic{'y' if policies == 1 else 'ies'}"
        )
        checks.append(
            Check(f"RLS public.{table}", ok, detail, "" if ok else "run `invoke migrate` (004)")
        )
    return checks


def _counts(cur: Any, present: list[str]) -> list[Check]:
    if _one(cur, "select to_regclass('public.user_tenants') is null"):
        return []
    tenants = _one(cur, "select count(*) from public.tenants")
    members = _one(cur, "select count(*) from public.user_tenants")
    orphans = _one(
        cur,
        "select count(*) from auth.users u where not exists "
        "(select 1 from public.user_tenants ut where ut.user_id = u.id)",
    )
    checks = [
        Check("counts", True, f"{tenants} tenants, {members} memberships"),
        Check(
            "users without a tenant",
            orphans == 0,
            str(orphans),
            "" if orphans == 0 else "run the backfill again: `invoke migrate --migration 003`",
        ),
    ]
    for table in present:
        if not _one(
            cur,
            "select count(*) = 1 from information_schema.columns where table_schema"
            " = 'public' and table_name = %s and column_name = 'tenant_id'",
            (table,),
        ):
            continue
        cur.execute(
            "select count(*) filter (where u.id is not null), "
            "count(*) filter (where u.id is null) "
            f"from public.{table} x left join auth.users u on u.id = x.user_id "
            f"where x.tenant_id is null"
        )
        valid, invalid = cur.fetchone()
        checks.append(
            Check(
                f"public.{table} rows without tenant_id",
                valid == 0,
                f"{valid} with a valid user (must be 0), {invalid} with no or unknown user",
                "" if valid == 0 else "run the backfill again: `invoke migrate --migration 003`",
            )
        )
    return checks


# --- the isolation probe -------------------------------------------------------------------------


def _probe(cur: Any, present: list[str]) -> Check:
    """Two users, a row each per table, acting as each; always rolled back."""
    import psycopg2

    name = "isolation probe"
    cur.execute("savepoint supamigrate_probe")
    try:
        problems = _probe_steps(cur, present)
    except psycopg2.Error as exc:
        problems = [f"could not run: {str(exc).strip().splitlines()[0]}"]
    finally:
        cur.execute("rollback to savepoint supamigrate_probe")
    if problems:
        return Check(
            name, False, "; ".join(problems), "fix the policies (see `invoke verify` lints)"
        )
    tables = ", ".join(present) or "no platform tables"
    return Check(
        name,
        True,
        f"2 probe users isolated across tenants, user_tenants, {tables}; "
        "anon sees nothing; nothing kept",
    )


def _probe_steps(cur: Any, present: list[str]) -> list[str]:
    users = [str(uuid.uuid4()) for _ in range(2)]
    for user in users:
        cur.execute(
            "insert into auth.users (id, email, aud, role) values "
            "(%s, %s, 'authenticated', 'authenticated')",
            (user, f"probe-{user}@example.invalid"),
        )
    tenant_of = {}
    for user in users:
        cur.execute("select tenant_id from public.user_tenants where user_id = %s", (user,))
        row = cur.fetchone()
        if row is None:
            return ["a new user got no tenant (is the 001 trigger on auth.users there?)"]
        tenant_of[user] = str(row[0])
    probe_rows: dict[str, list[str]] = {}
    for table in present:
        insert = _probe_insert(cur, table)
        if insert is None:
            continue
        probe_rows[table] = []
        for user in users:
            cur.execute(insert + " returning id::text", (user, tenant_of[user]))
            probe_rows[table].append(cur.fetchone()[0])
    problems: list[str] = []
    for index, user in enumerate(users):
        other = users[1 - index]
        _act(cur, "authenticated", user)
        if _one(cur, "select count(*) from public.tenants") != 1:
            problems.append("a user sees tenants they are not in")
        for table, ids in probe_rows.items():
            cur.execute(f"select id::text from public.{table} where id::text = any(%s)", (ids,))
            seen = {row[0] for row in cur.fetchall()}
            if seen != {ids[index]}:
                problems.append(f"{table}: user sees {len(seen)} of the 2 probe rows (must be 1)")
            if _can_insert(cur, table, _probe_insert(cur, table), other, tenant_of[other]):
                problems.append(f"{table}: user can insert into another tenant")
        cur.execute("reset role")
    _act(cur, "anon", None)
    for table in ("tenants", "user_tenants", *probe_rows):
        if _one(cur, f"select count(*) from public.{table}") != 0:
            problems.append(f"{table}: anon sees rows")
    cur.execute("reset role")
    return problems


def _act(cur: Any, role: str, user: str | None) -> None:
    cur.execute(f"set local role {role}")
    claims = {"role": role} if user is None else {"sub": user, "role": role}
    cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


def _can_insert(cur: Any, table: str, insert: str | None, user: str, tenant: str) -> bool:
    import psycopg2

    if insert is None:
        return False
    cur.execute("savepoint supamigrate_insert")
    try:
        cur.execute(insert, (user, tenant))
        return True
    except psycopg2.Error:
        return False
    finally:
        cur.execute("rollback to savepoint supamigrate_insert")


def _probe_insert(cur: Any, table: str) -> str | None:
    """INSERT for a probe row: user_id, tenant_id, and a value for each other required column."""
    cur.execute(
        "select a.attname, format_type(a.atttypid, null) from pg_attribute a "
        "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped "
        "and a.attnotnull and not a.atthasdef and a.attidentity = '' and a.attgenerated = '' "
        "and a.attname not in ('user_id', 'tenant_id')",
        (f"public.{table}",),
    )
    columns, values = ["user_id", "tenant_id"], ["%s", "%s"]
    for column, type_name in cur.fetchall():
        if type_name not in _PROBE_VALUES:
            return None
        columns.append(f'"{column}"')
        values.append(_PROBE_VALUES[type_name])
    return f"insert into public.{table} ({', '.join(columns)}) values ({', '.join(values)})"


# --- lints ---------------------------------------------------------------------------------------

_LINTS = [
    (
        "table without RLS",
        """select format('public.%I', c.relname) from pg_class c
           where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
             and not c.relrowsecurity order by 1""",
        "alter table {obj} enable row level security; then add policies",
    ),
    (
        "RLS on but no policy",
        """select format('public.%I', c.relname) from pg_class c
           where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
             and c.relrowsecurity
             and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
           order by 1""",
        "create policies for {obj} (without one, only service_role and owners see rows)",
    ),
    (
        "policy calls auth function per row",
        """select format('%I on public.%I', policyname, tablename) from pg_policies
           where schemaname = 'public' and (
             coalesce(qual, '') || ' ' || coalesce(with_check, '')
           ) ~* '(auth\\.(uid|jwt|role)\\(\\)|current_setting\\()'
           and not (coalesce(qual, '') || ' ' || coalesce(with_check, ''))
             ~* '\\(\\s*select\\s+(auth\\.(uid|jwt|role)\\(\\)|current_setting\\()'
           order by 1""",
        "write (select auth.uid()) in policy {obj} so it is evaluated once per query",
    ),
    (
        "security definer function without fixed search_path",
        """select p.oid::regprocedure::text from pg_proc p
           where p.pronamespace = 'public'::regnamespace and p.prosecdef
             and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c
                             where c like 'search_path=%') order by 1""",
        "alter function {obj} set search_path = ''; and qualify every name in its body",
    ),
    (
        "foreign key or tenant_id without index",
        """select format('public.%I (%s)', c.relname, string_agg(a.attname, ', ' order by a.attnum))
           from pg_constraint k join pg_class c on c.oid = k.conrelid
           join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey)
           where k.contype = 'f' and c.relnamespace = 'public'::regnamespace
             and not exists (select 1 from pg_index i where i.indrelid = k.conrelid
                             and (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey)
           group by c.relname, k.oid
           union
           select format('public.%I (tenant_id)', c.relname) from pg_class c
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
           where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
             and not exists (select 1 from pg_index i
                             where i.indrelid = c.oid and i.indkey[0] = a.attnum)
           order by 1""",
        "create index concurrently on {obj}",
    ),
    (
        "several permissive policies for one role and action",
        """select format('public.%I: %s for %s %s', tablename, string_agg(policyname, ', '), r, a)
           from pg_policies, unnest(roles) r,
                unnest(case when cmd = 'ALL' then array['SELECT', 'INSERT', 'UPDATE', 'DELETE']
                            else array[cmd] end) a
           where schemaname = 'public' and permissive = 'PERMISSIVE'
           group by tablename, r, a having count(*) > 1 order by 1""",
        "merge them into one policy ({obj}): each permissive policy is evaluated for every row",
    ),
]


def lints(cur: Any) -> list[Check]:
    checks = []
    for name, sql, fix in _LINTS:
        cur.execute(sql)
        found = [row[0] for row in cur.fetchall()]
        if not found:
            checks.append(Check(f"lint: {name}", True, "none"))
        for obj in found:
            checks.append(Check(f"lint: {name}", False, obj, fix.format(obj=obj)))
    return checks


VERIFY_SQL = """-- Paste into the Supabase SQL editor to check the tenant migrations.
select to_regclass('public.tenants') is not null as tenants_exists,
       to_regclass('public.user_tenants') is not null as user_tenants_exists;
select c.relname, c.relrowsecurity as rls_enabled,
       (select count(*) from pg_policy p where p.polrelid = c.oid) as policies
from pg_class c
where c.relnamespace = 'public'::regnamespace
  and c.relname in ('tenants', 'user_tenants', 'files', 'audit_logs', 'sessions');
select (select count(*) from public.tenants) as tenants,
       (select count(*) from public.user_tenants) as memberships,
       (select count(*) from auth.users u where not exists
          (select 1 from public.user_tenants ut where ut.user_id = u.id)) as users_without_tenant;
"""
