"""What the tenant boundary cannot bound: app objects that hand tenant rows past RLS.

RLS binds queries on a table; these do not go through it, so verify fails on each (error,
naming the object) and says how to close it:
- a SECURITY DEFINER function the API roles may execute (its owner bypasses RLS) that reads a
  tenant table;
- a materialized view in an exposed schema over a tenant table (no RLS on a matview);
- a trigger on a tenant table that writes into a table without the boundary that the API
  reads (each tenant's rows copied where every user sees them);
- a foreign key between two tenant tables that does not include tenant_id: a row of one
  tenant can point at another tenant's (foreign key checks do not see RLS), and a cascade
  then deletes or changes the other tenant's rows.
Function bodies are matched by name (a body is text to Postgres), so a finding can be a
false alarm: the fix line says how to make it go away either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.names import HELPERS

_API = (
    "(has_function_privilege('anon', p.oid, 'execute') "
    "or has_function_privilege('authenticated', p.oid, 'execute'))"
)

# %(tables)s: regclass texts of the tenant tables; %(names)s: their bare names;
# %(schemas)s: exposed schemas; %(helpers)s: 001's helpers (they return the caller's own ids).
_DEFINER = f"""
select format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       pg_get_userbyid(p.proowner),
       (select string_agg(t, ', ' order by t) from unnest(%(tables)s::text[]) t
        where p.prosrc ~* ('\\m' || regexp_replace(split_part(t, '.', 2), '\\W', '.', 'g') || '\\M')
           or exists (select 1 from pg_depend d where d.objid = p.oid
                      and d.refobjid = to_regclass(t)))
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where p.prosecdef and n.nspname = any(%(schemas)s) and p.prorettype <> 'trigger'::regtype
  and p.prokind in ('f', 'p') and {_API}
  and not (n.nspname = 'public' and p.proname = any(%(helpers)s))
  and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by 1"""

_MATVIEWS = """
select format('%%I.%%I', n.nspname, c.relname),
       string_agg(distinct d.refobjid::regclass::text, ', ')
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_rewrite r on r.ev_class = c.oid
join pg_depend d on d.objid = r.oid and d.refobjid = any(%(oids)s::regclass[])
where c.relkind = 'm' and n.nspname = any(%(schemas)s)
  and (has_table_privilege('anon', c.oid, 'select')
       or has_table_privilege('authenticated', c.oid, 'select'))
group by n.nspname, c.relname order by 1"""

# Tables the API reads that are not tenant tables (nor tenants/user_tenants, bounded by 005).
_OPEN_TABLES = """
select format('%%I.%%I', n.nspname, c.relname), c.relname
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = any(%(schemas)s)
  and c.oid <> all(%(oids)s::regclass[])
  and c.oid not in (coalesce(to_regclass('public.tenants'), 0),
                    coalesce(to_regclass('public.user_tenants'), 0))
  and (has_table_privilege('anon', c.oid, 'select')
       or has_table_privilege('authenticated', c.oid, 'select'))
  -- and RLS lets somebody read it: off, or a permissive policy for reading
  and (not c.relrowsecurity
       or exists (select 1 from pg_policy p where p.polrelid = c.oid and p.polpermissive
                  and p.polcmd in ('r', '*')))
order by 1"""

_TRIGGERS = """
select g.tgname, g.tgrelid::regclass::text, p.oid::regprocedure::text, p.prosrc
from pg_trigger g join pg_proc p on p.oid = g.tgfoid
where not g.tgisinternal and g.tgrelid = any(%(oids)s::regclass[])
order by 2, 1"""

_FOREIGN_KEYS = """
select k.conname, k.conrelid::regclass::text, k.confrelid::regclass::text,
       (select string_agg(a.attname, ', ' order by a.attnum) from pg_attribute a
        where a.attrelid = k.conrelid and a.attnum = any(k.conkey))
from pg_constraint k
where k.contype = 'f' and k.conrelid = any(%(oids)s::regclass[])
  and k.confrelid = any(%(oids)s::regclass[])
  and not exists (
    select 1 from unnest(k.conkey, k.confkey) as pair(src, dst)
    join pg_attribute s on s.attrelid = k.conrelid and s.attnum = pair.src
    join pg_attribute d on d.attrelid = k.confrelid and d.attnum = pair.dst
    where s.attname = 'tenant_id' and d.attname = 'tenant_id')
order by 2, 1"""


# Views over tenant tables: a definer function reading one reads the tables past RLS too.
_VIEWS = """
select distinct format('%%I.%%I', n.nspname, c.relname)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_rewrite r on r.ev_class = c.oid
join pg_depend d on d.objid = r.oid and d.refobjid = any(%(oids)s::regclass[])
where c.relkind in ('v', 'm') order by 1"""


def bypass_checks(cur: Cursor, schemas: list[str], scoped: list[str]) -> list[Check]:
    """One check per finding (error), or one passing line naming what was looked at."""
    cur.execute(_VIEWS, {"oids": scoped})
    reach = [*scoped, *(str(row[0]) for row in cur.fetchall())]
    params: dict[str, object] = {
        "tables": reach,
        "oids": scoped,
        "schemas": schemas,
        "helpers": list(HELPERS),
    }
    found = [
        *_definers(cur, params),
        *_matviews(cur, params),
        *_triggers(cur, params),
        *_foreign_keys(cur, params),
    ]
    if found:
        return found
    detail = "no definer function, matview, copying trigger or foreign key hands tenant rows on"
    return [Check("RLS bypass", Level.ERROR, True, detail)]


def _definers(cur: Cursor, params: Mapping[str, object]) -> list[Check]:
    cur.execute(_DEFINER, params)
    checks = []
    for function, owner, reads in cur.fetchall():
        if not reads:
            continue
        detail = (
            f"{function} is security definer (runs as {owner}, past RLS), the API roles may "
            f"execute it, and it reads {reads}"
        )
        fix = (
            f"alter function {function} security invoker; or revoke execute on function "
            f"{function} from public, anon, authenticated"
        )
        checks.append(
            Check("RLS bypass: security definer function", Level.ERROR, False, detail, fix)
        )
    return checks


def _matviews(cur: Cursor, params: Mapping[str, object]) -> list[Check]:
    cur.execute(_MATVIEWS, params)
    return [
        Check(
            "RLS bypass: materialized view",
            Level.ERROR,
            False,
            f"{view} copies rows of {reads} and the API may read it (no RLS on a matview)",
            f"revoke select on {view} from anon, authenticated; or move it out of the exposed "
            "schemas",
        )
        for view, reads in cur.fetchall()
    ]


def _triggers(cur: Cursor, params: Mapping[str, object]) -> list[Check]:
    cur.execute(_OPEN_TABLES, params)
    open_tables = cur.fetchall()
    cur.execute(_TRIGGERS, params)
    checks = []
    for trigger, table, function, body in cur.fetchall():
        into = [
            name
            for name, bare in open_tables
            if re.search(rf"\b{re.escape(bare)}\b", body or "", re.IGNORECASE)
        ]
        if not into:
            continue
        targets = ", ".join(into)
        detail = (
            f"trigger {trigger} on {table} ({function}) writes into {targets}, which the API "
            "reads without the tenant boundary"
        )
        fix = (
            f"give {targets} a tenant_id filled from the row, then run "
            "`invoke migrate --migration 005`; or revoke select on it from anon, authenticated"
        )
        checks.append(
            Check("RLS bypass: trigger copies tenant rows", Level.ERROR, False, detail, fix)
        )
    return checks


def _foreign_keys(cur: Cursor, params: Mapping[str, object]) -> list[Check]:
    cur.execute(_FOREIGN_KEYS, params)
    checks = []
    for name, table, target, columns in cur.fetchall():
        detail = (
            f"{name}: {table} ({columns}) references {target} without tenant_id, so a row can "
            f"point at another tenant's (key checks do not see RLS; a cascade then crosses)"
        )
        fix = (
            f"alter table {target} add unique (tenant_id, <key>); then replace {name} with "
            f"foreign key (tenant_id, {columns}) references {target} (tenant_id, <key>)"
        )
        checks.append(Check("cross-tenant foreign key", Level.ERROR, False, detail, fix))
    return checks
