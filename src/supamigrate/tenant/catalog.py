"""What verify reads from the catalog: exposed schemas, tenant-scoped tables, user-row tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg2.extensions import cursor as Cursor

from supamigrate.advise.catalog import MANAGED as SUPABASE_SCHEMAS
from supamigrate.advise.catalog import api_schemas
from supamigrate.tenant.names import MEMBERSHIPS

_TENANT_TABLES = """
select format('%%I.%%I', n.nspname, c.relname) from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any(%s)
  and format('%%I.%%I', n.nspname, c.relname) <> %s
order by n.nspname <> 'public', 1"""

# A column holding a user's id: a foreign key to auth.users on any column (the table's own
# primary key too: Supabase's quickstart `profiles.id` holds per-user rows the API serves
# outside the tenant boundary), or a uuid named user_id.
_USER_ROWS = """
select format('%%I.%%I', n.nspname, c.relname), min(a.attname) from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any(%s)
  and not exists (select 1 from pg_attribute t where t.attrelid = c.oid
                  and t.attname = 'tenant_id' and not t.attisdropped)
  and exists (select 1 from pg_roles where rolname = 'authenticated')
  and has_table_privilege('authenticated', c.oid, 'select, insert, update, delete')
  and ((a.attname = 'user_id' and a.atttypid = 'uuid'::regtype)
       or exists (select 1 from pg_constraint k
                  where k.conrelid = c.oid and k.contype = 'f' and k.conkey = array[a.attnum]
                    and k.confrelid = to_regclass('auth.users')))
group by n.nspname, c.relname order by 1"""


def one(cur: Cursor, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the single row `sql` returns."""
    cur.execute(sql, params or None)
    row = cur.fetchone()
    assert row is not None, sql
    return row[0]


def column_list(cur: Cursor, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    cur.execute(sql, params or None)
    return [row[0] for row in cur.fetchall()]


def exposed_schemas(cur: Cursor, configured: Sequence[str] = ()) -> list[str]:
    """The app's schemas PostgREST serves (Supabase's own excluded), that exist here: those
    the database says (the authenticator's setting), and those supabase/config.toml's
    `[api] schemas` names (the local stack's PostgREST serves what that file says)."""
    cur.execute(
        "select coalesce(array_agg(s order by i), '{}') from unnest(%s::text[]) "
        "with ordinality w(s, i) where to_regnamespace(quote_ident(s)) is not null",
        (list(configured),),
    )
    found = cur.fetchone()
    named = [*api_schemas(cur), *(found[0] if found else [])]
    return [s for s in dict.fromkeys(named) if s not in SUPABASE_SCHEMAS]


def tenant_tables(cur: Cursor, schemas: list[str]) -> list[str]:
    """Every table with a tenant_id column in the exposed schemas (memberships aside)."""
    return column_list(cur, _TENANT_TABLES, (schemas, f"public.{MEMBERSHIPS}"))


def user_row_tables(cur: Cursor, schemas: list[str]) -> list[tuple[str, str]]:
    """(table, column) for tables the API can reach that hold per-user rows but no tenant_id."""
    cur.execute(_USER_ROWS, (schemas,))
    return [(row[0], row[1]) for row in cur.fetchall()]


def has_column(cur: Cursor, table: str, column: str) -> bool:
    return bool(
        one(
            cur,
            "select exists (select 1 from pg_attribute where attrelid = to_regclass(%s) "
            "and attname = %s and attnum > 0 and not attisdropped)",
            (table, column),
        )
    )
