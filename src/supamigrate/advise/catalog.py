"""Which schemas the API serves, and which are the app's own rather than Supabase's."""

from __future__ import annotations

from psycopg2.extensions import cursor as Cursor

# Schemas Supabase (or an extension it ships) manages: never linted as the app's own.
MANAGED = (
    "auth",
    "storage",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "supabase_functions",
    "supabase_migrations",
    "net",
    "cron",
    "pgbouncer",
    "pgmq",
    "pgmq_public",
    "information_schema",
    "pg_catalog",
    "pg_toast",
)

# PostgREST's db-schemas: the in-database setting on its login role (this database's first),
# then the session setting splinter reads, then PostgREST's default.
_EXPOSED = """
select coalesce(
  (select substr(c, length('pgrst.db_schemas=') + 1)
   from pg_db_role_setting s join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
   where r.rolname = 'authenticator' and c like 'pgrst.db_schemas=%'
     and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
   order by s.setdatabase desc limit 1),
  nullif(current_setting('pgrst.db_schemas', true), ''),
  'public')"""

_EXISTING = """
select coalesce(array_agg(s order by i), '{}') from unnest(%s::text[]) with ordinality w(s, i)
where to_regnamespace(quote_ident(s)) is not null"""

_MINE = """
select coalesce(array_agg(nspname order by nspname), '{}') from pg_namespace
where nspname <> all(%s) and nspname !~ '^pg_(temp|toast_temp)_'"""


def api_schemas(cur: Cursor) -> list[str]:
    """Every schema PostgREST serves here (Supabase's own included) that exists."""
    cur.execute(_EXPOSED)
    row = cur.fetchone()
    setting = str(row[0]) if row else "public"
    wanted = [s.strip().strip('"') for s in setting.split(",") if s.strip()]
    cur.execute(_EXISTING, (wanted,))
    found = cur.fetchone()
    return list(found[0]) if found else []


def own_schemas(cur: Cursor) -> list[str]:
    """Every schema that is the app's, exposed or not."""
    cur.execute(_MINE, (list(MANAGED),))
    found = cur.fetchone()
    return list(found[0]) if found else []
