"""Doors past RLS into tenant rows that a write or a read elsewhere opens (part of verify's
RLS bypass check, tenant.bypass): an owner-rights view or matview outside the exposed schemas
that the API roles may read, a security definer trigger on a table they may write, and a rule
on such a table. Each runs with its owner's rights, which bypass RLS, whoever set it off.
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg2.extensions import cursor as Cursor

from supamigrate.advise.security import SECURITY_INVOKER
from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.names import BOUNDARY_HELPER, HELPERS
from supamigrate.tenant.reach import Function, reach, through

# The shipped migrations' helpers: each returns the caller's own tenant ids.
VETTED = frozenset({BOUNDARY_HELPER, *(f"public.{h}()" for h in HELPERS)})


# Views and matviews over tenant tables (however deep) outside the exposed schemas, that the
# API roles may read (USAGE on the schema and SELECT): a view reads as its owner unless
# security_invoker, so one whose owner bypasses RLS (or owns a tenant table, not FORCEd) hands
# every tenant's rows to whoever reaches it, through an exposed invoker view or function.
_HIDDEN_VIEWS = """
select format('%%I.%%I', n.nspname, c.relname), c.relkind::text, pg_get_userbyid(c.relowner)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_roles w on w.oid = c.relowner
where c.oid = any(%(reads)s::oid[]) and c.relkind in ('v', 'm')
  and n.nspname <> all(%(schemas)s)
  and (c.relkind = 'm' or not {SECURITY_INVOKER})
  and (c.relkind = 'm' or w.rolsuper or w.rolbypassrls
       or exists (select 1 from pg_class t where t.oid = any(%(oids)s::regclass[])
                  and t.relowner = c.relowner and not t.relforcerowsecurity))
  and exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated')
              and has_schema_privilege(r.oid, n.oid, 'usage')
              and has_table_privilege(r.oid, c.oid, 'select'))
  and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
order by 1""".replace("{SECURITY_INVOKER}", SECURITY_INVOKER)


def hidden_views(
    cur: Cursor, params: Mapping[str, object], tables: dict[int, tuple[str, str]]
) -> list[Check]:
    cur.execute(_HIDDEN_VIEWS, {**params, "reads": list(tables)})
    checks = []
    for view, kind, owner in cur.fetchall():
        how = (
            "is a materialized view (no RLS)"
            if kind == "m"
            else f"reads as its owner {owner} (not security_invoker), past RLS"
        )
        detail = (
            f"{view} {how}, reads a tenant table, and the API roles may select from it: an "
            "invoker view or function in an exposed schema hands every tenant's rows on"
        )
        fix = f"revoke select on {view} from anon, authenticated" + (
            "" if kind == "m" else f"; or alter view {view} set (security_invoker = on)"
        )
        checks.append(Check("RLS bypass: view outside the API", Level.ERROR, False, detail, fix))
    return checks


# Triggers on tables (any schema) the API roles may write, other than the tenant tables.
_WRITABLE_TRIGGERS = """
select g.tgname, format('%%I.%%I', n.nspname, c.relname), g.tgfoid::bigint
from pg_trigger g join pg_class c on c.oid = g.tgrelid
join pg_namespace n on n.oid = c.relnamespace
where not g.tgisinternal and g.tgrelid <> all(%(oids)s::regclass[])
  and exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated')
              and has_schema_privilege(r.oid, c.relnamespace, 'usage')
              and has_table_privilege(r.oid, c.oid, 'insert, update, delete'))
order by 2, 1"""


def definer_triggers(
    cur: Cursor,
    params: Mapping[str, object],
    tables: dict[int, tuple[str, str]],
    graph: dict[int, Function],
) -> list[Check]:
    """A definer trigger runs as its owner whoever fires it, and its function needs no EXECUTE
    grant: on a table the API writes, it is a door past RLS that _definers (API-executable
    functions, triggers left out) does not see."""
    cur.execute(_WRITABLE_TRIGGERS, params)
    checks = []
    for trigger, table, oid in cur.fetchall():
        function = graph.get(int(oid))
        if function is None or not function.definer or function.signature in VETTED:
            continue  # Supabase's or an extension's, an invoker one (RLS bounds it), or ours
        found = reach(graph, function.oid, tables)
        if found.tables:
            what = f"reads or writes {through(found.tables, function.signature)}"
        elif found.dynamic:
            where, why = next(iter(found.dynamic.items()))
            within = "" if where == function.signature else f" (in {where})"
            what = f"{why}{within}, which verify cannot read"
        else:
            continue
        detail = (
            f"trigger {trigger} on {table} runs {function.signature} as {function.owner} "
            f"(security definer, past RLS) and {what}: whoever may write {table} makes it act "
            "in any tenant (a tenant id taken from the row is the writer's choice)"
        )
        fix = (
            f"alter function {function.signature} security invoker (the boundary then checks "
            "what it does as the writer); or revoke insert, update, delete on "
            f"{table} from anon, authenticated"
        )
        checks.append(Check("RLS bypass: definer trigger", Level.ERROR, False, detail, fix))
    return checks


# Rules (not a view's own _RETURN) on a table the API roles may write, whose action names a
# tenant table or a view over one (a rule records what it names), where the rule's table owner
# bypasses RLS or owns a tenant table: the action runs with the owner's rights.
_RULES = """
select r.rulename, format('%%I.%%I', n.nspname, c.relname),
       string_agg(distinct format('%%I.%%I', tn.nspname, t.relname), ', ')
from pg_rewrite r join pg_class c on c.oid = r.ev_class
join pg_namespace n on n.oid = c.relnamespace join pg_roles w on w.oid = c.relowner
join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
  and d.refclassid = 'pg_class'::regclass and d.refobjid <> c.oid
  and d.refobjid = any(%(reads)s::oid[])
join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
where r.rulename <> '_RETURN'
  and (w.rolsuper or w.rolbypassrls
       or exists (select 1 from pg_class o where o.oid = any(%(oids)s::regclass[])
                  and o.relowner = c.relowner and not o.relforcerowsecurity))
  and exists (select 1 from pg_roles a where a.rolname in ('anon', 'authenticated')
              and has_schema_privilege(a.oid, c.relnamespace, 'usage')
              and has_table_privilege(a.oid, c.oid, 'insert, update, delete'))
group by r.rulename, n.nspname, c.relname order by 2, 1"""


def rules(
    cur: Cursor, params: Mapping[str, object], tables: dict[int, tuple[str, str]]
) -> list[Check]:
    cur.execute(_RULES, {**params, "reads": list(tables)})
    return [
        Check(
            "RLS bypass: rule",
            Level.ERROR,
            False,
            f"rule {rule} on {table} acts on {targets} with the rights of {table}'s owner, "
            f"past RLS: whoever may write {table} makes it act in any tenant",
            f"drop rule {rule} on {table} (a security invoker trigger does the same inside the "
            f"boundary); or revoke insert, update, delete on {table} from anon, authenticated",
        )
        for rule, table, targets in cur.fetchall()
    ]
