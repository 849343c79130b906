"""Every lint rule: id, level, the hazard and the safer rewrite.

Levels. `error`: the statement fails on a table with rows, rewrites or scans a table that may
hold data while blocking writes (or reads), breaks the running app or PostgREST, or opens data
to the API. `warning`: a lock or pattern that usually costs little but can queue traffic, or a
security weakness that is not an open door by itself. `info`: what lint cannot see.

rule                                       level    hazard
-----------------------------------------  -------  ----------------------------------------
syntax-error                               error    the file does not parse
transaction-control                        error    top-level BEGIN/COMMIT/SAVEPOINT...
psql-meta-command                          error    `\\set`, `\\i`, `\\!`... run by psql
requires-no-transaction                    error    CONCURRENTLY/VACUUM... inside a transaction
require-concurrent-index-creation          error    CREATE INDEX blocks writes while it builds
require-concurrent-index-deletion          warning  DROP INDEX takes ACCESS EXCLUSIVE
adding-field-with-default                  error    volatile default/serial/stored: rewrite
adding-not-nullable-field                  error    NOT NULL column fails / SET NOT NULL scans
changing-column-type                       error    ALTER COLUMN TYPE rewrites
adding-foreign-key-constraint              error    FK validation scan blocks writes, 2 tables
constraint-missing-not-valid               error    CHECK validated under ACCESS EXCLUSIVE
constraint-validated-in-same-transaction   warning  VALIDATE while ADD's lock is still held
disallowed-unique-constraint               error    UNIQUE/PK index built under ACCESS EXCL.
ban-vacuum-full                            error    VACUUM FULL rewrites under ACCESS EXCL.
ban-cluster                                error    CLUSTER rewrites under ACCESS EXCLUSIVE
table-rewrite                              error    SET (UN)LOGGED/TABLESPACE/... rewrites
explicit-lock-table                        warning  LOCK TABLE queues every other session
more-statements-after-access-exclusive     warning  later statements run while it is held
ban-drop-column                            error    the running app/PostgREST still reads it
ban-drop-table                             error    the running app/PostgREST still reads it
renaming-column                            error    the running app/PostgREST uses the old name
renaming-table                             error    the running app/PostgREST uses the old name
ban-drop-not-null                          warning  readers relying on a value break
require-concurrent-reindex                 error    REINDEX blocks writes while it rebuilds
require-concurrent-partition-detach        warning  DETACH PARTITION takes ACCESS EXCLUSIVE
ban-truncate-cascade                       error    also empties referencing tables
ban-create-domain-with-constraint          warning  constraint rechecked on every column
ban-alter-domain-with-add-constraint       error    scans every column of the domain
require-enum-value-ordering                warning  ADD VALUE without BEFORE/AFTER
enum-value-used-in-same-migration          error    55P04 at apply
creating-enum                              warning  values cannot be removed later
adding-exclusion-constraint                error    index + check under ACCESS EXCLUSIVE
adding-primary-key-on-nullable-column      error    implicit SET NOT NULL scan
unindexed_foreign_keys                     info     deletes on the parent scan this table
adding-json-column                         warning  json has no equality; use jsonb
ban-drop-database                          error    destroys every table
ban-duplicate-column-assignments           error    Postgres refuses the statement
require-timeout-settings                   warning  lock wait with lock_timeout off
prefer-robust-stmts                        warning  no-transaction file cannot be rerun
rls_disabled_in_public                     error    exposed table without RLS
auth_rls_initplan                          warning  auth.uid()/current_setting() per row
rls_references_user_metadata               error    policy trusts user-editable metadata
rls_policy_always_true                     error    USING/WITH CHECK (true) on writes
security_definer_view                      error    exposed view bypasses RLS
auth_users_exposed                         error    exposed view reads auth.users
materialized_view_in_api                   warning  exposed matview has no RLS
function_search_path_mutable               warning  function without SET search_path
security_definer_search_path_mutable       error    SECURITY DEFINER without SET search_path
anon_security_definer_function_executable  error    SECURITY DEFINER callable by anon (/rpc)
dynamic-sql-not-analysed                   info     DO block: its SQL is not linted
suppression-missing-reason                 warning  `supamigrate:allow` without a reason
suppression-unknown-rule                   warning  `supamigrate:allow` names no rule
"""

from __future__ import annotations

from supamigrate.lint.findings import Level, RuleInfo

E, W, INFO = Level.ERROR, Level.WARNING, Level.INFO
_NOT_VALID = "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later transaction"
_APP = "ship the app change first; expand/contract: add new, backfill, switch readers, drop later"

_RULES = [
    RuleInfo("syntax-error", E, "the file does not parse", "fix the SQL"),
    RuleInfo(
        "transaction-control",
        E,
        "top-level transaction control; supamigrate owns the transaction",
        "remove it; use `-- supamigrate:no-transaction` on line 1 to run outside one",
    ),
    RuleInfo("psql-meta-command", E, "psql would run this itself", "write plain SQL"),
    RuleInfo(
        "requires-no-transaction",
        E,
        "cannot run inside a transaction block",
        "put it in its own file with `-- supamigrate:no-transaction` on line 1",
    ),
    RuleInfo(
        "require-concurrent-index-creation",
        E,
        "CREATE INDEX holds a SHARE lock (blocks writes) for the whole build",
        "CREATE INDEX CONCURRENTLY in a `-- supamigrate:no-transaction` file",
    ),
    RuleInfo(
        "require-concurrent-index-deletion",
        W,
        "DROP INDEX takes ACCESS EXCLUSIVE on the table",
        "DROP INDEX CONCURRENTLY in a `-- supamigrate:no-transaction` file",
    ),
    RuleInfo(
        "adding-field-with-default",
        E,
        "a volatile default (or serial/identity/stored generated) rewrites the table",
        "add the column without a default (or a constant one), backfill in batches, then "
        "SET DEFAULT",
    ),
    RuleInfo(
        "adding-not-nullable-field",
        E,
        "NOT NULL without a default fails on rows; SET NOT NULL scans under ACCESS EXCLUSIVE",
        "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c (own "
        "transaction); SET NOT NULL; DROP CONSTRAINT c",
    ),
    RuleInfo(
        "changing-column-type",
        E,
        "ALTER COLUMN TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE",
        "add a new column, backfill in batches, switch the app, drop the old column",
    ),
    RuleInfo(
        "adding-foreign-key-constraint",
        E,
        "the FK validation scan holds SHARE ROW EXCLUSIVE on both tables",
        _NOT_VALID,
    ),
    RuleInfo(
        "constraint-missing-not-valid",
        E,
        "the CHECK is validated by a full scan under ACCESS EXCLUSIVE",
        _NOT_VALID,
    ),
    RuleInfo(
        "constraint-validated-in-same-transaction",
        W,
        "VALIDATE runs while ADD CONSTRAINT's ACCESS EXCLUSIVE is still held",
        "VALIDATE CONSTRAINT in a later migration or a `-- supamigrate:no-transaction` file",
    ),
    RuleInfo(
        "disallowed-unique-constraint",
        E,
        "UNIQUE/PRIMARY KEY builds its index under ACCESS EXCLUSIVE",
        "CREATE UNIQUE INDEX CONCURRENTLY i ...; ADD CONSTRAINT c UNIQUE USING INDEX i",
    ),
    RuleInfo(
        "ban-vacuum-full",
        E,
        "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
        "plain VACUUM, or pg_repack",
    ),
    RuleInfo(
        "ban-cluster",
        E,
        "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
        "pg_repack, or leave the physical order alone",
    ),
    RuleInfo(
        "table-rewrite",
        E,
        "SET LOGGED/UNLOGGED, SET TABLESPACE, SET ACCESS METHOD and SET EXPRESSION rewrite the "
        "table under ACCESS EXCLUSIVE",
        "build the new table (or column) beside the old one and copy in batches, or run it in a "
        "maintenance window",
    ),
    RuleInfo(
        "explicit-lock-table",
        W,
        "LOCK TABLE queues every other session behind it until commit",
        "let each statement take the lock it needs; keep the file short",
    ),
    RuleInfo(
        "more-statements-after-access-exclusive",
        W,
        "later statements run while ACCESS EXCLUSIVE is held, so all traffic waits",
        "move the locking statement last, or into its own migration",
    ),
    RuleInfo(
        "require-concurrent-reindex",
        E,
        "REINDEX blocks writes to the table (and reads through the index) while it rebuilds",
        "REINDEX ... CONCURRENTLY in a `-- supamigrate:no-transaction` file",
    ),
    RuleInfo(
        "require-concurrent-partition-detach",
        W,
        "DETACH PARTITION takes ACCESS EXCLUSIVE on the partitioned table",
        "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY in a `-- supamigrate:no-transaction` "
        "file",
    ),
    RuleInfo(
        "ban-truncate-cascade",
        E,
        "TRUNCATE ... CASCADE also empties every table with a foreign key to it",
        "name every table to empty, without CASCADE",
    ),
    RuleInfo(
        "ban-create-domain-with-constraint",
        W,
        "a domain's constraint is rechecked on every column of that type when it changes",
        "a plain domain (or the base type) with a CHECK on each column: ADD ... NOT VALID, "
        "then VALIDATE in a later migration",
    ),
    RuleInfo(
        "ban-alter-domain-with-add-constraint",
        E,
        "ALTER DOMAIN ADD CONSTRAINT scans every column of that type while holding locks",
        "ALTER DOMAIN ... ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later "
        "migration",
    ),
    RuleInfo(
        "require-enum-value-ordering",
        W,
        "ADD VALUE without BEFORE/AFTER puts the value last, which ORDER BY then follows",
        "ALTER TYPE ... ADD VALUE 'new' BEFORE 'existing' (or AFTER)",
    ),
    RuleInfo(
        "enum-value-used-in-same-migration",
        E,
        "a new enum value cannot be used until the transaction that adds it commits (55P04)",
        "put ALTER TYPE ... ADD VALUE in its own migration and use the value from the next "
        "one (not COMMIT; BEGIN; inside the file)",
    ),
    RuleInfo(
        "creating-enum",
        W,
        "an enum's values can be added but never removed or renamed without a rewrite",
        "a lookup table with a foreign key, or a text column with a CHECK, if values change",
    ),
    RuleInfo(
        "adding-exclusion-constraint",
        E,
        "EXCLUDE builds its index and checks every row under ACCESS EXCLUSIVE; no online way",
        "add it while the table is new or small, or in a maintenance window",
    ),
    RuleInfo(
        "adding-primary-key-on-nullable-column",
        E,
        "PRIMARY KEY USING INDEX on a nullable column runs an implicit SET NOT NULL scan",
        "ADD CHECK (col IS NOT NULL) NOT VALID; VALIDATE (later migration); SET NOT NULL; "
        "then ADD PRIMARY KEY USING INDEX",
    ),
    RuleInfo(
        "unindexed_foreign_keys",
        INFO,
        "a foreign key column without an index: each delete or key update on the referenced "
        "table scans this one",
        "CREATE INDEX on the foreign key columns (CONCURRENTLY once the table has rows)",
    ),
    RuleInfo(
        "adding-json-column",
        W,
        "json has no equality operator (DISTINCT, UNION, GROUP BY fail) and is reparsed on use",
        "use jsonb",
    ),
    RuleInfo(
        "ban-drop-database",
        E,
        "DROP DATABASE destroys every table in it",
        "drop databases by hand, never from a migration",
    ),
    RuleInfo(
        "ban-duplicate-column-assignments",
        E,
        "a column assigned twice in one UPDATE/INSERT, or defined twice in one CREATE TABLE"
        " or view column list: Postgres refuses the statement",
        "name and assign each column once",
    ),
    RuleInfo(
        "require-timeout-settings",
        W,
        "with lock_timeout off, a lock that waits queues every later query on the table",
        "keep the runner's lock_timeout (config `lock_timeout`), or SET LOCAL lock_timeout = '2s'",
    ),
    RuleInfo(
        "prefer-robust-stmts",
        W,
        "a no-transaction file keeps the statements done before a failure",
        "CREATE ... IF NOT EXISTS / DROP ... IF EXISTS so the file can be run again",
    ),
    RuleInfo("ban-drop-column", E, "the running app and PostgREST may still read it", _APP),
    RuleInfo("ban-drop-table", E, "the running app and PostgREST may still read it", _APP),
    RuleInfo("renaming-column", E, "the running app and PostgREST use the old name", _APP),
    RuleInfo("renaming-table", E, "the running app and PostgREST use the old name", _APP),
    RuleInfo(
        "ban-drop-not-null",
        W,
        "readers that rely on the column always holding a value break",
        "ship readers that handle NULL first, then DROP NOT NULL",
    ),
    RuleInfo(
        "rls_disabled_in_public",
        E,
        "a table in an API schema without Row Level Security: anon can read and write it",
        "ALTER TABLE ... ENABLE ROW LEVEL SECURITY in the same migration, with policies",
    ),
    RuleInfo(
        "auth_rls_initplan",
        W,
        "auth.<fn>()/current_setting() in a policy is called once per row",
        "wrap the call in a sub-select: (select auth.uid())",
    ),
    RuleInfo(
        "rls_references_user_metadata",
        E,
        "user_metadata is editable by the user, so a policy must not trust it",
        "use app_metadata or a table the user cannot write",
    ),
    RuleInfo(
        "rls_policy_always_true",
        E,
        "a permissive write policy that is always true lets every role member write any row",
        "state the condition, e.g. using (user_id = (select auth.uid()))",
    ),
    RuleInfo(
        "security_definer_view",
        E,
        "a view runs as its owner, bypassing the caller's RLS",
        "CREATE VIEW ... WITH (security_invoker = true)",
    ),
    RuleInfo(
        "auth_users_exposed",
        E,
        "a view in an API schema exposes auth.users",
        "move it to a private schema, or select only safe columns with security_invoker",
    ),
    RuleInfo(
        "materialized_view_in_api",
        W,
        "a materialized view has no RLS and is served by the API",
        "create it in a private schema; expose a function or a security_invoker view",
    ),
    RuleInfo(
        "function_search_path_mutable",
        W,
        "the function resolves names through the caller's search_path",
        "add `set search_path = ''` and qualify names",
    ),
    RuleInfo(
        "security_definer_search_path_mutable",
        E,
        "a SECURITY DEFINER function without a fixed search_path can be hijacked",
        "add `set search_path = ''` and qualify names",
    ),
    RuleInfo(
        "anon_security_definer_function_executable",
        E,
        "a SECURITY DEFINER function in an API schema is executable by anon via /rpc",
        "REVOKE EXECUTE ON FUNCTION ... FROM public, anon in the same migration",
    ),
    RuleInfo(
        "dynamic-sql-not-analysed",
        INFO,
        "the SQL run by this DO block is not linted",
        "review it by hand, or write the statements at top level",
    ),
    RuleInfo(
        "suppression-missing-reason",
        W,
        "`supamigrate:allow` needs a reason; it suppresses nothing without one",
        "-- supamigrate:allow RULE why it is safe here",
    ),
    RuleInfo(
        "suppression-unknown-rule",
        W,
        "`supamigrate:allow` names a rule that does not exist",
        "use a rule id from `lint` output",
    ),
]
RULES: dict[str, RuleInfo] = {rule.id: rule for rule in _RULES}
