"""What the tenant boundary cannot bound: app objects that hand tenant rows past RLS.

RLS binds queries on a table; these do not go through it, so verify fails on each (error,
naming the object) and says how to close it:
- a SECURITY DEFINER function the API roles may execute (its owner bypasses RLS), in any
  schema but Supabase's own, that reads a tenant table or a view over one, or runs SQL built
  at run time, itself or through any function it calls (see reach);
- a materialized view in an exposed schema over a tenant table (no RLS on a matview);
- a view that reads as its owner (not security_invoker; the owner bypasses RLS) or a
  matview, over a tenant table, in a schema the API does NOT serve but whose USAGE and
  SELECT the API roles hold: an invoker view or function in an exposed schema reads it with
  the caller's rights, and gets every tenant's rows (the exposed schemas' own such views are
  the security_definer_view lint's);
- a trigger on a tenant table that writes into a table without the boundary that the API
  reads (each tenant's rows copied where every user sees them), itself or through what it
  calls, or runs SQL built at run time there (verify cannot say where the rows go);
- a SECURITY DEFINER trigger on a table the API roles may write (not a tenant table: there the
  row passed the boundary) whose function reads or writes a tenant table, or runs SQL built at
  run time: a user who writes that table makes it act past RLS, e.g. put a row into another
  tenant's audit log with a tenant id of the user's choosing;
- a rule (CREATE RULE) on a table the API roles may write whose action names a tenant table
  (or a view over one): rule actions run with the rule's table owner's rights, past RLS;
- a foreign key between two tenant tables that does not include tenant_id: a row of one
  tenant can point at another tenant's (foreign key checks do not see RLS), and a cascade
  then deletes or changes the other tenant's rows.
Function bodies are matched by name (a body is text to Postgres), so a finding can be a
false alarm: the fix line says how to make it go away either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.doors import VETTED, definer_triggers, hidden_views, rules
from supamigrate.tenant.reach import Function, functions, reach, through

# Tenant tables and every view over them, however deep: reading one reads the tables.
_READS = """
with recursive reach(oid) as (
  select unnest(%(oids)s::regclass[])::oid
  union
  select r.ev_class from reach join pg_depend d on d.refobjid = reach.oid
  join pg_rewrite r on r.oid = d.objid
  where d.classid = 'pg_rewrite'::regclass and r.ev_class <> reach.oid
)
select c.oid::bigint, format('%%I.%%I', n.nspname, c.relname), c.relname
from reach join pg_class c on c.oid = reach.oid join pg_namespace n on n.oid = c.relnamespace
order by 2"""

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
select c.oid::bigint, format('%%I.%%I', n.nspname, c.relname), c.relname
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
select g.tgname, g.tgrelid::regclass::text, g.tgfoid::bigint
from pg_trigger g
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


# A foreign key from a tenant table to a table outside the boundary whose delete (or key
# update) cascades, sets null or sets a default, where an API role may delete (update) a row:
# the key's action runs past RLS, so a user removing their own row there (their profile)
# changes rows of tenants they are no longer a member of.
_CASCADES = """
select k.conname, format('%%I.%%I', sn.nspname, s.relname),
       format('%%I.%%I', tn.nspname, t.relname),
       case when k.confdeltype in ('c', 'n', 'd') then 'delete' else 'update' end
from pg_constraint k
join pg_class s on s.oid = k.conrelid join pg_namespace sn on sn.oid = s.relnamespace
join pg_class t on t.oid = k.confrelid join pg_namespace tn on tn.oid = t.relnamespace
where k.contype = 'f' and k.conrelid = any(%(oids)s::regclass[])
  and not k.confrelid = any(%(oids)s::regclass[])
  and exists (
    select 1 from (values ('delete', k.confdeltype, 'd'), ('update', k.confupdtype, 'w')) as
      act(what, action, cmd)
    where act.action in ('c', 'n', 'd')
      and exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated')
                  and has_table_privilege(r.oid, t.oid, act.what)
                  and (not t.relrowsecurity or exists (
                    select 1 from pg_policy p where p.polrelid = t.oid and p.polpermissive
                      and p.polcmd in (act.cmd, '*')
                      and (0::oid = any(p.polroles) or r.oid = any(p.polroles))))))
order by 2, 1"""


def bypass_checks(cur: Cursor, schemas: list[str], scoped: list[str]) -> list[Check]:
    """One check per finding (error), or one passing line naming what was looked at."""
    params: dict[str, object] = {"oids": scoped, "schemas": schemas}
    graph = functions(cur)
    cur.execute(_READS, params)
    tables = {int(oid): (name, bare) for oid, name, bare in cur.fetchall()}
    found = [
        *_definers(tables, graph),
        *_matviews(cur, params),
        *hidden_views(cur, params, tables),
        *_triggers(cur, params, graph),
        *definer_triggers(cur, params, tables, graph),
        *rules(cur, params, tables),
        *_foreign_keys(cur, params),
        *_foreign_tables(cur, params),
    ]
    warnings = _cascades(cur, params)  # beside the verdict, not in place of it
    if found:
        return found + warnings
    detail = (
        "no definer function, matview, view outside the API, copying trigger, definer "
        "trigger, rule, foreign key or foreign table hands tenant rows on"
    )
    return [Check("RLS bypass", Level.ERROR, True, detail), *warnings]


def _definers(tables: dict[int, tuple[str, str]], graph: dict[int, Function]) -> list[Check]:
    """Every definer function the API roles may execute (PUBLIC has EXECUTE unless revoked),
    in any schema (an invoker wrapper or a view in an exposed one reaches the rest), that
    reads a tenant table or runs SQL verify cannot read, itself or through what it calls."""
    checks = []
    for function in graph.values():
        if not function.definer or not function.api or function.trigger:
            continue
        if function.signature in VETTED:
            continue
        found = reach(graph, function.oid, tables)
        if found.tables:
            what = f"it reads {through(found.tables, function.signature)}"
        elif found.dynamic:
            where, why = next(iter(found.dynamic.items()))
            within = "" if where == function.signature else f" (in {where})"
            what = f"it {why}{within}, which verify cannot read: it may read any tenant table"
        else:
            continue
        detail = (
            f"{function.signature} is security definer (runs as {function.owner}, past RLS), "
            f"the API roles may execute it, and {what}"
        )
        fix = (
            f"revoke execute on function {function.signature} from public, anon, authenticated; "
            f"or alter function {function.signature} security invoker"
        )
        checks.append(
            Check("RLS bypass: security definer function", Level.ERROR, False, detail, fix)
        )
    return sorted(checks, key=lambda c: c.detail)


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


def _triggers(cur: Cursor, params: Mapping[str, object], graph: dict[int, Function]) -> list[Check]:
    """A trigger on a tenant table runs as the writer (or its definer owner) and sees each
    row: where it, or anything it calls, writes into a table the API reads without the
    boundary, or runs SQL verify cannot read, each tenant's rows may land where all see them."""
    cur.execute(_OPEN_TABLES, params)
    open_tables = {int(oid): (name, bare) for oid, name, bare in cur.fetchall()}
    cur.execute(_TRIGGERS, params)
    checks = []
    for trigger, table, oid in cur.fetchall():
        if int(oid) not in graph:
            continue  # Supabase's or an extension's function
        function = graph[int(oid)].signature
        found = reach(graph, int(oid), open_tables)
        if found.tables:
            targets = ", ".join(found.tables)
            detail = (
                f"trigger {trigger} on {table} ({function}) writes into "
                f"{through(found.tables, function)}, which the API reads without the tenant "
                "boundary"
            )
            fix = (
                f"give {targets} a tenant_id filled from the row, then run "
                "`invoke migrate --migration 005`; or revoke select on it from anon, authenticated"
            )
        elif found.dynamic:
            where, why = next(iter(found.dynamic.items()))
            within = "" if where == function else f" (in {where})"
            detail = (
                f"trigger {trigger} on {table} ({function}) {why}{within}: verify cannot tell "
                "where it puts each tenant's rows"
            )
            fix = (
                f"name the tables in {where} (static SQL) so verify can check them; or drop "
                f"trigger {trigger} on {table}"
            )
        else:
            continue
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


def _cascades(cur: Cursor, params: Mapping[str, object]) -> list[Check]:
    cur.execute(_CASCADES, params)
    return [
        Check(
            "cascade across the boundary",
            Level.WARNING,
            False,
            f"{name}: a {what} in {target}, which the API may {what}, changes {table} rows "
            "past RLS, in every tenant (a user removing their own row there reaches tenants "
            "they have left)",
            f"make {name} on {what} restrict (or no action) and clear {table}'s rows as a "
            "member of each tenant",
        )
        for name, table, target, what in cur.fetchall()
    ]


# A foreign table with tenant_id the API roles may use: Postgres has no RLS on foreign tables,
# so no policy can bound it (the probe never writes to one: that would reach another server).
_FOREIGN = """
select format('%%I.%%I', n.nspname, c.relname) from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
where c.relkind = 'f' and n.nspname = any(%(schemas)s)
  and exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated')
              and has_table_privilege(r.oid, c.oid, 'select, insert, update, delete'))
order by 1"""


def _foreign_tables(cur: Cursor, params: Mapping[str, object]) -> list[Check]:
    cur.execute(_FOREIGN, params)
    return [
        Check(
            f"RLS bypass {table}",
            Level.ERROR,
            False,
            f"{table} is a foreign table with tenant_id the API roles may use: Postgres has no "
            "RLS on foreign tables, so no policy bounds it",
            f"revoke all on {table} from anon, authenticated (serve it through a view or "
            "function that filters by tenant), or move it out of the exposed schemas",
        )
        for (table,) in cur.fetchall()
    ]
