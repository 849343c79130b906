"""The tenant boundary for tables a migration gives `tenant_id` after 005 ran, inside that
migration.

005 bounds every public table with `tenant_id` when it runs. A table a later migration makes
with `tenant_id` (or a column added to one) had no boundary until someone ran 005 again, and
an app's own permissive policy on it (`using (true)`) let any user read and write every tenant's
rows: migrate said "ok". So a transactional migration ends, before its history row, with this
block. Where the boundary is in force (005's record in supamigrate.tenant_rls names its boundary
policies) it gives each public table whose `tenant_id` (a uuid or a domain over one, at any
depth) this very transaction made or changed (its catalog rows are this transaction's or its
subtransactions': `ours`) what 005 gives a table: RLS and member policies where RLS was off,
and one restrictive policy per command it lacks. It records them, so rollback-rls undoes them
as 005's, and says so in a NOTICE the report shows under the migration.

It never changes a migration's outcome and touches no table the migration did not: a policy
the app already has under a boundary name is kept (verify judges it), and where a table cannot
be bounded (another owner, no right to the record, ...) it raises a WARNING saying what to do,
and the migration commits as it would have. A no-transaction file is not guarded (its tables
are not this transaction's); `invoke verify` names such a table, and the next `--migration 005`
bounds it. The Supabase CLI runs the files itself: after its push the block runs once over the
tenant tables that were not there before it (`after_push`). A rehearsal runs it at each file's
end too, over what that file made (`since_mark`): a later file meets the boundary's policies
(a `tenant_id` they name cannot be dropped or retyped) in the real run, so it must there too.

The block is plpgsql, as 005 is: it is added only where 005 ran (its history row) or from 005
on in the same run, so a database without plpgsql for the runner (and no 005) runs as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

NOTICE_PREFIX = "supamigrate: tenant boundary added to"
BOUNDARY_NAME = "enforce_tenant_boundary"  # the shipped 005's name (tenant.names)
_RECORD = "supamigrate.tenant_rls"


def ours(xmin: str, since: str = "0") -> str:
    """`xmin` is this transaction's, its subtransactions' included, and not older than `since`
    (an age: 0 is the top transaction). A DO block with an EXCEPTION clause, or a function
    catching errors, runs its statements in a subtransaction, whose xid is newer than the top
    one: age() is negative there, never 0. A catalog row we see whose xmin is still in progress
    is ours: another transaction's rows are seen only once it committed."""
    full = f"(pg_current_xact_id()::text::int8 - age({xmin}))::text::xid8"
    # CASE, not AND: a frozen row's age is INT_MAX, and its full id would be out of range.
    return f"(CASE WHEN age({xmin}) <= {since} THEN pg_xact_status({full}) = 'in progress' END)"


def _mine(since: str) -> str:
    """Made or changed in this transaction (since `since`): the table's row or its tenant_id's."""
    return f"({ours('c.xmin', since)} OR {ours('a.xmin', since)})"


_MINE = _mine("0")

# The block that bounds; dollar-quoted with tags of its own (it is runner SQL, never a file's).
# {scope}: which tables with tenant_id are this block's to bound.
_BOUND = (
    "DO $supamigrate_guard$\n"
    "DECLARE\n"
    "  member constant text := "
    "'tenant_id = any (array(select supamigrate.member_tenant_ids()))';\n"
    "  t regclass; q text; cmd text; pname text; opened boolean; added int;\n"
    "  is_uuid boolean; type_name text;\n"
    "BEGIN\n"
    "  FOR t, q, is_uuid, type_name IN\n"
    "    SELECT c.oid::regclass, format('%I.%I', 'public', c.relname), {uuid},\n"
    "           format_type(a.atttypid, a.atttypmod) FROM pg_class c\n"
    "    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'\n"
    "      AND NOT a.attisdropped\n"
    "    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')\n"
    "      AND c.relname NOT IN ('tenants', 'user_tenants') AND {scope}\n"
    "    ORDER BY c.relname\n"
    "  LOOP\n"
    "    IF NOT (has_table_privilege('supamigrate.tenant_rls', 'SELECT')\n"
    "            AND has_table_privilege('supamigrate.tenant_rls', 'INSERT')) THEN\n"
    "      RAISE WARNING 'supamigrate: % has tenant_id but no tenant boundary: this role may "
    "not use supamigrate.tenant_rls; run `invoke migrate --migration 005` as its owner "
    "(`invoke verify` names the table until then)', q;\n"
    "      CONTINUE;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT 1 FROM supamigrate.tenant_rls r\n"
    "                   WHERE r.migration = '005' AND r.policy LIKE 'tenant boundary: %') THEN\n"
    "      RETURN;  -- the boundary is not in force (rolled back)\n"
    "    END IF;\n"
    "    IF NOT is_uuid THEN\n"
    "      RAISE WARNING 'supamigrate: % has tenant_id of type %, not uuid: the tenant "
    "boundary compares tenant_id with the caller''s tenant ids (uuid), so it is not bounded; "
    "make tenant_id a uuid (or a domain over one), then run `invoke migrate --migration 005` "
    "(`invoke verify` names the table until then)', q, type_name;\n"
    "      CONTINUE;\n"
    "    END IF;\n"
    "    BEGIN\n"
    "      added := 0;\n"
    "      opened := NOT (SELECT relrowsecurity FROM pg_class WHERE oid = t);\n"
    "      IF opened THEN\n"
    "        EXECUTE format('alter table %s enable row level security', q);\n"
    "        INSERT INTO supamigrate.tenant_rls (rel, migration) VALUES (t, '005')\n"
    "        ON CONFLICT DO NOTHING;\n"
    "      END IF;\n"
    "      FOREACH cmd IN ARRAY ARRAY['select', 'insert', 'update', 'delete'] LOOP\n"
    "        FOR pname IN SELECT unnest(CASE WHEN opened THEN ARRAY[\n"
    "            'tenant members can ' || CASE cmd WHEN 'select' THEN 'read' ELSE cmd END,\n"
    "            'tenant boundary: ' || cmd] ELSE ARRAY['tenant boundary: ' || cmd] END) LOOP\n"
    "          IF pname LIKE 'tenant boundary:%' AND EXISTS (SELECT 1 FROM pg_policy\n"
    "              WHERE polrelid = t AND polname = pname AND polpermissive) THEN\n"
    '            RAISE WARNING \'supamigrate: % has a permissive policy named "%": it is not the '
    "tenant boundary, so % is not bounded there; rename it, then run `invoke migrate "
    "--migration 005`', q, pname, cmd;\n"
    "          END IF;\n"
    "          CONTINUE WHEN EXISTS (SELECT 1 FROM pg_policy\n"
    "                                WHERE polrelid = t AND polname = pname);  -- kept\n"
    "          EXECUTE format('create policy %I on %s as %s for %s to %s%s%s', pname, q,\n"
    "            CASE WHEN pname LIKE 'tenant boundary:%' THEN 'restrictive' "
    "ELSE 'permissive' END,\n"
    "            cmd,\n"
    "            CASE WHEN pname LIKE 'tenant boundary:%' THEN 'public' "
    "ELSE 'authenticated' END,\n"
    "            CASE WHEN cmd = 'insert' THEN '' ELSE format(' using (%s)', member) END,\n"
    "            CASE WHEN cmd IN ('insert', 'update')\n"
    "                 THEN format(' with check (%s)', member) ELSE '' END);\n"
    "          INSERT INTO supamigrate.tenant_rls (rel, policy, migration)\n"
    "          VALUES (t, pname, '005') ON CONFLICT DO NOTHING;\n"
    "          added := added + 1;\n"
    "        END LOOP;\n"
    "      END LOOP;\n"
    "      CONTINUE WHEN added = 0;\n"
    "      PERFORM set_config('client_min_messages', 'notice', true);\n"
    "      RAISE NOTICE '" + NOTICE_PREFIX + " % (it has tenant_id; 005 bounds every such "
    "table)%', q, CASE WHEN opened THEN ', with RLS and member policies (RLS was off)' "
    "ELSE '' END;\n"
    "    EXCEPTION WHEN others THEN\n"
    "      RAISE WARNING 'supamigrate: % has tenant_id but could not be given the tenant "
    "boundary (%): run `invoke migrate --migration 005` as its owner (`invoke verify` names "
    "the table until then)', q, SQLERRM;\n"
    "    END;\n"
    "  END LOOP;\n"
    "END $supamigrate_guard$"
)


# tenant_id of 005's kind: a uuid, or a domain over one, at any depth (005's expression compares
# each as a uuid). By oid, never by name: a domain called `uuid` in another schema is not one.
# An array of uuids, text, varchar: the boundary's `=` cannot compare them, and they are not
# passed over in silence either: the guard warns (and verify fails the table).
_UUID = (
    "(WITH RECURSIVE chain (oid, typtype, typbasetype) AS (\n"
    "   SELECT d.oid, d.typtype, d.typbasetype FROM pg_type d WHERE d.oid = a.atttypid\n"
    "   UNION ALL SELECT d.oid, d.typtype, d.typbasetype FROM pg_type d\n"
    "   JOIN chain ON d.oid = chain.typbasetype WHERE chain.typtype = 'd')\n"
    " SELECT bool_or(chain.oid = 'pg_catalog.uuid'::pg_catalog.regtype) FROM chain)"
)


def _asking(scope: str) -> str:
    """Postgres compiles a DO block each time it runs: the large one (~0.25 ms) only where
    005 left its record, from a small one (~0.05 ms a migration) that asks first."""
    bound = _BOUND.replace("{scope}", scope).replace("{uuid}", _UUID)
    return (
        "DO $supamigrate_ask$BEGIN IF to_regclass('supamigrate.tenant_rls') IS NOT NULL THEN "
        f"EXECUTE $supamigrate_bound${bound}$supamigrate_bound$; END IF; END$supamigrate_ask$;\n"
    )


GUARD_SQL = _asking(_MINE)


def since_mark(mark: str) -> str:
    """The guard over what was made since `mark`, an xid of this transaction: a rehearsal's file
    runs in a subtransaction of one transaction, and its tables are those made since it began,
    which is what the real run's guard sees of that file's transaction."""
    if not mark.isdigit():
        raise ValueError(f"not a transaction id: {mark!r}")
    return _asking(_mine(f"age('{mark}'::xid)"))


# The public tables with a uuid tenant_id now (before the CLI's push): after it, the others are
# the push's to bound.
TENANT_TABLES_SQL = (
    "SELECT coalesce(array_agg(c.oid::int8), '{}') FROM pg_class c JOIN pg_attribute a "
    "ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
    "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')"
)


def after_push(before: Sequence[int]) -> str:
    """The guard over the tables with tenant_id that the push made (not in `before`)."""
    known = ", ".join(str(int(oid)) for oid in before)
    return _asking(f"c.oid::int8 <> ALL (ARRAY[{known}]::int8[])")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Pending(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def sql(self) -> str: ...


def guard_from(history: Iterable[_Named], todo: Sequence[_Pending]) -> str | None:
    """The version from which migrations get the guard: every one ("") where the history holds
    005, else from the pending migration that makes 005's record on; None: no guard."""
    if any(row.name == BOUNDARY_NAME for row in history):
        return ""
    return next((m.version for m in todo if m.name == BOUNDARY_NAME or _RECORD in m.sql), None)


def guarded(start: str | None, version: str) -> bool:
    return start is not None and version >= start
