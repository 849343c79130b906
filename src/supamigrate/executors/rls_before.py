"""Which platform tables had RLS on before 004 turned it on: noted in 004's own transaction.

004 runs `enable row level security` on files, audit_logs and sessions and records nothing
(its text cannot change: its history row would drift). 005, the first to keep a record, can
only guess which RLS was 004's: "the table has no policy but 004's". An app's deny-all table
(RLS on, no policy: only service_role reads it, Supabase's advice for server-only data) looks
exactly like a table 004 turned on, so rollback-rls turned its RLS OFF and gave every row to
anon. So the envelope of the shipped 004 (by its history name, as the boundary guard goes by
005's) starts, after the re-check and before the file, with this block: it notes each platform
table's RLS flag in `supamigrate.rls_before_004` (the first note wins: a re-run of 004 over its
own RLS notes nothing new), and rollback-rls keeps RLS on where it was on before.

It never changes 004's outcome: a role that may not create the schema or table gets a WARNING
and 004 runs as before (rollback-rls then guesses, as it did). The Supabase CLI applies files
itself, so with `--method supabase` the block runs in a transaction of its own right before a
push that applies 004.
"""

from __future__ import annotations

RLS_NAME = "enable_rls_policies"  # the shipped 004's name (tenant.names)
TABLE = "supamigrate.rls_before_004"

NOTE_SQL = f"""DO $supamigrate$
BEGIN
  -- asked first: IF NOT EXISTS would say "already exists, skipping" under 004 on a re-run
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'supamigrate') THEN
    CREATE SCHEMA supamigrate;
  END IF;
  IF to_regclass('{TABLE}') IS NULL THEN
    CREATE TABLE {TABLE} (rel regclass PRIMARY KEY, rls boolean NOT NULL);
    REVOKE ALL ON TABLE {TABLE} FROM PUBLIC;
  END IF;
  INSERT INTO {TABLE}
    SELECT c.oid, c.relrowsecurity FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
      AND c.relname IN ('files', 'audit_logs', 'sessions')
  ON CONFLICT (rel) DO NOTHING;
EXCEPTION WHEN others THEN
  RAISE WARNING 'supamigrate: could not note which tables had RLS on before 004 (%): '
    'rollback-rls will turn RLS off on a platform table with no policy but 004''s', SQLERRM;
END$supamigrate$;
"""


def notes_rls(name: str) -> bool:
    """Whether a migration of this history name gets the note before its statements."""
    return name == RLS_NAME
