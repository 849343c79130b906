"""Rules about statements that take ACCESS EXCLUSIVE (or rewrite) and how long it is held.

In a transactional file every lock is held until COMMIT, so a quick ALTER followed by more
work keeps the table unreadable for the whole file. Which statements take ACCESS EXCLUSIVE is
checked against pg_locks on a real server in tests/lint/test_lint.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from supamigrate.lint.findings import Hit
from supamigrate.lint.migration import Migration, commands
from supamigrate.lint.nodes import Node, options, strings, table_from_names, table_of, unwrap
from supamigrate.lint.quick import quick_while_locked
from supamigrate.sql.reading import Statement

ACCESS_EXCLUSIVE_MODE = 8  # LockStmt.mode: lockdefs.h AccessExclusiveLock
# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (tablecmds.c
# AlterTableGetLockLevel); every other subcommand is assumed to take it.
_WEAKER_ALTERS = frozenset(
    {
        "AT_ValidateConstraint", "AT_SetStatistics", "AT_SetOptions", "AT_ResetOptions",
        "AT_ClusterOn", "AT_DropCluster", "AT_AttachPartition", "AT_DetachPartitionFinalize",
        "AT_EnableTrig", "AT_DisableTrig", "AT_EnableAlwaysTrig", "AT_EnableReplicaTrig",
        "AT_EnableTrigAll", "AT_DisableTrigAll", "AT_EnableTrigUser", "AT_DisableTrigUser",
    }
)  # fmt: skip
# DROP <object> ON <table>: the table is locked ACCESS EXCLUSIVE.
_DROP_ON_TABLE = frozenset({"OBJECT_POLICY", "OBJECT_TRIGGER", "OBJECT_RULE"})
# The statement kinds access_exclusive_tables can name a table for: only these can be the
# first ACCESS EXCLUSIVE of a file (the engine runs check_held_lock and check_timeout on them).
EXCLUSIVE_KINDS = frozenset(
    {
        "AlterTableStmt", "CreatePolicyStmt", "AlterPolicyStmt", "RenameStmt", "RuleStmt",
        "TruncateStmt", "LockStmt", "DropStmt", "VacuumStmt", "ClusterStmt",
    }
)  # fmt: skip


def access_exclusive_tables(statement: Statement) -> list[str]:
    """The relations this statement locks in ACCESS EXCLUSIVE mode (names as written)."""
    kind, node = statement.kind, statement.node
    if kind not in EXCLUSIVE_KINDS:
        return []
    if kind == "AlterTableStmt":
        return [str(table_of(node["relation"]))] if _alter_is_exclusive(node) else []
    if kind in {"CreatePolicyStmt", "AlterPolicyStmt"}:
        return [str(table_of(node["table"]))]
    if kind in {"RenameStmt", "RuleStmt"} and "relation" in node:
        return [str(table_of(node["relation"]))]
    if kind == "TruncateStmt":
        return [str(table_of(unwrap(item)[1])) for item in node.get("relations", [])]
    if kind == "LockStmt" and node.get("mode", ACCESS_EXCLUSIVE_MODE) == ACCESS_EXCLUSIVE_MODE:
        return [str(table_of(unwrap(item)[1])) for item in node.get("relations", [])]
    if kind == "DropStmt":
        return _dropped(node)
    if kind == "VacuumStmt" and "full" in options(node):
        return _vacuumed(node)
    if kind == "ClusterStmt" and "relation" in node:
        return [str(table_of(node["relation"]))]
    return []


def _alter_is_exclusive(node: Node) -> bool:
    for cmd in commands(node):
        subtype = cmd.get("subtype")
        constraint = cmd.get("def", {}).get("Constraint", {})
        if subtype == "AT_AddConstraint" and constraint.get("contype") == "CONSTR_FOREIGN":
            continue
        if subtype == "AT_DetachPartition" and cmd["def"]["PartitionCmd"].get("concurrent"):
            continue
        if subtype not in _WEAKER_ALTERS:
            return True
    return False


def _dropped(node: Node) -> list[str]:
    remove = node.get("removeType")
    names = [strings(unwrap(item)[1].get("items", [])) for item in node.get("objects", [])]
    if remove in _DROP_ON_TABLE:
        return [str(table_from_names(name[:-1])) for name in names if len(name) > 1]
    if remove == "OBJECT_TABLE" or (remove == "OBJECT_INDEX" and not node.get("concurrent")):
        return [str(table_from_names(name)) for name in names]
    return []


def _vacuumed(node: Node) -> list[str]:
    relations = [unwrap(item)[1]["relation"] for item in node.get("rels", [])]
    return [str(table_of(relation)) for relation in relations] or ["every table"]


def check_vacuum_cluster(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind == "VacuumStmt" and "full" in options(statement.node):
        tables = _existing(_vacuumed(statement.node), index, migration)
        if tables:
            yield Hit("ban-vacuum-full", statement.line, f"VACUUM FULL rewrites {tables}")
    elif statement.kind == "ClusterStmt":
        relation = statement.node.get("relation")
        tables = _existing([str(table_of(relation))], index, migration) if relation else "all"
        if tables:
            yield Hit("ban-cluster", statement.line, f"CLUSTER rewrites {tables}")


def check_lock_table(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind == "LockStmt":
        relations = [str(table_of(unwrap(i)[1])) for i in statement.node.get("relations", [])]
        if not _existing_list(relations, index, migration):
            return  # tables this file created: nobody else can be waiting for them
        yield Hit(
            "explicit-lock-table",
            statement.line,
            f"LOCK TABLE {', '.join(relations)} holds the lock until the end of the transaction",
        )


def check_held_lock(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    """The first ACCESS EXCLUSIVE of a transactional file, when something slow runs after it.

    Quick catalog-only changes to the tables already locked (squawk's ADD COLUMN then SET
    DEFAULT, a policy, a comment, a grant) keep the lock no longer than the ALTER itself;
    any data work, scan, or lock on another existing table holds it while it runs or waits.
    """
    if migration.no_transaction or first_exclusive(migration) != index:
        return
    locked = set(_existing_list(access_exclusive_tables(statement), index, migration))
    for later_index in range(index + 1, len(migration.statements)):
        later = migration.statements[later_index]
        if quick_while_locked(later, later_index, migration, locked):
            continue
        yield Hit(
            "more-statements-after-access-exclusive",
            statement.line,
            f"ACCESS EXCLUSIVE on {', '.join(sorted(locked))} is held until COMMIT while "
            f"line {later.line} ({later.text.split(None, 1)[0].upper()} ...) runs: reads "
            "and writes of it wait",
        )
        return


def check_timeout(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    """The first ACCESS EXCLUSIVE on an existing table while lock_timeout is off."""
    if first_exclusive(migration) != index or not _timeout_off(index, migration):
        return
    tables = _existing(access_exclusive_tables(statement), index, migration)
    yield Hit(
        "require-timeout-settings",
        statement.line,
        f"waiting for ACCESS EXCLUSIVE on {tables} with lock_timeout off queues all its traffic",
    )


def _timeout_off(index: int, migration: Migration) -> bool:
    off = migration.known.lock_timeout_off
    for earlier in migration.statements[:index]:
        node = earlier.node
        if earlier.kind == "VariableSetStmt" and node.get("name") == "lock_timeout":
            # RESET/DEFAULT drops the runner's SET LOCAL for the server's default: 0
            set_value = node.get("kind") == "VAR_SET_VALUE"
            off = _is_zero(node.get("args", [])) if set_value else True
    return off


def _is_zero(args: list[Node]) -> bool:
    for item in args:
        value = unwrap(item)[1]
        text = value.get("sval", {}).get("sval") if "sval" in value else None
        number = value.get("ival", {}).get("ival", 0) if "ival" in value else None
        if number == 0 or (text is not None and text.strip().lower() in {"0", "0s", "0ms"}):
            return True
    return False


def first_exclusive(migration: Migration) -> int | None:
    """The index of the file's first statement taking ACCESS EXCLUSIVE on a table it did not
    create itself, once per file."""
    if "first_exclusive" not in migration.memo:
        migration.memo["first_exclusive"] = next(
            (
                index
                for index, statement in enumerate(migration.statements)
                if statement.kind in EXCLUSIVE_KINDS  # (the others name no table: skip the call)
                and not _on_a_new_table(statement, index, migration)
                and _existing(access_exclusive_tables(statement), index, migration)
            ),
            None,
        )
    first: int | None = migration.memo["first_exclusive"]
    return first


# Kinds whose ACCESS EXCLUSIVE, if any, is on the one relation in this field.
_ONE_RELATION = {
    "AlterTableStmt": "relation",
    "CreatePolicyStmt": "table",
    "AlterPolicyStmt": "table",
}


def _on_a_new_table(statement: Statement, index: int, migration: Migration) -> bool:
    """A statement on one table made earlier in this file (a large file's usual ALTER or
    policy): nothing to lock others out of, known without listing its tables as text."""
    field = _ONE_RELATION.get(statement.kind)
    return field is not None and migration.is_new(table_of(statement.node[field]), index)


def _existing(tables: list[str], index: int, migration: Migration) -> str:
    """The tables (as text) among `tables` not created earlier in this file."""
    return ", ".join(_existing_list(tables, index, migration))


def _existing_list(tables: list[str], index: int, migration: Migration) -> list[str]:
    if "created" not in migration.memo:
        migration.memo["created"] = {str(table): at for table, at in migration.created.items()}
    created: dict[str, int] = migration.memo["created"]
    return [table for table in tables if not (table in created and created[table] < index)]


CHECKS = [check_vacuum_cluster, check_lock_table, check_held_lock, check_timeout]
