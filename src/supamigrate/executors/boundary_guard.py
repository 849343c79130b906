"""The tenant boundary for tables that get `tenant_id` after 005 ran, inside the migration that
made them.

005 bounds every public table with `tenant_id` when it runs. A table a later migration makes
with `tenant_id` (or a column added to one) had no boundary until someone ran 005 again, and
an app's own permissive policy on it (`using (true)`) let any user read and write every tenant's
rows: migrate said "ok". So every migration's transaction ends, before its history row, with
this block. Where the boundary is in force (005's record in supamigrate.tenant_rls names its
boundary policies) it gives each public table with `tenant_id` the record does not know what 005
gives a table: RLS and member policies where RLS was off, and one restrictive policy per
command; it records them, so rollback-rls undoes them as 005's, and says so in a NOTICE the
report shows under the migration. Nothing else is touched; where the boundary is not in force
(005 never ran, or rollback-rls removed it) it does nothing. A policy of the app's with one of
these names fails the migration, as in 005: it is never dropped. Cost where nothing is new: one
catalog query per migration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

NOTICE_PREFIX = "supamigrate: tenant boundary added to"

# The block that bounds; dollar-quoted with tags of its own (it is runner SQL, never a file's).
_BOUND = (
    "DO $supamigrate_guard$\n"
    "DECLARE\n"
    "  member constant text := "
    "'tenant_id = any (array(select supamigrate.member_tenant_ids()))';\n"
    "  t regclass; q text; cmd text; pname text; opened boolean;\n"
    "BEGIN\n"
    "  FOR t, q IN\n"
    "    SELECT c.oid::regclass, format('%I.%I', 'public', c.relname) FROM pg_class c\n"
    "    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')\n"
    "      AND c.relname NOT IN ('tenants', 'user_tenants')\n"
    "      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid\n"
    "                  AND a.attname = 'tenant_id' AND NOT a.attisdropped)\n"
    "      AND NOT EXISTS (SELECT 1 FROM supamigrate.tenant_rls r WHERE r.rel = c.oid)\n"
    "      AND EXISTS (SELECT 1 FROM supamigrate.tenant_rls r\n"
    "                  WHERE r.migration = '005' AND r.policy LIKE 'tenant boundary: %')\n"
    "    ORDER BY c.relname\n"
    "  LOOP\n"
    "    opened := NOT (SELECT relrowsecurity FROM pg_class WHERE oid = t);\n"
    "    IF opened THEN\n"
    "      EXECUTE format('alter table %s enable row level security', q);\n"
    "      INSERT INTO supamigrate.tenant_rls (rel, migration) VALUES (t, '005');\n"
    "    END IF;\n"
    "    FOREACH cmd IN ARRAY ARRAY['select', 'insert', 'update', 'delete'] LOOP\n"
    "      FOR pname IN SELECT unnest(CASE WHEN opened THEN ARRAY[\n"
    "          'tenant members can ' || CASE cmd WHEN 'select' THEN 'read' ELSE cmd END,\n"
    "          'tenant boundary: ' || cmd] ELSE ARRAY['tenant boundary: ' || cmd] END) LOOP\n"
    "        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t AND polname = pname) THEN\n"
    '          RAISE EXCEPTION \'supamigrate: % has tenant_id and a policy named "%" the '
    "tenant boundary did not create: rename it (the boundary policies of 005 need the "
    "name)', q, pname;\n"
    "        END IF;\n"
    "        EXECUTE format('create policy %I on %s as %s for %s to %s%s%s', pname, q,\n"
    "          CASE WHEN pname LIKE 'tenant boundary:%' THEN 'restrictive' ELSE 'permissive' END,\n"
    "          cmd,\n"
    "          CASE WHEN pname LIKE 'tenant boundary:%' THEN 'public' ELSE 'authenticated' END,\n"
    "          CASE WHEN cmd = 'insert' THEN '' ELSE format(' using (%s)', member) END,\n"
    "          CASE WHEN cmd IN ('insert', 'update')\n"
    "               THEN format(' with check (%s)', member) ELSE '' END);\n"
    "        INSERT INTO supamigrate.tenant_rls (rel, policy, migration)\n"
    "        VALUES (t, pname, '005');\n"
    "      END LOOP;\n"
    "    END LOOP;\n"
    "    PERFORM set_config('client_min_messages', 'notice', true);\n"
    "    RAISE NOTICE '" + NOTICE_PREFIX + " % (it has tenant_id; 005 bounds every such table)"
    "%', q, CASE WHEN opened THEN ', with RLS and member policies (RLS was off)' ELSE '' END;\n"
    "  END LOOP;\n"
    "END $supamigrate_guard$"
)
# Postgres compiles a DO block each time it runs: the large one (~0.25 ms) only where 005 left
# its record, from a small one (~0.05 ms a migration) that asks first.
GUARD_SQL = (
    "DO $supamigrate_ask$BEGIN IF to_regclass('supamigrate.tenant_rls') IS NOT NULL THEN "
    f"EXECUTE $supamigrate_bound${_BOUND}$supamigrate_bound$; END IF; END$supamigrate_ask$;\n"
)


BOUNDARY_NAME = "enforce_tenant_boundary"  # the shipped 005's name (tenant.names)
_RECORD = "supamigrate.tenant_rls"


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
