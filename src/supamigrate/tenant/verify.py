"""`invoke verify`: prove the tenant migrations did what they should, and lint the schema.

Every check is a read-only query, except the probes (signup and isolation), which write inside
the caller's transaction, each under a savepoint that is always rolled back; the caller rolls
the whole transaction back too.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.boundary import boundary_checks
from supamigrate.tenant.bypass import bypass_checks
from supamigrate.tenant.catalog import (
    column_list,
    exposed_schemas,
    has_column,
    one,
    tenant_tables,
    user_row_tables,
)
from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.lints import lints
from supamigrate.tenant.names import (
    FILES_TRIGGER,
    HELPERS,
    MEMBERSHIPS,
    PLATFORM_TABLES,
    SIGNUP_TRIGGER,
    TENANTS,
    TRIGGERS,
)
from supamigrate.tenant.probe import isolation_probe
from supamigrate.tenant.signup import signup_probe

_MIGRATE = "run `invoke migrate`"
# also after rollback-rls and later migrations
_REENABLE = "run `invoke migrate --migration 004`, then `invoke migrate --migration 005`"


def run_checks(cur: Cursor, *, probe: bool, api_schemas: Sequence[str] = ()) -> list[Check]:
    """Every check, in reading order: structure, RLS, data, the probes, then the lints.
    `api_schemas`: what supabase/config.toml's `[api] schemas` exposes too."""
    schemas = exposed_schemas(cur, api_schemas)
    present = column_list(
        cur,
        "select 'public.' || t from unnest(%s::text[]) t "
        "where to_regclass('public.' || t) is not null",
        (list(PLATFORM_TABLES),),
    )
    scoped = tenant_tables(cur, schemas)
    checks = [*_structure(cur, present), *_rls(cur, [*present, *scoped])]
    checks += [*boundary_checks(cur, scoped), *bypass_checks(cur, schemas, scoped)]
    checks += [*_counts(cur, present), *_tenant_indexes(cur, scoped), *_user_rows(cur, schemas)]
    if probe:
        checks += [*signup_probe(cur), *isolation_probe(cur, scoped)]
    return [*checks, *lints(cur, schemas)]


def _presence(name: str, missing: list[str], found: str, fix: str) -> Check:
    if missing:
        return Check(name, Level.ERROR, False, f"missing: {', '.join(missing)}", fix)
    return Check(name, Level.ERROR, True, found)


def _structure(cur: Cursor, present: list[str]) -> list[Check]:
    checks = []
    for table in (f"public.{TENANTS}", f"public.{MEMBERSHIPS}"):
        missing = [] if one(cur, "select to_regclass(%s) is not null", (table,)) else [table]
        checks.append(_presence(f"table {table}", missing, "exists", f"{_MIGRATE} (001)"))
    for table in present:
        missing = [] if has_column(cur, table, "tenant_id") else ["tenant_id"]
        name = f"column {table}.tenant_id"
        checks.append(_presence(name, missing, "exists", f"{_MIGRATE} (002)"))
    missing = column_list(
        cur,
        "select h from unnest(%s::text[]) h where to_regprocedure('public.' || h || '()') is null",
        (list(HELPERS),),
    )
    checks.append(_presence("helper functions", missing, ", ".join(HELPERS), f"{_MIGRATE} (001)"))
    triggers = dict(TRIGGERS)
    if "public.files" in present:
        triggers[FILES_TRIGGER[0]] = FILES_TRIGGER[1]
    found = set(
        column_list(
            cur,
            "select tgname from pg_trigger where not tgisinternal and tgname = any(%s)",
            (list(triggers),),
        )
    )
    lost = [f"{name} on {table}" for name, table in triggers.items() if name not in found]
    checks.append(_presence("triggers", lost, ", ".join(triggers), f"{_MIGRATE} (001, 002)"))
    # tgtype bit 2: BEFORE. AFTER, an app trigger sorting first (on_auth_user_created) would
    # find no tenant for the new user.
    if one(
        cur,
        "select exists (select 1 from pg_trigger where tgrelid = to_regclass('auth.users') "
        "and tgname = %s and tgtype & 2 = 0)",
        (SIGNUP_TRIGGER,),
    ):
        detail = (
            f"{SIGNUP_TRIGGER} fires AFTER insert: app triggers sorting before it find no tenant"
        )
        fix = "run `invoke migrate --migration 005` (it makes the tenant BEFORE the insert)"
        checks.append(Check("signup trigger order", Level.ERROR, False, detail, fix))
    return checks


def _rls(cur: Cursor, tables: list[str]) -> list[Check]:
    """RLS on, with at least one policy, on every tenant table: without it tenants share rows."""
    checks = []
    for table in dict.fromkeys([f"public.{TENANTS}", f"public.{MEMBERSHIPS}", *tables]):
        cur.execute(
            "select c.relrowsecurity, (select count(*) from pg_policy p where p.polrelid = c.oid) "
            "from pg_class c where c.oid = to_regclass(%s)",
            (table,),
        )
        row = cur.fetchone()
        if row is None:
            continue
        enabled, policies = row
        ok = bool(enabled) and policies > 0
        detail = (
            f"RLS {'on' if enabled else 'OFF'}, {policies} polic{'y' if policies == 1 else 'ies'}"
        )
        fix = "" if ok else f"{_REENABLE}, or enable RLS on {table} and add tenant policies"
        checks.append(Check(f"RLS {table}", Level.ERROR, ok, detail, fix))
    return checks


def _counts(cur: Cursor, present: list[str]) -> list[Check]:
    if one(cur, f"select to_regclass('public.{MEMBERSHIPS}') is null"):
        return []
    tenants = one(cur, f"select count(*) from public.{TENANTS}")
    members = one(cur, f"select count(*) from public.{MEMBERSHIPS}")
    orphans = one(
        cur,
        "select count(*) from auth.users u where not exists "
        f"(select 1 from public.{MEMBERSHIPS} ut where ut.user_id = u.id)",
    )
    backfill = "run the backfill again: `invoke migrate --migration 003`"
    checks = [
        Check("counts", Level.INFO, True, f"{tenants} tenants, {members} memberships"),
        Check("users without a tenant", Level.ERROR, orphans == 0, str(orphans), backfill),
    ]
    for table in present:
        if not has_column(cur, table, "tenant_id"):
            continue
        cur.execute(
            "select count(*) filter (where u.id is not null), count(*) filter (where u.id is null) "
            f"from {table} x left join auth.users u on u.id = x.user_id where x.tenant_id is null"
        )
        valid, invalid = cur.fetchone() or (0, 0)
        detail = f"{valid} with a valid user (must be 0), {invalid} with no or unknown user"
        checks.append(
            Check(f"{table} rows without tenant_id", Level.ERROR, valid == 0, detail, backfill)
        )
    return checks


def _tenant_indexes(cur: Cursor, scoped: list[str]) -> list[Check]:
    """Every tenant policy filters on tenant_id: without an index each query scans the table."""
    unindexed = column_list(
        cur,
        "select t from unnest(%s::text[]) t where not exists (select 1 from pg_index i "
        "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0] "
        "where i.indrelid = to_regclass(t) and a.attname = 'tenant_id')",
        (scoped,),
    )
    if not unindexed:
        return [Check("index on tenant_id", Level.WARNING, True, f"{len(scoped)} table(s)")]
    return [
        Check(
            "index on tenant_id",
            Level.WARNING,
            False,
            t,
            f"create index concurrently on {t} (tenant_id)",
        )
        for t in unindexed
    ]


def _user_rows(cur: Cursor, schemas: list[str]) -> list[Check]:
    """Per-user rows the API serves with no tenant_id: they stay outside tenant isolation."""
    found = user_row_tables(cur, schemas)
    name = "user rows without tenant_id"
    if not found:
        return [Check(name, Level.WARNING, True, "none")]
    fix = "add tenant_id (as 002 does), backfill it and scope the policies to tenant members"
    return [
        Check(name, Level.WARNING, False, f"{t} ({column} holds user ids)", fix)
        for t, column in found
    ]
