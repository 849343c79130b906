"""Between two files of a rehearsal: the session the real run gives each file, as far as one
transaction allows; and the one place the single transaction shows (its clock).

The real envelope starts every migration with CLEAN_SESSION (envelope.py). The rehearsal runs
the same statements but one: DISCARD TEMP would drop the rehearsal's guard, a temp table whose
deferred event is pending. What DISCARD TEMP drops (everything in the session's temp schema:
tables, views, sequences, functions, types, domains, operators, collations, ...) is dropped by
name instead; whatever of another kind is left there (an operator family, a text search
dictionary) the rehearsal does not reset, and the files from there are not rehearsed.

now() is the transaction's start: one value for the whole rehearsal, one per file in the real
run. A unique key that holds now() and meets a row an earlier file wrote with the same now()
fails here and not there: that is told, not called a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supamigrate.executors.deferred import GUARD_NAME
from supamigrate.executors.envelope import CLEAN_SESSION
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.executors.trace import MigrationTrace
from supamigrate.project.files import MigrationFile
from supamigrate.sql.reading import SyntaxProblem

GUARD = "supamigrate_rehearsal_guard"  # the guard's table and (GUARD_NAME) its trigger function
# Exactly the envelope's, so what it resets (and whatever it comes to reset) is reset here.
CLEAN = "".join(
    f"{part.strip()};\n"
    for part in CLEAN_SESSION.split(";")
    if part.strip() and " ".join(part.split()).upper() not in ("DISCARD TEMP", "DISCARD TEMPORARY")
)
# DROP statements for what DISCARD TEMP would drop: relations, routines, types, operators,
# collations, text search configurations, conversions.
TEMP_DROPS = f"""
select format('DROP %s IF EXISTS pg_temp.%I CASCADE;', case relkind when 'v' then 'VIEW'
  when 'm' then 'MATERIALIZED VIEW' when 'S' then 'SEQUENCE' when 'f' then 'FOREIGN TABLE'
  when 'c' then 'TYPE' else 'TABLE' end, relname) from pg_class
 where relnamespace = pg_my_temp_schema() and relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')
   and relname <> '{GUARD}'
union all select format('DROP ROUTINE IF EXISTS pg_temp.%I(%s) CASCADE;', proname,
  pg_get_function_identity_arguments(oid)) from pg_proc
 where pronamespace = pg_my_temp_schema() and proname <> '{GUARD_NAME}'
union all select format('DROP %s IF EXISTS pg_temp.%I CASCADE;',
  case typtype when 'd' then 'DOMAIN' else 'TYPE' end, typname) from pg_type
 where typnamespace = pg_my_temp_schema() and typrelid = 0 and typcategory <> 'A'
   and typtype in ('e', 'd', 'r', 'b')
union all select format('DROP OPERATOR IF EXISTS pg_temp.%s (%s, %s) CASCADE;', oprname,
  coalesce(nullif(oprleft, 0)::regtype::text, 'NONE'),
  coalesce(nullif(oprright, 0)::regtype::text, 'NONE')) from pg_operator
 where oprnamespace = pg_my_temp_schema()
union all select format('DROP COLLATION IF EXISTS pg_temp.%I CASCADE;', collname)
  from pg_collation where collnamespace = pg_my_temp_schema()
union all select format('DROP TEXT SEARCH CONFIGURATION IF EXISTS pg_temp.%I CASCADE;', cfgname)
  from pg_ts_config where cfgnamespace = pg_my_temp_schema()
union all select format('DROP CONVERSION IF EXISTS pg_temp.%I;', conname)
  from pg_conversion where connamespace = pg_my_temp_schema()
"""
# What is still in the temp schema after those drops, but the guard and its row type.
TEMP_LEFT = f"""
select 'a type ' || typname from pg_type where typnamespace = pg_my_temp_schema()
   and typname not in ('{GUARD}', '_{GUARD}')
union all select 'a relation ' || relname from pg_class
 where relnamespace = pg_my_temp_schema() and relname <> '{GUARD}' and relkind not in ('i', 't')
union all select 'a routine ' || proname from pg_proc where pronamespace = pg_my_temp_schema()
   and proname <> '{GUARD_NAME}'
union all select 'an operator ' || oprname from pg_operator
 where oprnamespace = pg_my_temp_schema()
union all select 'a collation ' || collname from pg_collation
 where collnamespace = pg_my_temp_schema()
union all select 'a text search configuration ' || cfgname from pg_ts_config
 where cfgnamespace = pg_my_temp_schema()
union all select 'a text search dictionary ' || dictname from pg_ts_dict
 where dictnamespace = pg_my_temp_schema()
union all select 'an operator family ' || opfname from pg_opfamily
 where opfnamespace = pg_my_temp_schema()
union all select 'a conversion ' || conname from pg_conversion
 where connamespace = pg_my_temp_schema()
limit 1
"""


# The file's own DISCARD TEMP, as the real run's: it would drop the rehearsal's guard too,
# whose event is pending (55006, "cannot DROP TABLE ... because it has pending trigger events").
def discards_temp(statement: Any) -> bool:
    return bool(statement.kind == "DiscardStmt" and statement.node.get("target") == "DISCARD_TEMP")


# A cursor WITH HOLD outlives its transaction: COMMIT runs the rest of its query then (and an
# error there fails the commit). A rehearsal commits nothing, so it runs that rest itself.
HELD_CURSORS = "select format('MOVE FORWARD ALL IN %I;', name) from pg_cursors where is_holdable"
_CLOCK_TYPES = ("timestamp with time zone", "timestamp without time zone")
_KEY_COLUMNS = """
select quote_ident(n.nspname) || '.' || quote_ident(t.relname), quote_ident(a.attname)
  from pg_class ix join pg_index i on i.indexrelid = ix.oid
  join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
  join pg_attribute a on a.attrelid = t.oid and a.attnum = any(i.indkey)
 where ix.relname = %s and n.nspname = %s and t.relname = %s
   and format_type(a.atttypid, null) = any(%s)
"""

Run = Callable[[str], Any]
Query = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def clock_key(error: Any, run: Run, query: Query) -> str:
    """For a unique or exclusion violation: the key column that holds the rehearsal's now() in
    a row already there ('' if none): an earlier file of this rehearsal wrote it with the same
    clock. Asked under a savepoint of its own, so a refused read changes nothing."""
    from supamigrate.executors.failures import sqlstate

    diag = getattr(error, "diag", None)
    state = sqlstate(error)
    names = [getattr(diag, f, None) for f in ("constraint_name", "schema_name", "table_name")]
    if state not in ("23505", "23P01") or not all(names):
        return ""
    if run("SAVEPOINT supamigrate_clock;") is not None:
        return ""
    found = ""
    try:
        for table, column in query(_KEY_COLUMNS, (*names, list(_CLOCK_TYPES))):
            sql = f"select exists (select 1 from {table} where {column}::timestamptz = now())"
            if query(sql, ()) == [(True,)]:
                found = f"{table}.{column}"
                break
    except Exception:  # a read we may not make: then we cannot tell
        found = ""
    run("ROLLBACK TO SAVEPOINT supamigrate_clock; RELEASE SAVEPOINT supamigrate_clock;")
    return found


def clock_reason(column: str) -> str:
    return (
        f"a unique key on {column} holds now(), and an earlier file here wrote a row with the "
        "same now(): a rehearsal is one transaction with one clock, the real run gives each file "
        "its own, so this can work there (only a commit could tell)"
    )


# A file's temp relation or type named like a catalog one (pg_temp is searched first for both,
# unless the search path names it) would answer the rehearsal's own catalog queries between
# statements in the catalog's place: the first of them after each statement of the file looks
# for the names they use, by syscache lookups only, and the file is not rehearsed from there.
# (The real run's own statements pin the path: envelope.runner_session.)
_SHADOW_MARK = "supamigrate: shadowed by a temporary object:"
_CATALOG_NAMES = (
    "pg_attribute pg_authid pg_class pg_collation pg_constraint pg_conversion pg_cursors "
    "pg_database pg_db_role_setting pg_default_acl pg_depend pg_enum pg_extension pg_index "
    "pg_inherits pg_locks pg_namespace pg_operator pg_opfamily pg_policy pg_prepared_statements "
    "pg_prepared_xacts pg_proc pg_replication_origin pg_replication_slots pg_roles pg_sequence "
    "pg_sequences pg_settings pg_stat_activity pg_tablespace pg_trigger pg_ts_config pg_ts_dict "
    "pg_type pg_views text int2 int4 int8 bool oid name xid xid8 tid regclass regnamespace "
    "regrole regtype regproc timestamptz interval float8 numeric bytea json jsonb uuid record"
)
SHADOWS = (
    f"SELECT ('{_SHADOW_MARK} ' OPERATOR(pg_catalog.||) n)::pg_catalog.int4 "
    f"FROM pg_catalog.unnest(pg_catalog.string_to_array('{_CATALOG_NAMES}', ' ')) n "
    "WHERE pg_catalog.to_regtype('pg_temp.' OPERATOR(pg_catalog.||) n) IS NOT NULL "
    "OR pg_catalog.to_regclass('pg_temp.' OPERATOR(pg_catalog.||) n) IS NOT NULL LIMIT 1;\n"
)


class Shadowed(Exception):
    """Why a file is not rehearsed from here: its temp object hides a catalog one."""


def shadowed(error: str) -> str:
    """The reason, when `error` is SHADOWS's; else ''."""
    if _SHADOW_MARK not in error:
        return ""
    name = error.split(_SHADOW_MARK, 1)[1].split('"', 1)[0].strip()
    return (
        f"it made a temporary object named like the catalog's {name}: pg_temp is searched "
        "first, and the rehearsal's own catalog queries would read it in the catalog's place "
        "(the real run's own statements name the catalog first)"
    )


def not_rehearsed(migration: MigrationFile, why: str, ms: float) -> Result:
    return Result(migration, Outcome.NOT_REHEARSED, ms, trace=MigrationTrace((), stopped=why))


def unparsable(migration: MigrationFile, problem: SyntaxProblem) -> Result:
    failure = Failure("42601", problem.message, line=problem.line, located_by="position")
    trace = MigrationTrace((), stopped="")
    return Result(migration, Outcome.FAILED, 0.0, failure, trace=trace)


def type_name(names: list[dict[str, Any]]) -> str:
    return ".".join(item.get("String", {}).get("sval", "") for item in names)
