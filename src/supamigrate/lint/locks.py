"""Rules about locks and rewrites on tables that may hold data (not created in this file).

What rewrites and which lock each statement takes is checked against a real server in
tests/test_lint.py (relfilenode before/after, pg_locks inside the transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from supamigrate.lint.findings import Hit
from supamigrate.lint.migration import Migration, commands
from supamigrate.lint.nodes import Node, Table, function_name, table_of, type_name, unwrap, walk
from supamigrate.reading import Statement

Check = Callable[[Statement, int, Migration], Iterator[Hit]]

# Volatile defaults force a rewrite (every row gets its own value); non-volatile ones are
# stored once in the catalog since PG11. Functions we do not know are treated as volatile.
NON_VOLATILE = frozenset(
    {
        "now", "statement_timestamp", "transaction_timestamp", "current_setting", "lower",
        "upper", "concat", "coalesce", "jsonb_build_object", "json_build_object",
        "jsonb_build_array", "to_jsonb", "make_interval", "auth.uid", "auth.role", "auth.jwt",
        "array_fill", "length", "btrim", "nullif",
    }
)  # fmt: skip
SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})
# Targets that do not rewrite when they widen a varchar/text column (binary coercible); we
# cannot see the current type, so we assume a widening.
COERCIBLE_TARGETS = frozenset({"text", "varchar"})


def check_index(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind != "IndexStmt" or statement.node.get("concurrent"):
        return
    table = table_of(statement.node["relation"])
    if not migration.is_new(table, index):
        yield Hit(
            "require-concurrent-index-creation",
            statement.line,
            f"CREATE INDEX on {table} blocks its writes until the index is built",
        )


def check_drop_index(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind != "DropStmt" or node.get("removeType") != "OBJECT_INDEX":
        return
    if node.get("concurrent"):
        return
    names = [_last_name(item) for item in node.get("objects", [])]
    if not set(names) <= migration.created_indexes:
        yield Hit(
            "require-concurrent-index-deletion",
            statement.line,
            f"DROP INDEX {', '.join(names)} takes ACCESS EXCLUSIVE on its table",
        )


def _last_name(item: Node) -> str:
    return str(unwrap(item)[1]["items"][-1]["String"]["sval"])


def check_alter_table(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind != "AlterTableStmt":
        return
    table = table_of(statement.node["relation"])
    if migration.is_new(table, index):
        return
    for cmd in commands(statement.node):
        subtype = cmd.get("subtype")
        if subtype == "AT_AddColumn":
            yield from _add_column(statement.line, table, unwrap(cmd["def"])[1])
        elif subtype == "AT_AlterColumnType":
            yield from _column_type(statement.line, table, cmd)
        elif subtype == "AT_SetNotNull":
            yield from _set_not_null(statement.line, table, cmd["name"], index, migration)
        elif subtype == "AT_AddConstraint":
            yield from _constraint(statement.line, table, cmd["def"].get("Constraint", {}))
        elif subtype == "AT_ValidateConstraint":
            yield from _validate(statement.line, table, cmd["name"], index, migration)


def _add_column(line: int, table: Table, column: Node) -> Iterator[Hit]:
    name = f"{table}.{column.get('colname')}"
    constraints = [c["Constraint"] for c in column.get("constraints", [])]
    kinds = {c.get("contype") for c in constraints}
    rewrite = _rewriting_default(column, constraints)
    if rewrite:
        yield Hit("adding-field-with-default", line, f"{name}: {rewrite} rewrites {table}")
    no_default = not kinds & {"CONSTR_DEFAULT", "CONSTR_IDENTITY"} and not rewrite
    if "CONSTR_NOTNULL" in kinds and no_default:
        yield Hit(
            "adding-not-nullable-field",
            line,
            f"{name} NOT NULL without a default fails if {table} has rows",
            "add it with a constant default, or nullable, backfill, then SET NOT NULL",
        )
    for constraint in constraints:
        yield from _constraint(line, table, constraint, column=True)


def _rewriting_default(column: Node, constraints: list[Node]) -> str | None:
    if type_name(column["typeName"]) in SERIAL_TYPES:
        return "a serial column (nextval() default)"
    for constraint in constraints:
        contype = constraint.get("contype")
        if contype == "CONSTR_IDENTITY":
            return "an identity column"
        if contype == "CONSTR_GENERATED" and constraint.get("generated_kind", "s") == "s":
            return "a stored generated column"
        if contype == "CONSTR_DEFAULT":
            volatile = _volatile_calls(constraint.get("raw_expr", {}))
            if volatile:
                return f"the volatile default {volatile[0]}()"
    return None


def _volatile_calls(expression: Node) -> list[str]:
    calls = [function_name(node) for kind, node in walk(expression) if kind == "FuncCall"]
    return [name for name in calls if name not in NON_VOLATILE]


def _column_type(line: int, table: Table, cmd: Node) -> Iterator[Hit]:
    column = cmd["def"]["ColumnDef"]
    target = type_name(column["typeName"])
    if target in COERCIBLE_TARGETS and "raw_default" not in column:
        return
    yield Hit(
        "changing-column-type",
        line,
        f"{table}.{cmd.get('name')} TYPE {target} rewrites {table} under ACCESS EXCLUSIVE",
    )


def _set_not_null(
    line: int, table: Table, column: str, index: int, migration: Migration
) -> Iterator[Hit]:
    # A valid CHECK (col IS NOT NULL) lets SET NOT NULL skip its scan (PG12+); the VALIDATE
    # only avoids the long lock when it committed on its own, i.e. in a no-transaction file.
    if migration.no_transaction and _validated_not_null(table, column, index, migration):
        return
    yield Hit(
        "adding-not-nullable-field",
        line,
        f"SET NOT NULL on {table}.{column} scans the table under ACCESS EXCLUSIVE",
    )


def _validated_not_null(table: Table, column: str, index: int, migration: Migration) -> bool:
    for earlier in migration.statements[:index]:
        if earlier.kind != "AlterTableStmt" or table_of(earlier.node["relation"]) != table:
            continue
        for cmd in commands(earlier.node):
            if cmd.get("subtype") == "AT_ValidateConstraint" and _checks_not_null(
                migration, table, cmd["name"], column
            ):
                return True
    return False


def _checks_not_null(migration: Migration, table: Table, name: str, column: str) -> bool:
    added_at = migration.not_valid_constraints.get(table, {}).get(name)
    if added_at is None:
        return False
    for cmd in commands(migration.statements[added_at].node):
        constraint = cmd.get("def", {}).get("Constraint", {})
        if constraint.get("conname") == name:
            test = constraint.get("raw_expr", {}).get("NullTest", {})
            fields = test.get("arg", {}).get("ColumnRef", {}).get("fields", [])
            return bool(test.get("nulltesttype") == "IS_NOT_NULL") and fields == [
                {"String": {"sval": column}}
            ]
    return False


def _constraint(line: int, table: Table, constraint: Node, column: bool = False) -> Iterator[Hit]:
    contype = constraint.get("contype")
    validated = not constraint.get("skip_validation")
    if contype == "CONSTR_FOREIGN" and validated:
        target = table_of(constraint["pktable"])
        how = "in ADD COLUMN " if column else ""
        yield Hit(
            "adding-foreign-key-constraint",
            line,
            f"foreign key {how}on {table} -> {target} is validated by scanning {table}",
        )
    elif contype == "CONSTR_CHECK" and validated and not column:
        yield Hit(
            "constraint-missing-not-valid",
            line,
            f"CHECK on {table} scans it under ACCESS EXCLUSIVE",
        )
    elif contype in {"CONSTR_UNIQUE", "CONSTR_PRIMARY"} and "indexname" not in constraint:
        what = "PRIMARY KEY" if contype == "CONSTR_PRIMARY" else "UNIQUE"
        yield Hit(
            "disallowed-unique-constraint",
            line,
            f"{what} on {table} builds its index under ACCESS EXCLUSIVE",
        )


def _validate(
    line: int, table: Table, name: str, index: int, migration: Migration
) -> Iterator[Hit]:
    added_at = migration.not_valid_constraints.get(table, {}).get(name)
    if added_at is not None and added_at < index and not migration.no_transaction:
        yield Hit(
            "constraint-validated-in-same-transaction",
            line,
            f"VALIDATE {name} on {table} runs while ADD CONSTRAINT's lock is held",
        )


CHECKS: list[Check] = [check_index, check_drop_index, check_alter_table]
