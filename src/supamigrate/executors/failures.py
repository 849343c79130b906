"""Driver errors turned into `Failure`s and one-line user errors (psycopg2 paths)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from supamigrate.connect.masking import mask
from supamigrate.errors import DatabaseUnavailable
from supamigrate.executors.envelope import is_state_error, state_problem
from supamigrate.executors.results import Failure, Outcome
from supamigrate.executors.stayed import what_stayed
from supamigrate.history.table import TABLE
from supamigrate.sql.sqlsplit import Statement

# Re-running to find the failing statement would only wait or fail the same way again.
NO_RELOCATE = ("55P03", "57014", "57P01", "40P01", "25001")
# A failure without an error position is located by a rolled-back re-run of the file on the
# target: its locks are held again, so it stops after this long (and each statement too).
RELOCATE_SECONDS = 2.0
RELOCATE_TIMEOUT = "2s"
# Calls whose effects no rollback undoes (a sequence set or advanced, a replication slot, a
# backend ended, another database's write, a program run, a file written, the config
# reloaded): a file making one is never run a second time to locate its failure.
_UNDOABLE = re.compile(
    r"\b(setval|nextval|dblink\w*|pg_create_\w*replication_slot|pg_drop_replication_slot|"
    r"pg_copy_\w*replication_slot|pg_replication_slot_advance|pg_terminate_backend|"
    r"pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|pg_switch_wal|pg_logical_emit_message|"
    r"pg_file_write|pg_file_unlink|pg_file_rename|lo_export|lo_import|http\w*|net\.\w+)\s*\(|"
    r"\bprogram\s+'",
    re.IGNORECASE,
)


# What a file may do to be run a second time (rolled back) to locate its failure: statements
# of these kinds, calling built-in functions only, and DML on tables where nothing of the app's
# runs (no trigger, rule or default of its functions: asked of the server, DML_TABLES_SQL).
# DO and CALL run code, COPY and CREATE EXTENSION run programs and scripts, and a function of
# the app's may write elsewhere (a wrapper calling dblink from an earlier migration would
# write twice): a file with any of these is not re-run.
_PLAIN_KINDS = frozenset(
    {
        "CreateStmt", "AlterTableStmt", "IndexStmt", "DropStmt", "CommentStmt", "GrantStmt",
        "GrantRoleStmt", "CreatePolicyStmt", "AlterPolicyStmt", "CreateFunctionStmt",
        "AlterFunctionStmt", "CreateTrigStmt", "ViewStmt", "CreateSchemaStmt", "CreateSeqStmt",
        "AlterSeqStmt", "CreateEnumStmt", "AlterEnumStmt", "CreateDomainStmt",
        "AlterDomainStmt", "RenameStmt", "AlterObjectSchemaStmt", "AlterOwnerStmt",
        "CompositeTypeStmt", "VariableSetStmt", "RuleStmt", "CreateRoleStmt", "AlterRoleStmt",
        "AlterDefaultPrivilegesStmt", "CreateCastStmt", "DefineStmt", "AlterTypeStmt",
        "SelectStmt", "LockStmt", "ConstraintsSetStmt",
    }
)  # fmt: skip
_DML = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt"})
# Volatile built-ins that change nothing (the non-volatile ones are lint's list).
_HARMLESS = frozenset(
    {"pg_sleep", "random", "clock_timestamp", "timeofday", "gen_random_uuid", "now"}
)
# Of the tables a file's DML writes: does anything of the app's run there (a trigger that is
# not a constraint's, a rule, a default calling a function that is not built in)?
# The second array: tables the file itself makes (a missing one is not a risk, see rerun_risk).
DML_TABLES_SQL = """
select coalesce(bool_or(
  (to_regclass(t) is null and t <> all(%s::text[]))
  or exists (select 1 from pg_trigger g where g.tgrelid = to_regclass(t) and not g.tgisinternal)
  or exists (select 1 from pg_rewrite r where r.ev_class = to_regclass(t)
             and r.rulename <> '_RETURN')
  or exists (select 1 from pg_attrdef d join pg_depend p on p.classid = 'pg_attrdef'::regclass
             and p.objid = d.oid and p.refclassid = 'pg_proc'::regclass
             where d.adrelid = to_regclass(t) and p.refobjid >= 16384)), false)
from unnest(%s::text[]) t"""


class Rerun(NamedTuple):
    """What the server is asked before a re-run: the tables the file's DML writes, and of
    those the ones the file makes itself (missing before it ran, so nothing of the app's is
    on them yet)."""

    written: list[str]
    made: list[str]


def rerun_risk(sql: str) -> Rerun | None:
    """None when running the file again could do what a rollback does not undo (it names
    such a function, _UNDOABLE; has a statement of another kind, _PLAIN_KINDS; calls a
    function that is not a harmless built-in; or makes a trigger or rule where it writes);
    else the tables its DML writes, which the server is asked about (DML_TABLES_SQL)."""
    if _UNDOABLE.search(sql) is not None:
        return None
    from supamigrate.lint.nodes import function_name, table_of, walk  # the failure path only
    from supamigrate.lint.pg_signatures import NON_VOLATILE_BUILTINS
    from supamigrate.sql.reading import read_sql

    reading = read_sql(sql)
    if reading.error is not None:
        return None
    kinds = {statement.kind for statement in reading.statements}
    if kinds & _DML and kinds & {"CreateTrigStmt", "RuleStmt"}:
        return None  # the file's own trigger may call the app's function: not on the server
    tables: list[str] = []
    made: list[str] = []
    for statement in reading.statements:
        if statement.kind in _DML:
            tables.append(str(table_of(statement.node["relation"])))
        elif statement.kind not in _PLAIN_KINDS:
            return None
        elif statement.kind == "CreateStmt" and _plain_table(statement.node):
            made.append(str(table_of(statement.node["relation"])))
        for kind, node in walk(statement.node):
            if kind == "FuncCall":
                name = function_name(node)
                if name not in NON_VOLATILE_BUILTINS and name not in _HARMLESS:
                    return None
    return Rerun(tables, made)


def _plain_table(node: dict[str, Any]) -> bool:
    """A CREATE TABLE that brings nothing of another table's: a partition gets its parent's
    triggers, INHERITS and LIKE its defaults (which may call the app's functions)."""
    if node.get("inhRelations") or node.get("partbound"):
        return False
    return not any("TableLikeClause" in element for element in node.get("tableElts", []))


def sqlstate(error: Any) -> str:
    return str(getattr(error, "pgcode", None) or "")


def position(error: Any) -> int | None:
    diag = getattr(error, "diag", None)
    raw = getattr(diag, "statement_position", None) if diag is not None else None
    return int(raw) if raw else None


def primary_message(error: Any) -> str:
    """The server's primary message, whole: a RAISE EXCEPTION of several lines is reported
    with all of them (output.shown prefixes each later line; JSON escapes them), never cut
    to its first line. Without the field (a driver-side error), the first line of its text."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return str(primary).rstrip()
    text = str(error).strip()
    return text.splitlines()[0] if text else "unknown error"


def failure(error: Any) -> Failure:
    diag = getattr(error, "diag", None)
    return Failure(
        sqlstate=sqlstate(error) or "?????",
        message=mask(primary_message(error)),
        detail=mask(getattr(diag, "message_detail", None) or ""),
        hint=mask(getattr(diag, "message_hint", None) or ""),
    )


def with_statement(
    base: Failure,
    statement: Statement,
    how: str,
    line: int | None = None,
    ran: tuple[str, ...] | None = None,
) -> Failure:
    return Failure(
        base.sqlstate,
        base.message,
        base.detail,
        base.hint,
        statement=mask(statement.text),
        line=line or statement.line,
        located_by=how,
        ran=base.ran if ran is None else ran,
    )


def history_error(action: str, exc: Any) -> DatabaseUnavailable:
    reason = failure(exc)
    if reason.sqlstate == "25006":
        return DatabaseUnavailable(
            f"Cannot {action} the history table {TABLE}: the database is read-only (a read "
            "replica, or default_transaction_read_only is on). Point DATABASE_URL at the primary "
            "database. Nothing was applied."
        )
    return DatabaseUnavailable(
        f"Cannot {action} the history table {TABLE} ({reason.sqlstate}: {reason.message}): "
        "connect as a role that may (on Supabase, the postgres role), or ask an owner to "
        "create it and grant you access. Nothing was applied."
    )


class ConnectionLost(DatabaseUnavailable):
    """The connection went away while migrations ran: the runner asks the server what
    committed (afterwards.py) before it reports."""


def lost(exc: Exception) -> ConnectionLost:
    return ConnectionLost(
        mask(
            f"The connection was lost mid-migration ({' '.join(str(exc).split())}). "
            "Run `invoke status` to see what is applied, then `invoke migrate` again."
        )
    )


def partial(failure: Failure, ran: list[str]) -> tuple[Outcome, Failure]:
    """A no-transaction file stopped after `ran`: PARTIAL with what stays applied (not what
    its own BEGIN..ROLLBACK, or the block the runner rolls back, undid); FAILED if nothing
    stays."""
    stayed = what_stayed(ran)
    outcome = Outcome.PARTIAL if stayed else Outcome.FAILED
    return outcome, failure._replace(ran=stayed)


def end_failure(error: Any) -> Failure:
    """After every statement of a no-transaction file ran: the state check or the history
    insert failed; say which."""
    base = failure(error)
    if is_state_error(base.message):
        message = (
            f"the file left {state_problem(base.message)}: a no-transaction file must end with "
            "no transaction open and the session as it found it (what its open transaction did "
            "was rolled back; statements committed before it stay)"
        )
        base = Failure(base.sqlstate, message)
    return base


def shown(notices: list[str]) -> tuple[str, ...]:
    return tuple(
        mask(n.strip())
        for n in notices
        if "there is no transaction in progress" not in n  # our own ROLLBACK's echo
    )


_FIELD = re.compile(r"^(?P<label>DETAIL|HINT|QUERY|CONTEXT|LOCATION|STATEMENT):  (?P<text>.*)$")


_POINTER = re.compile(r"^LINE \d+: ")


def psql_fields(first: str, after: list[str]) -> dict[str, str]:
    """The error's message, detail and hint, each with every line psql printed of it: a
    RAISE of several lines is reported whole, as the psycopg2 path reports it, not its first
    line (a later line that itself starts `DETAIL:  ` cannot be told apart: psql prints the
    fields as text)."""
    fields: dict[str, list[str]] = {"MESSAGE": [first]}
    current = fields["MESSAGE"]
    for line in after:
        if line.startswith("psql:"):
            break
        if _POINTER.match(line):  # `LINE 3: ...` and its caret: where, not what
            current = []
            continue
        field = _FIELD.match(line)
        if field is None:
            current.append(line)
        elif field.group("label") in fields:
            break  # a second DETAIL: not this error's any more
        else:
            current = fields[field.group("label")] = [field.group("text")]
    return {label: "\n".join(text).strip() for label, text in fields.items()}
