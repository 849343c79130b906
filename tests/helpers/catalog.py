"""A textual snapshot of everything user-visible in a database, for before/after comparisons."""

from __future__ import annotations

from typing import Any

_QUERIES = [
    # relations with their kind, RLS flags and owner
    """select n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
       order by 1, 2""",
    """select table_schema, table_name, column_name, data_type, is_nullable, column_default
       from information_schema.columns
       where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3""",
    """select conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
       from pg_constraint where connamespace not in
         ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) order by 1, 2""",
    """select schemaname, tablename, indexname, indexdef from pg_indexes
       where schemaname not in ('pg_catalog') order by 1, 2, 3""",
    """select n.nspname, p.proname, pg_get_functiondef(p.oid) from pg_proc p
       join pg_namespace n on n.oid = p.pronamespace
       where n.nspname not in ('pg_catalog', 'information_schema')
         and p.prokind <> 'a'  -- pg_get_functiondef refuses aggregates (citext's min, max)
       order by 1, 2, 3""",
    """select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger
       where not tgisinternal order by 1, 2""",
    """select schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
       from pg_policies order by 1, 2, 3""",
]


def snapshot(cur: Any, *, history: bool = True) -> list[Any]:
    """Schema objects, RLS state, policies, and (optionally) the migration history rows."""
    out: list[Any] = []
    for query in _QUERIES:
        cur.execute(query)
        out.append(cur.fetchall())
    if history:
        cur.execute("select to_regclass('supabase_migrations.schema_migrations') is not null")
        if cur.fetchone()[0]:
            cur.execute(
                "select version, name, statements from supabase_migrations.schema_migrations order by 1"
            )
            out.append(cur.fetchall())
    return out


def row_counts(cur: Any, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        cur.execute(f"select count(*) from {table}")
        counts[table] = cur.fetchone()[0]
    return counts


def writes_anew(cur: Any, sql: str, table: str = "t") -> bool:
    """Whether running `sql` gave `table` a new relfilenode: Postgres wrote it anew."""
    cur.execute("select pg_relation_filenode(%s)", (table,))
    before = cur.fetchone()[0]
    cur.execute(sql)
    cur.execute("select pg_relation_filenode(%s)", (table,))
    return bool(cur.fetchone()[0] != before)
