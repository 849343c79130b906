""" "Nothing was changed", checked: a fingerprint of the catalog and sequences, before and after.

A rehearsal's transaction is rolled back, but not everything it did was inside it: a file can
reach a second connection (dblink, available on Supabase) that commits on its own, and
nextval() is never rolled back. So before the rehearsal and after its ROLLBACK we hash the
catalog server-side, in one query, per (catalog, schema): relations, columns, schemas,
functions, types, enum values, policies, constraints, triggers, indexes, extensions, roles,
default privileges, database and role settings, the history table's versions; and read every
sequence's last value, the replication slots and origins, and this database's prepared
transactions. What differs is reported: which objects were made or altered since (their
catalog row's xmin is newer than the rehearsal's start), how many were removed, which sequences
moved (forward: nextval, harmless; back: setval or a restart, which breaks the app's next
inserts), which replication slots (they hold WAL), origins and prepared transactions (they hold
locks) were made or dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Query = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]

_SYSTEM = "('pg_catalog', 'information_schema')"
# (catalog, schema, item, body, xmin of the row that says it).
_ITEMS = """
select 'relation' cat, n.nspname nsp, c.relname::text item,
  concat_ws('|', c.relkind, c.relfilenode, c.relowner, c.relacl::text, c.relrowsecurity,
    c.relforcerowsecurity, c.relpersistence, c.reloptions::text) body, c.xmin x
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
union all select 'column', n.nspname, c.relname || '.' || a.attname,
  concat_ws('|', a.attnum, a.atttypid, a.atttypmod, a.attnotnull, a.atthasdef, a.attisdropped,
    a.attacl::text), a.xmin
  from pg_attribute a join pg_class c on c.oid = a.attrelid
  join pg_namespace n on n.oid = c.relnamespace where a.attnum > 0
union all select 'schema', n.nspname, n.nspname, concat_ws('|', n.nspowner, n.nspacl::text), n.xmin
  from pg_namespace n
union all select 'function', n.nspname, p.proname || '(' || p.proargtypes::text || ')',
  concat_ws('|', md5(p.prosrc), p.prosecdef, p.proconfig::text, p.proacl::text, p.provolatile,
    p.proowner, p.prorettype), p.xmin
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
union all select 'type', n.nspname, t.typname, concat_ws('|', t.typtype, t.typowner), t.xmin
  from pg_type t join pg_namespace n on n.oid = t.typnamespace
union all select 'enum value', n.nspname, t.typname || '.' || e.enumlabel,
  e.enumsortorder::text, e.xmin
  from pg_enum e join pg_type t on t.oid = e.enumtypid
  join pg_namespace n on n.oid = t.typnamespace
union all select 'policy', n.nspname, c.relname || '.' || p.polname,
  concat_ws('|', p.polcmd, p.polpermissive, p.polroles::text,
    md5(coalesce(pg_get_expr(p.polqual, p.polrelid), '')),
    md5(coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))), p.xmin
  from pg_policy p join pg_class c on c.oid = p.polrelid
  join pg_namespace n on n.oid = c.relnamespace
union all select 'constraint', n.nspname, co.conname || ' on ' || coalesce(r.relname, '-'),
  concat_ws('|', co.contype, co.condeferrable, co.condeferred, co.convalidated, co.conkey::text,
    co.confrelid, co.conbin is not null), co.xmin
  from pg_constraint co join pg_namespace n on n.oid = co.connamespace
  left join pg_class r on r.oid = co.conrelid
union all select 'trigger', n.nspname, c.relname || '.' || t.tgname,
  concat_ws('|', t.tgenabled, t.tgfoid, t.tgtype), t.xmin
  from pg_trigger t join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace
union all select 'index', n.nspname, c.relname,
  concat_ws('|', i.indisvalid, i.indisready, i.indislive, i.indkey::text), i.xmin
  from pg_index i join pg_class c on c.oid = i.indexrelid
  join pg_namespace n on n.oid = c.relnamespace
union all select 'extension', n.nspname, e.extname, e.extversion, e.xmin
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
union all select 'default privilege', '',
  d.defaclrole::regrole::text || '/' || d.defaclobjtype::text,
  concat_ws('|', d.defaclnamespace, d.defaclacl::text), d.xmin from pg_default_acl d
union all select 'role', '', r.rolname, concat_ws('|', r.rolsuper, r.rolinherit, r.rolcreaterole,
    r.rolcreatedb, r.rolcanlogin, r.rolbypassrls, r.rolconfig::text), r.xmin
  from pg_authid_visible r
union all select 'database setting', '', setdatabase::text || '/' || setrole::text,
  setconfig::text, xmin from pg_db_role_setting
union all select 'history row', 'supabase_migrations', 'schema_migrations',
  md5(query_to_xml('select version, name from supabase_migrations.schema_migrations '
                   'order by version', false, false, '')::text), '0'::xid
  where to_regclass('supabase_migrations.schema_migrations') is not null
"""
# pg_authid is not readable by a non-superuser; pg_roles is, with the columns we hash.
_ITEMS = _ITEMS.replace(
    "pg_authid_visible r",
    "(select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, "
    "rolbypassrls, rolconfig, '0'::xid as xmin from pg_roles) r",
)
_KEEP = f"nsp not in {_SYSTEM} and nsp not like 'pg\\_temp%' and nsp not like 'pg\\_toast%'"
FINGERPRINT = f"""
with o as ({_ITEMS})
select cat, nsp, count(*)::text, md5(string_agg(item || '=' || body, ',' order by item, body))
  from o where {_KEEP} group by cat, nsp
union all select 'sequence', schemaname, sequencename, coalesce(last_value::text, '-')
  from pg_sequences where schemaname not in {_SYSTEM}
union all select 'outside', 'replication slot', slot_name::text || ' (' || slot_type || ')', ''
  from pg_replication_slots
union all select 'outside', 'replication origin', roname, '' from pg_replication_origin
union all select 'outside', 'prepared transaction', gid, '' from pg_prepared_xacts
 where database = current_database()
union all select 'xid', '', '', txid_snapshot_xmax(txid_current_snapshot())::text
"""
# Items of the changed (catalog, schema) pairs whose row was written after `xid`.
_NEWER = f"""
with o as ({_ITEMS.replace("%", "%%")})
select cat, nsp, item from o
 where {_KEEP.replace("%", "%%")} and (cat || '/' || nsp) = any(%s::text[])
   and x <> '0'::xid and age(x) <= age((%s::bigint %% 4294967296)::text::xid)
 order by 1, 2, 3
"""


@dataclass(frozen=True)
class Fingerprint:
    buckets: dict[tuple[str, str], tuple[int, str]]  # (catalog, schema): (count, hash)
    sequences: dict[str, str]  # schema.name: last value ('-' when never used or unreadable)
    xid: int  # the next transaction id when it was taken
    # (kind, name) of what lives outside any transaction: replication slots and origins,
    # prepared transactions. No rollback drops one.
    outside: frozenset[tuple[str, str]] = frozenset()


def take(query: Query) -> Fingerprint:
    buckets: dict[tuple[str, str], tuple[int, str]] = {}
    sequences: dict[str, str] = {}
    xid = 0
    outside = set()
    for cat, nsp, count, digest in query(FINGERPRINT, ()):
        if cat == "outside":
            outside.add((str(nsp), str(count)))
        elif cat == "xid":
            xid = int(digest)
        elif cat == "sequence":
            sequences[f"{nsp}.{count}"] = str(digest)
        else:
            buckets[(str(cat), str(nsp))] = (int(count), str(digest))
    return Fingerprint(buckets, sequences, xid, frozenset(outside))


def changes(before: Fingerprint, after: Fingerprint, query: Query) -> list[str]:
    """What differs, in words: objects made or altered, removed, sequences moved."""
    found: list[str] = []
    changed = sorted(
        key
        for key in set(before.buckets) | set(after.buckets)
        if before.buckets.get(key) != after.buckets.get(key)
    )
    newer: dict[tuple[str, str], list[str]] = {}
    if changed:
        keys = [f"{cat}/{nsp}" for cat, nsp in changed]
        for cat, nsp, item in query(_NEWER, (keys, before.xid)):
            newer.setdefault((str(cat), str(nsp)), []).append(str(item))
    for cat, nsp in changed:
        was = before.buckets.get((cat, nsp), (0, ""))[0]
        now = after.buckets.get((cat, nsp), (0, ""))[0]
        where = f" in schema {nsp}" if nsp and cat != "schema" else ""
        items = newer.get((cat, nsp), [])
        if items:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            found.append(f"{cat}{where} made or altered: {shown}")
        if now < was:
            found.append(f"{cat}{where}: {was - now} removed")
        if not items and now >= was:
            found.append(f"{cat}{where} changed")
    for name in sorted(set(before.sequences) & set(after.sequences)):  # new ones: relations
        old, new = before.sequences[name], after.sequences[name]
        if old != new and _back(old, new):
            found.append(
                f"sequence {name} was set back from {old} to {new} (setval or a restart outside "
                "the rolled-back transaction: the app's next inserts may meet rows that exist; "
                f"set it forward by hand: select setval('{name}', {old}))"
            )
        elif old != new:
            found.append(
                f"sequence {name} moved from {old} to {new} "
                "(nextval is never rolled back; other sessions may have used it too)"
            )
    for kind, name in sorted(after.outside - before.outside):
        held = {"replication slot": ": it holds WAL until dropped"}.get(kind, "")
        found.append(f"{kind} {name} made{held}")
    found += [f"{kind} {name} dropped" for kind, name in sorted(before.outside - after.outside)]
    return found


def is_harmless(change: str) -> bool:
    """A sequence moved forward: nextval is never rolled back, and the app moves it too."""
    return change.startswith("sequence ") and " was set back " not in change


def _back(old: str, new: str) -> bool:
    """A sequence's last value went down, or to never-used ('-'): not nextval's doing."""
    if old == "-":
        return False
    return new == "-" or int(new) < int(old)
