"""SQL fragments the advisors share (psycopg2 named-parameter style: `%%` is a literal %)."""

from __future__ import annotations

REL = "from pg_class c join pg_namespace n on n.oid = c.relnamespace"
NAMED = "format('%%I.%%I', n.nspname, c.relname)"
# The API roles can touch the table (splinter: anon or authenticated holds a privilege). By
# role oid, so a database without those roles is simply not exposed.
API_CAN = (
    "exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated') "
    "and has_table_privilege(r.oid, c.oid, 'select, insert, update, delete'))"
)
API_READS = (
    "exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated') "
    "and has_table_privilege(r.oid, c.oid, 'select'))"
)


def not_extension(oid: str) -> str:
    """The object is not an extension's member (extensions are not the app's to fix)."""
    return f"not exists (select 1 from pg_depend d where d.objid = {oid} and d.deptype = 'e')"


POLICY = "format('%%I on %%I.%%I', policyname, schemaname, tablename)"
POLICY_TEXT = "(coalesce(qual, '') || ' ' || coalesce(with_check, ''))"
FUNCTION = "format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))"
