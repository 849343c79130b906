"""Rules about locks and rewrites on tables that may hold data (not created in this file).

What rewrites and which lock each statement takes is checked against a real server in
tests/lint/test_lint.py (relfilenode before/after, pg_locks inside the transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator

from supamigrate.lint.findings import Hit
from supamigrate.lint.migration import Migration, commands
from supamigrate.lint.nodes import (
    Node,
    Table,
    function_name,
    strings,
    table_of,
    type_name,
    unwrap,
    walk,
)
from supamigrate.lint.pg_signatures import ARGUMENT_COUNTS, NON_VOLATILE_BUILTINS, takes
from supamigrate.sql.reading import Statement

Check = Callable[[Statement, int, Migration], Iterator[Hit]]

# Volatile defaults force a rewrite (every row gets its own value); non-volatile ones are
# stored once in the catalog since PG11. A built-in is non-volatile when pg_proc says so for
# every overload (pg_functions); Supabase's auth helpers are STABLE; a function created
# IMMUTABLE/STABLE earlier in the run is known; any other function is treated as volatile.
NON_VOLATILE = NON_VOLATILE_BUILTINS | {"auth.uid", "auth.role", "auth.jwt", "auth.email"}
SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})
# Targets that do not rewrite when they widen a varchar/text column (binary coercible); we
# cannot see the current type, so we assume a widening.
COERCIBLE_TARGETS = frozenset({"text", "varchar"})
# Built-in types written without pg_catalog (the parser qualifies only the SQL-keyword ones):
# never a domain, so ADD COLUMN of one needs no facts from earlier files.
_PLAIN = """text uuid jsonb json date bytea inet cidr macaddr timestamptz timetz int2 int4 int8
float4 float8 bool varchar bpchar name oid regclass tsvector tsquery xml money citext vector
point"""
PLAIN_TYPES = frozenset(_PLAIN.split())
# ALTER TABLE subcommands that write the table anew (a new relfilenode, checked on the server),
# unless the table already is what they ask for.
REWRITING = {
    "AT_SetLogged": "SET LOGGED",
    "AT_SetUnLogged": "SET UNLOGGED",
    "AT_SetTableSpace": "SET TABLESPACE",
    "AT_SetAccessMethod": "SET ACCESS METHOD",
    "AT_SetExpression": "SET EXPRESSION of",
}


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
            yield from _add_column(statement.line, table, unwrap(cmd["def"])[1], migration)
        elif subtype == "AT_AlterColumnType":
            yield from _column_type(statement.line, table, cmd)
        elif subtype == "AT_SetNotNull":
            yield from _set_not_null(statement.line, table, cmd["name"], index, migration)
        elif subtype == "AT_AddConstraint":
            constraint = cmd["def"].get("Constraint", {})
            yield from _constraint(statement.line, table, constraint)
            yield from _primary_key_using_index(statement.line, table, constraint, migration)
        elif subtype == "AT_ValidateConstraint":
            yield from _validate(statement.line, table, cmd["name"], index, migration)
        elif subtype in REWRITING:
            column = f" {table}.{cmd['name']}" if subtype == "AT_SetExpression" else ""
            what = f"{REWRITING[subtype]}{column}"
            kind = _OBJECT.get(statement.node.get("objtype", ""), "table")
            yield Hit("table-rewrite", statement.line, f"{what} rewrites the {kind} {table}")


_OBJECT = {"OBJECT_INDEX": "index", "OBJECT_MATVIEW": "materialized view"}


def check_move_all(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    """ALTER TABLE|INDEX|MATERIALIZED VIEW ALL IN TABLESPACE a SET TABLESPACE b: each one
    moved is written anew under ACCESS EXCLUSIVE."""
    if statement.kind != "AlterTableMoveAllStmt":
        return
    node = statement.node
    kind = _OBJECT.get(node.get("objtype", ""), "table")
    yield Hit(
        "table-rewrite",
        statement.line,
        f"SET TABLESPACE of every {kind} in {node.get('orig_tablespacename')} rewrites each one",
    )


def _add_column(line: int, table: Table, column: Node, migration: Migration) -> Iterator[Hit]:
    name = f"{table}.{column.get('colname')}"
    constraints = [c["Constraint"] for c in column.get("constraints", [])]
    kinds = {c.get("contype") for c in constraints}
    # a function not known STABLE consults the facts (an earlier file may declare it)
    rewrite = _rewriting_default(column, constraints, migration.known.stable())
    rewrite = rewrite or _constrained_domain(column, migration)
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


def _constrained_domain(column: Node, migration: Migration) -> str | None:
    """A column of a domain with a CHECK or NOT NULL: Postgres tests every existing row's new
    value against it, writing the table anew (checked on the server). Known only for domains
    lint saw made; a type that may be a domain asks the facts (lint.parallel re-lints then)."""
    names = strings(column["typeName"].get("names", []))
    if names[0] == "pg_catalog" or names[-1].lower() in PLAIN_TYPES:
        return None
    migration.known.consulted = True
    domain = names[-1].lower()
    if domain in migration.known.checked_domains:
        return f"a column of the domain {domain}, whose constraints every row is tested against,"
    return None


def adds_without_rewrite(column: Node) -> bool:
    """ADD COLUMN that neither rewrites nor scans: the catalog change alone."""
    constraints = [c["Constraint"] for c in column.get("constraints", [])]
    if _rewriting_default(column, constraints, set()):
        return False
    return not any(
        c.get("contype") in {"CONSTR_FOREIGN", "CONSTR_CHECK", "CONSTR_PRIMARY", "CONSTR_UNIQUE"}
        and not c.get("skip_validation")
        for c in constraints
    )


def _rewriting_default(column: Node, constraints: list[Node], stable: Container[str]) -> str | None:
    if type_name(column["typeName"]) in SERIAL_TYPES:
        return "a serial column (nextval() default)"
    for constraint in constraints:
        contype = constraint.get("contype")
        if contype == "CONSTR_IDENTITY":
            return "an identity column"
        if contype == "CONSTR_GENERATED" and constraint.get("generated_kind", "s") == "s":
            return "a stored generated column"
        if contype == "CONSTR_DEFAULT":
            volatile = volatile_calls(constraint.get("raw_expr", {}), stable)
            if volatile and volatile[0] in ARGUMENT_COUNTS:  # now(123): no built-in
                name = volatile[0]
                return f"the default {name}() with arguments no built-in {name} takes"
            if volatile:
                return f"the volatile default {volatile[0]}()"
    return None


def volatile_calls(expression: Node, stable: Container[str] = ()) -> list[str]:
    """The functions in `expression` that may be volatile (unknown ones count as volatile)."""
    found = []
    for kind, node in walk(expression):
        if kind != "FuncCall":
            continue
        name = function_name(node)
        # now(123), abs(1, 2): no built-in takes that many; a user function (of any
        # volatility) would be called. VARIADIC arr passes one array for many arguments.
        count = len(node.get("args", []))
        arity = name not in ARGUMENT_COUNTS or takes(name, count) or node.get("func_variadic")
        known = name in NON_VOLATILE and bool(arity)
        if not known and name not in stable:
            found.append(name)
    return found


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
    # A valid CHECK (col IS NOT NULL) lets SET NOT NULL skip its scan (PG12+). Its VALIDATE,
    # when it shares this file's transaction with the ADD, is constraint-validated-in-same-
    # transaction's finding; a VALIDATE of a check added by an earlier migration we did not
    # read is taken to be that check (as squawk does).
    known = migration.known
    known.consulted = True
    if (table, column) in known.validated_not_null or table in known.validated_elsewhere:
        return
    yield Hit(
        "adding-not-nullable-field",
        line,
        f"SET NOT NULL on {table}.{column} scans the table under ACCESS EXCLUSIVE",
    )


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
    elif contype == "CONSTR_CHECK" and validated:
        # In ADD COLUMN too: every existing row is checked (a NULL passes, after a scan)
        how = " in ADD COLUMN" if column else ""
        yield Hit(
            "constraint-missing-not-valid",
            line,
            f"CHECK{how} on {table} scans it under ACCESS EXCLUSIVE",
        )
    elif contype in {"CONSTR_UNIQUE", "CONSTR_PRIMARY"} and "indexname" not in constraint:
        what = "PRIMARY KEY" if contype == "CONSTR_PRIMARY" else "UNIQUE"
        yield Hit(
            "disallowed-unique-constraint",
            line,
            f"{what} on {table} builds its index under ACCESS EXCLUSIVE",
        )


def _primary_key_using_index(
    line: int, table: Table, constraint: Node, migration: Migration
) -> Iterator[Hit]:
    """PRIMARY KEY USING INDEX sets NOT NULL on its columns: a scan when one is nullable."""
    if constraint.get("contype") != "CONSTR_PRIMARY" or "indexname" not in constraint:
        return
    migration.known.consulted = True
    index = migration.known.indexes.get(constraint["indexname"])
    nullable = [c for c in index.columns if migration.known.is_nullable(table, c)] if index else []
    if nullable:
        yield Hit(
            "adding-primary-key-on-nullable-column",
            line,
            f"PRIMARY KEY USING INDEX {constraint['indexname']} on {table} sets NOT NULL on "
            f"{', '.join(nullable)}: a full scan under ACCESS EXCLUSIVE",
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


CHECKS: list[Check] = [check_index, check_drop_index, check_alter_table, check_move_all]
