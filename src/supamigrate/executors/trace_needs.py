"""Which table locks a statement needs, read from its parse tree: for the locks the server
cannot show us because they are already held.

The trace reads what each statement newly took from pg_locks. A lock this backend already
holds (in that mode, or a stronger one) is granted again without a new row in pg_locks, so a
CREATE INDEX after an ALTER COLUMN TYPE on the same table looks as if it needed nothing. This
model says what it needs, so the trace can say it is held, and since which line. It reuses
lint's list of ACCESS EXCLUSIVE statements (checked against pg_locks in tests/lint/test_lint.py)
and adds the weaker modes of the common statements; anything it does not know adds nothing.
"""

from __future__ import annotations

from supamigrate.lint.exclusive import access_exclusive_tables
from supamigrate.lint.migration import commands
from supamigrate.lint.nodes import table_of
from supamigrate.sql.reading import Statement

# Postgres lock modes, weakest first, (the one list: the trace and its tests use it too).
MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

EXCLUSIVE = "AccessExclusiveLock"
# What each mode conflicts with (Postgres's table-level lock conflict table).
CONFLICTS: dict[str, frozenset[str]] = {
    "AccessShareLock": frozenset({"AccessExclusiveLock"}),
    "RowShareLock": frozenset({"ExclusiveLock", "AccessExclusiveLock"}),
    "RowExclusiveLock": frozenset(
        {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
    ),
    "ShareUpdateExclusiveLock": frozenset(
        {
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ShareLock": frozenset(
        {
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
}
_ALL = frozenset(MODES)
CONFLICTS["ShareRowExclusiveLock"] = _ALL - {"AccessShareLock", "RowShareLock"}
CONFLICTS["ExclusiveLock"] = _ALL - {"AccessShareLock"}
CONFLICTS["AccessExclusiveLock"] = _ALL
# Modes that keep the app's reads or writes waiting: holding one is what a rehearsal bounds.
BLOCKS_APP = frozenset({"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", EXCLUSIVE})
_TRIGGER_ALTERS = frozenset(
    {
        "AT_EnableTrig", "AT_DisableTrig", "AT_EnableAlwaysTrig", "AT_EnableReplicaTrig",
        "AT_EnableTrigAll", "AT_DisableTrigAll", "AT_EnableTrigUser", "AT_DisableTrigUser",
    }
)  # fmt: skip
_DML = {"InsertStmt": "relation", "UpdateStmt": "relation", "DeleteStmt": "relation"}


def covers(held: str, needed: str) -> bool:
    """Holding `held` already keeps out everyone `needed` would (same or stronger mode)."""
    return CONFLICTS.get(held, frozenset()) >= CONFLICTS.get(needed, _ALL)


def needs(statement: Statement) -> list[tuple[str, str]]:
    """(table, mode) this statement locks, schema-qualified as written (public by default)."""
    found = [(table, EXCLUSIVE) for table in access_exclusive_tables(statement)]
    kind, node = statement.kind, statement.node
    if kind == "IndexStmt" and "relation" in node:
        mode = "ShareUpdateExclusiveLock" if node.get("concurrent") else "ShareLock"
        found.append((str(table_of(node["relation"])), mode))
    elif kind == "CreateTrigStmt" and "relation" in node:
        found.append((str(table_of(node["relation"])), "ShareRowExclusiveLock"))
    elif kind in _DML and "relation" in node:
        found.append((str(table_of(node[_DML[kind]])), "RowExclusiveLock"))
    elif kind == "AlterTableStmt" and not found and "relation" in node:
        found += _weaker_alter(node)
    return [(_qualified(t), m) for t, m in dict.fromkeys(found)]


def _weaker_alter(node: dict[str, object]) -> list[tuple[str, str]]:
    table = str(table_of(node["relation"]))  # type: ignore[arg-type]
    found = []
    for cmd in commands(node):
        constraint = cmd.get("def", {}).get("Constraint", {})
        if cmd.get("subtype") == "AT_AddConstraint" and constraint.get("contype") == (
            "CONSTR_FOREIGN"
        ):
            found.append((table, "ShareRowExclusiveLock"))
            if "pktable" in constraint:
                found.append((str(table_of(constraint["pktable"])), "ShareRowExclusiveLock"))
        elif cmd.get("subtype") in _TRIGGER_ALTERS:
            found.append((table, "ShareRowExclusiveLock"))
        else:
            found.append((table, "ShareUpdateExclusiveLock"))
    return found


def _qualified(name: str) -> str:
    return name if "." in name else f"public.{name}"
