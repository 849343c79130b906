"""Calls a rehearsal must not make on the target: their effect outlives its ROLLBACK.

A rehearsal runs every pending file on the real target and rolls it back. Most of what a file
does is undone, but not all: setval() moves a sequence for good (the app's next insert may
collide with a row that exists), a replication slot stays and holds WAL, dblink commits on
a second connection, pg_terminate_backend kills someone's session. Running such a file in a
rehearsal changes the database (and the real run then meets what the rehearsal left).

So before a file runs, its parse tree is searched for calls to these functions: in every
statement, inside DO blocks and function bodies made by the file (their text: a body is a
string to the parser; a word search there may find one in a comment, which only costs a
rehearsal), through functions the file calls whose body calls one (made by an earlier file
here, or already on the target: one catalog query), and through the triggers of the tables it
writes (a trigger the file makes counts as a call of its function; one on the target is found
by a second query). A file that makes such a call is
not run, and nor is any after it: "not rehearsed from here", with the reason.

nextval() is not among them: it only moves a sequence forward (a gap; the app does the same),
and the fingerprint reports every sequence that moved. Session advisory locks are released
by the rehearsal itself (its clean session between files, and after its ROLLBACK).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from supamigrate.lint.nodes import function_name, table_of, walk
from supamigrate.sql.reading import Statement

# Lower-case function names (the last part of a qualified name): what each does for good.
OUTLIVES = {
    "setval": "sets a sequence, which no rollback puts back",
    "dblink": "runs SQL on a second connection, which commits on its own",
    "dblink_exec": "runs SQL on a second connection, which commits on its own",
    "dblink_send_query": "runs SQL on a second connection, which commits on its own",
    "dblink_open": "runs SQL on a second connection, which commits on its own",
    "pg_create_physical_replication_slot": "makes a replication slot, which holds WAL",
    "pg_create_logical_replication_slot": "makes a replication slot, which holds WAL",
    "pg_copy_physical_replication_slot": "makes a replication slot, which holds WAL",
    "pg_copy_logical_replication_slot": "makes a replication slot, which holds WAL",
    "pg_drop_replication_slot": "drops a replication slot",
    "pg_replication_slot_advance": "moves a replication slot",
    "pg_logical_slot_get_changes": "consumes a replication slot's changes",
    "pg_logical_slot_get_binary_changes": "consumes a replication slot's changes",
    "pg_replication_origin_create": "makes a replication origin",
    "pg_replication_origin_drop": "drops a replication origin",
    "pg_replication_origin_advance": "moves a replication origin",
    "pg_terminate_backend": "ends another session",
    "pg_cancel_backend": "cancels another session's query",
    "pg_reload_conf": "reloads the server's configuration",
    "pg_rotate_logfile": "rotates the server's log",
    "pg_switch_wal": "switches the WAL file",
    "pg_create_restore_point": "writes a restore point",
    "pg_stat_reset": "resets statistics",
    "pg_stat_reset_shared": "resets statistics",
    "pg_stat_reset_single_table_counters": "resets statistics",
    "pg_stat_reset_single_function_counters": "resets statistics",
    "pg_stat_reset_slru": "resets statistics",
    "pg_stat_reset_replication_slot": "resets statistics",
    "pg_stat_statements_reset": "resets statistics",
    "pg_promote": "promotes a standby",
    "pg_backup_start": "starts a backup",
    "pg_start_backup": "starts a backup",
}
# pg_logical_emit_message(transactional, ...): only a message sent outside the transaction.
_EMIT = "pg_logical_emit_message"
_NAMES = "|".join([*sorted(OUTLIVES, key=len, reverse=True), _EMIT])
_WORDS = re.compile(rf"\b({_NAMES})\s*\(", re.I)
_PG_WORDS = rf"\y({_NAMES})\s*\("  # the same in Postgres's regex dialect (\y: a word edge)

Ask = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
_ON_TARGET = (
    "select distinct lower(p.proname) from pg_proc p where lower(p.proname) = any(%s) "
    "and p.pronamespace <> 'pg_catalog'::regnamespace and p.prosrc ~* %s"
)

_TRIGGERS = (
    "select distinct n.nspname || '.' || c.relname, p.proname from pg_trigger t "
    "join pg_proc p on p.oid = t.tgfoid join pg_class c on c.oid = t.tgrelid "
    "join pg_namespace n on n.oid = c.relnamespace "
    "where not t.tgisinternal and n.nspname || '.' || c.relname = any(%s) and p.prosrc ~* %s"
)
_WRITES = frozenset(
    {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CopyStmt", "TruncateStmt"}
)


def _why(name: str) -> str:
    what = OUTLIVES.get(name, "sends a message outside the transaction")
    return f"{name}() {what}"


def _body_calls(text: str) -> list[str]:
    return [m.group(1).lower() for m in _WORDS.finditer(text)]


def _direct(statement: Statement) -> tuple[list[str], list[str]]:
    """(outliving calls the statement makes, every function name it calls; a trigger's
    function counts as called: what the file writes next fires it)."""
    found: list[str] = []
    called: list[str] = []
    if statement.kind == "DoStmt":
        return _body_calls(statement.text), called
    if statement.kind == "CreateFunctionStmt":  # made, not called: see `Outliving.first`
        return found, called
    if statement.kind in ("CreateTrigStmt", "CreateEventTrigStmt"):
        names = [n.get("String", {}).get("sval", "") for n in statement.node.get("funcname", [])]
        return found, [str(names[-1]).lower()] if names else []
    for kind, node in walk(statement.node):
        if kind != "FuncCall":
            continue
        name = function_name(node).rsplit(".", 1)[-1]
        called.append(name)
        if name in OUTLIVES or (name == _EMIT and not _literal_true(node.get("args", [None])[0])):
            found.append(name)
    return found, called


def _written(statement: Statement) -> list[str]:
    """The tables a statement writes, as schema.name: their triggers fire."""
    if statement.kind not in _WRITES:
        return []
    node = statement.node
    ranges = [node["relation"]] if isinstance(node.get("relation"), dict) else []
    ranges += [item["RangeVar"] for item in node.get("relations", []) if "RangeVar" in item]
    return [str(table_of(r)) for r in ranges if "relname" in r]


def _literal_true(arg: Any) -> bool:
    if not isinstance(arg, dict):
        return False
    const = arg.get("A_Const") or arg.get("TypeCast", {}).get("arg", {}).get("A_Const") or {}
    if "boolval" in const:
        return const["boolval"].get("boolval") is True
    value = str(const.get("sval", {}).get("sval", "")).lower()
    return value in {"true", "t", "on", "yes", "1"}


class Outliving:
    """What the files rehearsed so far made: functions whose bodies call one of OUTLIVES."""

    def __init__(self, ask: Ask) -> None:
        self.ask = ask
        self.made: dict[str, str] = {}  # function name -> the outliving call in its body

    def first(self, statements: Iterable[Statement]) -> str:
        """Why the file must not run in a rehearsal ('' if nothing says so): the first line
        whose effect a rollback would not undo."""
        called: dict[str, int] = {}
        written: dict[str, int] = {}
        for statement in statements:
            for table in _written(statement):
                written.setdefault(table, statement.line)
            found, names = _direct(statement)
            for name in found:
                return f"line {statement.line}: {_why(name)}"
            for name in names:
                if name in self.made:
                    return f"line {statement.line}: {name}() calls {_why(self.made[name])}"
                called.setdefault(name, statement.line)
            self._learn(statement)
        if called:
            for (name,) in self.ask(_ON_TARGET, (sorted(called), _PG_WORDS)):
                return (
                    f"line {called[str(name)]}: {name}(), a function on the target, calls "
                    "one whose effect no rollback undoes (setval, dblink, a replication slot, "
                    "...)"
                )
        if written:
            for table, name in self.ask(_TRIGGERS, (sorted(written), _PG_WORDS)):
                return (
                    f"line {written[str(table)]}: it writes {table}, whose trigger function "
                    f"{name}() calls one whose effect no rollback undoes (setval, dblink, ...)"
                )
        return ""

    def _learn(self, statement: Statement) -> None:
        """A function the file makes whose body calls an outliving function."""
        if statement.kind != "CreateFunctionStmt":
            return
        names = [n.get("String", {}).get("sval", "") for n in statement.node.get("funcname", [])]
        calls = _body_calls(statement.text)
        if calls and names:
            self.made[str(names[-1]).lower()] = calls[0]
