"""Rules about changes that break the app and PostgREST while they still run the old code.

Migrations run before (or while) the new app is deployed, so a dropped or renamed table or
column fails every request of the old version still running; PostgREST also serves its
schema cache until reloaded. Objects created earlier in the same file are nobody's yet.
"""

from __future__ import annotations

from collections.abc import Iterator

from supamigrate.lint.findings import Hit
from supamigrate.lint.migration import Migration, commands
from supamigrate.lint.nodes import strings, table_from_names, table_of, unwrap
from supamigrate.sql.reading import Statement


def check_drops(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind == "DropStmt" and node.get("removeType") == "OBJECT_TABLE":
        for item in node.get("objects", []):
            table = table_from_names(strings(unwrap(item)[1].get("items", [])))
            if not migration.is_new(table, index):
                yield Hit("ban-drop-table", statement.line, f"DROP TABLE {table}")
    elif statement.kind == "AlterTableStmt":
        table = table_of(node["relation"])
        if migration.is_new(table, index):
            return
        for cmd in commands(node):
            if cmd.get("subtype") == "AT_DropColumn":
                yield Hit("ban-drop-column", statement.line, f"DROP COLUMN {table}.{cmd['name']}")
            elif cmd.get("subtype") == "AT_DropNotNull":
                yield Hit(
                    "ban-drop-not-null",
                    statement.line,
                    f"DROP NOT NULL on {table}.{cmd['name']}: readers that rely on a value break",
                )


def check_renames(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind != "RenameStmt" or "relation" not in node:
        return
    table = table_of(node["relation"])
    if migration.is_new(table, index):
        return
    if node.get("renameType") == "OBJECT_COLUMN":
        yield Hit(
            "renaming-column",
            statement.line,
            f"RENAME COLUMN {table}.{node.get('subname')} TO {node.get('newname')}",
        )
    elif node.get("renameType") in {"OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"}:
        yield Hit("renaming-table", statement.line, f"RENAME {table} TO {node.get('newname')}")


CHECKS = [check_drops, check_renames]
