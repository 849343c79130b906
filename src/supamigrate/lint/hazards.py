"""Lock and apply hazards beyond ALTER TABLE: REINDEX, partitions, TRUNCATE, domains, enums.

As everywhere in lint, an object created earlier in the same file is nobody else's yet, so
locking it blocks no one. Which lock each statement takes is checked against pg_locks on a
real server in tests/lint/test_lint_rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from supamigrate.lint.findings import Hit
from supamigrate.lint.known import index_columns
from supamigrate.lint.migration import Migration, commands
from supamigrate.lint.nodes import Node, Table, strings, table_of, type_name, unwrap, walk
from supamigrate.sql.reading import Statement

_REINDEX_WHAT = {
    "REINDEX_OBJECT_TABLE": "TABLE",
    "REINDEX_OBJECT_INDEX": "INDEX",
    "REINDEX_OBJECT_SCHEMA": "SCHEMA",
    "REINDEX_OBJECT_DATABASE": "DATABASE",
    "REINDEX_OBJECT_SYSTEM": "SYSTEM",
}


def check_reindex(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind != "ReindexStmt":
        return
    params = {unwrap(item)[1].get("defname") for item in node.get("params", [])}
    if "concurrently" in params:
        return
    what = _REINDEX_WHAT.get(node.get("kind", ""), "")
    if what == "SYSTEM":
        return  # no CONCURRENTLY for the catalogs: nothing safer to offer
    if "relation" in node:
        relation = table_of(node["relation"])
        if migration.is_new(relation, index) or relation.name in migration.created_indexes:
            return
        name = str(relation)
    else:
        name = node.get("name", "")
    yield Hit(
        "require-concurrent-reindex",
        statement.line,
        f"REINDEX {what} {name} blocks writes (and reads using the index) while it rebuilds",
    )


def check_partitions(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind != "AlterTableStmt":
        return
    table = table_of(statement.node["relation"])
    if migration.is_new(table, index):
        return
    for cmd in commands(statement.node):
        partition = cmd.get("def", {}).get("PartitionCmd", {})
        if cmd.get("subtype") == "AT_DetachPartition" and not partition.get("concurrent"):
            child = table_of(partition["name"])
            yield Hit(
                "require-concurrent-partition-detach",
                statement.line,
                f"DETACH PARTITION {child} takes ACCESS EXCLUSIVE on {table}",
            )


def check_truncate(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind == "TruncateStmt" and node.get("behavior") == "DROP_CASCADE":
        tables = [table_of(unwrap(item)[1]) for item in node.get("relations", [])]
        if all(migration.is_new(table, index) for table in tables):
            return  # tables this file created: nothing else holds rows that reference them yet
        names = ", ".join(str(table) for table in tables)
        yield Hit(
            "ban-truncate-cascade",
            statement.line,
            f"TRUNCATE {names} CASCADE also empties every table that references them",
        )


def check_domains(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind == "CreateDomainStmt":
        kinds = {unwrap(c)[1].get("contype") for c in node.get("constraints", [])}
        if kinds & {"CONSTR_CHECK", "CONSTR_NOTNULL"}:
            name = ".".join(strings(node.get("domainname", [])))
            yield Hit(
                "ban-create-domain-with-constraint",
                statement.line,
                f"domain {name} carries a constraint: changing it later rechecks every column "
                "of that type under lock",
            )
    elif statement.kind == "AlterDomainStmt" and node.get("subtype") == "C":
        names = strings(node.get("typeName", []))
        constraint = node.get("def", {}).get("Constraint", {})
        if constraint.get("skip_validation") or names[-1] in migration.created_types:
            return
        yield Hit(
            "ban-alter-domain-with-add-constraint",
            statement.line,
            f"ALTER DOMAIN {'.'.join(names)} ADD CONSTRAINT scans every column of that type",
        )


def check_enums(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind == "CreateEnumStmt":
        name = ".".join(strings(node.get("typeName", [])))
        yield Hit("creating-enum", statement.line, f"enum {name}")
    if statement.kind != "AlterEnumStmt" or "newVal" not in node:
        return
    names = strings(node.get("typeName", []))
    enum, value = ".".join(names), node["newVal"]
    if "newValNeighbor" not in node and names[-1] not in migration.created_types:
        yield Hit(
            "require-enum-value-ordering",
            statement.line,
            f"ADD VALUE {value!r} appends it after every existing value of {enum}",
            f"ALTER TYPE {enum} ADD VALUE {value!r} BEFORE/AFTER 'existing' "
            "(or allow it when last is where it belongs)",
        )
    if migration.no_transaction:
        return
    for later in migration.statements[index + 1 :]:
        if later.kind not in {"AlterEnumStmt", "CreateFunctionStmt"} and _uses(later, value):
            yield Hit(
                "enum-value-used-in-same-migration",
                later.line,
                f"the new value {value!r} of {enum} is used before the transaction "
                "that adds it commits: Postgres refuses it (55P04)",
            )
            return


def _uses(statement: Statement, value: str) -> bool:
    for kind, node in walk(statement.node):
        if kind == "A_Const" and node.get("sval", {}).get("sval") == value:
            return True
    return False


def check_exclusion(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind != "AlterTableStmt":
        return
    table = table_of(statement.node["relation"])
    if migration.is_new(table, index):
        return
    for cmd in commands(statement.node):
        constraint = cmd.get("def", {}).get("Constraint", {})
        if cmd.get("subtype") == "AT_AddConstraint" and constraint.get("contype") == (
            "CONSTR_EXCLUSION"
        ):
            yield Hit(
                "adding-exclusion-constraint",
                statement.line,
                f"EXCLUDE on {table} builds its index and checks every row under ACCESS EXCLUSIVE",
            )


def check_columns(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    """json columns, and foreign key columns declared without an index to serve them."""
    node = statement.node
    text = statement.text.lower()
    json_type = "json" in text and _JSON.search(text) is not None  # (jsonb is fine)
    references = "references" in text
    if not (json_type or references):
        return  # neither can be in this statement: skip reading its columns
    if statement.kind == "CreateStmt":
        table = table_of(node["relation"])
        elements = [unwrap(item) for item in node.get("tableElts", [])]
    elif statement.kind == "AlterTableStmt":
        table = table_of(node["relation"])
        elements = [
            unwrap(cmd["def"]) for cmd in commands(node) if cmd.get("subtype") == "AT_AddColumn"
        ]
    else:
        return
    for kind, element in elements:
        if json_type and kind == "ColumnDef" and type_name(element["typeName"]) == "json":
            yield Hit("adding-json-column", statement.line, f"{table}.{element['colname']} json")
        if not references:
            continue
        for columns in _foreign_keys(kind, element):
            if _indexed(table, columns, migration):
                continue  # the run's end would drop it (engine._drop_indexed_foreign_keys)
            message = f"foreign key {table} ({', '.join(columns)}) has no index"
            migration.known.apply(("foreign_key", message, (table, columns)))
            yield Hit(
                "unindexed_foreign_keys",
                statement.line,
                message,
                f"CREATE INDEX ON {table} ({', '.join(columns)}) (CONCURRENTLY once it has rows)",
            )


_JSON = re.compile(r"json(?!b)")


def _indexed(table: Table, columns: tuple[str, ...], migration: Migration) -> bool:
    """A full index on `table` starting with `columns` that this file makes or an earlier
    statement made: the finding would be dropped at the end of the run, so it is not made
    (a long history declares thousands of foreign keys, nearly all indexed in the same file)."""
    if "indexes" not in migration.memo:
        made: dict[Table, list[tuple[str, ...]]] = {}
        for statement in migration.statements:
            if statement.kind == "IndexStmt" and "whereClause" not in statement.node:
                key = index_columns(statement.node.get("indexParams", []))
                made.setdefault(table_of(statement.node["relation"]), []).append(tuple(key))
        migration.memo["indexes"] = made
    wanted, width = set(columns), len(columns)
    here = migration.memo["indexes"].get(table, ())
    return any(set(key[:width]) == wanted for key in here) or migration.known.covers(table, columns)


def _foreign_keys(kind: str, element: Node) -> list[tuple[str, ...]]:
    if kind == "ColumnDef":
        return [
            (element["colname"],)
            for item in element.get("constraints", ())
            for constraint in item.values()
            if constraint.get("contype") == "CONSTR_FOREIGN"
        ]
    if kind == "Constraint" and element.get("contype") == "CONSTR_FOREIGN":
        return [tuple(strings(element.get("fk_attrs", [])))]
    return []


def check_other(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    kind, node = statement.kind, statement.node
    if kind == "DropdbStmt":
        yield Hit("ban-drop-database", statement.line, f"DROP DATABASE {node.get('dbname')}")
    elif kind in {"UpdateStmt", "InsertStmt"}:
        targets = node.get("targetList" if kind == "UpdateStmt" else "cols", [])
        # a.x = 1, a.y = 2 assign parts of one column: fine
        names = [t.get("name") for t in (unwrap(i)[1] for i in targets) if "indirection" not in t]
        yield from _twice(statement, names, "assigned")
    elif kind == "CreateStmt":
        columns = (e["ColumnDef"] for e in node.get("tableElts", []) if "ColumnDef" in e)
        yield from _twice(statement, [c.get("colname") for c in columns], "defined")
    elif kind == "ViewStmt":
        yield from _twice(statement, list(strings(node.get("aliases", []))), "named")


def _twice(statement: Statement, names: list[str | None], done: str) -> Iterator[Hit]:
    if len(set(names)) == len(names):  # the usual statement: 5,000 tables in a long history
        return
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        yield Hit(
            "ban-duplicate-column-assignments",
            statement.line,
            f"column {', '.join(repeated)} {done} more than once: Postgres refuses it",
        )


_ROBUST = {
    "IndexStmt": ("if_not_exists", "CREATE INDEX ... IF NOT EXISTS"),
    "CreateStmt": ("if_not_exists", "CREATE TABLE IF NOT EXISTS"),
    "DropStmt": ("missing_ok", "DROP ... IF EXISTS"),
}


def check_robust(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    """In a no-transaction file a failure leaves the earlier statements done: a rerun must
    be able to pass over them (squawk's prefer-robust-stmts, for the files where it applies).
    """
    if not migration.no_transaction or len(migration.statements) < 2:
        return
    flag, rewrite = _ROBUST.get(statement.kind, ("", ""))
    if flag and not statement.node.get(flag):
        first = statement.text.split("(", 1)[0].split("\n", 1)[0][:60]
        yield Hit(
            "prefer-robust-stmts",
            statement.line,
            f"{first} fails on a rerun after a later statement of this file failed",
            f"{rewrite}, so the file can be run again",
        )


CHECKS = [
    check_robust,
    check_reindex,
    check_partitions,
    check_truncate,
    check_domains,
    check_enums,
    check_exclusion,
    check_columns,
    check_other,
]
