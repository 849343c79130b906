"""Which statements are quick enough to run while an ACCESS EXCLUSIVE lock is held.

A statement is quick when it only changes the catalog of tables this transaction already
holds (or created), or touches no table at all: it neither reads rows nor waits for another
table's lock. Anything else (DML, a scan, a rewrite, an index build, a lock on another table
that may be busy) keeps the held table unreadable while it runs or waits.
"""

from __future__ import annotations

from supamigrate.lint.known import not_null_check_column
from supamigrate.lint.migration import Migration, commands
from supamigrate.lint.nodes import Node, Table, table_of, unwrap
from supamigrate.sql.reading import Statement, needs_no_transaction

# Statements that touch no table's rows and take no table lock worth waiting for.
_NO_TABLE = frozenset(
    {
        "VariableSetStmt", "CommentStmt", "GrantStmt", "GrantRoleStmt", "CreateFunctionStmt",
        "CreateEnumStmt", "AlterEnumStmt", "CreateDomainStmt", "DefineStmt", "CreateSchemaStmt",
        "CompositeTypeStmt", "CreateSeqStmt", "AlterSeqStmt", "AlterOwnerStmt",
        "AlterDefaultPrivilegesStmt", "CreateRoleStmt", "AlterRoleStmt", "CreateExtensionStmt",
        "AlterFunctionStmt", "AlterObjectSchemaStmt", "TransactionStmt",
    }
)  # fmt: skip
# ALTER TABLE subcommands that only change the catalog (no scan, no rewrite).
_CATALOG_ONLY = frozenset(
    {
        "AT_ColumnDefault", "AT_DropNotNull", "AT_DropConstraint", "AT_EnableRowSecurity",
        "AT_DisableRowSecurity", "AT_ForceRowSecurity", "AT_NoForceRowSecurity",
        "AT_DropColumn", "AT_SetStatistics", "AT_SetOptions", "AT_ResetOptions",
        "AT_ReplicaIdentity", "AT_ChangeOwner", "AT_EnableTrig", "AT_DisableTrig",
        "AT_EnableTrigAll", "AT_DisableTrigAll", "AT_EnableTrigUser", "AT_DisableTrigUser",
        "AT_ClusterOn", "AT_DropCluster", "AT_SetIdentity", "AT_DropIdentity", "AT_DropOf",
    }
)  # fmt: skip
_ON_TABLE = {
    "CreatePolicyStmt": "table",
    "AlterPolicyStmt": "table",
    "CreateTrigStmt": "relation",
    "RenameStmt": "relation",
    "IndexStmt": "relation",
    "RuleStmt": "relation",
}


def quick_while_locked(
    statement: Statement, index: int, migration: Migration, locked: set[str]
) -> bool:
    kind, node = statement.kind, statement.node
    if kind in _NO_TABLE or kind == "CreateStmt":
        return True
    if any(needs_no_transaction(statement)):
        return True  # it cannot run in this transaction at all: requires-no-transaction says so

    def ours(relation: dict[str, object]) -> bool:
        table = table_of(relation)
        return str(table) in locked or migration.is_new(table, index)

    if kind == "TruncateStmt":
        return all(ours(unwrap(item)[1]) for item in node.get("relations", []))
    if kind in _ON_TABLE and _ON_TABLE[kind] in node:
        if kind == "IndexStmt":
            return migration.is_new(table_of(node["relation"]), index)
        return ours(node[_ON_TABLE[kind]])
    if kind == "AlterTableStmt":
        table = table_of(node["relation"])
        return ours(node["relation"]) and all(
            _catalog_only(cmd) or _proven_not_null(cmd, table, index, migration)
            for cmd in commands(node)
        )
    return False


def _proven_not_null(cmd: Node, table: Table, index: int, migration: Migration) -> bool:
    """SET NOT NULL after this file validated a CHECK (col IS NOT NULL): no scan (PG12+)."""
    if cmd.get("subtype") != "AT_SetNotNull":
        return False
    if migration.known.validated(table, cmd.get("name", "")):
        return True
    added = migration.not_valid_constraints.get(table, {})
    for earlier in migration.statements[:index]:
        if earlier.kind != "AlterTableStmt" or table_of(earlier.node["relation"]) != table:
            continue
        for other in commands(earlier.node):
            name = other.get("name", "")
            if other.get("subtype") == "AT_ValidateConstraint" and name in added:
                for add in commands(migration.statements[added[name]].node):
                    constraint = add.get("def", {}).get("Constraint", {})
                    column = not_null_check_column(constraint)
                    if constraint.get("conname") == name and column == cmd.get("name"):
                        return True
    return False


def _catalog_only(cmd: dict[str, object]) -> bool:
    from supamigrate.lint.locks import adds_without_rewrite  # locks imports the engine's peers

    subtype = cmd.get("subtype")
    if subtype in _CATALOG_ONLY:
        return True
    if subtype == "AT_ValidateConstraint":
        return True  # its scan is constraint-validated-in-same-transaction's finding
    if subtype == "AT_AddColumn":
        return adds_without_rewrite(unwrap(cmd["def"])[1])  # type: ignore[arg-type]
    if subtype == "AT_AddConstraint":
        constraint = cmd["def"].get("Constraint", {})  # type: ignore[attr-defined]
        if constraint.get("skip_validation"):
            return True
        return constraint.get("contype") == "CONSTR_UNIQUE" and "indexname" in constraint
    return False
